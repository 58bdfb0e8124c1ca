// Module bookkeeping: registration, recursive naming, state dicts, train/eval, devices.
#include "engine/nn/module.h"

#include <sstream>

#include "engine/ops/op_util.h"
#include "kernels/error.h"

namespace weft::nn {

Tensor Module::forward(const Tensor&) {
  throw Error(type_name() + " has no single-input forward()");
}

Tensor Module::forward(const Tensor& input, const FusedActivation& act) {
  return ops_detail::activate(forward(input), act);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  WEFT_CHECK(name.find('.') == std::string::npos, "parameter name '", name, "' contains a dot");
  tensor.set_requires_grad(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  WEFT_CHECK(name.find('.') == std::string::npos, "buffer name '", name, "' contains a dot");
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  WEFT_CHECK(module != nullptr, "module '", name, "' is null");
  for (const auto& [existing, child] : children_) {
    WEFT_CHECK(existing != name, "a module named '", name, "' is already registered");
  }
  children_.emplace_back(name, std::move(module));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> module) {
  for (auto& [existing, child] : children_) {
    if (existing == name) {
      child = std::move(module);
      return;
    }
  }
  throw Error("no module named '" + name + "' to replace");
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool parameters) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_) {
    out.emplace_back(prefix + name, tensor);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, parameters);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(entry);
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::ostringstream problems;
  int count = 0;
  const NamedTensors own = state_dict();
  std::map<std::string, bool> used;
  for (const auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found == state.end()) {
      if (strict) {
        problems << "\n  missing: " << name << " " << shape_str(tensor.shape());
        ++count;
      }
      continue;
    }
    used[name] = true;
    const Tensor& source = found->second;
    if (source.shape() != tensor.shape() || source.dtype() != tensor.dtype()) {
      problems << "\n  " << name << ": expected " << shape_str(tensor.shape()) << " "
               << dtype_name(tensor.dtype()) << ", found " << shape_str(source.shape()) << " "
               << dtype_name(source.dtype());
      ++count;
    }
  }
  if (strict) {
    for (const auto& [name, tensor] : state) {
      if (!used.count(name)) {
        problems << "\n  unexpected: " << name << " " << shape_str(tensor.shape());
        ++count;
      }
    }
  }
  WEFT_CHECK(count == 0, "state dict does not match this ", type_name(), " (", count,
             " problem", count == 1 ? "" : "s", "):", problems.str());
  for (const auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found != state.end()) Tensor(tensor).copy_(found->second);
  }
  notify_loaded();
}

void Module::notify_loaded() {
  on_state_loaded();
  for (auto& [name, child] : children_) child->notify_loaded();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, tensor] : named_parameters()) tensor.zero_grad();
}

// Int64 buffers are step counters that no kernel reads (BatchNorm's num_batches_tracked): they stay
// in host memory, so counting a training step costs no upload to the device.
void Module::to(Device device) {
  for (auto& [name, tensor] : state_dict()) {
    if (tensor.dtype() != DType::i64) Tensor(tensor).move_to_(device);
  }
}

Device Module::device() const {
  const NamedTensors all = state_dict();
  return all.empty() ? Device::cpu() : all.front().second.device();
}

void Module::set_requires_grad(bool on) {
  for (auto& [name, tensor] : named_parameters()) {
    Tensor(tensor).set_requires_grad(on);
    if (!on) Tensor(tensor).zero_grad();
  }
}

int64_t Module::parameter_count() const {
  int64_t total = 0;
  for (auto& [name, tensor] : named_parameters()) total += tensor.numel();
  return total;
}

int64_t Module::trainable_parameter_count() const {
  int64_t total = 0;
  for (auto& [name, tensor] : named_parameters()) {
    if (tensor.requires_grad()) total += tensor.numel();
  }
  return total;
}

}  // namespace weft::nn
