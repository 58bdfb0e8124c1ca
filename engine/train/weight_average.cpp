// Exponential moving average of a model's weights (see weight_average.h).
#include "engine/train/weight_average.h"

#include <algorithm>
#include <cstdio>

#include "engine/dispatch.h"
#include "kernels/error.h"

namespace weft::train {

WeightAverage::WeightAverage(const WeightAverageOptions& options) : options_(options) {
  WEFT_CHECK(options.decay > 0.0 && options.decay < 1.0,
             "WeightAverage: decay must be in (0, 1), got ", options.decay);
}

std::string WeightAverage::describe() const {
  char text[96];
  std::snprintf(text, sizeof text, "WeightAverage(decay=%g, ramp=(1+t)/(10+t))", options_.decay);
  return text;
}

double WeightAverage::next_decay() const {
  const auto t = static_cast<double>(updates_);
  return std::min(options_.decay, (1.0 + t) / (10.0 + t));
}

std::vector<std::pair<std::string, Tensor>> WeightAverage::averaged_tensors(nn::Module& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, tensor] : model.state_dict()) {
    if (tensor.dtype() == DType::f32) out.emplace_back(name, tensor);
  }
  return out;
}

void WeightAverage::start(nn::Module& model) {
  average_.clear();
  const auto current = averaged_tensors(model);
  WEFT_CHECK(loaded_.empty() || loaded_.size() == current.size(),
             "WeightAverage: the checkpoint averages ", loaded_.size(), " tensors, the model has ",
             current.size());
  for (const auto& [name, tensor] : current) {
    if (loaded_.empty()) {
      average_.emplace_back(name, tensor.detach().clone());
      continue;
    }
    const auto found = loaded_.find(name);
    WEFT_CHECK(found != loaded_.end() && found->second.shape() == tensor.shape(),
               "WeightAverage: the checkpoint's average has no tensor '", name, "' of shape ",
               tensor.str());
    average_.emplace_back(name, found->second.to(tensor.device()).clone());
  }
  loaded_.clear();
}

void WeightAverage::on_train_begin(TrainContext& context) { start(context.model); }

void WeightAverage::on_step_end(TrainContext& context) {
  const auto current = averaged_tensors(context.model);
  WEFT_CHECK(current.size() == average_.size(), "WeightAverage: the model changed during training");
  const auto decay = static_cast<float>(next_decay());
  for (size_t i = 0; i < current.size(); ++i) {
    Tensor& average = average_[i].second;
    const Tensor& weights = current[i].second;
    Dispatch& backend = dispatch(average.device());
    backend.affine(average.numel(), decay, 0.0f, average.data<float>(), average.data<float>());
    backend.axpy_accumulate(average.numel(), 1.0f - decay, weights.data<float>(),
                            average.data<float>());
  }
  ++updates_;
}

void WeightAverage::on_validation_begin(TrainContext& context) {
  stashed_.clear();
  const auto current = averaged_tensors(context.model);
  for (size_t i = 0; i < current.size(); ++i) {
    Tensor live = current[i].second;
    stashed_.push_back(live.detach().clone());
    live.copy_(average_[i].second);
  }
}

void WeightAverage::on_validation_end(TrainContext& context) {
  const auto current = averaged_tensors(context.model);
  for (size_t i = 0; i < current.size() && i < stashed_.size(); ++i) {
    Tensor live = current[i].second;
    live.copy_(stashed_[i]);
  }
  stashed_.clear();
}

void WeightAverage::on_train_end(TrainContext& context) {
  const auto current = averaged_tensors(context.model);
  for (size_t i = 0; i < current.size() && i < average_.size(); ++i) {
    Tensor live = current[i].second;
    live.copy_(average_[i].second);
  }
}

void WeightAverage::save_state(CallbackState& state) const {
  state.set_int("updates", updates_);
  for (const auto& [name, tensor] : average_) state.tensors[name] = tensor.to(Device::cpu());
}

void WeightAverage::load_state(const CallbackState& state) {
  updates_ = state.get_int("updates");
  // Kept until on_train_begin, where the model's order and devices are known.
  loaded_ = state.tensors;
}

}  // namespace weft::train
