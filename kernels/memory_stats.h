// Byte counters of one device's memory, kept by the CPU allocator (engine/allocator.cpp) and by
// the CUDA caching allocator (kernels/cuda_runtime/runtime.cu), read through memory_stats().
#pragma once

#include <cstddef>

namespace weft {

struct MemoryStats {
  size_t current_bytes = 0;  // held by live tensors
  size_t peak_bytes = 0;     // the most ever held at once (since the last reset)
  size_t cached_bytes = 0;   // freed but kept for reuse (CUDA pool; CPU blocks >= 32 MiB)
};

// The block size a caching pool hands out for `bytes`: rounded up to 512 bytes below 1 MiB and
// to 2 MiB above, so the shapes of a training step fall into a handful of size classes. Shared by
// the CUDA pool (kernels/cuda_runtime/runtime.cu) and the emulated device's (kernels/emu_memory.cpp).
inline size_t pool_block_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{2} << 20, kSmallLimit = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  return bytes < kSmallLimit ? (bytes + kSmall - 1) / kSmall * kSmall
                             : (bytes + kLarge - 1) / kLarge * kLarge;
}

}  // namespace weft
