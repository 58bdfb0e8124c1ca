// Batches of a data::Loader delivered on the device, each uploaded while the step before it
// trains: the pinned, double-buffered prefetch for data sets that do not live on the device
// (image folders, augmented or paired data; an in-memory set that fits is uploaded once instead,
// engine/train/classification.h).
//
//   data::DevicePrefetcher batches(loader, device);
//   batches.start_epoch(epoch);
//   while (auto batch = batches.next()) {
//     ... model(batch->inputs), loss against batch->targets (both already on the device) ...
//   }
//
// How it works, with two slots of pinned host memory:
//   the fill thread   takes the loader's next batch (the loader's own workers build it), waits
//                     until a slot is free and its last upload has left it (the slot's `done`
//                     event), and copies the batch into the slot's pinned buffers;
//   next() for b      issues the upload of batch b if it is not yet on its way, and that of
//                     batch b + 1 if its slot is already filled: device tensors are allocated
//                     on the calling thread (so the caching allocator sees them in stream
//                     order) and copied on the device's copy stream, after the work queued so
//                     far (kernels/cuda_runtime/runtime.h, upload_on_copy_stream); the compute
//                     stream waits for batch b's copy; batch b is returned.
// So batch b + 1's transfer runs while step b's kernels do, the host-side copy into pinned
// memory happens off the training thread, and the training thread never waits for the GPU. The
// uploads are issued from next(), between steps, never inside a CUDA graph capture.
//
// The batches are the loader's, in the loader's order (same seed, same batches); an exception
// raised by the loader is rethrown by next() at the batch it concerns. On the CPU there is
// nothing to upload: next() hands out the loader's batches unchanged. On `emu` the uploads are
// the emulated device's counted copies, issued at the same points as on a GPU.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/data/loader.h"
#include "engine/data/sharding.h"
#include "engine/device.h"
#include "engine/tensor.h"

namespace weft::data {

struct DeviceBatch {
  Tensor inputs;                 // float [B, ...] on the device
  Tensor targets;                // int32 [B] or float [B, L] on the device
  std::vector<int64_t> indices;  // the dataset indices in this batch, in order
  int64_t number = 0;            // batch number within the epoch
};

class DevicePrefetcher {
 public:
  DevicePrefetcher(Loader& loader, Device device);
  ~DevicePrefetcher();
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  // Loader::start_epoch, then the fill thread for that epoch (any epoch in progress is stopped).
  void start_epoch(int64_t epoch, Shard shard = {});
  // The epoch's next batch on the device, or nullopt when the epoch is over.
  std::optional<DeviceBatch> next();
  int64_t batches_per_epoch() const { return loader_.batches_per_epoch(); }

 private:
  // Pinned host memory (ordinary host memory for `emu`), grown as batches need.
  struct Staging {
    void* data = nullptr;
    size_t bytes = 0;
    bool pinned = false;  // from cudaMallocHost (else std::malloc)
  };
  enum class State { free, filled, issued, consumed };
  struct Slot {
    State state = State::free;
    Staging inputs, targets;
    Shape input_shape, target_shape;
    DType target_dtype = DType::i32;
    std::vector<int64_t> indices;
    int64_t number = 0;
    Tensor device_inputs, device_targets;  // allocated when issued
    void* ready = nullptr;  // CUDA events of the slot's upload, made at its first upload (an
    void* done = nullptr;   // event never recorded counts as complete)
  };

  void fill_loop();
  void fill(Slot& slot, HostBatch& batch);
  void issue(Slot& slot);
  void stop();
  void reserve(Staging& staging, size_t bytes);
  void release(Staging& staging);

  Loader& loader_;
  Device device_;
  Slot slots_[2];
  int64_t consumed_ = 0;  // batches handed out this epoch; batch b lives in slots_[b % 2]

  std::mutex mutex_;
  std::condition_variable slot_freed_;    // the fill thread waits for a slot
  std::condition_variable batch_filled_;  // next() waits for its batch
  bool stopping_ = false;
  bool finished_ = false;    // the loader's epoch is over (or failed)
  int64_t produced_ = 0;     // batches filled this epoch
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace weft::data
