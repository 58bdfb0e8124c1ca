// Hand-written CUDA kernels for batch normalisation (BatchNorm2d on [N, C, H, W], BatchNorm1d on
// [N, C]: spatial = 1), training and eval, forward and backward, with the semantics of the CPU
// reference (kernels/cpu/batchnorm.h): biased variance to normalise, unbiased variance for
// running_var, PyTorch's momentum rule. The kernels are described in batchnorm.cu. Device
// pointers; work queued on `stream`.
//
// Workspace: the per-channel reductions are split over several blocks per channel, whose
// partial results go to a caller-owned device workspace of batch_norm_workspace_floats(p)
// floats and are combined in a fixed order (deterministic, no atomics).
//
// Write rule: outputs are overwritten; running_mean and running_var (may be null) are updated
// in place; dgamma and dbeta may be null.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Floats of workspace any of the functions below needs for `p`.
int64_t batch_norm_workspace_floats(const BatchNormParams& p);

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var, float* workspace,
                              cudaStream_t stream);
void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y, cudaStream_t stream);
// y: the forward's output, read only with p.activation set (may be null otherwise).
void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                         float* workspace, cudaStream_t stream);
void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta,
                              float* workspace, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
