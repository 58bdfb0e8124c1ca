// The device-side loss and accuracy sums of a training epoch (see step_meter.h).
#include "engine/train/step_meter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/dispatch.h"
#include "engine/graph.h"
#include "kernels/error.h"

namespace weft::train {

StepMeter::StepMeter(Device device, const StepHooks& hooks, int64_t read_every)
    : device_(device), hooks_(hooks), read_every_(read_every),
      sums_(Tensor::zeros({2}, DType::f32, device)) {
  WEFT_CHECK(read_every > 0, "StepMeter: read_every must be positive, got ", read_every);
}

bool StepMeter::skip(int64_t step, const Tensor& loss) {
  if (!hooks_.skip_nonfinite) return false;
  return skip_nonfinite_step(hooks_, step, loss.item());
}

void StepMeter::add_loss(const Tensor& loss, int64_t rows) {
  WEFT_CHECK(loss.numel() == 1 && loss.device() == device_, "StepMeter: expected a one-element ",
             "loss on ", device_.str(), ", got ", loss.str());
  dispatch(device_).axpy_accumulate(1, static_cast<float>(rows), loss.data<float>(),
                                    sums_.data<float>());
  samples_ += rows;
  unread_ = true;
  graph::on_replay([this, rows] { samples_ += rows; }, [this, rows] { samples_ -= rows; });
}

void StepMeter::add_argmax_hits(const Tensor& logits, const Tensor& labels) {
  WEFT_CHECK(logits.ndim() == 2 && labels.ndim() == 1 && labels.dim(0) == logits.dim(0) &&
                 labels.dtype() == DType::i32 && logits.device() == device_ &&
                 labels.device() == device_,
             "StepMeter: expected logits [rows, classes] and int32 labels [rows] on ",
             device_.str(), ", got ", logits.str(), " and ", labels.str());
  dispatch(device_).count_argmax_hits(static_cast<int>(logits.dim(0)),
                                      static_cast<int>(logits.dim(1)), logits.data<float>(),
                                      labels.data<int32_t>(), sums_.data<float>() + 1);
  decisions_ += logits.dim(0);
  unread_ = true;
  graph::on_replay([this, n = logits.dim(0)] { decisions_ += n; },
                   [this, n = logits.dim(0)] { decisions_ -= n; });
}

void StepMeter::add_threshold_hits(const Tensor& logits, const Tensor& targets) {
  WEFT_CHECK(logits.shape() == targets.shape() && targets.dtype() == DType::f32 &&
                 logits.device() == device_ && targets.device() == device_,
             "StepMeter: expected logits and float targets of one shape on ", device_.str(),
             ", got ", logits.str(), " and ", targets.str());
  dispatch(device_).count_threshold_hits(logits.numel(), logits.data<float>(),
                                         targets.data<float>(), sums_.data<float>() + 1);
  decisions_ += logits.numel();
  unread_ = true;
  graph::on_replay([this, n = logits.numel()] { decisions_ += n; },
                   [this, n = logits.numel()] { decisions_ -= n; });
}

void StepMeter::end_step(int64_t step) {
  last_step_ = step;
  if (step % read_every_ == 0) read(step);
}

void StepMeter::finish() { read(last_step_); }

void StepMeter::read(int64_t step) {
  if (!unread_) {
    first_unread_step_ = step + 1;
    return;
  }
  const std::vector<float> values = sums_.to_vector<float>();
  ++reads_;
  unread_ = false;
  sums_.zero_();
  if (!std::isfinite(values[0])) {
    throw NonFiniteLoss(first_unread_step_, std::max(first_unread_step_, step), values[0]);
  }
  first_unread_step_ = step + 1;
  loss_sum_ += values[0];
  hits_ += values[1];
}

double StepMeter::loss() const {
  return samples_ == 0 ? 0.0 : loss_sum_ / static_cast<double>(samples_);
}

double StepMeter::accuracy() const {
  return decisions_ == 0 ? 0.0 : hits_ / static_cast<double>(decisions_);
}

}  // namespace weft::train
