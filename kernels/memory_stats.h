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

}  // namespace weft
