// The CUDA runtime behind engine/cuda/runtime.h: device discovery, one stream per device, and
// the caching allocator.
//
// Caching allocator: cudaMalloc and cudaFree are slow and cudaFree synchronises the device, so
// freed blocks are kept in per-device free lists keyed by their rounded size and handed out
// again for a request of the same size class. Sizes are rounded up to 512 bytes below 1 MiB
// and to 2 MiB above, so the shapes of one training step map to a handful of classes and the
// pool reaches a steady state after the first step. When cudaMalloc fails the cache is
// returned to the driver and the allocation tried once more. WEFT_CUDA_NO_CACHE=1 turns caching
// off (every free is a cudaFree), which lets compute-sanitizer see each buffer's true extent.
#include <cuda_runtime.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/cuda/check.h"
#include "engine/cuda/runtime.h"

namespace weft::cuda {
namespace {

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{2} << 20, kSmallLimit = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  return bytes < kSmallLimit ? (bytes + kSmall - 1) / kSmall * kSmall
                             : (bytes + kLarge - 1) / kLarge * kLarge;
}

bool caching_disabled() {
  static const bool disabled = [] {
    const char* value = std::getenv("WEFT_CUDA_NO_CACHE");
    return value != nullptr && value[0] == '1';
  }();
  return disabled;
}

struct DevicePool {
  std::multimap<size_t, void*> free_blocks;       // rounded size -> block
  std::unordered_map<void*, size_t> block_sizes;  // every block we own -> rounded size
  MemoryStats stats;
};

std::mutex pool_mutex;
std::map<int, DevicePool> pools;

void release_cache(int device, DevicePool& pool) {
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  for (auto& [size, block] : pool.free_blocks) {
    WEFT_CUDA_WARN(cudaFree(block));
    pool.block_sizes.erase(block);
    pool.stats.cached_bytes -= size;
  }
  pool.free_blocks.clear();
}

cudaStream_t stream_for(int device) {
  static std::mutex mutex;
  static std::map<int, cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = streams.find(device);
  if (found != streams.end()) return found->second;
  WEFT_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t stream;
  WEFT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  streams[device] = stream;
  return stream;
}

}  // namespace

int device_count(std::string* reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (reason != nullptr) *reason = cudaGetErrorString(status);
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

void* cached_malloc(int device, size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(pool_mutex);
  DevicePool& pool = pools[device];
  void* block = nullptr;
  auto found = pool.free_blocks.find(size);
  if (found != pool.free_blocks.end()) {
    block = found->second;
    pool.free_blocks.erase(found);
    pool.stats.cached_bytes -= size;
  } else {
    WEFT_CUDA_CHECK(cudaSetDevice(device));
    if (cudaMalloc(&block, size) != cudaSuccess) {
      cudaGetLastError();
      release_cache(device, pool);
      WEFT_CUDA_CHECK(cudaMalloc(&block, size));
    }
    pool.block_sizes[block] = size;
  }
  pool.stats.current_bytes += size;
  if (pool.stats.current_bytes > pool.stats.peak_bytes) pool.stats.peak_bytes = pool.stats.current_bytes;
  return block;
}

void cached_free(int device, void* pointer, size_t) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  DevicePool& pool = pools[device];
  auto owned = pool.block_sizes.find(pointer);
  if (owned == pool.block_sizes.end()) {
    std::fprintf(stderr, "weft: warning: freeing a CUDA block the pool does not own\n");
    return;
  }
  const size_t size = owned->second;
  pool.stats.current_bytes -= size;
  if (caching_disabled()) {
    // Work queued on the stream may still use the block: wait before handing it back.
    WEFT_CUDA_WARN(cudaStreamSynchronize(stream_for(device)));
    WEFT_CUDA_WARN(cudaFree(pointer));
    pool.block_sizes.erase(owned);
    return;
  }
  // Safe to reuse without waiting: every kernel runs on the device's one stream, so later work
  // that receives this block is ordered after the work that used it.
  pool.free_blocks.emplace(size, pointer);
  pool.stats.cached_bytes += size;
}

MemoryStats memory_stats(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  return pools[device].stats;
}

void reset_peak_memory(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pools[device].stats.peak_bytes = pools[device].stats.current_bytes;
}

void empty_cache(int device) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  WEFT_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)));
  release_cache(device, pools[device]);
}

void memcpy_host_to_device(int device, void* dst, const void* src, size_t bytes) {
  const cudaStream_t stream = stream_for(device);
  WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  // The source is pageable host memory that the caller may reuse at once.
  WEFT_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_device_to_host(int device, void* dst, const void* src, size_t bytes) {
  const cudaStream_t stream = stream_for(device);
  WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  WEFT_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_device_to_device(int device, void* dst, const void* src, size_t bytes) {
  WEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_for(device)));
}

void memset_zero(int device, void* dst, size_t bytes) {
  WEFT_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_for(device)));
}

void synchronize(int device) { WEFT_CUDA_CHECK(cudaStreamSynchronize(stream_for(device))); }

CUstream_st* device_stream(int device) { return stream_for(device); }

}  // namespace weft::cuda
