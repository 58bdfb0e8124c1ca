// The CUDA runtime, in the kernels layer below the engine: device discovery, the caching
// allocator, copies (through pinned staging buffers) and the one stream per device. How each
// works, and why freed blocks can be reused without waiting for the GPU, is explained at the top
// of runtime.cu. Plain C++ declarations, so code compiled by g++ (the engine, the dispatch, the
// tests) can call them; the definitions in runtime.cu exist only when weft is built with CUDA
// (WEFT_HAVE_CUDA), and callers use them only under that macro.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/memory_stats.h"

// cudaStream_t is a pointer to this opaque type (cuda_runtime.h); declared here so that code
// compiled without the CUDA headers can pass a stream along.
struct CUstream_st;

namespace weft::cuda {

// Number of usable CUDA devices; 0 (never an exception) when there is no driver or no GPU,
// in which case `reason` (if given) receives the runtime's explanation.
int device_count(std::string* reason = nullptr);
std::string device_name(int device);
// "CUDA driver 13.0, runtime 13.0": what makes timings on one card comparable run to run.
std::string version_description();

void* cached_malloc(int device, size_t bytes);
void cached_free(int device, void* pointer, size_t bytes);
MemoryStats memory_stats(int device);
void reset_peak_memory(int device);
// Return every cached block to the driver (for tests and for memory reports).
void empty_cache(int device);

// Host -> device: returns once `src` has been copied into pinned staging memory, so the caller
// may reuse it at once; the transfer itself runs in stream order, without waiting for the GPU.
void memcpy_host_to_device(int device, void* dst, const void* src, size_t bytes);
// Device -> host: returns when the data (and all work queued before it) is in `dst`.
void memcpy_device_to_host(int device, void* dst, const void* src, size_t bytes);
void memcpy_device_to_device(int device, void* dst, const void* src, size_t bytes);
// `rows` rows of `row_bytes`, row r from src + r * src_pitch to dst + r * dst_pitch: one
// cudaMemcpy2DAsync (one plain copy when the rows are contiguous, a copy per row when a pitch
// exceeds the device's cudaDevAttrMaxPitch).
void memcpy_rows_device_to_device(int device, void* dst, size_t dst_pitch, const void* src,
                                  size_t src_pitch, size_t row_bytes, size_t rows);
void memset_zero(int device, void* dst, size_t bytes);
void synchronize(int device);

// Graph-private pools of the caching allocator (kernels/block_pool.h).
void open_private_pool(int device, int id);
void close_private_pool(int device);
void dissolve_private_pool(int device, int id);

// CUDA graphs (engine/graph.h): capture the device's stream, instantiate what it recorded,
// replay it, destroy it. `exec` is a cudaGraphExec_t.
struct CapturedGraph {
  void* exec = nullptr;
  size_t nodes = 0;
};
void begin_capture(int device);
CapturedGraph end_capture(int device);
// Ends a capture that failed part-way and discards what it recorded.
void abandon_capture(int device);
void launch_graph(int device, const CapturedGraph& graph);
void destroy_graph(const CapturedGraph& graph);

// Uploads that overlap compute (engine/data/device_prefetch.h): pinned host buffers, a second
// stream per device that only copies (the copy stream), and events between the two streams.
void* pinned_malloc(size_t bytes);  // cudaMallocHost; null when the driver refuses
void pinned_free(void* pointer);
void* event_create();  // a cudaEvent_t (CUevent_st*) without timing
void event_destroy(void* event);
// The host waits until everything queued before `event` was recorded has run.
void event_synchronize(void* event);
// Copy `bytes` from pinned host memory to `dst` on the device's copy stream, after all work
// queued so far on its compute stream (so `dst` may be a block the caching allocator has just
// handed out again: its earlier users have finished before the copy writes it); `ready` is
// recorded on the compute stream for that wait and `done` on the copy stream after the copy.
// Neither the host nor the compute stream waits: call wait_for_upload before the first use.
void upload_on_copy_stream(int device, void* dst, const void* pinned_src, size_t bytes,
                           void* ready, void* done);
// Work queued on the compute stream from now on runs after `done` (no host wait).
void wait_for_upload(int device, void* done);

// The op profile's device clock (engine/profile.h): op_clock_start records a timing event on
// the device's compute stream before an op's launches, op_clock_stop another after them, and,
// once the device has been synchronised, op_clock_seconds gives the device time between the two
// (cudaEventElapsedTime). One pair of events per thread and device, made on first use.
void op_clock_start(int device);
void op_clock_stop(int device);
double op_clock_seconds(int device);

// The one stream of `device`, created on first use. Every kernel and copy for the device is
// queued on it, so work is ordered without host synchronisation.
CUstream_st* device_stream(int device);

}  // namespace weft::cuda
