// The hand GEMM on tensor cores (mma.sync TF32 or BF16, FP32 accumulation), used by gemm.cu's
// gemm, linear_forward and linear_backward when the math precision (kernels/selection.h) is
// tf32 or bf16. The kernel is described in gemm_tensor_core.cu. Device pointers; work queued on
// `stream`.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Row-major C[m, n] = act(alpha * op(A) op(B) + beta * C (+ column_bias[col] when not null)),
// the operands rounded to `precision` (tf32 or bf16) as they enter the tensor cores. beta == 0
// overwrites C without reading it. Any m, n, k >= 0; no workspace.
void gemm_tensor_core(const GemmParams& p, MathPrecision precision, const float* a, const float* b,
                      const float* column_bias, float* c, cudaStream_t stream,
                      const FusedActivation& act = {});

// The split-K half of the same product (gemm.cu's plan: slices of `slice_depth`, a multiple of
// 16): slice z of op(A) op(B)'s raw sums to partials[z][m][n]; alpha, beta, the bias and the
// activation are the caller's (gemm.cu adds the slices in order).
void gemm_tensor_core_slices(const GemmParams& p, MathPrecision precision, const float* a,
                             const float* b, int slices, int slice_depth, float* partials,
                             cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
