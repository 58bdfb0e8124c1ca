// WeightAverage: an exponential moving average (EMA) of a model's weights, kept beside the
// trained weights and used wherever the model is evaluated - each validation pass and, once
// training ends, the model itself (so the test evaluation and model.safetensors see it).
//
//   average = d_t * average + (1 - d_t) * weights        after every optimizer step
//   d_t     = min(decay, (1 + t) / (10 + t))             t = updates so far (TensorFlow's
//                                                        ExponentialMovingAverage num_updates)
//
// The ramp lets the average forget the random initial weights in short runs. Parameters and
// the float buffers (batch-norm running statistics) are averaged; other buffers (the batch
// counter) are left as trained. The average is kept in every checkpoint, so a resumed run
// averages exactly as an uninterrupted one. best.safetensors (ModelCheckpoint) holds the trained
// weights of the epoch whose averaged weights validated best.
//
// Needs the trainer's step hooks (Trainer::step_hooks) to be called by the epoch function.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/train/callbacks.h"

namespace weft::train {

struct WeightAverageOptions {
  double decay = 0.999;  // in (0, 1)
};

class WeightAverage : public Callback {
 public:
  explicit WeightAverage(const WeightAverageOptions& options);
  std::string key() const override { return "weight_average"; }
  std::string describe() const override;

  void on_train_begin(TrainContext& context) override;
  void on_step_end(TrainContext& context) override;
  void on_validation_begin(TrainContext& context) override;
  void on_validation_end(TrainContext& context) override;
  void on_train_end(TrainContext& context) override;
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  int64_t updates() const { return updates_; }
  // The decay used by the next update (d_t above).
  double next_decay() const;

 private:
  // The model's averaged tensors, in state_dict order, with their names.
  static std::vector<std::pair<std::string, Tensor>> averaged_tensors(nn::Module& model);
  void start(nn::Module& model);
  // Write `values` (one per averaged tensor, in order) into the model's tensors.
  void copy_into_model(const std::vector<Tensor>& values);

  WeightAverageOptions options_;
  // The model's averaged tensors (handles to its own storage, which Module::to and
  // load_state_dict keep), their names, and their averages on the same device; filled when
  // training begins, so a step does no name lookups.
  std::vector<Tensor> live_;
  std::vector<std::string> names_;
  std::vector<Tensor> average_;
  std::vector<Tensor> stashed_;  // trained weights during validation
  std::map<std::string, Tensor> loaded_;  // from a checkpoint, until training begins
  int64_t updates_ = 0;
};

}  // namespace weft::train
