// The op profile: where a step's time goes, op by op, on any device. While a profile records,
// every backend op the dispatch runs (engine/dispatch.h) is timed and counted, one row per
// (op, implementation, shape): how often it ran, its time, the kernels it launched and the
// library calls it made.
//
//   profile::start();
//   for (int i = 0; i < 3; ++i) model.train_step();
//   const profile::Profile p = profile::stop();
//   std::puts(profile::format_table(p, 3, wall_seconds).c_str());
//
// How an op is timed: the device is synchronised before and after it, and the host clock read
// at both, so each op's time is its whole cost on an idle device, launch latency included (a
// few microseconds per kernel on a GPU), and nothing overlaps. A device with a clock of its own
// (DeviceClock: on a GPU, timing events on its stream around the op's launches) also gives the
// op's device time, the span from the first event to the second: its kernels and the gaps
// between them, without the synchronisations (the first kernel's launch latency stays in it).
// That is a profile's view, not a step's: a step without the synchronisations overlaps the
// host's launches with the GPU's work (and CUDA graphs remove the launches), so its time is
// below the sum of the rows. Profiled steps therefore run eagerly; a graph replay or a capture
// runs no dispatch calls and records nothing. On the CPU nothing needs synchronising and the
// rows add up to the step's time, less the work outside the dispatch (the autograd tape, the
// allocator; slice and concat copies have rows of their own, engine/tensor.cpp). Under the host
// emulation (`emu`) the times are the emulation's, useless as GPU times, but the launches and
// kernels per op are the GPU's: the same source launches the same kernels.
//
// The profile is for the whole process, all devices and threads; the synchronisations count as
// host_syncs in the runtime counters (kernels/runtime_counters.h), so a step that is held to
// zero host synchronisations must not be profiled.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/runtime_counters.h"

namespace weft::profile {

struct OpRow {
  std::string op;              // the backend op: "conv2d_backward_data"
  std::string family;          // its family in kernels/backend.h's WEFT_BACKEND_OPS: "conv"
  std::string implementation;  // the backend that ran it: "cuda-hand", "cuda-vendor", "cpu"...
  std::string shape;           // engine/op_text.h call_shape(): "N=128 C=3 H=64 W=64 O=64 ..."
  int64_t calls = 0;
  double seconds = 0;           // summed over the calls
  double device_seconds = 0;    // by the device's clock, summed; where it has one
  bool device_clock = false;    // whether device_seconds was measured
  int64_t launches = 0;         // hand kernel launches
  int64_t library_calls = 0;    // cuDNN, cuBLAS calls
  // The kernels the calls launched, by name, with how many times, in first-launch order.
  std::vector<std::pair<std::string, int64_t>> kernels;
};

struct Profile {
  std::vector<OpRow> rows;  // in first-call order
  double seconds() const;   // the rows' sum
  double device_seconds() const;  // the rows' device time, summed
  bool device_clock() const;      // whether any row has device time
};

// A device's own clock for timing an op (empty functions: the device has none, as the CPU and
// the emulation). start() marks the device's queue before the op's launches, stop() after them;
// seconds(), called once the device has been synchronised, gives the device time between.
struct DeviceClock {
  std::function<void()> start;
  std::function<void()> stop;
  std::function<double()> seconds;
  explicit operator bool() const { return start && stop && seconds; }
};

// Starts recording (every device, every thread); an error if a profile is already recording.
void start();
// Stops recording and returns what was recorded.
Profile stop();
bool recording();

// Times and counts one op call for the profile (the dispatch's hook):
//   profile::Timed timed(family, op, implementation, shape, synchronize);
//   backend.op(...);
//   timed.finish();
// The constructor waits for the device (`synchronize`) and starts the clock; finish() waits
// again, stops it and records the row (an error of the op's kernels surfaces there as an
// exception). An op that throws is not recorded. Nothing is done while the calling thread
// captures a CUDA graph.
class Timed {
 public:
  Timed(const char* family, const char* op, const char* implementation, std::string shape,
        const std::function<void()>& synchronize, const DeviceClock& clock = DeviceClock{});
  ~Timed();
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;
  void finish();

 private:
  const char* family_;
  const char* op_;
  const char* implementation_;
  std::string shape_;
  const std::function<void()>& synchronize_;
  const DeviceClock& clock_;
  bool active_ = false;
  double start_ = 0;
  RuntimeCounters before_;
  std::vector<std::string> kernels_;
  std::vector<std::string>* outer_trace_ = nullptr;
};

// A markdown table of `profile` per step over `steps` steps, slowest row first: op, where it ran,
// shape, calls, ms, share of the ops' time, launches, library calls, kernels. With
// `wall_seconds` (the profiled steps' wall time, > 0) a last row gives the time outside the ops.
std::string format_table(const Profile& profile, int steps, double wall_seconds = 0);

// Per op (summed over implementations and shapes): calls, ms and launches per step, slowest
// first; the short view of a profile.
std::string format_summary(const Profile& profile, int steps);

// The rows as JSON, per step, in first-call order, for scripts: {"steps": S, "ops_ms": T,
// ["device_ops_ms": D,] ["wall_ms": W,] "rows": [{"op", "family", "implementation", "shape",
// "calls", "ms", ["device_ms",] "launches", "library_calls", "kernels": {name: count}}, ...]};
// device times where the device has a clock, wall_ms (the profiled steps' wall time per step)
// only when `wall_seconds` > 0. bench/profile_gap.py reads it.
std::string format_json(const Profile& profile, int steps, double wall_seconds = 0);

}  // namespace weft::profile
