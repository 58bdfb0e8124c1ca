// The backends of a CUDA build, as plain C++ declarations for the engine (engine/dispatch.cpp)
// and the tests: the hand-written kernels of kernels/cuda/ (emulated or on a GPU), the vendor
// libraries of kernels/cudnn/, and the selecting backend that chooses between the two per op
// family (kernels/selection.h).
#pragma once

#include "kernels/backend.h"

namespace weft {

// The hand kernels run by the host emulation of CUDA (kernels/cuda/emulation.h) on host memory.
// Always built; slow, and meant for testing the kernels without a GPU.
Backend& emu_backend();

#ifdef WEFT_HAVE_CUDA
// The hand kernels on GPU `device`: device memory, work queued on the device's one stream
// (engine/cuda/runtime.h). Defined in kernels/cuda/hand_backend.cu.
Backend& cuda_backend(int device);

// cuDNN and cuBLAS on GPU `device`, on the same stream: convolution, transposed convolution,
// batch normalisation, GEMM and linear; every other method throws weft::NotImplemented.
// Defined in kernels/cudnn/vendor_backend.cu.
Backend& cuda_vendor_backend(int device);

// What the engine runs on GPU `device` (engine/dispatch.cpp): per op family the hand kernel or
// the vendor library, as the kernel choice says (hand | vendor | auto, kernels/selection.h,
// WEFT_KERNELS). Defined in kernels/cudnn/vendor_backend.cu.
Backend& cuda_selecting_backend(int device);
#endif

}  // namespace weft
