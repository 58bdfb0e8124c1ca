// Training steps run eagerly or as a captured graph (see captured_steps.h).
#include "engine/train/captured_steps.h"

#include <cstdio>

#include "engine/allocator.h"
#include "engine/distributed/communicator.h"
#include "kernels/error.h"

namespace weft::train {

CapturedSteps::CapturedSteps(Device device, int warmup)
    : device_(device),
      warmup_(warmup),
      // Several ranks exchange gradients and stop requests through the host at every step.
      enabled_(graph::enabled_for(device) && !dist::distributed()) {
  WEFT_CHECK(warmup >= 1, "CapturedSteps: at least one warm-up step runs before a capture");
}

bool CapturedSteps::matches_inputs(const std::vector<Tensor>& host_inputs) const {
  if (host_inputs.size() != inputs_.size()) return false;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (host_inputs[i].shape() != inputs_[i].shape() ||
        host_inputs[i].dtype() != inputs_[i].dtype()) {
      return false;
    }
  }
  return true;
}

void CapturedSteps::run(const std::vector<Tensor>& host_inputs, const Step& step) {
  const bool capturable = enabled_ && eager_steps_ >= warmup_ &&
                          (graph_ == nullptr || matches_inputs(host_inputs));
  if (!capturable) {
    std::vector<Tensor> on_device;
    on_device.reserve(host_inputs.size());
    for (const Tensor& t : host_inputs) on_device.push_back(t.to(device_));
    step(on_device);
    ++eager_steps_;
    return;
  }
  if (graph_ == nullptr) {
    for (const Tensor& t : host_inputs) {
      inputs_.push_back(Tensor::empty(t.shape(), t.dtype(), device_));
    }
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const Tensor& host = host_inputs[i];
    copy_bytes(device_, inputs_[i].raw_data(), host.device(), host.raw_data(),
               static_cast<size_t>(host.numel()) * dtype_size(host.dtype()));
  }
  if (graph_ == nullptr) {
    auto graph = std::make_unique<graph::Graph>(device_);
    try {
      graph->capture([&] { step(inputs_); });
    } catch (const Error& e) {
      // `on` asked for graphs: say why there are none. `auto` carries on without them; the
      // failed capture ran nothing and took back its host changes (graph.h), so the step runs
      // eagerly from where it was.
      if (graph::mode() == graph::Mode::on) throw;
      static bool said = false;
      if (!said) {
        std::fprintf(stderr, "weft: CUDA graphs off for this run (the step cannot be captured: %s)\n",
                     e.what());
        said = true;
      }
      enabled_ = false;
      step(inputs_);
      ++eager_steps_;
      return;
    }
    graph_ = std::move(graph);
  }
  graph_->replay();
}

}  // namespace weft::train
