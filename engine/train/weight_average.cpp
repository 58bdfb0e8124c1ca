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
  live_.clear();
  names_.clear();
  const auto current = averaged_tensors(model);
  WEFT_CHECK(loaded_.empty() || loaded_.size() == current.size(),
             "WeightAverage: the checkpoint averages ", loaded_.size(), " tensors, the model has ",
             current.size());
  for (const auto& [name, tensor] : current) {
    live_.push_back(tensor);
    names_.push_back(name);
    if (loaded_.empty()) {
      average_.push_back(tensor.detach().clone());
      continue;
    }
    const auto found = loaded_.find(name);
    WEFT_CHECK(found != loaded_.end() && found->second.shape() == tensor.shape(),
               "WeightAverage: the checkpoint's average has no tensor '", name, "' of shape ",
               tensor.str());
    average_.push_back(found->second.to(tensor.device()).clone());
  }
  loaded_.clear();
}

void WeightAverage::on_train_begin(TrainContext& context) { start(context.model); }

void WeightAverage::copy_into_model(const std::vector<Tensor>& values) {
  for (size_t i = 0; i < live_.size() && i < values.size(); ++i) live_[i].copy_(values[i]);
}

void WeightAverage::on_step_end(TrainContext&) {
  const auto decay = static_cast<float>(next_decay());
  for (size_t i = 0; i < live_.size(); ++i) {
    Tensor& average = average_[i];
    Dispatch& backend = dispatch(average.device());
    backend.affine(average.numel(), decay, 0.0f, average.data<float>(), average.data<float>());
    backend.axpy_accumulate(average.numel(), 1.0f - decay, live_[i].data<float>(),
                            average.data<float>());
  }
  ++updates_;
}

void WeightAverage::on_validation_begin(TrainContext&) {
  stashed_.clear();
  for (const Tensor& live : live_) stashed_.push_back(live.detach().clone());
  copy_into_model(average_);
}

void WeightAverage::on_validation_end(TrainContext&) {
  copy_into_model(stashed_);
  stashed_.clear();
}

void WeightAverage::on_train_end(TrainContext&) { copy_into_model(average_); }

void WeightAverage::save_state(CallbackState& state) const {
  state.set_int("updates", updates_);
  for (size_t i = 0; i < average_.size(); ++i) {
    state.tensors[names_[i]] = average_[i].to(Device::cpu());
  }
}

void WeightAverage::load_state(const CallbackState& state) {
  updates_ = state.get_int("updates");
  // Kept until on_train_begin, where the model's order and devices are known.
  loaded_ = state.tensors;
}

}  // namespace weft::train
