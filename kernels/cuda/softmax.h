// Hand-written CUDA kernels for softmax and log-softmax over the rows of a [rows, cols] matrix,
// forward and backward, with the semantics of the CPU reference (kernels/cpu/softmax.h); the
// kernels are described in softmax.cu. Device pointers; work queued on `stream`.
// Write rule: outputs are overwritten.
#pragma once

#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void softmax_forward(int rows, int cols, const float* x, float* y, cudaStream_t stream);
// dx = y * (dy - sum(dy * y)) per row
void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx,
                      cudaStream_t stream);
void log_softmax_forward(int rows, int cols, const float* x, float* y, cudaStream_t stream);
// dx = dy - exp(y) * sum(dy) per row
void log_softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx,
                          cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
