// Raw memory for tensor storage, one allocator per device, with byte counters.
//
// CPU memory is 64-byte aligned (one cache line, room for AVX-512 loads). CUDA memory comes from
// the caching pool in kernels/cuda_runtime/runtime.cu: freed blocks are kept in size classes and reused,
// because cudaMalloc/cudaFree synchronise the device and would stall every training step.
#pragma once

#include <cstddef>

#include "engine/device.h"
#include "kernels/memory_stats.h"

namespace weft {

void* device_allocate(Device device, size_t bytes);
void device_free(Device device, void* pointer, size_t bytes);
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

// Copy `bytes` between any two devices. A device-to-host copy waits for the device's stream, so
// the host sees finished data; a host-to-device copy returns once the source has been staged
// (kernels/cuda_runtime/runtime.h), so the source may be reused at once but the host does not wait.
void copy_bytes(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes);

// Copy `rows` rows of `row_bytes` each within one device, row r from src + r * src_pitch to
// dst + r * dst_pitch: a slice or concatenation along an inner axis in one call (one
// cudaMemcpy2DAsync on a GPU, where a copy per row would be a launch per row).
void copy_rows(Device device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
               size_t row_bytes, size_t rows);

// Zero `bytes` at `pointer` on `device`.
void zero_bytes(Device device, void* pointer, size_t bytes);

}  // namespace weft
