// The bias of a convolution or a linear layer on the GPU, where the product itself does not
// carry it: forward, the bias and the layer's fused activation in one pass over the output;
// backward, the bias gradient as a sum per channel. The hand kernels fuse the forward's bias
// into their epilogues and, where a tile has room, the gradient into the backward-filter
// product; these kernels serve the rest: the hand backward-filter of wider layers, the
// transposed convolution's bias gradient and the linear layer's, and the vendor path
// (kernels/cuda_vendor), whose cuDNN/cuBLAS products have no epilogue (cudnnAddTensor and the
// activation were two passes over y; with cudnnConvolutionBackwardBias the backward-filter of
// the 6-channel pair CNN's first layer took 8.4 ms on an H200, the bias not timed apart).
// Kernels and their thread layouts in bias.cu.
//
// Tensors are seen as [outer, channels, inner]: NCHW is outer N, inner H * W; the rows of a
// linear layer's [n, features] output are outer n, inner 1. Device pointers; work queued on
// `stream`; outputs overwritten (bias_activation works in place).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// y[o, c, i] = act(y[o, c, i] + bias[c]) over `count` elements (bias may be null: act alone).
void bias_activation(int64_t count, int channels, int64_t inner, const float* bias,
                     const FusedActivation& act, float* y, cudaStream_t stream);

// Floats of workspace channel_sums needs for t[batch, channels, plane] (0 for few values per
// channel, which take one pass).
int64_t channel_sums_workspace_floats(int batch, int channels, int plane);

// sums[c] = the sum of t[n, c, :] over n, deterministic; `workspace` holds
// channel_sums_workspace_floats(batch, channels, plane) floats (may be null when that is 0).
void channel_sums(int batch, int channels, int plane, const float* t, float* sums, float* workspace,
                  cudaStream_t stream);

// sums[j] = the sum of m[i, j] over the rows i of m[rows, cols], deterministic.
void column_sums(int rows, int cols, const float* m, float* sums, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
