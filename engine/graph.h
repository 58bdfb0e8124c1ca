// Graphs: a training step captured once and replayed for every later batch of the same shapes,
// so the host queues one graph launch instead of hundreds of kernel launches (CUDA Graphs; on the
// emulated device `emu` the same capture and replay in host code, kernels/emu_graph.h).
//
//   graph::Graph g(device);
//   g.capture([&] { ... forward, backward, optimizer step on fixed input buffers ... });
//   for each batch: copy the batch into the input buffers; g.replay();
//
// engine/train/captured_steps.h wraps this for the training loops (warm-up, the short last
// batch, input buffers); the user switch is `--cuda-graphs on|off|auto` (set_mode below).
//
// What a capture records: every kernel launch, library call, memset and copy within the device
// that the body queues, on the addresses it used - not the host code. Hence four rules, each
// enforced or handled here:
//  * Memory. Everything the body allocates comes from a private pool of the graph
//    (kernels/block_pool.h) and stays reserved for it while the graph lives.
//  * No host traffic. A copy from or to the host or a host synchronisation inside a capture
//    throws weft::Error saying so (the runtime and the emulated device refuse them).
//  * Host state that a step changes must change at each replay too. Code that changes such state
//    during a capture registers what to repeat with on_replay(): the optimizer's step count,
//    batch norm's batch counter, the step meter's sample counts.
//  * Values a kernel takes by value are frozen at capture. Those that change from step to step
//    are read from device memory instead, written before each replay by a `stage` function:
//    the optimizer's learning rate and bias corrections (SgdStep/AdamStep::device_scalars), and
//    dropout's random offset (DropoutParams::offset_shift, through random_shift() below).
// A graph must not outlive the tensors, modules, optimizer and generators its step used.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace weft::emu_graph {
struct Recording;
}

namespace weft::graph {

// --cuda-graphs: on (capture on cuda and emu), off, auto (capture on cuda, not on the emulated
// device, whose replays are no faster). Read from WEFT_CUDA_GRAPHS on first use; set_mode()
// overrides it. The default is auto.
enum class Mode { off, on, automatic };
Mode mode();
void set_mode(Mode mode);
const char* mode_name(Mode mode);
// "on", "off", "auto"; nullopt-like failure is reported by returning false.
bool parse_mode(const std::string& text, Mode* out);
bool enabled_for(Device device);

// Whether the calling thread is capturing a graph on `device` (any device when omitted).
bool capturing(Device device);
bool capturing();

// While a capture runs: `advance` is run before every replay after the first, to repeat a host
// state change the captured step made once; `undo` takes that change back if the capture fails
// (so a step can then run eagerly from the state before it); `stage` runs before every replay,
// the first included, to write device memory the step reads from host state. Either function may
// be empty. Does nothing outside a capture.
void on_replay(std::function<void()> advance, std::function<void()> undo,
               std::function<void()> stage = {});

// A tensor for values staged before each replay (see `stage` above), allocated from the shared
// pool even during a capture: a block of the graph's private pool could be reused by the graph's
// own temporaries, which would overwrite the staged values before the kernel that reads them.
Tensor staging_tensor(const Shape& shape, DType dtype, Device device);

// For a kernel that draws `generator`'s numbers inside a capture: a device word to add to the
// offset it captured (null outside a capture). The graph keeps it equal to how far the
// generator has moved since the captured step, and advances the generator by the captured step's
// draws at each replay.
const uint64_t* random_shift(Generator& generator);

class Graph {
 public:
  explicit Graph(Device device);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Records `body` (which runs once, on the host, queueing nothing). Throws what the body throws,
  // with the capture abandoned and the registered host changes undone (on_replay) - the random
  // generators it drew from included; a graph is captured once.
  void capture(const std::function<void()>& body);
  void replay();

  bool captured() const { return captured_; }
  Device device() const { return device_; }
  size_t nodes() const;
  // The kernels and copies of an emulated graph in replay order (empty for a CUDA graph).
  std::vector<std::string> node_names() const;
  int64_t replays() const { return replays_; }

 private:
  struct RandomStream {
    Generator* generator;
    uint64_t begin = 0;  // its offset before the captured step's first draw
    Tensor shift;        // uint64 [1] on the device
  };
  friend const uint64_t* random_shift(Generator& generator);
  friend Tensor staging_tensor(const Shape& shape, DType dtype, Device device);
  friend void on_replay(std::function<void()> advance, std::function<void()> undo,
                        std::function<void()> stage);

  Device device_;
  int pool_id_;
  bool captured_ = false;
  std::unique_ptr<emu_graph::Recording> recording_;
  // The executable CUDA graph; set and read only in a build with CUDA.
  [[maybe_unused]] void* cuda_exec_ = nullptr;
  [[maybe_unused]] size_t cuda_nodes_ = 0;
  std::vector<RandomStream> random_;
  std::vector<std::function<void()>> advances_, undos_, stages_;
  int64_t replays_ = 0;
};

}  // namespace weft::graph
