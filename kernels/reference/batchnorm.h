// The executable definition of batch normalisation, straight from the formulas in double,
// written to be read rather than to be fast. The kernels are tested against these functions;
// nothing in the engine calls them.
//
// Layout [batch, channels, spatial] (BatchNormParams, kernels/params.h); each channel has its
// own statistics over the M = batch * spatial values it holds. Outputs are double: the
// unrounded result.
#pragma once

#include "kernels/params.h"

namespace weft::reference {

// Training: mean and biased variance of each channel over its M values, invstd =
// 1 / sqrt(var + eps), y = gamma * (x - mean) * invstd + beta. With running statistics given
// (both non-null), their updated values are
//   new_running_mean = (1 - momentum) * running_mean + momentum * mean
//   new_running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1)
// (the unbiased variance; the biased one when M = 1). p.activation, when set, is applied to y
// (v > 0 ? v : slope v, slope 0 for relu and alpha for leaky_relu), in eval too.
void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, double* y, double* mean, double* invstd,
                              const float* running_mean, const float* running_var,
                              double* new_running_mean, double* new_running_var);

// The gradient of batch_norm_forward_train's y with respect to x, gamma and beta, the
// statistics being x's own, recomputed here (the kernels take the forward's saved ones). Written
// as the unfused chain rule through the mean and the variance, where the kernels use the fused
// formula:
//   dxhat = dy * gamma
//   dvar  = sum(dxhat * (x - mean)) * -1/2 * (var + eps)^(-3/2)
//   dmean = -sum(dxhat) * invstd + dvar * sum(-2 * (x - mean)) / M
//   dx    = dxhat * invstd + dvar * 2 * (x - mean) / M + dmean / M
//   dgamma = sum(dy * (x - mean) * invstd),  dbeta = sum(dy)
// Null dgamma and dbeta are not computed. With p.activation set, `y` is the forward's output
// and every formula here reads dy * slope(y) (1 where y > 0, else 0 or alpha) for dy: the
// gradient through the activation, taken from its output as the kernels do.
void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                         const float* y, const float* gamma, double* dx, double* dgamma,
                         double* dbeta);

// Eval: the running statistics are constants, y = gamma * (x - running_mean) /
// sqrt(running_var + eps) + beta.
void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             double* y);
// Its gradient: dx = dy * gamma / sqrt(running_var + eps), dgamma = sum(dy * xhat),
// dbeta = sum(dy). Null dgamma and dbeta are not computed; `y` as in batch_norm_backward.
void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, double* dx, double* dgamma, double* dbeta);

}  // namespace weft::reference
