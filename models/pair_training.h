// Training and evaluating the shoe-pair models (pair_cnn.h) on pair examples
// (engine/data/pairs.h): the pieces the shoe-pairs app (apps/shoe-pairs) and its tests share.
//
// A batch holds the two photos of each example as separate tensors, and the model combines
// them its own way (PairModel::forward_pair: stacked, 6-channel or siamese), so one loop
// serves all three models. Pixels are scaled as seed 001 did: / 255 - 0.5.
//
// Seed 001 trained on batches of 42 examples, half positive. balanced_order shuffles the
// positives and the negatives separately and interleaves them (p, n, p, n, ...), so every
// even-sized batch is exactly half positive while there are enough of both.
//
// Evaluation reports what a pair classifier needs beside plain accuracy: accuracy on the
// positives (pairs recognised) and on the negatives (strangers rejected) - a model that says
// "same pair" to everything scores 50% accuracy on balanced data and 100% on positives - and
// the ROC AUC of P(same pair), which does not depend on the 0.5 threshold.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/data/pairs.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/classification.h"
#include "models/pair_cnn.h"

namespace weft::models {

// Seed 001's pixel scaling.
constexpr train::Normalization kPairNormalization{1.0f / 255.0f, -0.5f};

struct PairBatch {
  Tensor first;    // float [B, C, H, W] on the device: the slot-0 (left) photos
  Tensor second;   // float [B, C, H, W]: the slot-1 (right) photos
  Tensor targets;  // int32 [B]: 1 same pair, 0 not
};

// Examples order[begin, end) of `examples`, their photos gathered from `photos`.
PairBatch make_pair_batch(const data::PairedImages& photos,
                          const std::vector<data::PairExample>& examples,
                          const std::vector<int64_t>& order, int64_t begin, int64_t end,
                          Device device, const train::Normalization& norm = kPairNormalization);

// Indices into `examples`: positives and negatives each shuffled, then interleaved starting
// with a positive; whichever kind is left over comes last.
std::vector<int64_t> balanced_order(const std::vector<data::PairExample>& examples,
                                    Generator& generator);

// One pass in balanced batches (the last may be smaller), cross-entropy over the 2 logits, an
// optimizer step after each. Stops early (completed = false) on train::stop_requested().
train::EpochResult pair_train_epoch(PairModel& model, optim::Optimizer& optimizer,
                                    const data::PairedImages& photos,
                                    const std::vector<data::PairExample>& examples,
                                    int batch_size, Device device, Generator& generator,
                                    const train::StepHooks& hooks = {});

struct PairEvaluation {
  double loss = 0;
  double accuracy = 0;           // all examples
  double positive_accuracy = 0;  // examples with target 1 (0 when there are none)
  double negative_accuracy = 0;  // examples with target 0
  double roc_auc = 0.5;          // of P(same pair); 0.5 unless both kinds are present
  int64_t positives = 0, negatives = 0;
  std::vector<float> scores;        // P(same pair) per example, in example order
  std::vector<int32_t> predicted;   // argmax per example
};

// In eval mode (switched back afterwards), without a tape.
PairEvaluation evaluate_pairs(PairModel& model, const data::PairedImages& photos,
                              const std::vector<data::PairExample>& examples, int batch_size,
                              Device device);

}  // namespace weft::models
