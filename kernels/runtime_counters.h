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
// During a graph capture (engine/graph.h) launches, library calls, memsets and copies within the
// device are recorded, not run: they count as graph_nodes, and each later replay of the graph
// counts once as a graph launch. A captured step replayed shows launches 0, graph launches 1.
//
// Counting is a relaxed atomic add per event: cheap next to the event itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
  int64_t graph_nodes = 0;    // work recorded into a graph during a capture (not run then)
  int64_t graph_launches = 0; // replays of a captured graph (each runs all its nodes)
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
// A kernel launch; `kernel` names it for a launch trace (trace_launches).
void launch(const char* kernel = nullptr);
void library_call();
void host_sync();
void copy(Copy kind, size_t bytes);
void memset();
void allocation(bool cache_hit);
void graph_launch();
// While the calling thread captures a graph, work counts as graph nodes (see the top).
void set_capturing(bool capturing);
bool capturing();
// Appends the name of every kernel launched or replayed by the calling thread to `sink` (null
// stops): the launch sequence a test compares between an eager step and its captured graph.
// Returns the sink it replaces, so a nested trace (the op profile's) can hand the names on.
std::vector<std::string>* trace_launches(std::vector<std::string>* sink);
void trace(const char* kernel);
void reorder(size_t bytes);
}  // namespace count

}  // namespace weft
