// The pieces of a classifier's training loop that every app shares: turning a batch of uint8
// images into normalised floats on the device, one training epoch, and evaluation.
// The run around them - callbacks, checkpoints, resume, progress - is engine/train/trainer.h.
#pragma once

#include <functional>
#include <vector>

#include "engine/data/augment.h"
#include "engine/data/fashion_mnist.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/trainer.h"

namespace weft::train {

struct Batch {
  Tensor images;  // float32 [B, C, H, W] on the device, pixels * scale + shift
  Tensor labels;  // int32 [B] on the device
};

struct Normalization {
  float scale = 1.0f / 255.0f;
  float shift = 0.0f;
};

// Gather rows `indices[begin, end)` of `data` into a batch on `device`.
// Random augmentation of training batches: each image gets its own draw from `generator`
// (engine/data/augment.h). Off when generator is null or no option is switched on.
struct BatchAugmentation {
  data::AugmentOptions options;
  Generator* generator = nullptr;
  bool active() const { return generator != nullptr && options.any(); }
};

// A batch in host memory, before the upload: images are uint8 (converted on the device), or,
// when augmented on the host, float32 already normalised; labels int32.
struct HostBatch {
  Tensor images;
  Tensor labels;
};

// Gather rows `indices[begin, end)` of `data` on the host, augmented when `augmentation` is
// active.
HostBatch gather_batch(const data::LabeledImages& data, const std::vector<int64_t>& indices,
                       int64_t begin, int64_t end, const Normalization& norm = {},
                       const BatchAugmentation& augmentation = {});
// A gathered batch's tensors once on the device, as a Batch: uint8 images are converted there.
Batch device_batch(const Tensor& images, const Tensor& labels, const Normalization& norm);

// Gather rows `indices[begin, end)` of `data` into a batch on `device`, augmented first when
// `augmentation` is active (gather_batch, upload, device_batch).
Batch make_batch(const data::LabeledImages& data, const std::vector<int64_t>& indices,
                 int64_t begin, int64_t end, Device device, const Normalization& norm = {},
                 const BatchAugmentation& augmentation = {});

// A data set that fits on the device lives there (Fashion-MNIST's training set is 47 MB): its
// images are uploaded once, on the first epoch that uses them on a CUDA device or emu, and kept
// for the following epochs; each step then uploads only the batch's row numbers and labels and
// gathers and normalises the rows on the device (gather_u8_to_f32) - the same batches as the
// host path, bit for bit. Augmentation that only flips and shifts by whole pixels (flips and
// crop_padding: data::whole_pixel_moves) is done there too: the host draws each image's
// parameters from the same generator in the same order as the host path, and uploads five
// int32 per image (gather_augment_u8_to_f32) instead of the augmented floats - again the same
// batches bit for bit. Data sets above kResidentLimitBytes, float images, and epochs with other
// augmentations (rotation, shear, zoom, fractional shifts) take the host path (gather_batch).
// The cache holds one data set, keyed by its host storage; data changed in place after its
// upload is not seen.
inline constexpr int64_t kResidentLimitBytes = int64_t{2} << 30;
// The images of `data` on `device` (uploaded once, see above), or undefined when they stay on
// the host.
Tensor resident_images(const data::LabeledImages& data, Device device);

struct EpochResult {
  double loss = 0;        // mean over samples
  double accuracy = 0;    // fraction correct
  int64_t samples = 0;    // samples trained on (fewer than the data when stopped early)
  bool completed = true;  // false when a stop request ended the pass early
};

// One pass over `data` in shuffled batches of `batch_size` (the last batch may be smaller),
// Adam/SGD step after each. Shuffling draws from `generator`. `hooks` (from
// Trainer::step_hooks()) run around every step; when train::stop_requested() turns true the
// pass returns after the step in progress, with completed = false. With graphs on for the
// device (engine/graph.h) the steps after the first are one captured graph replayed per batch
// (engine/train/captured_steps.h); not when non-finite steps are skipped, which reads each loss.
EpochResult train_epoch(nn::Module& model, optim::Optimizer& optimizer,
                        const data::LabeledImages& data, int batch_size, Device device,
                        Generator& generator, const Normalization& norm = {},
                        const StepHooks& hooks = {}, const BatchAugmentation& augmentation = {});

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  std::vector<int32_t> predictions;  // argmax class per sample, in dataset order
};

// Loss and accuracy of `model` (switched to eval mode and back) without recording a tape.
Evaluation evaluate(nn::Module& model, const data::LabeledImages& data, int batch_size,
                    Device device, const Normalization& norm = {});

// Index of the largest value in each row of a [rows, cols] host matrix.
std::vector<int32_t> argmax_rows(const std::vector<float>& values, int64_t rows, int64_t cols);

}  // namespace weft::train
