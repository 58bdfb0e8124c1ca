// Hand-written CUDA kernels for max pooling, average pooling and global average pooling,
// forward and backward, with the semantics of the CPU reference (kernels/cpu/pool.h): argmax is
// the flat index h * W + w of the first maximum within its input plane, padding never wins, and
// NaN propagates. The kernels are described in pool.cu. Device pointers; work queued on `stream`.
// Write rule: every function overwrites its outputs.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax,
                        cudaStream_t stream);
// `argmax` as max_pool2d_forward writes it: each index lies inside its output's window (an
// index elsewhere is ignored, since the backward gathers from the windows that cover a cell).
// `y`: the forward's output, read only with p.activation set (then windows must not overlap).
void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, float* dx, cudaStream_t stream);
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream);
void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream);

void global_avg_pool_forward(int batch, int channels, int plane, const float* x, float* y,
                             cudaStream_t stream);
void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, float* dx,
                              cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
