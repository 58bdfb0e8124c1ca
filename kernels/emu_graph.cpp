// The emulated device's graph recordings (see emu_graph.h).
#include "kernels/emu_graph.h"

#include "kernels/runtime_counters.h"

namespace weft::emu_graph {
namespace {
thread_local Recording* active_recording = nullptr;
}  // namespace

void Recording::replay() const {
  count::graph_launch();
  for (const Work& item : work) {
    count::trace(item.name);
    item.run();
  }
}

Recording* active() { return active_recording; }
void set_active(Recording* recording) { active_recording = recording; }

}  // namespace weft::emu_graph
