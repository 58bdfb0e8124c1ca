// Hand-written CUDA kernels for the fused optimizer updates: one kernel per parameter tensor (or,
// multi-tensor, one launch for up to 24 tensors) that reads the gradient once and updates the parameter and its state in place, with PyTorch's
// formulas (the same as the CPU reference, kernels/cpu/optim.h, which states them). Kernels
// described in optim.cu. Device pointers; `momentum_buffer` may be null when momentum is 0.
#pragma once

#include "kernels/backend.h"
#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer,
                cudaStream_t stream);
void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq, cudaStream_t stream);

// Multi-tensor updates: the same for `tensors` tensors (counts[i] elements each; s.count unused)
// in a few launches instead of one per tensor. The pointer arrays are host arrays of device
// pointers; `momentum_buffers` may be null when momentum is 0.
void sgd_update_multi(const SgdStep& s, int tensors, const int64_t* counts, float* const* params,
                      const float* const* grads, float* const* momentum_buffers,
                      cudaStream_t stream);
void adam_update_multi(const AdamStep& s, int tensors, const int64_t* counts,
                       float* const* params, const float* const* grads, float* const* exp_avgs,
                       float* const* exp_avg_sqs, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
