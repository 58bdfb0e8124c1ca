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
  // Hand kernels or cuDNN/cuBLAS per op family, as the kernel choice says (kernels/selection.h).
  return cuda_selecting_backend(device.index);
#else
  throw Error("no backend for " + device.str() + ": this weft was built without CUDA");
#endif
}

}  // namespace weft
