// Which Backend runs the kernels for a device: the CPU reference for Device::cpu(); for a CUDA
// device in a CUDA build, the selecting backend, which runs each op family's hand kernel or
// cuDNN/cuBLAS as the kernel choice says (kernels/selection.h, WEFT_KERNELS). engine/ops/ calls
// backend_for(tensor.device()).
#pragma once

#include "engine/device.h"
#include "kernels/backend.h"

namespace weft {

Backend& backend_for(Device device);

}  // namespace weft
