// CPU reference for batch normalisation (BatchNorm2d on [N, C, H, W], BatchNorm1d on [N, C]).
// Statistics are per channel over batch * spatial values, accumulated in double so that large
// batches with a large mean do not lose precision.
// Write rule: outputs are overwritten; running_mean/var are updated in place.
#pragma once

#include "kernels/params.h"

namespace weft::cpu {

// Training forward: y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch's mean and
// biased variance. save_mean and save_invstd [C] keep mean and 1/sqrt(var + eps) for backward.
// running_mean/running_var (may be null) move towards the batch statistics with p.momentum,
// the variance update using the unbiased estimate (PyTorch's rule).
void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var);

// Eval forward with the running statistics.
void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean,
                             const float* running_var, float* y);

// Backward of the training forward: dx, dgamma, dbeta [C] (dgamma/dbeta may be null). `y` is
// the forward's output, read only with p.activation set (null is fine otherwise).
void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x, const float* y,
                         const float* gamma, const float* save_mean, const float* save_invstd,
                         float* dx, float* dgamma, float* dbeta);

// Backward of the eval forward (statistics are constants): dx = dy * gamma / sqrt(var + eps),
// dgamma and dbeta as above with the running statistics (dgamma/dbeta may be null).
// Needed for frozen batchnorm in transfer learning and for Grad-CAM on a model in eval mode.
void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta);

}  // namespace weft::cpu
