// Per-device allocation and copies: the CPU side here, the CUDA side forwarded to
// kernels/cuda_runtime/runtime.cu when weft is built with CUDA, the emulated device's to
// kernels/emu_memory.cpp. Copies to, from and within `emu` are plain memcpy, counted as the
// CUDA runtime counts its copies (a device->host copy is a host synchronisation); during a graph
// capture on `emu`, memsets and copies within the device are recorded (kernels/emu_graph.h).
#include "engine/allocator.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "kernels/emu_memory.h"
#include "kernels/emu_graph.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft {
namespace {

constexpr size_t kCpuAlignment = 64;
constexpr size_t kLargeBlock = size_t{32} << 20;        // glibc's largest mmap threshold
// Large freed blocks kept, in bytes. None under AddressSanitizer, so that it still sees every
// use of a freed block.
#ifdef __SANITIZE_ADDRESS__
constexpr size_t kLargeCacheLimit = 0;
#else
constexpr size_t kLargeCacheLimit = size_t{1} << 30;
#endif

std::atomic<size_t> cpu_current{0};
std::atomic<size_t> cpu_peak{0};

// glibc serves blocks above its mmap threshold (128 KiB at first) with mmap and unmaps them on
// free, so every training step would fault the pages of its activations in again. Raising the
// threshold to glibc's maximum (32 MiB on 64-bit) and keeping freed memory in the heap lets the
// same blocks serve step after step - a CPU counterpart of the CUDA caching pool.
void keep_freed_cpu_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, kLargeBlock);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    return true;
  }();
  (void)done;
}

// Blocks of kLargeBlock bytes or more are still mmapped by glibc whatever the threshold (a batch
// of 512 Fashion-MNIST conv activations is 88 MB), so they are cached here instead: freed large
// blocks wait in a list by exact size, up to kLargeCacheLimit bytes in all (the oldest go back
// to the system first), and an allocation of the same size takes one back. Training steps repeat
// the same shapes, so after the first step the large activations stop costing page faults.
class LargeBlockCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard lock(mutex_);
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
      if (it->bytes == bytes) {
        void* pointer = it->pointer;
        cached_ -= bytes;
        blocks_.erase(it);
        return pointer;
      }
    }
    return nullptr;
  }

  void give(void* pointer, size_t bytes) {
    std::lock_guard lock(mutex_);
    if (bytes > kLargeCacheLimit) {
      std::free(pointer);
      return;
    }
    while (cached_ + bytes > kLargeCacheLimit) {
      std::free(blocks_.front().pointer);
      cached_ -= blocks_.front().bytes;
      blocks_.erase(blocks_.begin());
    }
    blocks_.push_back({pointer, bytes});
    cached_ += bytes;
  }

  size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_;
  }

 private:
  struct Block {
    void* pointer;
    size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> blocks_;  // oldest first
  size_t cached_ = 0;
};

LargeBlockCache& large_blocks() {
  static LargeBlockCache* cache = new LargeBlockCache;  // never destroyed: frees may come late
  return *cache;
}

size_t rounded_cpu_bytes(size_t bytes) {
  const size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  return rounded == 0 ? kCpuAlignment : rounded;
}

// Copies between the host and the emulated device cannot be part of a graph, as on CUDA
// (kernels/cuda_runtime/runtime.cu says why); the same message.
void refuse_during_capture(const char* what) {
  if (emu_graph::active() != nullptr) {
    throw Error(std::string("a ") + what +
                " inside a graph capture: a captured step must take its inputs from device "
                "buffers filled before the replay and read nothing back");
  }
}

void require_cuda_build(Device device) {
#ifndef WEFT_HAVE_CUDA
  throw Error("device " + device.str() + ": this weft was built without CUDA");
#else
  (void)device;
#endif
}

}  // namespace

void* device_allocate(Device device, size_t bytes) {
  if (device.is_emu()) return emu_memory::allocate(bytes);
  if (device.is_cpu()) {
    keep_freed_cpu_memory();
    const size_t rounded = rounded_cpu_bytes(bytes);
    void* pointer = rounded >= kLargeBlock ? large_blocks().take(rounded) : nullptr;
    if (pointer == nullptr) pointer = std::aligned_alloc(kCpuAlignment, rounded);
    if (pointer == nullptr) {
      throw OutOfMemory("the CPU is out of memory: " + std::to_string(rounded >> 20) +
                        " MiB needed, " + std::to_string(cpu_current.load() >> 20) +
                        " MiB held by tensors");
    }
    const size_t now = cpu_current.fetch_add(bytes) + bytes;
    size_t peak = cpu_peak.load();
    while (now > peak && !cpu_peak.compare_exchange_weak(peak, now)) {
    }
    return pointer;
  }
  require_cuda_build(device);
#ifdef WEFT_HAVE_CUDA
  return cuda::cached_malloc(device.index, bytes);
#else
  return nullptr;
#endif
}

void device_free(Device device, void* pointer, size_t bytes) {
  if (pointer == nullptr) return;
  if (device.is_emu()) {
    emu_memory::release(pointer, bytes);
    return;
  }
  if (device.is_cpu()) {
    const size_t rounded = rounded_cpu_bytes(bytes);
    if (rounded >= kLargeBlock) {
      large_blocks().give(pointer, rounded);
    } else {
      std::free(pointer);
    }
    cpu_current.fetch_sub(bytes);
    return;
  }
#ifdef WEFT_HAVE_CUDA
  cuda::cached_free(device.index, pointer, bytes);
#endif
}

MemoryStats memory_stats(Device device) {
  if (device.is_emu()) return emu_memory::stats();
  if (device.is_cpu()) {
    return {cpu_current.load(), cpu_peak.load(), large_blocks().cached_bytes()};
  }
  require_cuda_build(device);
#ifdef WEFT_HAVE_CUDA
  return cuda::memory_stats(device.index);
#else
  return {};
#endif
}

void reset_peak_memory(Device device) {
  if (device.is_emu()) {
    emu_memory::reset_peak();
    return;
  }
  if (device.is_cpu()) {
    cpu_peak.store(cpu_current.load());
    return;
  }
#ifdef WEFT_HAVE_CUDA
  cuda::reset_peak_memory(device.index);
#endif
}

void copy_bytes(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (dst_device.is_emu() || src_device.is_emu()) {
    const bool host_to_device = src_device.is_cpu(), device_to_host = dst_device.is_cpu();
    WEFT_CHECK(host_to_device || device_to_host || dst_device == src_device, "copy between ",
               src_device.str(), " and ", dst_device.str(), " is not supported");
    if (host_to_device || device_to_host) {
      refuse_during_capture(host_to_device ? "host-to-device copy" : "device-to-host copy");
    }
    count::copy(host_to_device   ? count::Copy::host_to_device
                : device_to_host ? count::Copy::device_to_host
                                 : count::Copy::device_to_device,
                bytes);
    if (device_to_host) count::host_sync();
    if (emu_graph::Recording* recording = emu_graph::active()) {
      recording->work.push_back({"copy", [=] { std::memcpy(dst, src, bytes); }});
      return;
    }
    std::memcpy(dst, src, bytes);
    return;
  }
  require_cuda_build(dst_device.is_cuda() ? dst_device : src_device);
#ifdef WEFT_HAVE_CUDA
  if (dst_device.is_cuda() && src_device.is_cpu()) {
    cuda::memcpy_host_to_device(dst_device.index, dst, src, bytes);
  } else if (dst_device.is_cpu() && src_device.is_cuda()) {
    cuda::memcpy_device_to_host(src_device.index, dst, src, bytes);
  } else {
    WEFT_CHECK(dst_device == src_device, "copy between two CUDA devices (", src_device.str(),
               " -> ", dst_device.str(), ") is not supported");
    cuda::memcpy_device_to_device(dst_device.index, dst, src, bytes);
  }
#endif
}

void copy_rows(Device device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
               size_t row_bytes, size_t rows) {
  if (row_bytes == 0 || rows == 0) return;
  const auto copy = [=] {
    for (size_t r = 0; r < rows; ++r) {
      std::memcpy(static_cast<char*>(dst) + r * dst_pitch,
                  static_cast<const char*>(src) + r * src_pitch, row_bytes);
    }
  };
  if (device.is_emu()) {
    count::copy(count::Copy::device_to_device, rows * row_bytes);
    if (emu_graph::Recording* recording = emu_graph::active()) {
      recording->work.push_back({"copy", copy});
      return;
    }
  }
  if (device.is_cpu() || device.is_emu()) {
    copy();
    return;
  }
  require_cuda_build(device);
#ifdef WEFT_HAVE_CUDA
  cuda::memcpy_rows_device_to_device(device.index, dst, dst_pitch, src, src_pitch, row_bytes,
                                     rows);
#endif
}

void zero_bytes(Device device, void* pointer, size_t bytes) {
  if (bytes == 0) return;
  if (device.is_emu()) {
    count::memset();
    if (emu_graph::Recording* recording = emu_graph::active()) {
      recording->work.push_back({"memset", [=] { std::memset(pointer, 0, bytes); }});
      return;
    }
  }
  if (device.is_cpu() || device.is_emu()) {
    std::memset(pointer, 0, bytes);
    return;
  }
  require_cuda_build(device);
#ifdef WEFT_HAVE_CUDA
  cuda::memset_zero(device.index, pointer, bytes);
#endif
}

}  // namespace weft
