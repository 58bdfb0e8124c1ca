// Hand-written CUDA kernels for inverted dropout, alone or after relu / leaky_relu. The keep
// decision for element i is philox_uniform_at(seed, offset, i) >= p (kernels/philox.h), exactly
// as in the CPU reference (kernels/cpu/dropout.h), so both backends draw the same mask bit for
// bit and backward draws it again instead of storing it. Kernel described in dropout.cu. Device
// pointers; in place allowed.
// Write rule: outputs are overwritten.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// y = keep ? x / (1 - p) : 0
void dropout_forward(const DropoutParams& p, const float* x, float* y, cudaStream_t stream);
// dx = keep ? dy / (1 - p) : 0
void dropout_backward(const DropoutParams& p, const float* dy, float* dx, cudaStream_t stream);
// y = keep ? act(x) / (1 - p) : 0 (act: relu or leaky_relu)
void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                float* y, cudaStream_t stream);
// dx = keep ? act'(x) (dy / (1 - p)) : 0
void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                 const float* dy, float* dx, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
