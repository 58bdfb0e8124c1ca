// The batch loader: shuffling, batching, drop_last, augmentation and normalisation on
// background worker threads, with a bounded prefetch queue. It produces host (CPU) tensors;
// the caller uploads them with Tensor::to(device).
//
//   auto train = std::make_shared<data::ImageDataset>(images, labels, split[0], transform);
//   data::Loader loader(train, {.batch_size = 64, .shuffle = true, .workers = 2});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) {
//       Tensor x = batch->inputs.to(device), y = batch->targets.to(device);
//       ...
//     }
//   }
//
// Determinism: an epoch's order is a shuffle keyed by (seed, epoch), and sample i of the epoch
// is augmented with its own Generator keyed by (seed, epoch, i). Which worker builds which
// batch, and when, therefore changes nothing: the batches of a seed are the same with 0, 1 or 8
// workers, and a run resumed at epoch e sees exactly the batches an uninterrupted run would.
//
// Threads: `workers` threads build whole batches; a batch is started only while fewer than
// max(prefetch, workers) batches are being built or wait unconsumed, so every worker can be
// busy at once and memory stays bounded. With workers = 0 the batch is
// built on the calling thread inside next(). An exception in a worker (a bad index, a
// normalisation mismatch) is rethrown by next() when the consumer reaches that batch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/data/augment.h"
#include "engine/data/pairs.h"
#include "engine/data/sharding.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace weft::data {

// What the loader needs from a dataset. get() must be safe to call from several threads at
// once (read-only datasets are).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape input_shape() const = 0;   // one sample, e.g. [C, H, W]
  virtual Shape target_shape() const = 0;  // [] for a class index, [L] for a multi-hot row
  virtual DType target_dtype() const = 0;  // i32 for class indices, f32 for multi-hot rows
  // Write sample `index`'s float input and its target (one element of target_dtype per
  // target_shape element). `generator` belongs to this sample alone.
  virtual void get(int64_t index, float* input, void* target, Generator& generator) const = 0;
};

// Augmentation (optional) then normalisation, applied to uint8 pixels converted to float.
struct Transform {
  std::optional<AugmentOptions> augment;
  Normalize normalize;
};

// uint8 [N, C, H, W] images with int32 [N] labels or float [N, L] multi-hot targets, seen
// through an index list (a split, or oversample_indices' repeats; all images when empty).
class ImageDataset : public Dataset {
 public:
  ImageDataset(Tensor images, Tensor targets, std::vector<int64_t> indices = {},
               Transform transform = {});
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Shape input_shape() const override;
  Shape target_shape() const override;
  DType target_dtype() const override { return targets_.dtype(); }
  void get(int64_t index, float* input, void* target, Generator& generator) const override;

 private:
  Tensor images_;
  Tensor targets_;
  std::vector<int64_t> indices_;
  Transform transform_;
};

// How a pair becomes one network input (seed 001's two models).
enum class PairLayout {
  channels,  // [2C, H, W]: first photo's channels, then the second's (CNNChannel)
  stacked,   // [C, 2H, W]: first photo above the second (the stacked CNN)
};

// Pair examples (pairs.h) of `photos`; target int32 1 / 0. Each photo is augmented with its
// own draw.
class PairDataset : public Dataset {
 public:
  PairDataset(const PairedImages& photos, std::vector<PairExample> examples, PairLayout layout,
              Transform transform = {});
  int64_t size() const override { return static_cast<int64_t>(examples_.size()); }
  Shape input_shape() const override;
  Shape target_shape() const override { return {}; }
  DType target_dtype() const override { return DType::i32; }
  void get(int64_t index, float* input, void* target, Generator& generator) const override;

 private:
  Tensor images_;
  std::vector<PairExample> examples_;
  PairLayout layout_;
  Transform transform_;
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  bool drop_last = false;  // leave out a last batch smaller than batch_size
  int workers = 0;         // background threads; 0 builds batches inside next()
  int prefetch = 2;        // batches started ahead of the consumer, at least 1 (raised to
                           // `workers`, so that each can build one: see Threads above)
  uint64_t seed = 0;
};

struct HostBatch {
  Tensor inputs;                 // float [B, ...input_shape] on the CPU
  Tensor targets;                // int32 [B] or float [B, L] on the CPU
  std::vector<int64_t> indices;  // the dataset indices in this batch, in order
  int64_t number = 0;            // batch number within the epoch
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Batches of the current epoch's shard (the whole dataset before the first start_epoch).
  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  // Begin epoch `epoch` (stopping any epoch in progress): fixes its order and starts workers.
  // With a shard of several ranks (data-parallel training) this loader hands out only the
  // rank's share of the epoch (engine/data/sharding.h); each sample is augmented as it would
  // be at its position in the whole epoch, so N ranks see what one process would.
  void start_epoch(int64_t epoch, Shard shard = {});
  // The epoch's next batch, or nullopt when the epoch is over.
  std::optional<HostBatch> next();

  // The sample order of an epoch (what start_epoch uses; exposed for tests and inspection).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  HostBatch build(int64_t number) const;
  // Batches started and not yet consumed, at most: each worker one, and `prefetch` at least.
  int64_t in_flight_limit() const {
    return options_.prefetch > options_.workers ? options_.prefetch : options_.workers;
  }
  void stop_workers();
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
  // The epoch positions this rank loads, in order; empty when the loader is not sharded.
  Shard shard_;
  std::vector<int64_t> positions_;
  int64_t batches_ = 0;
  int64_t consumed_ = 0;  // batches handed to the caller this epoch

  // Shared with the workers, under mutex_.
  std::mutex mutex_;
  std::condition_variable work_ready_;   // workers wait for room in the queue
  std::condition_variable batch_ready_;  // next() waits for its batch
  int64_t handed_out_ = 0;               // batches a worker has started
  bool stopping_ = false;
  std::map<int64_t, HostBatch> done_;
  std::map<int64_t, std::exception_ptr> failed_;
  std::vector<std::thread> workers_;
};

}  // namespace weft::data
