// StepMeter: a training epoch's loss and accuracy, summed on the device and read back to the
// host only every `read_every` steps and at the end, so a training step on a GPU makes no host
// synchronisation (the host would otherwise wait for the whole step to finish before queueing
// the next one). What the host sees is the same numbers, later.
//
//   train::StepMeter meter(device, hooks);
//   for each batch (step = 1, 2, ...):
//     ... forward, loss, loss.backward() ...
//     if (meter.skip(step, loss)) continue;        // reads the loss only with skipping switched on
//     optimizer.step();
//     meter.add_loss(loss, rows);                  // loss * rows, on the device
//     meter.add_argmax_hits(logits, labels);       // or add_threshold_hits for multi-label
//     meter.end_step(step);                        // a read every read_every steps
//   meter.finish();                                // the last read
//   result.loss = meter.loss(); result.accuracy = meter.accuracy();
//
// Non-finite losses: when the hooks skip such steps (TrainerOptions::skip_nonfinite_steps) the
// decision is needed before that step's update, so skip() reads each step's loss - one host
// synchronisation per step, the price of the option. Otherwise a NaN or infinite loss shows up
// in the sum at the next read, which throws NonFiniteLoss naming the steps since the previous
// read; the trainer turns it into its usual error (last.safetensors holds the last complete
// epoch).
//
// In a captured step (engine/graph.h, engine/train/captured_steps.h) the add_* calls are
// captured with the step and their host counts repeat at each replay; end_step and finish stay
// outside the capture.
//
// Sums are float32 on the device for at most read_every steps, then double on the host; hit
// counts are exact (float32 holds integers to 2^24).
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "engine/train/trainer.h"

namespace weft::train {

class StepMeter {
 public:
  static constexpr int64_t kDefaultReadEvery = 200;

  StepMeter(Device device, const StepHooks& hooks, int64_t read_every = kDefaultReadEvery);

  // Right after backward, before the optimizer step: true when the hooks skip this step for a
  // non-finite loss (see above; this is the only per-step read, and only with skipping on).
  bool skip(int64_t step, const Tensor& loss);
  // Add a step's mean loss times its rows; rows count as samples.
  void add_loss(const Tensor& loss, int64_t rows);
  // Rows of logits [rows, cols] whose first largest value is the label (int32 [rows]).
  void add_argmax_hits(const Tensor& logits, const Tensor& labels);
  // Decisions (logit >= 0) that agree with (target >= 0.5), for multi-label targets.
  void add_threshold_hits(const Tensor& logits, const Tensor& targets);
  // Reads the device sums when `step` is a multiple of read_every.
  void end_step(int64_t step);
  // Reads what is left. Call once, after the last step.
  void finish();

  double loss() const;      // mean over samples (0 with none)
  double accuracy() const;  // hits over decisions (0 with none)
  int64_t samples() const { return samples_; }
  int64_t reads() const { return reads_; }

 private:
  void read(int64_t step);

  Device device_;
  StepHooks hooks_;
  int64_t read_every_;
  Tensor sums_;  // [2] on the device: loss * rows, hits; since the last read
  double loss_sum_ = 0, hits_ = 0;
  int64_t samples_ = 0, decisions_ = 0, reads_ = 0;
  int64_t first_unread_step_ = 1;
  int64_t last_step_ = 0;
  bool unread_ = false;
};

}  // namespace weft::train
