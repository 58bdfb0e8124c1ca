// Hand-written CUDA kernels for the matrix product (SGEMM) and the linear layer built on it, with
// the semantics of the CPU reference (kernels/cpu/gemm.h). The kernels are described in gemm.cu;
// the tiling they share with the convolutions is in tiled_product.h. Device pointers; work queued
// on `stream`.
// Write rule: outputs are overwritten, except that gemm honours GemmParams::beta.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Workspace: a product with few tiles of C and a long k is split along k (gemm.cu, Split-K),
// and the slices' partial sums need gemm_workspace_floats(p) floats of device memory from the
// caller (0 when the product is not split; the pointer may then be null).
int64_t gemm_workspace_floats(const GemmParams& p);

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C, op(A) [m, k], op(B) [k, n]. beta == 0
// overwrites C without reading it (NaN in C does not leak through). Any m, n, k >= 0.
void gemm(const GemmParams& p, const float* a, const float* b, float* c, float* workspace,
          cudaStream_t stream);

// Floats of workspace that linear_forward and linear_backward need for these sizes.
int64_t linear_workspace_floats(int n, int in_features, int out_features);

// y[n, out] = act(x[n, in] * w[out, in]^T + bias[out]) (bias may be null; bias and activation
// applied in the GEMM's epilogue, not by a second pass).
void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, const FusedActivation& act, float* y, float* workspace,
                    cudaStream_t stream);

// dx = dy * w, dw = dy^T * x, dbias = column sums of dy; each output may be null and is then
// skipped.
void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias, float* workspace,
                     cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
