// Hand-written CUDA kernels for 2-d convolution and transposed convolution (forward,
// backward-data, backward-filter), with the semantics of the CPU reference (kernels/cpu/conv.h):
// NCHW images, OIHW convolution weights, IOHW transposed-convolution weights, any stride,
// padding and dilation, no groups. The kernels are implicit GEMMs over the tiled product of
// tiled_product.h and are described in conv.cu. Device pointers; work queued on `stream`.
//
// Workspace: backward-filter splits its long reductions (over batch and output positions: the
// filter's, and the bias gradient's per channel) into slices computed by different blocks, and
// needs conv2d_backward_filter_workspace_floats(p) floats of device memory for the slices'
// partial results, which second kernels add in a fixed order (deterministic, no atomics). The
// forward and backward-data need one only for a full-window convolution (conv_full_window.h),
// which they run as a GEMM that may split its reduction the same way, and backward-data at
// stride 1, which runs as a forward convolution of a reordered copy of the filter. The caller
// owns the workspace; it may be null when the size is 0.
//
// Write rule: every function overwrites its outputs.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Floats of workspace conv2d_forward and conv2d_backward_data need for `p` (0 for most).
int64_t conv2d_forward_workspace_floats(const Conv2dParams& p);
int64_t conv2d_backward_data_workspace_floats(const Conv2dParams& p);

// y[N, O, OH, OW] = conv(x[N, C, H, W], w[O, C, KH, KW]) + bias[O] (bias may be null).
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y, float* workspace, cudaStream_t stream);

// Whether conv2d_max_pool2d_forward_fused takes (p, pool) at the current math precision: where
// conv2d_forward would run the narrow forward (conv_forward_narrow.h) and pool is a 2 x 2 max
// pool of stride 2 without padding over its output.
bool conv2d_max_pool2d_fuses(const Conv2dParams& p, const Pool2dParams& pool);

// y, argmax = max_pool2d_forward(pool, conv2d_forward(p, x, w, bias)) in one kernel that never
// stores the convolution's output, bit for bit the two (kernels/params.h check_conv_max_pool;
// pool.activation applies to each cell before it competes). Only where conv2d_max_pool2d_fuses.
void conv2d_max_pool2d_forward_fused(const Conv2dParams& p, const Pool2dParams& pool,
                                     const float* x, const float* w, const float* bias, float* y,
                                     int32_t* argmax, cudaStream_t stream);

// Whether conv2d_max_pool2d_backward_filter_fused takes (p, pool) at the current math precision:
// where conv2d_backward_filter would run the SIMT product on ThinTile with dbias in its spare
// column (fp32, at most 15 taps), under a 2 x 2 max pool of stride 2 without padding.
bool conv2d_max_pool2d_filter_fuses(const Conv2dParams& p, const Pool2dParams& pool);
int64_t conv2d_max_pool2d_filter_workspace_floats(const Conv2dParams& p);

// dw and dbias (may be null) of the convolution p under the max pool `pool` from the pool's
// gradient dy, output y (read with pool.activation) and argmax, without the full-size gradient
// max_pool2d_backward would write: each dconv value is formed where the product reads it
// (conv_operands.h PooledGradientIndexed), so the result is the composition's bit for bit.
// Only where conv2d_max_pool2d_filter_fuses; `workspace`: the floats the function above says.
void conv2d_max_pool2d_backward_filter_fused(const Conv2dParams& p, const Pool2dParams& pool,
                                             const float* x, const float* dy, const float* y,
                                             const int32_t* argmax, float* dw, float* dbias,
                                             float* workspace, cudaStream_t stream);

// dx[N, C, H, W] from dy[N, O, OH, OW].
void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx,
                          float* workspace, cudaStream_t stream);

// Floats of workspace conv2d_backward_filter needs for `p` (0 when it needs none).
int64_t conv2d_backward_filter_workspace_floats(const Conv2dParams& p);

// dw[O, C, KH, KW] and dbias[O] (dbias may be null) from x and dy.
void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias, float* workspace, cudaStream_t stream);

// Transposed convolution, built from the convolution p.as_conv() (see kernels/params.h):
// forward = its backward-data (+ bias in the same kernel's epilogue), backward-data = its
// forward, backward-filter = its backward-filter with input and output-gradient exchanged.
// Requires output padding < stride (as PyTorch does), so that as_conv() maps back exactly.
// Forward takes conv2d_backward_data_workspace_floats(p.as_conv()) floats of workspace,
// backward-data conv2d_forward_workspace_floats(p.as_conv()).
void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y, float* workspace, cudaStream_t stream);
void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    float* dx, float* workspace, cudaStream_t stream);
int64_t conv_transpose2d_backward_filter_workspace_floats(const ConvTranspose2dParams& p);
void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias, float* workspace,
                                      cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
