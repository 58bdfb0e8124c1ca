// CPU reference for max and average pooling and global average pooling.
// Write rule: every function overwrites its outputs.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace weft::cpu {

// y[N, C, OH, OW] = max over each window; argmax[N, C, OH, OW] receives the flat index
// (h * W + w) within the input plane of the first maximum (padding never wins), which backward
// uses to route the gradient. With p.activation set the cells compete as act(x), and backward
// (given the forward's y) routes act's derivative at y times dy; windows must not overlap then.
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax);
void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, float* dx);
// The same two on the calling thread alone, for a caller already inside a parallel region (the
// direct convolution fused with its pool, conv_direct.h, one image at a time).
void max_pool2d_forward_serial(const Pool2dParams& p, const float* x, float* y, int32_t* argmax);
void max_pool2d_backward_serial(const Pool2dParams& p, const float* dy, const float* y,
                                const int32_t* argmax, float* dx);

// Average over each window; with count_include_pad the divisor is kernel_h * kernel_w,
// otherwise the number of real (unpadded) input cells in the window.
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y);
void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx);

// y[N, C] = mean of x[N, C, H*W] over the plane; backward spreads dy / (H*W) back.
void global_avg_pool_forward(int batch, int channels, int plane, const float* x, float* y);
void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, float* dx);

}  // namespace weft::cpu
