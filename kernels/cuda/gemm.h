// Hand-written CUDA kernels for the matrix product (SGEMM) and the linear layer built on it, with
// the semantics of the CPU reference (kernels/cpu/gemm.h). The kernels are described in gemm.cu;
// the tiling they share with the convolutions is in tiled_product.h. Device pointers; work queued
// on `stream`.
// Write rule: outputs are overwritten, except that gemm honours GemmParams::beta.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C, op(A) [m, k], op(B) [k, n]. beta == 0
// overwrites C without reading it (NaN in C does not leak through). Any m, n, k >= 0.
void gemm(const GemmParams& p, const float* a, const float* b, float* c, cudaStream_t stream);

// y[n, out] = x[n, in] * w[out, in]^T + bias[out] (bias may be null; added in the GEMM's
// epilogue, not by a second pass).
void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, float* y, cudaStream_t stream);

// dx = dy * w, dw = dy^T * x, dbias = column sums of dy; each output may be null and is then
// skipped.
void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
