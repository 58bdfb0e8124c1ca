// weft::cuda::launch: the one way a kernel in kernels/cuda/ is started, with the same call site
// in the GPU build and in the host emulation. Launchers write
//
//   WEFT_LAUNCH(softmax_forward_kernel, blocks, threads, shared_bytes, stream, rows, cols, x, y);
//
// which passes the kernel's name, file and line along for error messages. Under nvcc this is
// kernel<<<blocks, threads, shared_bytes, stream>>>(args...) followed by cudaGetLastError(), so a
// bad configuration or a missing kernel image is reported at the launch that caused it; with
// WEFT_CUDA_SYNC=1 in the environment the stream is also synchronised after every launch, which
// pins an illegal address or other fault inside a kernel to that kernel instead of to whichever
// later call happens to notice it (slow; for debugging). On the host the grid runs on the
// emulator (emulation.h) before launch returns, or, while a graph is being captured on the
// calling thread, is recorded for replay (kernels/emu_graph.h). Errors throw weft::Error; nothing
// exits. Every launch is counted (kernels/runtime_counters.h). WEFT_LAUNCH_LARGE_SHARED is the
// form for kernels that need more than 48 KiB of dynamic shared memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/runtime_counters.h"

#if !defined(__CUDACC__)
#include <tuple>
#include <type_traits>

#include "kernels/emu_graph.h"
#endif

#if defined(__CUDACC__)
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "kernels/cuda_runtime/check.h"
#endif

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

#if defined(__CUDACC__)

// WEFT_CUDA_SYNC=1: synchronise after each launch (read once).
inline bool sync_after_each_launch() {
  static const bool enabled = [] {
    const char* value = std::getenv("WEFT_CUDA_SYNC");
    return value != nullptr && value[0] == '1';
  }();
  return enabled;
}

inline void check_launch(const LaunchSite& site, cudaStream_t stream) {
  cudaError_t status = cudaGetLastError();
  const char* phase = "launching";
  if (status == cudaSuccess && sync_after_each_launch()) {
    status = cudaStreamSynchronize(stream);
    phase = "running";
  }
  if (status != cudaSuccess) {
    throw Error(std::string("CUDA error ") + cudaGetErrorName(status) + " (" +
                cudaGetErrorString(status) + ") " + phase + " kernel " + site.kernel + " at " +
                site.file + ":" + std::to_string(site.line));
  }
}

template <typename... Params, typename... Args>
void launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block,
            size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  count::launch(site.kernel);
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  check_launch(site, stream);
}

// Above 48 KiB of dynamic shared memory a kernel must be allowed it first
// (cudaFuncAttributeMaxDynamicSharedMemorySize), once per kernel and device.
inline void allow_dynamic_shared(const void* kernel, size_t bytes) {
  static std::mutex mutex;
  static std::set<std::tuple<const void*, int, size_t>> allowed;
  int device = 0;
  WEFT_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  if (allowed.insert({kernel, device, bytes}).second) {
    WEFT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
  }
}

template <typename... Params, typename... Args>
void launch_large_shared(const LaunchSite& site, void (*kernel)(Params...), dim3 grid,
                         dim3 block, size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  allow_dynamic_shared(reinterpret_cast<const void*>(kernel), shared_bytes);
  launch(site, kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
}

#else

// large_shared: the kernel was allowed more than 48 KiB of dynamic shared memory (as a GPU
// kernel is by cudaFuncSetAttribute), so the emulator accepts up to a block's opt-in limit.
template <typename... Params, typename... Args>
void launch_emulated(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block,
                     size_t shared_bytes, bool large_shared, Args&&... args) {
  // Each CUDA thread calls the kernel with its own copies of the arguments, as on the GPU.
  count::launch(site.kernel);
  const emu::LaunchSite where{site.kernel, site.file, site.line};
  if (emu_graph::Recording* recording = emu_graph::active()) {
    // Captured, not run: the kernel, its geometry and a copy of its arguments (emu_graph.h).
    recording->work.push_back(
        {site.kernel, [=, arguments = std::make_tuple(std::decay_t<Args>(args)...)] {
           const auto body = [&] { std::apply(kernel, arguments); };
           emu::run_grid(where, grid, block, shared_bytes, emu::KernelBody(body), large_shared);
         }});
    return;
  }
  const auto body = [&] { kernel(args...); };
  emu::run_grid(where, grid, block, shared_bytes, emu::KernelBody(body), large_shared);
}

template <typename... Params, typename... Args>
void launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block,
            size_t shared_bytes, cudaStream_t, Args&&... args) {
  launch_emulated(site, kernel, grid, block, shared_bytes, false, std::forward<Args>(args)...);
}

// As on a GPU, where the kernel is first allowed more than 48 KiB of dynamic shared memory.
template <typename... Params, typename... Args>
void launch_large_shared(const LaunchSite& site, void (*kernel)(Params...), dim3 grid,
                         dim3 block, size_t shared_bytes, cudaStream_t, Args&&... args) {
  launch_emulated(site, kernel, grid, block, shared_bytes, true, std::forward<Args>(args)...);
}

#endif

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda

#define WEFT_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                             \
  ::weft::cuda::launch(::weft::cuda::LaunchSite{#kernel, __FILE__, __LINE__}, kernel, grid,   \
                       block, shared_bytes, stream, __VA_ARGS__)

// The same for a kernel that needs more than 48 KiB of dynamic shared memory (at most 227 KiB
// a block on sm_90): it is allowed that first (cudaFuncSetAttribute, once per kernel and device).
#define WEFT_LAUNCH_LARGE_SHARED(kernel, grid, block, shared_bytes, stream, ...)                \
  ::weft::cuda::launch_large_shared(::weft::cuda::LaunchSite{#kernel, __FILE__, __LINE__},     \
                                    kernel, grid, block, shared_bytes, stream, __VA_ARGS__)
