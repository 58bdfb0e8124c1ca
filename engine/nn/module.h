// Module: the base of every layer and model, holding named parameters, buffers and children
// the way PyTorch's nn.Module does, so that state_dict names match PyTorch's name for name
// ("features.0.weight", "bn1.running_mean", "layer1.0.conv1.weight").
//
// A model registers its parts in its constructor:
//   weight_ = register_parameter("weight", Tensor::empty({out, in}));
//   conv1_  = register_module("conv1", std::make_shared<Conv2d>(...));
// and implements forward(). Parameters are leaves with requires_grad; buffers (batch-norm
// running statistics) are state without gradients.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "kernels/params.h"

namespace weft::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;

  // Single-input forward. Modules with several inputs (the siamese network) add their own
  // methods; the default says that this module has no single-input forward.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // act(forward(input)): the forward followed by relu or leaky_relu. Modules whose op takes the
  // activation into its own kernel (Conv2d, BatchNorm, Linear: engine/ops.h "fused activations")
  // say so in fuses_activation() and override this; the default runs the activation as its own
  // op.
  // Sequential uses it for a fusing module followed by a ReLU or LeakyReLU module.
  virtual Tensor forward(const Tensor& input, const FusedActivation& act);
  virtual bool fuses_activation() const { return false; }

  // Recursively, in registration order, with dotted names.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters followed by buffers: what a checkpoint of the model holds.
  NamedTensors state_dict() const;
  // Copy values from `state` into this module's tensors. Every name must exist on both sides
  // with the same shape and dtype unless `strict` is false (then missing and unexpected names
  // are ignored, but a shape mismatch is still an error). The error lists every problem.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();
  // Move every parameter and buffer to `device` in place (handles held elsewhere follow).
  void to(Device device);
  Device device() const;  // of the first parameter or buffer; cpu when there is none
  // Turn gradients on or off for every parameter (freezing a transfer-learning backbone).
  void set_requires_grad(bool on);

  int64_t parameter_count() const;
  // Of the parameters that train (requires_grad): less a frozen backbone or stem.
  int64_t trainable_parameter_count() const;

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  virtual std::string type_name() const { return "Module"; }

 protected:
  Tensor register_parameter(const std::string& name, Tensor tensor);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Called after load_state_dict copied values in, for modules that mirror a buffer on the
  // host (BatchNorm's batch counter).
  virtual void on_state_loaded() {}
  // Replace a child registered earlier (replacing a classifier head for transfer learning).
  void replace_module(const std::string& name, std::shared_ptr<Module> module);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, NamedTensors& out, bool parameters) const;
  void notify_loaded();

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace weft::nn
