// Training and prediction passes over a data::Loader (see loader_epoch.h).
#include "engine/train/loader_epoch.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/data/device_prefetch.h"
#include "engine/distributed/communicator.h"
#include "engine/ops.h"
#include "engine/train/interrupt.h"
#include "engine/train/step_meter.h"
#include "kernels/error.h"

namespace weft::train {

namespace {

Tensor loss_of(const Tensor& logits, const Tensor& targets, Objective objective,
               float label_smoothing = 0.0f) {
  return objective == Objective::single_label
             ? cross_entropy(logits, targets, Tensor(), label_smoothing)
             : bce_with_logits(logits, targets);
}

float sigmoid_of(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

std::vector<int32_t> Predictions::predicted_classes() const {
  return argmax_rows(logits, rows, cols);
}

std::vector<float> Predictions::probabilities() const {
  std::vector<float> p(logits.size());
  if (objective == Objective::multi_label) {
    std::transform(logits.begin(), logits.end(), p.begin(), sigmoid_of);
    return p;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits.data() + r * cols;
    float* out = p.data() + r * cols;
    const float largest = *std::max_element(row, row + cols);
    float total = 0;
    for (int64_t c = 0; c < cols; ++c) total += out[c] = std::exp(row[c] - largest);
    for (int64_t c = 0; c < cols; ++c) out[c] /= total;
  }
  return p;
}

double Predictions::accuracy() const {
  if (rows == 0) return 0.0;
  int64_t right = 0;
  if (objective == Objective::single_label) {
    const std::vector<int32_t> predicted = predicted_classes();
    for (size_t r = 0; r < predicted.size(); ++r) right += predicted[r] == labels[r];
    return static_cast<double>(right) / static_cast<double>(rows);
  }
  for (size_t i = 0; i < logits.size(); ++i) right += (logits[i] >= 0.0f) == (targets[i] >= 0.5f);
  return static_cast<double>(right) / static_cast<double>(logits.size());
}

EpochResult train_loader_epoch(nn::Module& model, optim::Optimizer& optimizer,
                               data::Loader& loader, int epoch, Device device,
                               Objective objective, const StepHooks& hooks,
                               float label_smoothing) {
  WEFT_CHECK(label_smoothing == 0.0f || objective == Objective::single_label,
             "label smoothing applies to single-label classification only");
  model.train();
  // A data-parallel run trains each rank on its share of the epoch (engine/data/sharding.h).
  // On a GPU each batch is uploaded while the one before it trains (engine/data/device_prefetch.h).
  data::DevicePrefetcher batches(loader, device);
  batches.start_epoch(epoch, dist::shard());
  const int64_t steps = batches.batches_per_epoch();
  EpochResult result;
  StepMeter meter(device, hooks);
  int64_t step = 0;
  while (std::optional<data::DeviceBatch> batch = batches.next()) {
    if (stop_requested()) {
      result.completed = false;
      break;
    }
    const Tensor& inputs = batch->inputs;
    const Tensor& targets = batch->targets;
    optimizer.zero_grad();
    const Tensor logits = model(inputs);
    const Tensor loss = loss_of(logits, targets, objective, label_smoothing);
    loss.backward();
    ++step;
    if (meter.skip(step, loss)) continue;
    if (hooks.before_step) hooks.before_step();
    optimizer.step();
    if (hooks.after_step) hooks.after_step(step, steps);
    meter.add_loss(loss, logits.dim(0));
    if (objective == Objective::single_label) {
      meter.add_argmax_hits(logits.detach(), targets);
    } else {
      meter.add_threshold_hits(logits.detach(), targets);
    }
    meter.end_step(step);
  }
  meter.finish();
  result.samples = meter.samples();
  result.loss = meter.loss();
  result.accuracy = meter.accuracy();
  return result;
}

Tensor flip_horizontal(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dtype() == DType::f32 && images.device().is_cpu(),
             "flip_horizontal expects float images [N, C, H, W] on the host, got ", images.str());
  Tensor out = Tensor::empty(images.shape());
  const int64_t width = images.dim(3);
  const int64_t rows = images.numel() / std::max<int64_t>(1, width);
  const float* in = images.data<float>();
  float* flipped = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    std::reverse_copy(in + r * width, in + (r + 1) * width, flipped + r * width);
  }
  return out;
}

Predictions predict(nn::Module& model, data::Loader& loader, Device device, Objective objective,
                    TestTimeAugment augment) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  Predictions out;
  out.objective = objective;
  double loss_sum = 0;
  loader.start_epoch(0);
  while (std::optional<data::HostBatch> batch = loader.next()) {
    Tensor logits = model(batch->inputs.to(device));
    if (augment == TestTimeAugment::flip) {
      logits = (logits + model(flip_horizontal(batch->inputs).to(device))) * 0.5f;
    }
    const int64_t rows = logits.dim(0);
    out.cols = logits.dim(1);
    loss_sum += static_cast<double>(loss_of(logits, batch->targets.to(device), objective).item()) *
                static_cast<double>(rows);
    const std::vector<float> values = logits.to_vector<float>();
    out.logits.insert(out.logits.end(), values.begin(), values.end());
    if (objective == Objective::single_label) {
      const std::vector<int32_t> labels = batch->targets.to_vector<int32_t>();
      out.labels.insert(out.labels.end(), labels.begin(), labels.end());
    } else {
      const std::vector<float> targets = batch->targets.to_vector<float>();
      out.targets.insert(out.targets.end(), targets.begin(), targets.end());
    }
    out.indices.insert(out.indices.end(), batch->indices.begin(), batch->indices.end());
    out.rows += rows;
  }
  out.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, out.rows));
  model.train(was_training);
  return out;
}

}  // namespace weft::train
