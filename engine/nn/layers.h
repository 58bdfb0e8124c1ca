// The layers of weft, each a Module with PyTorch's parameter names and default initialisation:
// Conv2d, ConvTranspose2d, BatchNorm2d/1d, Linear, Dropout, the pools, Flatten, the
// activations, and Sequential (children named "0", "1", ... as in nn.Sequential).
#pragma once

#include <initializer_list>
#include <memory>

#include "engine/nn/module.h"
#include "engine/ops.h"

namespace weft::nn {

struct Conv2dConfig {
  int in_channels = 1, out_channels = 1;
  int kernel_h = 3, kernel_w = 3;
  int stride = 1, padding = 0, dilation = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dConfig& config);
  Conv2d(int in_channels, int out_channels, int kernel, int stride = 1, int padding = 0,
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const FusedActivation& act) override;
  bool fuses_activation() const override { return true; }
  // max_pool2d(act(forward(x)), pool) as one op (engine/ops.h conv2d_max_pool2d): where the
  // device has a kernel for both, the convolution's output is never stored.
  Tensor forward_max_pool(const Tensor& x, const Pool2dOptions& pool, const FusedActivation& act);
  std::string type_name() const override { return "Conv2d"; }
  Tensor weight, bias;  // [O, C, KH, KW], [O] (undefined without bias)
  Conv2dOptions options;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int in_channels, int out_channels, int kernel, int stride = 1,
                  int padding = 0, int output_padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ConvTranspose2d"; }
  Tensor weight, bias;  // [C, O, KH, KW], [O]
  ConvTranspose2dOptions options;
};

// BatchNorm2d on [N, C, H, W] and BatchNorm1d on [N, C]: the same computation.
class BatchNorm : public Module {
 public:
  BatchNorm(int channels, float eps = 1e-5f, float momentum = 0.1f, const char* kind = "BatchNorm2d");
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const FusedActivation& act) override;
  bool fuses_activation() const override { return true; }
  std::string type_name() const override { return kind_; }
  void on_state_loaded() override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  float eps, momentum;

 private:
  std::string kind_;
  int64_t batches_tracked_ = 0;  // host mirror of num_batches_tracked
};
inline std::shared_ptr<BatchNorm> BatchNorm2d(int channels, float eps = 1e-5f,
                                              float momentum = 0.1f) {
  return std::make_shared<BatchNorm>(channels, eps, momentum, "BatchNorm2d");
}
inline std::shared_ptr<BatchNorm> BatchNorm1d(int channels, float eps = 1e-5f,
                                              float momentum = 0.1f) {
  return std::make_shared<BatchNorm>(channels, eps, momentum, "BatchNorm1d");
}

class Linear : public Module {
 public:
  Linear(int in_features, int out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const FusedActivation& act) override;
  bool fuses_activation() const override { return true; }
  std::string type_name() const override { return "Linear"; }
  Tensor weight, bias;  // [out, in], [out]
};

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f) : p(p) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p, is_training()); }
  // forward(act(x)) with the activation in dropout's kernel (engine/ops.h activation_dropout).
  Tensor forward_after(const Tensor& x, const FusedActivation& act) {
    return activation_dropout(x, act, p, is_training());
  }
  std::string type_name() const override { return "Dropout"; }
  float p;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel, int stride = -1, int padding = 0);
  Tensor forward(const Tensor& x) override { return max_pool2d(x, options); }
  // forward(act(x)) with the activation fused into the pool (engine/ops.h).
  Tensor forward_after(const Tensor& x, const FusedActivation& act) {
    return max_pool2d(x, options, act);
  }
  std::string type_name() const override { return "MaxPool2d"; }
  Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int kernel, int stride = -1, int padding = 0);
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, options); }
  std::string type_name() const override { return "AvgPool2d"; }
  Pool2dOptions options;
};

// nn.AdaptiveAvgPool2d((1, 1)) followed by flatten: [N, C, H, W] -> [N, C].
class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override { return global_avg_pool2d(x); }
  std::string type_name() const override { return "GlobalAvgPool2d"; }
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
  std::string type_name() const override { return "Flatten"; }
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, negative_slope); }
  std::string type_name() const override { return "LeakyReLU"; }
  float negative_slope;
};

class ELU : public Module {
 public:
  explicit ELU(float alpha = 1.0f) : alpha(alpha) {}
  Tensor forward(const Tensor& x) override { return elu(x, alpha); }
  std::string type_name() const override { return "ELU"; }
  float alpha;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return weft::tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return children().size(); }
  // Sequential's forward runs a child that fuses an activation (Module::fuses_activation) and a
  // ReLU or LeakyReLU (slope >= 0) right after it as one call, child->forward(x, act): the same
  // result, one kernel less each way (engine/ops.h). When a MaxPool2d whose windows do not
  // overlap follows the activation (and fusion is on), the activation goes into the pool
  // instead, MaxPool2d::forward_after(child->forward(x), act): the same values and gradients,
  // and the activation's derivative is applied to the pooled winners only, not in a pass over
  // the child's whole output. A ReLU or LeakyReLU that is not taken so and a Dropout right after
  // it run as one call too, Dropout::forward_after(x, act). A plain Conv2d (not a subclass) so
  // followed by an activation and a pool runs as Conv2d::forward_max_pool instead, which needs
  // no pass over the convolution's output where the device fuses the two. Checks use at(i) to
  // run children singly.
  std::shared_ptr<Module> at(size_t index) const { return children().at(index).second; }
};

}  // namespace weft::nn
