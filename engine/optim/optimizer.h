// Optimizers: SGD (momentum, Nesterov, weight decay), Adam and AdamW, with PyTorch's update
// rules (the per-element formulas are in kernels/cpu/optim.h). Each step hands all parameters of a
// device to one multi-tensor update (Backend::sgd_update_multi / adam_update_multi: on a GPU a
// few launches for the whole model, each reading a gradient once and updating the parameter and
// its state in place); parameters without a gradient are skipped, as in PyTorch.
//
// In a captured graph (engine/graph.h) the learning rate and Adam's bias corrections reach the
// kernels through device memory written before each replay, so schedules and bias corrections
// keep working; a step with a fresh momentum buffer cannot be captured (warm up one step).
//
// State for checkpoints: state_tensors() names each buffer "<param index>.<buffer>"
// ("0.exp_avg"), and state_metadata() holds the scalars (step count, learning rate), so a
// resumed run continues exactly where it stopped.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/distributed/gradient_reducer.h"
#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace weft::optim {

using nn::NamedTensors;

// In a data-parallel run (engine/distributed/communicator.h) step() first averages the
// gradients over the ranks (engine/distributed/gradient_reducer.h; zero_grad() opens the
// exchange that backward starts bucket by bucket), then updates.
class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, float lr);
  virtual ~Optimizer();

  void step();
  void zero_grad();

  float lr() const { return lr_; }
  void set_lr(float lr) { lr_ = lr; }
  int64_t step_count() const { return step_count_; }
  const std::vector<Tensor>& params() const { return params_; }

  virtual std::string name() const = 0;
  virtual NamedTensors state_tensors() const = 0;
  std::map<std::string, std::string> state_metadata() const;
  // Restore from what state_tensors()/state_metadata() produced; checks names and shapes.
  void load_state(const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata);

 protected:
  // Create (zeroed) or fetch buffer `name` of parameter `index`.
  Tensor& buffer(std::vector<Tensor>& buffers, size_t index);
  // Inside a graph capture on `device` (engine/graph.h): device memory holding what
  // `values` computes from the optimizer's state, written before every replay, with the step
  // count advanced at each replay. One buffer per `slot` (one per multi-tensor update of the
  // step). Null outside a capture.
  const float* captured_scalars(size_t slot, Device device,
                                const std::function<std::vector<float>()>& values);
  virtual std::vector<std::pair<std::string, std::vector<Tensor>*>> buffer_lists() = 0;
  // The update itself, after the gradients are final and the step count has moved on.
  virtual void update() = 0;

  std::vector<Tensor> params_;
  float lr_;
  int64_t step_count_ = 0;
  std::vector<Tensor> graph_scalars_;  // see captured_scalars

 private:
  dist::GradientReducer* reducer();
  std::unique_ptr<dist::GradientReducer> reducer_;
};

// decay_vectors = false leaves 1-d tensors (biases, batch-norm scale and shift) out of the
// weight decay, as most modern recipes do; such a step makes two multi-tensor updates.
struct SgdOptions {
  float lr = 0.01f, momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f;
  bool nesterov = false;
  bool decay_vectors = true;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SgdOptions& options);
  std::string name() const override { return "SGD"; }
  NamedTensors state_tensors() const override;
  SgdOptions options;

 protected:
  std::vector<std::pair<std::string, std::vector<Tensor>*>> buffer_lists() override {
    return {{"momentum_buffer", &momentum_}};
  }
  void update() override;

 private:
  std::vector<Tensor> momentum_;
};

struct AdamOptions {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  bool decay_vectors = true;  // as SgdOptions::decay_vectors
};

// Adam with L2 weight decay; AdamW (decoupled = true) with decoupled weight decay.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled = false);
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  NamedTensors state_tensors() const override;
  AdamOptions options;

 protected:
  std::vector<std::pair<std::string, std::vector<Tensor>*>> buffer_lists() override {
    return {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
  }
  void update() override;

 private:
  bool decoupled_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamOptions& options) : Adam(std::move(params), options, true) {}
};

}  // namespace weft::optim
