// The backends built from the hand-written CUDA kernels in kernels/cuda/, as plain C++
// declarations for the engine (engine/dispatch.cpp) and the tests.
#pragma once

#include "kernels/backend.h"

namespace weft {

// The hand kernels run by the host emulation of CUDA (kernels/cuda/emulation.h) on host memory.
// Always built; slow, and meant for testing the kernels without a GPU.
Backend& emu_backend();

#ifdef WEFT_HAVE_CUDA
// The CUDA backend of GPU `device`: hand kernels on device memory, queued on the device's one
// stream (engine/cuda/runtime.h). Op families without hand kernels yet throw
// weft::NotImplemented.
Backend& cuda_backend(int device);
#endif

}  // namespace weft
