// Layer constructors (parameters, buffers, PyTorch default initialisation) and forwards.
#include "engine/nn/layers.h"

#include <typeinfo>

#include "engine/allocator.h"
#include "engine/graph.h"
#include "engine/nn/init.h"

namespace weft::nn {

Conv2d::Conv2d(const Conv2dConfig& c) {
  weight = register_parameter(
      "weight", Tensor::empty({c.out_channels, c.in_channels, c.kernel_h, c.kernel_w}));
  if (c.bias) bias = register_parameter("bias", Tensor::empty({c.out_channels}));
  init::pytorch_default_(weight, bias);
  options.stride_h = options.stride_w = c.stride;
  options.pad_h = options.pad_w = c.padding;
  options.dilation_h = options.dilation_w = c.dilation;
}

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, int stride, int padding,
               bool has_bias)
    : Conv2d(Conv2dConfig{in_channels, out_channels, kernel, kernel, stride, padding, 1,
                          has_bias}) {}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

Tensor Conv2d::forward(const Tensor& x, const FusedActivation& act) {
  return conv2d(x, weight, bias, options, act);
}

Tensor Conv2d::forward_max_pool(const Tensor& x, const Pool2dOptions& pool,
                                const FusedActivation& act) {
  return conv2d_max_pool2d(x, weight, bias, options, pool, act);
}

ConvTranspose2d::ConvTranspose2d(int in_channels, int out_channels, int kernel, int stride,
                                 int padding, int output_padding, bool has_bias) {
  weight = register_parameter("weight",
                              Tensor::empty({in_channels, out_channels, kernel, kernel}));
  if (has_bias) bias = register_parameter("bias", Tensor::empty({out_channels}));
  init::pytorch_default_(weight, bias);
  options.stride_h = options.stride_w = stride;
  options.pad_h = options.pad_w = padding;
  options.output_pad_h = options.output_pad_w = output_padding;
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options);
}

BatchNorm::BatchNorm(int channels, float eps_, float momentum_, const char* kind)
    : eps(eps_), momentum(momentum_), kind_(kind) {
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
}

Tensor BatchNorm::forward(const Tensor& x) {
  return forward(x, FusedActivation{});
}

Tensor BatchNorm::forward(const Tensor& x, const FusedActivation& act) {
  if (is_training()) {
    // The counter stays in host memory (Module::to): a store, not an upload. In a captured step
    // (engine/graph.h) the count goes on at each replay.
    const auto count_batches = [this](int64_t change) {
      batches_tracked_ += change;
      copy_bytes(num_batches_tracked.device(), num_batches_tracked.raw_data(), Device::cpu(),
                 &batches_tracked_, sizeof(batches_tracked_));
    };
    count_batches(1);
    graph::on_replay([count_batches] { count_batches(1); }, [count_batches] { count_batches(-1); });
  }
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps, act);
}

void BatchNorm::on_state_loaded() { batches_tracked_ = num_batches_tracked.to_vector<int64_t>()[0]; }

Linear::Linear(int in_features, int out_features, bool has_bias) {
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  if (has_bias) bias = register_parameter("bias", Tensor::empty({out_features}));
  init::pytorch_default_(weight, bias);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Tensor Linear::forward(const Tensor& x, const FusedActivation& act) {
  return linear(x, weight, bias, act);
}

MaxPool2d::MaxPool2d(int kernel, int stride, int padding) {
  options.kernel_h = options.kernel_w = kernel;
  options.stride_h = options.stride_w = stride > 0 ? stride : kernel;
  options.pad_h = options.pad_w = padding;
}

AvgPool2d::AvgPool2d(int kernel, int stride, int padding) {
  options.kernel_h = options.kernel_w = kernel;
  options.stride_h = options.stride_w = stride > 0 ? stride : kernel;
  options.pad_h = options.pad_w = padding;
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(children().size()), std::move(module));
}

namespace {

// The activation a ReLU or LeakyReLU module computes, as a fused activation; none for any other
// module (and for a negative slope, whose output would not keep its input's sign).
FusedActivation activation_of(const Module& module) {
  if (dynamic_cast<const ReLU*>(&module) != nullptr) return fused_relu();
  if (const auto* leaky = dynamic_cast<const LeakyReLU*>(&module);
      leaky != nullptr && leaky->negative_slope >= 0.0f) {
    return fused_leaky_relu(leaky->negative_slope);
  }
  return {};
}

// The MaxPool2d at list[index], if there is one that can take the activation before it: fusion
// on and windows that do not overlap (max_pool2d's fused form); null otherwise.
MaxPool2d* pool_taking_activation(const std::vector<std::pair<std::string,
                                                              std::shared_ptr<Module>>>& list,
                                  size_t index) {
  if (index >= list.size() || !fused_activations()) return nullptr;
  auto* pool = dynamic_cast<MaxPool2d*>(list[index].second.get());
  if (pool == nullptr) return nullptr;
  const Pool2dOptions& o = pool->options;
  return o.stride_h >= o.kernel_h && o.stride_w >= o.kernel_w ? pool : nullptr;
}

}  // namespace

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& list = children();
  for (size_t i = 0; i < list.size(); ++i) {
    const Module& child = *list[i].second;
    if (child.fuses_activation() && i + 1 < list.size()) {
      const FusedActivation act = activation_of(*list[i + 1].second);
      if (act.active()) {
        if (MaxPool2d* pool = pool_taking_activation(list, i + 2)) {
          if (typeid(child) == typeid(Conv2d)) {
            h = static_cast<Conv2d&>(*list[i].second).forward_max_pool(h, pool->options, act);
          } else {
            h = pool->forward_after(list[i].second->forward(h), act);
          }
          i += 2;  // the activation and the pool have been applied
          continue;
        }
        h = list[i].second->forward(h, act);
        ++i;  // the activation module has been applied
        continue;
      }
    }
    if (i + 1 < list.size()) {
      const FusedActivation act = activation_of(child);
      auto* next = dynamic_cast<Dropout*>(list[i + 1].second.get());
      if (act.active() && next != nullptr) {
        h = next->forward_after(h, act);
        ++i;  // the dropout module has been applied
        continue;
      }
    }
    h = list[i].second->forward(h);
  }
  return h;
}

}  // namespace weft::nn
