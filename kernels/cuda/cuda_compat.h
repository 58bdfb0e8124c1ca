// The first include of every kernel source in kernels/cuda/. Each .cu file there is compiled
// twice: by nvcc for the GPU (library weft_kernels_cuda) and by the host C++ compiler against the
// emulation of the CUDA execution model (library weft_kernels_emu, see emulation.h). This header
// gives both compilations the same vocabulary:
//
//   the CUDA names    threadIdx, __syncthreads, __shfl_down_sync, atomicAdd, dim3, cudaStream_t...
//                     from the CUDA runtime under nvcc, from emulation.h on the host;
//   WEFT_KERNEL_ABI   the name of an inline namespace that wraps everything in kernels/cuda/, so
//                     the two compilations can be linked into one program (the GPU test runs
//                     both) without their symbols colliding; source code never spells it;
//   WEFT_DYNAMIC_SHARED(type, name)
//                     declares `type* name` pointing at the launch's dynamic shared memory (the
//                     byte count given at launch), aligned for any type up to 16 bytes.
//   WEFT_SHARED_UNDEFINED(name)
//                     follows every static `__shared__` declaration: nothing on a GPU; under
//                     the emulation the variable starts each block filled with 0xFF bytes, as
//                     undefined as a GPU's shared memory (emulation.h says why).
#pragma once

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define WEFT_KERNEL_ABI gpu
// One extern array of bytes for every kernel: declaring `extern __shared__ T name[]` with
// different T in different kernels of one file is an error under nvcc.
#define WEFT_DYNAMIC_SHARED(type, name)                                         \
  extern __shared__ __align__(16) unsigned char weft_dynamic_shared_bytes[];    \
  type* name = reinterpret_cast<type*>(weft_dynamic_shared_bytes)
#define WEFT_SHARED_UNDEFINED(name) static_cast<void>(sizeof(name))

#else

#include "kernels/cuda/emulation.h"

#define WEFT_KERNEL_ABI emulated
#define WEFT_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::weft::emu::dynamic_shared_memory())
#define WEFT_SHARED_UNDEFINED(name) ::weft::emu::mark_shared_undefined(&(name), sizeof(name))

// Every kernel lives in weft::cuda, so its unqualified fmaf finds the emulation's (emulation.h)
// before the C library's.
namespace weft::cuda {
using weft::emu::fmaf;
}  // namespace weft::cuda

#endif
