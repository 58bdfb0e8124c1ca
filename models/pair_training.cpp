// Pair batches, balanced order, training epochs and evaluation for the shoe-pair models (see
// pair_training.h).
#include "models/pair_training.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "engine/autograd.h"
#include "engine/data/sharding.h"
#include "engine/distributed/communicator.h"
#include "engine/ops.h"
#include "engine/report/metrics.h"
#include "engine/train/interrupt.h"
#include "engine/train/step_meter.h"
#include "kernels/error.h"

namespace weft::models {

PairBatch make_pair_batch(const data::PairedImages& photos,
                          const std::vector<data::PairExample>& examples,
                          const std::vector<int64_t>& order, int64_t begin, int64_t end,
                          Device device, const train::Normalization& norm) {
  const int64_t count = end - begin;
  WEFT_CHECK(count > 0 && begin >= 0 && end <= static_cast<int64_t>(order.size()),
             "make_pair_batch: range [", begin, ", ", end, ") outside the ", order.size(),
             " examples");
  Shape shape = photos.images.shape();
  const size_t photo_bytes = static_cast<size_t>(photos.images.numel() / shape[0]);
  shape[0] = count;
  Tensor first = Tensor::empty(shape, DType::u8), second = Tensor::empty(shape, DType::u8);
  Tensor targets = Tensor::empty({count}, DType::i32);
  const uint8_t* src = photos.images.data<uint8_t>();
  for (int64_t i = 0; i < count; ++i) {
    const data::PairExample& example = examples[static_cast<size_t>(order[begin + i])];
    std::memcpy(first.data<uint8_t>() + i * photo_bytes, src + example.first * photo_bytes,
                photo_bytes);
    std::memcpy(second.data<uint8_t>() + i * photo_bytes, src + example.second * photo_bytes,
                photo_bytes);
    targets.data<int32_t>()[i] = example.target;
  }
  return {u8_to_f32(first.to(device), norm.scale, norm.shift),
          u8_to_f32(second.to(device), norm.scale, norm.shift), targets.to(device)};
}

std::vector<int64_t> balanced_order(const std::vector<data::PairExample>& examples,
                                    Generator& generator) {
  std::vector<int64_t> positives, negatives;
  for (size_t i = 0; i < examples.size(); ++i) {
    (examples[i].target == 1 ? positives : negatives).push_back(static_cast<int64_t>(i));
  }
  generator.shuffle(positives);
  generator.shuffle(negatives);
  std::vector<int64_t> order;
  order.reserve(examples.size());
  for (size_t i = 0; i < std::max(positives.size(), negatives.size()); ++i) {
    if (i < positives.size()) order.push_back(positives[i]);
    if (i < negatives.size()) order.push_back(negatives[i]);
  }
  return order;
}

train::EpochResult pair_train_epoch(PairModel& model, optim::Optimizer& optimizer,
                                    const data::PairedImages& photos,
                                    const std::vector<data::PairExample>& examples,
                                    int batch_size, Device device, Generator& generator,
                                    const train::StepHooks& hooks) {
  WEFT_CHECK(batch_size > 1, "the pair models need batches of at least 2 (batch norm), got ",
             batch_size);
  WEFT_CHECK(!examples.empty(), "no pair examples to train on");
  model.train();
  // A data-parallel run trains each rank on its share of the epoch (engine/data/sharding.h).
  const std::vector<int64_t> order =
      data::shard_order(balanced_order(examples, generator), batch_size, dist::shard());
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t steps = (n + batch_size - 1) / batch_size;
  train::EpochResult result;
  train::StepMeter meter(device, hooks);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min<int64_t>(begin + batch_size, n);
    if (end - begin < 2) break;  // a last batch of one example: batch norm cannot use it
    if (train::stop_requested()) {
      result.completed = false;
      break;
    }
    const int64_t step = begin / batch_size + 1;
    const PairBatch batch = make_pair_batch(photos, examples, order, begin, end, device);
    optimizer.zero_grad();
    const Tensor logits = model.forward_pair(batch.first, batch.second);
    const Tensor loss = cross_entropy(logits, batch.targets);
    loss.backward();
    if (meter.skip(step, loss)) continue;
    if (hooks.before_step) hooks.before_step();
    optimizer.step();
    meter.add_loss(loss, end - begin);
    meter.add_argmax_hits(logits.detach(), batch.targets);
    meter.end_step(step);
    if (hooks.after_step) hooks.after_step(step, steps);
  }
  meter.finish();
  result.samples = meter.samples();
  result.loss = meter.loss();
  result.accuracy = meter.accuracy();
  return result;
}

PairEvaluation evaluate_pairs(PairModel& model, const data::PairedImages& photos,
                              const std::vector<data::PairExample>& examples, int batch_size,
                              Device device) {
  WEFT_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  std::vector<int64_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  const int64_t n = static_cast<int64_t>(examples.size());

  PairEvaluation result;
  std::vector<int32_t> truth;
  double loss_sum = 0;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min<int64_t>(begin + batch_size, n);
    const PairBatch batch = make_pair_batch(photos, examples, order, begin, end, device);
    const Tensor logits = model.forward_pair(batch.first, batch.second);
    loss_sum += static_cast<double>(cross_entropy(logits, batch.targets).item()) *
                static_cast<double>(end - begin);
    const std::vector<float> probabilities = softmax(logits).to_vector<float>();
    for (int64_t i = 0; i < end - begin; ++i) result.scores.push_back(probabilities[2 * i + 1]);
    const std::vector<int32_t> predicted = train::argmax_rows(logits.to_vector<float>(), end - begin, 2);
    result.predicted.insert(result.predicted.end(), predicted.begin(), predicted.end());
    const std::vector<int32_t> targets = batch.targets.to_vector<int32_t>();
    truth.insert(truth.end(), targets.begin(), targets.end());
  }
  model.train(was_training);

  int64_t correct = 0, positives_right = 0, negatives_right = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const bool right = result.predicted[i] == truth[i];
    correct += right;
    if (truth[i] == 1) {
      ++result.positives;
      positives_right += right;
    } else {
      ++result.negatives;
      negatives_right += right;
    }
  }
  result.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, n));
  result.accuracy = report::safe_ratio(static_cast<double>(correct), static_cast<double>(n));
  result.positive_accuracy = report::safe_ratio(static_cast<double>(positives_right),
                                                static_cast<double>(result.positives));
  result.negative_accuracy = report::safe_ratio(static_cast<double>(negatives_right),
                                                static_cast<double>(result.negatives));
  if (result.positives > 0 && result.negatives > 0) result.roc_auc = report::roc_auc(truth, result.scores);
  return result;
}

}  // namespace weft::models
