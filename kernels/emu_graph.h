// Graph capture on the emulated device: the host counterpart of a CUDA stream capture
// (engine/graph.h). While a Recording is active on the calling thread, the hand-kernel launches
// (kernels/cuda/launch.h), memsets and copies within the device (engine/allocator.cpp) are
// appended to it as work items - the kernel and a copy of its arguments, or the copy's pointers
// and size - instead of running; replay() then runs the items in order, as cudaGraphLaunch runs
// a captured graph's nodes. A capture runs nothing, exactly like CUDA's, so code that read a
// result during a capture would see stale memory on both.
//
// This header is plain C++ (no CUDA), shared by the launchers and the engine.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace weft::emu_graph {

struct Work {
  const char* name;  // the kernel, or "memset" / "copy"
  std::function<void()> run;
};

struct Recording {
  std::vector<Work> work;

  // Runs every item in recorded order, each traced and counted as part of one graph launch.
  void replay() const;
};

// The calling thread's recording, or null when it is not capturing.
Recording* active();
void set_active(Recording* recording);

}  // namespace weft::emu_graph
