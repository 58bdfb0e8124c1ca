// CapturedSteps: a training loop's steps run as one captured graph (engine/graph.h) where the
// device and the settings allow it, eagerly otherwise, with the same results either way.
//
//   CapturedSteps steps(device);
//   for each batch:
//     steps.run({images_on_host, labels_on_host}, [&](const std::vector<Tensor>& in) {
//       ... forward on in[0], loss against in[1], backward, optimizer.step(), meter.add_* ...
//     });
//
// Graphs stay off in a data-parallel run (engine/distributed/): its steps talk to the other
// ranks through the host.
//
// run() takes the batch's tensors in host memory and the step as a function of the same tensors
// on the device. What it does with them:
//   * eager (graphs off for the device, --cuda-graphs / graph::mode()): uploads them and calls
//     the step. Also for the first `warmup` steps - so that lazily created state (optimizer
//     buffers, the momentum's first step, autotune picks, the pool's blocks) exists before a
//     capture - and for any batch whose shapes differ from the captured ones, such as a short
//     last batch, which therefore runs uncaptured.
//   * the first step after the warm-up: allocates device input buffers of the batch's shapes,
//     copies the batch into them, captures the step on them and replays it.
//   * every later step of those shapes: copies the batch into the input buffers and replays.
// A graph lives as long as the CapturedSteps (one epoch in the training loops), never longer than
// the model, optimizer and meter its step used. A step that cannot be captured (it copies to or
// from the host, or synchronises, or a library refuses the capture): with `--cuda-graphs on` it
// fails with weft::Error saying so; with `auto` weft says so in one line and runs every step of
// the loop eagerly.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "engine/device.h"
#include "engine/graph.h"
#include "engine/tensor.h"

namespace weft::train {

class CapturedSteps {
 public:
  using Step = std::function<void(const std::vector<Tensor>& inputs)>;

  explicit CapturedSteps(Device device, int warmup = 1);

  void run(const std::vector<Tensor>& host_inputs, const Step& step);

  bool graphs_enabled() const { return enabled_; }
  int64_t replays() const { return graph_ != nullptr ? graph_->replays() : 0; }
  int64_t eager_steps() const { return eager_steps_; }
  const graph::Graph* graph() const { return graph_.get(); }

 private:
  bool matches_inputs(const std::vector<Tensor>& host_inputs) const;

  Device device_;
  int warmup_;
  bool enabled_;
  int64_t eager_steps_ = 0;
  std::vector<Tensor> inputs_;  // the captured step's input buffers on the device
  std::unique_ptr<graph::Graph> graph_;
};

}  // namespace weft::train
