// Backend lookup by device (see dispatch.h).
#include "engine/dispatch.h"

#include "engine/error.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda/backends.h"
#endif

namespace weft {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
#ifdef WEFT_HAVE_CUDA
  // The hand-written kernels; families without them yet throw weft::NotImplemented.
  return cuda_backend(device.index);
#else
  throw Error("no backend for " + device.str() + ": this weft was built without CUDA");
#endif
}

}  // namespace weft
