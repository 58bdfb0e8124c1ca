// Which Backend runs the kernels for a device: the CPU reference for Device::cpu(), the CUDA
// backend for a CUDA device in a CUDA build. engine/ops/ calls backend_for(tensor.device()).
#pragma once

#include "engine/device.h"
#include "kernels/backend.h"

namespace weft {

Backend& backend_for(Device device);

}  // namespace weft
