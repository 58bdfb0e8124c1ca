// The CUDA runtime behind kernels/cuda_runtime/runtime.h: device discovery, one stream per device,
// the caching allocator, and host<->device copies through pinned staging buffers.
//
// Caching allocator: cudaMalloc and cudaFree are slow and cudaFree synchronises the device, so
// freed blocks are kept in per-device free lists keyed by their rounded size and handed out
// again for a request of the same size class. Sizes are rounded up to 512 bytes below 1 MiB
// and to 2 MiB above, so the shapes of one training step map to a handful of classes and the
// pool reaches a steady state after the first step. When cudaMalloc fails the stream is drained,
// the cache is returned to the driver and the allocation tried once more.
//
// Why a block can be reused without waiting for the GPU: a block freed on the host may still be
// read or written by work already queued on the device's stream. It is handed out again only to
// work queued later on that same stream, which the stream runs after the earlier work, so the
// two uses never overlap. This holds because every use of device memory goes through the one
// stream: the hand kernels, cuDNN and cuBLAS (their handles are bound to it, kernels/cuda_vendor/
// context.h), memsets and copies. A kernel or library call on any other stream (the legacy
// default stream included: device_stream is created non-blocking) would break it. The one
// exception is the copy stream of upload_on_copy_stream (used by engine/data/device_prefetch.h),
// which keeps the rule by events: its copy waits for everything queued on the compute stream
// before it (the block's earlier users), and the compute stream waits for the copy before the
// block's first use, so for the pool the upload is one more step of the compute stream.
//
// WEFT_CUDA_NO_CACHE=1 turns caching off for debugging: every allocation is a cudaMalloc of
// exactly the bytes asked for (no rounding) and every free waits for the stream and calls
// cudaFree, so compute-sanitizer's memcheck sees each buffer's true extent and a use after free.
//
// Pinned staging: a copy from pageable host memory cannot be DMA'd directly; the driver stages
// it and may synchronise with the stream to do so (CUDA runtime API, "API synchronization
// behavior"), and the source is only safe to reuse once the copy has finished. So every
// host<->device copy goes through kStagingSlots pinned buffers of kStagingSlotBytes per device
// (cudaMallocHost, allocated on the first copy and kept for the life of the process), in chunks:
//   upload    wait until the slot's previous copy has left it (its event), memcpy the chunk
//             into it, queue cudaMemcpyAsync slot -> device and record the slot's event. The
//             source has been read when the call returns, so the caller may reuse it at once,
//             yet the host never waits for the GPU unless it runs out of free slots: an upload
//             overlaps the kernels queued before it.
//   download  queue chunk i into a slot and record its event; while it is in flight, wait for
//             chunk i-1 and memcpy it out of its slot. The call returns when the data is in the
//             destination, as the host is about to read it.
// If pinned memory cannot be had, copies fall back to plain cudaMemcpyAsync and a stream
// synchronisation.
//
// Graph capture (engine/graph.h): the step is captured on the device's stream in thread-local
// mode while the pool serves a graph-private pool (kernels/block_pool.h); host copies and
// synchronisations are refused during a capture with a message that says why.
//
// Every allocation (pool hit or cudaMalloc), copy, memset and host synchronisation is counted
// (kernels/runtime_counters.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/block_pool.h"
#include "kernels/cuda_runtime/check.h"
#include "kernels/cuda_runtime/runtime.h"
#include "kernels/runtime_counters.h"

namespace weft::cuda {
namespace {

bool caching_disabled() {
  static const bool disabled = [] {
    const char* value = std::getenv("WEFT_CUDA_NO_CACHE");
    return value != nullptr && value[0] == '1';
  }();
  return disabled;
}

std::mutex pool_mutex;
std::map<int, BlockPool> pools;

void release_cache(int device, BlockPool& pool) {
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  for (const auto& [block, size] : pool.evict_shared()) WEFT_CUDA_WARN(cudaFree(block));
}

// Copies from or to the host and host synchronisations cannot be part of a graph: a captured
// copy would reread a staging slot that later copies overwrite, and a wait would never end.
void require_not_capturing(const char* what) {
  if (count::capturing()) {
    throw Error(std::string("a ") + what +
                " inside a CUDA graph capture: a captured step must take its inputs from "
                "device buffers filled before the replay and read nothing back");
  }
}

cudaStream_t stream_for(int device, int role = 0);

// cudaMalloc is one of the calls that a thread-local capture refuses (it fails, and the capture
// is invalidated), because the block it returns is not part of the graph. Here that is what is
// wanted: a block taken during a capture belongs to the graph's private pool, which keeps it for
// as long as the graph lives. So the thread's capture mode is relaxed around the call, as
// PyTorch's caching allocator does, and put back after.
class RelaxedCaptureMode {
 public:
  RelaxedCaptureMode() { WEFT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode_)); }
  ~RelaxedCaptureMode() { WEFT_CUDA_WARN(cudaThreadExchangeStreamCaptureMode(&mode_)); }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

cudaError_t device_malloc(void** block, size_t size) {
  const RelaxedCaptureMode relaxed;
  return cudaMalloc(block, size);
}

// The pinned staging slots of one device (see the top of the file). Used under `mutex`.
constexpr size_t kStagingSlotBytes = size_t{2} << 20;
constexpr int kStagingSlots = 4;

struct StagingSlot {
  void* host = nullptr;          // kStagingSlotBytes of pinned memory
  cudaEvent_t copied = nullptr;  // recorded after the last copy into or out of `host`
};

struct Staging {
  std::mutex mutex;
  std::array<StagingSlot, kStagingSlots> slots;
  int next = 0;

  StagingSlot& take() {
    StagingSlot& slot = slots[static_cast<size_t>(next)];
    next = (next + 1) % kStagingSlots;
    // The slot's previous copy must be over before it is refilled or reread.
    WEFT_CUDA_CHECK(cudaEventSynchronize(slot.copied));
    return slot;
  }
};

// The staging of `device`, created on first use; null when pinned memory is not available. Never
// freed: it lives as long as the process, like the streams.
Staging* staging_for(int device) {
  static std::mutex mutex;
  static std::map<int, Staging*> stagings;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = stagings.find(device);
  if (found != stagings.end()) return found->second;
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  auto staging = std::make_unique<Staging>();
  bool ok = true;
  for (StagingSlot& slot : staging->slots) {
    ok = ok && cudaMallocHost(&slot.host, kStagingSlotBytes) == cudaSuccess &&
         cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming) == cudaSuccess;
  }
  if (!ok) {
    cudaGetLastError();  // not sticky; clear it so later calls are not confused
    for (StagingSlot& slot : staging->slots) {
      if (slot.host != nullptr) WEFT_CUDA_WARN(cudaFreeHost(slot.host));
      if (slot.copied != nullptr) WEFT_CUDA_WARN(cudaEventDestroy(slot.copied));
    }
    std::fprintf(stderr,
                 "weft: warning: no pinned staging memory on cuda:%d; host<->device "
                 "copies will synchronise\n",
                 device);
    stagings[device] = nullptr;
    return nullptr;
  }
  return stagings[device] = staging.release();
}

// The stream of `device` for `role` 0 (compute: every kernel, library call, memset and plain
// copy) or 1 (copy: upload_on_copy_stream's transfers only), created on first use.
cudaStream_t stream_for(int device, int role) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = streams.find({device, role});
  if (found != streams.end()) return found->second;
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t stream;
  WEFT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  streams[{device, role}] = stream;
  return stream;
}

// The largest row pitch cudaMemcpy2D accepts on `device` (cudaDevAttrMaxPitch), read once.
size_t max_pitch(int device) {
  static std::mutex mutex;
  static std::map<int, size_t> pitches;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = pitches.find(device);
  if (found != pitches.end()) return found->second;
  int value = 0;
  WEFT_CUDA_CHECK(cudaDeviceGetAttribute(&value, cudaDevAttrMaxPitch, device));
  return pitches[device] = static_cast<size_t>(value);
}

}  // namespace

int device_count(std::string* reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (reason != nullptr) {
      // With no NVIDIA driver at all the runtime also reports an "insufficient" driver; say
      // both possibilities in words, then CUDA's own text.
      *reason = status == cudaErrorInsufficientDriver
                    ? std::string(
                          "the NVIDIA driver is missing or older than this build's CUDA "
                          "runtime; CUDA says: ") +
                          cudaGetErrorString(status)
                : status == cudaErrorNoDevice ? std::string("no CUDA device found")
                                              : std::string(cudaGetErrorString(status));
    }
    cudaGetLastError();  // clear the sticky error so later calls are not confused
    return 0;
  }
  if (count == 0 && reason != nullptr) *reason = "no CUDA device found";
  return count;
}

std::string device_name(int device) {
  cudaDeviceProp properties{};
  WEFT_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  return properties.name;
}

std::string version_description() {
  int driver = 0, runtime = 0;
  WEFT_CUDA_CHECK(cudaDriverGetVersion(&driver));
  WEFT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  const auto text = [](int v) {
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  };
  return "CUDA driver " + text(driver) + ", runtime " + text(runtime);
}

void* cached_malloc(int device, size_t bytes) {
  // Without caching nothing is reused, so there is no reason to round, and the exact size lets
  // compute-sanitizer flag an access just past the end.
  const size_t size = caching_disabled() ? std::max<size_t>(bytes, 1) : pool_block_size(bytes);
  std::lock_guard<std::mutex> lock(pool_mutex);
  BlockPool& pool = pools[device];
  if (!caching_disabled()) {
    if (void* block = pool.take(size)) return block;
  }
  void* block = nullptr;
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  if (device_malloc(&block, size) != cudaSuccess) {
    cudaGetLastError();
    // Cached blocks may still be in use by queued work (see the top of the file): drain the
    // stream before handing them back, rather than rely on cudaFree's implicit sync. Not
    // possible during a capture, which then fails with the message below.
    if (!count::capturing()) {
      WEFT_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)));
      release_cache(device, pool);
    }
    if (device_malloc(&block, size) != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      const auto mib = [](size_t n) { return std::to_string(n >> 20) + " MiB"; };
      throw OutOfMemory("cuda:" + std::to_string(device) + " is out of memory: " + mib(size) +
                        " needed, " + mib(pool.stats().current_bytes) + " held by tensors, " +
                        mib(free_bytes) + " free of " + mib(total_bytes));
    }
  }
  pool.add_new(block, size);
  return block;
}

void cached_free(int device, void* pointer, size_t) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  BlockPool& pool = pools[device];
  if (caching_disabled()) {
    if (pool.forget(pointer) == 0) {
      std::fprintf(stderr, "weft: warning: freeing a CUDA block the pool does not own\n");
      return;
    }
    // Work queued on the stream may still use the block: wait before handing it back.
    WEFT_CUDA_WARN(cudaStreamSynchronize(stream_for(device)));
    WEFT_CUDA_WARN(cudaFree(pointer));
    return;
  }
  // Safe to reuse without waiting: every kernel runs on the device's one stream, so later work
  // that receives this block is ordered after the work that used it.
  if (pool.give_back(pointer) == 0) {
    std::fprintf(stderr, "weft: warning: freeing a CUDA block the pool does not own\n");
  }
}

void open_private_pool(int device, int id) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pools[device].open_private(id);
}

void close_private_pool(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pools[device].close_private();
}

void dissolve_private_pool(int device, int id) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pools[device].dissolve(id);
}

void begin_capture(int device) {
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  // Thread-local mode: only this thread's unsafe calls (a cudaMalloc retry's sync, a host copy)
  // break the capture; the weft runtime refuses them before CUDA does (require_not_capturing).
  WEFT_CUDA_CHECK(cudaStreamBeginCapture(stream_for(device), cudaStreamCaptureModeThreadLocal));
}

CapturedGraph end_capture(int device) {
  cudaGraph_t graph = nullptr;
  WEFT_CUDA_CHECK(cudaStreamEndCapture(stream_for(device), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  size_t nodes = 0;
  cudaGraphGetNodes(graph, nullptr, &nodes);
  WEFT_CUDA_WARN(cudaGraphDestroy(graph));
  WEFT_CUDA_CHECK(status);
  return CapturedGraph{exec, nodes};
}

void abandon_capture(int device) {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_for(device), &graph) == cudaSuccess && graph != nullptr) {
    WEFT_CUDA_WARN(cudaGraphDestroy(graph));
  }
  cudaGetLastError();
}

void launch_graph(int device, const CapturedGraph& graph) {
  count::graph_launch();
  WEFT_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph.exec), stream_for(device)));
}

void destroy_graph(const CapturedGraph& graph) {
  if (graph.exec == nullptr) return;
  WEFT_CUDA_WARN(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph.exec)));
}

MemoryStats memory_stats(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  return pools[device].stats();
}

void reset_peak_memory(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  MemoryStats& stats = pools[device].stats();
  stats.peak_bytes = stats.current_bytes;
}

void empty_cache(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  WEFT_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)));
  release_cache(device, pools[device]);
}

void memcpy_host_to_device(int device, void* dst, const void* src, size_t bytes) {
  require_not_capturing("host-to-device copy");
  count::copy(count::Copy::host_to_device, bytes);
  const cudaStream_t stream = stream_for(device);
  Staging* staging = staging_for(device);
  if (staging == nullptr) {
    WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
    // The source is pageable host memory that the caller may reuse at once.
    count::host_sync();
    WEFT_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  std::lock_guard<std::mutex> lock(staging->mutex);
  for (size_t offset = 0; offset < bytes; offset += kStagingSlotBytes) {
    const size_t n = std::min(kStagingSlotBytes, bytes - offset);
    StagingSlot& slot = staging->take();
    std::memcpy(slot.host, static_cast<const char*>(src) + offset, n);
    WEFT_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + offset, slot.host, n,
                                    cudaMemcpyHostToDevice, stream));
    WEFT_CUDA_CHECK(cudaEventRecord(slot.copied, stream));
  }
}

void memcpy_device_to_host(int device, void* dst, const void* src, size_t bytes) {
  require_not_capturing("device-to-host copy");
  count::copy(count::Copy::device_to_host, bytes);
  count::host_sync();
  const cudaStream_t stream = stream_for(device);
  Staging* staging = staging_for(device);
  if (staging == nullptr) {
    WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
    WEFT_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  std::lock_guard<std::mutex> lock(staging->mutex);
  // The chunk whose copy into a slot is in flight, to be moved out once the next one is queued.
  StagingSlot* pending = nullptr;
  size_t pending_offset = 0, pending_bytes = 0;
  const auto drain_pending = [&] {
    WEFT_CUDA_CHECK(cudaEventSynchronize(pending->copied));
    std::memcpy(static_cast<char*>(dst) + pending_offset, pending->host, pending_bytes);
  };
  for (size_t offset = 0; offset < bytes; offset += kStagingSlotBytes) {
    const size_t n = std::min(kStagingSlotBytes, bytes - offset);
    StagingSlot& slot = staging->take();
    WEFT_CUDA_CHECK(cudaMemcpyAsync(slot.host, static_cast<const char*>(src) + offset, n,
                                    cudaMemcpyDeviceToHost, stream));
    WEFT_CUDA_CHECK(cudaEventRecord(slot.copied, stream));
    if (pending != nullptr) drain_pending();
    pending = &slot;
    pending_offset = offset;
    pending_bytes = n;
  }
  if (pending != nullptr) drain_pending();
}

void memcpy_device_to_device(int device, void* dst, const void* src, size_t bytes) {
  count::copy(count::Copy::device_to_device, bytes);
  WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_for(device)));
}

void memcpy_rows_device_to_device(int device, void* dst, size_t dst_pitch, const void* src,
                                  size_t src_pitch, size_t row_bytes, size_t rows) {
  if (rows == 1 || (dst_pitch == row_bytes && src_pitch == row_bytes)) {  // one contiguous block
    memcpy_device_to_device(device, dst, src, rows * row_bytes);
    return;
  }
  const size_t limit = max_pitch(device);
  if (dst_pitch > limit || src_pitch > limit) {
    // Rows that far apart are few and long: a copy per row costs little.
    for (size_t r = 0; r < rows; ++r) {
      memcpy_device_to_device(device, static_cast<char*>(dst) + r * dst_pitch,
                              static_cast<const char*>(src) + r * src_pitch, row_bytes);
    }
    return;
  }
  count::copy(count::Copy::device_to_device, rows * row_bytes);
  WEFT_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows,
                                    cudaMemcpyDeviceToDevice, stream_for(device)));
}

void memset_zero(int device, void* dst, size_t bytes) {
  count::memset();
  WEFT_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_for(device)));
}

void synchronize(int device) {
  require_not_capturing("host synchronisation");
  count::host_sync();
  WEFT_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)));
}

void* pinned_malloc(size_t bytes) {
  void* pointer = nullptr;
  if (cudaMallocHost(&pointer, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls do not report it
    return nullptr;
  }
  return pointer;
}

void pinned_free(void* pointer) {
  if (pointer != nullptr) WEFT_CUDA_CHECK(cudaFreeHost(pointer));
}

void* event_create() {
  cudaEvent_t event;
  WEFT_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void event_destroy(void* event) {
  if (event != nullptr) WEFT_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
}

void event_synchronize(void* event) {
  WEFT_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

namespace {

// A thread's timing events, a (start, stop) pair per device, destroyed when the thread ends: a
// program profiling from many short-lived threads would otherwise leave two events per thread.
// At process exit the CUDA runtime may be unloaded before this; cudaEventDestroy's error is then
// ignored, as there is nothing left to release.
struct OpClockEvents {
  std::map<int, std::pair<cudaEvent_t, cudaEvent_t>> by_device;
  OpClockEvents() = default;
  OpClockEvents(const OpClockEvents&) = delete;
  OpClockEvents& operator=(const OpClockEvents&) = delete;
  ~OpClockEvents() {
    for (const auto& [device, pair] : by_device) {
      if (pair.first != nullptr) static_cast<void>(cudaEventDestroy(pair.first));
      if (pair.second != nullptr) static_cast<void>(cudaEventDestroy(pair.second));
    }
  }
};

// This thread's timing events for `device` (start, stop), made on first use and kept for the
// thread's life: a profile records thousands of ops, each timed by the same two events.
std::pair<cudaEvent_t, cudaEvent_t>& op_clock_events(int device) {
  thread_local OpClockEvents events;
  const auto found = events.by_device.find(device);
  if (found != events.by_device.end()) return found->second;
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  // A failure to make either event leaves neither an entry nor an event behind.
  auto& pair = events.by_device.try_emplace(device, nullptr, nullptr).first->second;
  try {
    WEFT_CUDA_CHECK(cudaEventCreate(&pair.first));
    WEFT_CUDA_CHECK(cudaEventCreate(&pair.second));
  } catch (...) {
    if (pair.first != nullptr) static_cast<void>(cudaEventDestroy(pair.first));
    events.by_device.erase(device);
    throw;
  }
  return pair;
}

}  // namespace

void op_clock_start(int device) {
  WEFT_CUDA_CHECK(cudaEventRecord(op_clock_events(device).first, stream_for(device)));
}

void op_clock_stop(int device) {
  WEFT_CUDA_CHECK(cudaEventRecord(op_clock_events(device).second, stream_for(device)));
}

double op_clock_seconds(int device) {
  const auto& [start, stop] = op_clock_events(device);
  float ms = 0.0f;
  WEFT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return ms * 1e-3;
}

void upload_on_copy_stream(int device, void* dst, const void* pinned_src, size_t bytes,
                           void* ready, void* done) {
  require_not_capturing("host-to-device upload");
  count::copy(count::Copy::host_to_device, bytes);
  const cudaStream_t compute = stream_for(device), copy = stream_for(device, 1);
  WEFT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(ready), compute));
  WEFT_CUDA_CHECK(cudaStreamWaitEvent(copy, static_cast<cudaEvent_t>(ready), 0));
  WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, bytes, cudaMemcpyHostToDevice, copy));
  WEFT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(done), copy));
}

void wait_for_upload(int device, void* done) {
  WEFT_CUDA_CHECK(cudaStreamWaitEvent(stream_for(device), static_cast<cudaEvent_t>(done), 0));
}

CUstream_st* device_stream(int device) {
  return stream_for(device);
}

}  // namespace weft::cuda
