// Memory of the emulated device `emu` (engine/device.h): host memory handed out through a caching
// pool shaped like the CUDA one (kernels/cuda_runtime/runtime.cu: sizes rounded to 512 bytes below
// 1 MiB and to 2 MiB above, freed blocks kept per size class, graph-private pools during a
// capture; the books are kernels/block_pool.h), so a training step on `emu` shows the same pool
// hits and driver allocations (kernels/runtime_counters.h) as on a GPU.
// Used by engine/allocator.cpp, engine/graph.cpp and the emulated hand backend's workspaces
// (kernels/cuda/hand_backend.cu), which must be pool memory that outlives the call when the call
// is captured into a graph.
#pragma once

#include <cstddef>

#include "kernels/memory_stats.h"

namespace weft::emu_memory {

void* allocate(size_t bytes);
void release(void* pointer, size_t bytes);
MemoryStats stats();
void reset_peak();

// Graph-private pools (kernels/block_pool.h): open during a capture, dissolved with the graph.
void open_private_pool(int id);
void close_private_pool();
void dissolve_private_pool(int id);

}  // namespace weft::emu_memory
