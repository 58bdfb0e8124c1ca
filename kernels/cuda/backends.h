// The backends of a CUDA build, as plain C++ declarations for the dispatch (engine/dispatch.cpp),
// the tests and the benchmarks: the hand-written kernels of kernels/cuda/ (emulated, or on a GPU)
// and the vendor libraries of kernels/cuda_vendor/. Which of a GPU's two runs an op is the
// dispatch's choice (engine/dispatch.h).
#pragma once

#include <string>

#include "kernels/backend.h"

namespace weft {

// "emu": the hand kernels run by the host emulation of CUDA (kernels/cuda/emulation.h) on host
// memory. Always built; slow, and meant for testing the kernels without a GPU.
Backend& emu_backend();

// The conv forward kernel lab (kernels/cuda/conv_lab.h) as a backend for the op-table tests and
// the benchmarks: its conv2d_forward runs lab version `version` (1 to kConvLabVersions), every
// other method throws weft::NotImplemented. Not part of the dispatch. Under host emulation, or
// on GPU `device` (defined in kernels/cuda/conv_lab.cu).
Backend& emu_conv_lab_backend(int version);
// The number of lab versions (kConvLabVersions of conv_lab.h, for code that cannot include it).
int conv_lab_versions();

#ifdef WEFT_HAVE_CUDA
// "cuda-hand": the hand kernels on GPU `device`: device memory, work queued on the device's one
// stream (kernels/cuda_runtime/runtime.h). Defined in kernels/cuda/hand_backend.cu.
Backend& cuda_hand_backend(int device);
Backend& cuda_conv_lab_backend(int device, int version);

// "cuda-vendor": cuDNN and cuBLAS on GPU `device`, on the same stream: convolution, transposed
// convolution, batch normalisation, GEMM and linear; every other method throws
// weft::NotImplemented. Defined in kernels/cuda_vendor/vendor_backend.cu.
Backend& cuda_vendor_backend(int device);
// "cuDNN 9.x.y, cuBLAS 13.x.y": the vendor libraries this process loaded.
std::string cuda_vendor_versions();
#endif

}  // namespace weft
