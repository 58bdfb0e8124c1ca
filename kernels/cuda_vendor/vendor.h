// The vendor-library implementations of weft's op families, one function per Backend method
// they cover, each taking the device's vendor Context (context.h) and the same params structs
// and raw device pointers as every other backend (kernels/params.h):
//   conv.cu       conv2d and conv_transpose2d through cuDNN's convolution calls
//   batchnorm.cu  batch normalisation through cuDNN's batch-norm calls
//   gemm.cu       GEMM and the linear layer through cuBLAS (biases through cuDNN)
// vendor_backend.cu wraps them as a Backend. The caller holds ctx.mutex() (the backend does).
//
// Semantics and write rules are those of the CPU reference (kernels/cpu/conv.h, batchnorm.h,
// gemm.h): outputs are overwritten (gemm honours beta), optional outputs may be null, and
// nothing here synchronises the host. Compiled by nvcc only.
#pragma once

#include "kernels/cuda_vendor/context.h"
#include "kernels/params.h"

namespace weft::vendor {

// ---- convolution (conv.cu) ----
void conv2d_forward(Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                    const float* bias, float* y);
void conv2d_backward_data(Context& ctx, const Conv2dParams& p, const float* dy, const float* w,
                          float* dx);
void conv2d_backward_filter(Context& ctx, const Conv2dParams& p, const float* x, const float* dy,
                            float* dw, float* dbias);
void conv_transpose2d_forward(Context& ctx, const ConvTranspose2dParams& p, const float* x,
                              const float* w, const float* bias, float* y);
void conv_transpose2d_backward_data(Context& ctx, const ConvTranspose2dParams& p, const float* dy,
                                    const float* w, float* dx);
void conv_transpose2d_backward_filter(Context& ctx, const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias);

// ---- batch normalisation (batchnorm.cu) ----
void batch_norm_forward_train(Context& ctx, const BatchNormParams& p, const float* x,
                              const float* gamma, const float* beta, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var);
void batch_norm_forward_eval(Context& ctx, const BatchNormParams& p, const float* x,
                             const float* gamma, const float* beta, const float* running_mean,
                             const float* running_var, float* y);
// y: the forward's output, read only with p.activation set.
void batch_norm_backward(Context& ctx, const BatchNormParams& p, const float* dy, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta);
void batch_norm_backward_eval(Context& ctx, const BatchNormParams& p, const float* dy,
                              const float* x, const float* y, const float* gamma,
                              const float* running_mean, const float* running_var, float* dx,
                              float* dgamma, float* dbeta);

// ---- matrix products (gemm.cu) ----
void gemm(Context& ctx, const GemmParams& p, const float* a, const float* b, float* c);
// y = act(x w^T + bias): the activation by weft's elementwise kernel after the bias.
void linear_forward(Context& ctx, int n, int in_features, int out_features, const float* x,
                    const float* w, const float* bias, const FusedActivation& act, float* y);
void linear_backward(Context& ctx, int n, int in_features, int out_features, const float* x,
                     const float* w, const float* dy, float* dx, float* dw, float* dbias);

}  // namespace weft::vendor
