// Backend lookup by device (see dispatch.h).
#include "engine/dispatch.h"

#include "engine/error.h"

namespace weft {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  throw Error("no CUDA backend for " + device.str() +
              ": the hand-written CUDA kernels are not part of this build yet");
}

}  // namespace weft
