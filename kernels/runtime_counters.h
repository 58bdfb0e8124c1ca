// Runtime counters: what a training step costs besides arithmetic. Kernel launches, host
// synchronisations, host<->device copies (calls and bytes) and allocations served by the driver
// versus the caching pool, counted by the CUDA runtime (kernels/cuda_runtime/runtime.cu), by every
// hand kernel launch (kernels/cuda/launch.h) and by the emulated device `emu`
// (engine/allocator.cpp), for the whole process; and the layout reorders of the CPU vendor path
// (oneDNN, kernels/cpu_vendor/context.cpp).
//
// These are the overhead a GPU pays per step that CI can see without a GPU: run a training step
// on `--device emu` and the same counts come out as on a real card (the launch sequence is the
// same source), so a test can hold a model to "no host synchronisation per step" and a launch
// budget (docs/benchmarks.md, "Runtime counters").
//
//   const RuntimeCounters before = runtime_counters();
//   ... one training step ...
//   const RuntimeCounters step = runtime_counters() - before;   // step.launches, step.host_syncs
//
// Counting is a relaxed atomic add per event: cheap next to the event itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace weft {

struct RuntimeCounters {
  int64_t launches = 0;       // hand kernel launches (WEFT_LAUNCH)
  int64_t library_calls = 0;  // cuDNN / cuBLAS calls (each may launch one or more kernels)
  int64_t host_syncs = 0;     // times the host waited for the device (device->host copies included)
  int64_t h2d_copies = 0;     // host -> device copies and their bytes
  int64_t h2d_bytes = 0;
  int64_t d2h_copies = 0;     // device -> host copies and their bytes
  int64_t d2h_bytes = 0;
  int64_t d2d_copies = 0;     // copies within a device (slices, concatenations, clones)
  int64_t d2d_bytes = 0;
  int64_t memsets = 0;        // zero fills queued on the device
  int64_t driver_allocs = 0;  // allocations the pool could not serve (cudaMalloc, or a new block)
  int64_t cache_hits = 0;     // allocations served from the pool's freed blocks
  int64_t layout_reorders = 0;  // oneDNN reorders between weft's plain layout and a blocked one
  int64_t reorder_bytes = 0;    // (kernels/cpu_vendor/onednn.h) and the bytes they moved

  RuntimeCounters operator-(const RuntimeCounters& earlier) const;
  // One line: "launches 41, library calls 0, host syncs 0, h2d 2 (6.3 KB), ...".
  std::string str() const;
};

// Everything counted since the process started (or since reset_runtime_counters()).
RuntimeCounters runtime_counters();
void reset_runtime_counters();

// Recording, for the runtime and the launchers.
namespace count {
enum class Copy { host_to_device, device_to_host, device_to_device };
void launch();
void library_call();
void host_sync();
void copy(Copy kind, size_t bytes);
void memset();
void allocation(bool cache_hit);
void reorder(size_t bytes);
}  // namespace count

}  // namespace weft
