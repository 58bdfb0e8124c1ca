// The device prefetcher: a fill thread and two pinned slots between a Loader and the device
// (see device_prefetch.h for the protocol). A slot's state says who may touch it:
//   free, consumed  the fill thread (after the slot's last upload has left its pinned buffers)
//   filled, issued  next() on the training thread
// and changes only under mutex_.
#include "engine/data/device_prefetch.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "engine/allocator.h"
#include "kernels/error.h"

#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft::data {

DevicePrefetcher::DevicePrefetcher(Loader& loader, Device device)
    : loader_(loader), device_(device) {
#ifndef WEFT_HAVE_CUDA
  WEFT_CHECK(!device.is_cuda(), "DevicePrefetcher: ", device.str(),
             " needs a build with CUDA");
#endif
}

DevicePrefetcher::~DevicePrefetcher() {
  stop();
  for (Slot& slot : slots_) {
#ifdef WEFT_HAVE_CUDA
    if (device_.is_cuda()) {
      // The last upload may still be reading the pinned buffers.
      if (slot.done != nullptr) cuda::event_synchronize(slot.done);
      cuda::event_destroy(slot.ready);
      cuda::event_destroy(slot.done);
    }
#endif
    release(slot.inputs);
    release(slot.targets);
  }
}

void DevicePrefetcher::start_epoch(int64_t epoch, Shard shard) {
  stop();
  loader_.start_epoch(epoch, shard);
  if (!device_.is_cpu()) thread_ = std::thread(&DevicePrefetcher::fill_loop, this);
}

std::optional<DeviceBatch> DevicePrefetcher::next() {
  if (device_.is_cpu()) {
    std::optional<HostBatch> batch = loader_.next();
    if (!batch) return std::nullopt;
    return DeviceBatch{batch->inputs, batch->targets, std::move(batch->indices), batch->number};
  }
  WEFT_CHECK(thread_.joinable(), "DevicePrefetcher::next() before start_epoch()");
  Slot& slot = slots_[consumed_ % 2];
  Slot& following = slots_[(consumed_ + 1) % 2];
  bool issue_following = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    batch_filled_.wait(lock, [&] {
      return slot.state == State::filled || slot.state == State::issued ||
             (finished_ && produced_ == consumed_);
    });
    if (slot.state != State::filled && slot.state != State::issued) {
      if (error_) std::rethrow_exception(error_);
      return std::nullopt;
    }
    issue_following = following.state == State::filled;
  }
  if (slot.state == State::filled) issue(slot);
  // The batch after this one goes on its way now, to arrive while this one trains.
  if (issue_following) issue(following);
#ifdef WEFT_HAVE_CUDA
  if (device_.is_cuda()) cuda::wait_for_upload(device_.index, slot.done);
#endif
  DeviceBatch out{std::move(slot.device_inputs), std::move(slot.device_targets),
                  std::move(slot.indices), slot.number};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    slot.state = State::consumed;
    ++consumed_;
  }
  slot_freed_.notify_all();
  return out;
}

void DevicePrefetcher::fill_loop() {
  try {
    for (;;) {
      std::optional<HostBatch> batch = loader_.next();
      std::unique_lock<std::mutex> lock(mutex_);
      if (!batch) break;
      Slot& slot = slots_[produced_ % 2];
      slot_freed_.wait(lock, [&] {
        return stopping_ || slot.state == State::free || slot.state == State::consumed;
      });
      if (stopping_) return;
      lock.unlock();
      fill(slot, *batch);
      lock.lock();
      slot.state = State::filled;
      ++produced_;
      batch_filled_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  batch_filled_.notify_all();
}

void DevicePrefetcher::fill(Slot& slot, HostBatch& batch) {
#ifdef WEFT_HAVE_CUDA
  if (device_.is_cuda() && slot.done != nullptr) cuda::event_synchronize(slot.done);
#endif
  const size_t input_bytes = static_cast<size_t>(batch.inputs.numel()) * dtype_size(DType::f32);
  const size_t target_bytes =
      static_cast<size_t>(batch.targets.numel()) * dtype_size(batch.targets.dtype());
  WEFT_CHECK(batch.inputs.dtype() == DType::f32, "DevicePrefetcher: inputs must be float, got ",
             batch.inputs.str());
  reserve(slot.inputs, input_bytes);
  reserve(slot.targets, target_bytes);
  if (input_bytes > 0) std::memcpy(slot.inputs.data, batch.inputs.raw_data(), input_bytes);
  if (target_bytes > 0) std::memcpy(slot.targets.data, batch.targets.raw_data(), target_bytes);
  slot.input_shape = batch.inputs.shape();
  slot.target_shape = batch.targets.shape();
  slot.target_dtype = batch.targets.dtype();
  slot.indices = std::move(batch.indices);
  slot.number = batch.number;
}

void DevicePrefetcher::issue(Slot& slot) {
  slot.device_inputs = Tensor::empty(slot.input_shape, DType::f32, device_);
  slot.device_targets = Tensor::empty(slot.target_shape, slot.target_dtype, device_);
  const std::pair<Tensor*, Staging*> parts[] = {{&slot.device_inputs, &slot.inputs},
                                                {&slot.device_targets, &slot.targets}};
  for (const auto& [tensor, staging] : parts) {
    const size_t bytes = static_cast<size_t>(tensor->numel()) * dtype_size(tensor->dtype());
    if (bytes == 0) continue;
#ifdef WEFT_HAVE_CUDA
    if (device_.is_cuda()) {
      if (slot.ready == nullptr) slot.ready = cuda::event_create();
      if (slot.done == nullptr) slot.done = cuda::event_create();
      cuda::upload_on_copy_stream(device_.index, tensor->raw_data(), staging->data, bytes,
                                  slot.ready, slot.done);
      continue;
    }
#endif
    copy_bytes(device_, tensor->raw_data(), Device::cpu(), staging->data, bytes);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  slot.state = State::issued;
}

void DevicePrefetcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  slot_freed_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (Slot& slot : slots_) {
#ifdef WEFT_HAVE_CUDA
    // An upload issued but never handed out: its blocks return to the pool below, for work
    // queued later on the compute stream, which must therefore run after the copy.
    if (device_.is_cuda() && slot.state == State::issued) {
      cuda::wait_for_upload(device_.index, slot.done);
    }
#endif
    slot.device_inputs = Tensor();
    slot.device_targets = Tensor();
    slot.state = State::free;
  }
  stopping_ = finished_ = false;
  produced_ = consumed_ = 0;
  error_ = nullptr;
}

void DevicePrefetcher::reserve(Staging& staging, size_t bytes) {
  if (bytes <= staging.bytes) return;
  release(staging);
#ifdef WEFT_HAVE_CUDA
  if (device_.is_cuda()) staging.data = cuda::pinned_malloc(bytes);
#endif
  // Without pinned memory (emu, or the driver refused) the copy is from pageable memory: still
  // correct, but the driver stages it and the copy no longer overlaps.
  if (staging.data == nullptr) {
    staging.data = std::malloc(bytes);
    staging.pinned = false;
  } else {
    staging.pinned = true;
  }
  WEFT_CHECK(staging.data != nullptr, "DevicePrefetcher: out of host memory (", bytes,
             " bytes for a batch)");
  staging.bytes = bytes;
}

void DevicePrefetcher::release(Staging& staging) {
  if (staging.data == nullptr) return;
#ifdef WEFT_HAVE_CUDA
  if (staging.pinned) {
    cuda::pinned_free(staging.data);
  } else {
    std::free(staging.data);
  }
#else
  std::free(staging.data);
#endif
  staging = Staging{};
}

}  // namespace weft::data
