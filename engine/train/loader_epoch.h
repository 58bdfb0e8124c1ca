// One training epoch and one prediction pass over a data::Loader (engine/data/loader.h): the
// loop for data that is augmented on the fly, normalised per channel, or labelled with several
// labels per image. (engine/train/classification.h is the simpler loop over an in-memory
// LabeledImages without augmentation.)
//
// Two objectives:
//   single_label   logits [B, K], int32 class targets [B], softmax cross-entropy
//   multi_label    logits [B, L], float 0/1 targets [B, L], binary cross-entropy on the logits
//                  (one sigmoid per label, the seed-003 tagger)
//
// Determinism: the loader keys its shuffle and every sample's augmentation on (seed, epoch), so
// train_loader_epoch(epoch e) sees the same batches in a fresh run and in one resumed at e;
// pass the trainer's 1-based epoch number.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/data/loader.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/train/classification.h"
#include "engine/train/trainer.h"

namespace weft::train {

enum class Objective { single_label, multi_label };

// What a model said about every sample of a loader's epoch, in the loader's order.
struct Predictions {
  Objective objective = Objective::single_label;
  int64_t rows = 0, cols = 0;
  std::vector<float> logits;      // [rows, cols]
  std::vector<int32_t> labels;    // single_label: the true class of each row
  std::vector<float> targets;     // multi_label: [rows, cols] 0/1
  std::vector<int64_t> indices;   // the dataset index of each row
  double loss = 0;                // mean over rows

  std::vector<int32_t> predicted_classes() const;  // argmax of each row
  std::vector<float> probabilities() const;        // softmax of each row, or sigmoid of each logit
  // single_label: fraction of rows whose argmax is the label; multi_label: fraction of label
  // decisions (probability >= 0.5) that are right, Keras' binary_accuracy.
  double accuracy() const;
};

// One pass over the loader's epoch `epoch`: forward, loss, backward, hooks.before_step, step,
// hooks.after_step for every batch; returns early (completed = false) after the step in progress
// when a stop is requested. accuracy as Predictions::accuracy, over the samples trained.
// label_smoothing (single_label only): the cross-entropy's target puts 1 - s on the class and
// s / K on every class, as PyTorch's CrossEntropyLoss(label_smoothing=s); the reported loss is
// that smoothed loss.
EpochResult train_loader_epoch(nn::Module& model, optim::Optimizer& optimizer,
                               data::Loader& loader, int epoch, Device device,
                               Objective objective, const StepHooks& hooks = {},
                               float label_smoothing = 0.0f);

// Test-time augmentation of predict(): none, or the mean of the logits of each image and of its
// left-right mirror image (the flip is made on the host batch before it goes to the device).
enum class TestTimeAugment { none, flip };

// The model's outputs on the loader's epoch 0 (unshuffled loaders give dataset order) in eval
// mode, without a tape; the model's train/eval mode is restored afterwards. The loss is the
// plain cross-entropy (or binary cross-entropy) of the returned logits.
Predictions predict(nn::Module& model, data::Loader& loader, Device device, Objective objective,
                    TestTimeAugment augment = TestTimeAugment::none);

// A copy of `images` [N, C, H, W] (float, on the host) mirrored left-right.
Tensor flip_horizontal(const Tensor& images);

}  // namespace weft::train
