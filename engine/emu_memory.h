// Memory of the emulated device `emu` (engine/device.h): host memory handed out through a caching
// pool shaped like the CUDA one (kernels/cuda_runtime/runtime.cu: sizes rounded to 512 bytes below
// 1 MiB and to 2 MiB above, freed blocks kept per size class), so a training step on `emu` shows
// the same pool hits and driver allocations (kernels/runtime_counters.h) as on a GPU.
// Used by engine/allocator.cpp only.
#pragma once

#include <cstddef>

#include "kernels/memory_stats.h"

namespace weft::emu_memory {

void* allocate(size_t bytes);
void release(void* pointer, size_t bytes);
MemoryStats stats();
void reset_peak();

}  // namespace weft::emu_memory
