// GEMM and the linear layer through cuBLAS (vendor.h).
//
// Row-major through a column-major library. cuBLAS follows BLAS and stores matrices column by
// column; weft stores them row by row. A row-major [r, c] matrix with row length ld is, byte for
// byte, the column-major [c, r] matrix (its transpose) with leading dimension ld. So the
// row-major product C = op(A) op(B), C [m, n], is computed as the column-major product
//   C^T = op(B)^T op(A)^T,     C^T [n, m]
// i.e. cublasSgemm with the operands swapped (B first), the sizes swapped (n, m, k), the same
// transpose flags, and each leading dimension the stored row length:
//   lda = trans_a ? m : k,   ldb = trans_b ? k : n,   ldc = n.
// No data moves; only the description changes.
//
// Precision: cublas() sets CUBLAS_DEFAULT_MATH unless the math precision is tf32
// (kernels/selection.h), so by default an SGEMM accumulates in FP32 on the CUDA cores (cuBLAS
// never uses TF32 for float unless asked), which keeps it within the op table's tolerance of the
// OpenBLAS reference. At bf16 the product goes through cublasGemmEx with float data and
// CUBLAS_COMPUTE_32F_FAST_16BF, which lets cuBLAS round the inputs to BF16 for the tensor cores
// and accumulate in FP32, the hand tensor-core GEMM's precision.
//
// beta == 0: cuBLAS then does not read C (NaN in C does not leak through), matching weft's write
// rule. k == 0 is an empty sum: C = beta * C, done here without calling cublasSgemm.
//
// cuBLAS is called through cublas_library() (cublas_library.h): loaded on first use, not linked.
//
// The linear layer is three GEMMs, as in the CPU reference (kernels/cpu/gemm.cpp):
//   forward          y[n, out]   = x[n, in] * W[out, in]^T   (+ bias)
//   backward-data    dx[n, in]   = dy[n, out] * W[out, in]
//   backward-weight  dW[out, in] = dy[n, out]^T * x[n, in]
// and the bias, which cuBLAS has no broadcast for, goes through weft's own kernels
// (kernels/cuda/bias.h): bias_activation adds it and applies the fused activation in one pass
// over y (cublasSgemm has no epilogue, and cuBLASLt's RELU_BIAS has no leaky ReLU), column_sums
// sums dy over its rows into dbias (cudnnConvolutionBackwardBias, used before, made the linear
// backward 198-231 us on an H200 where the hand one took 35-93). The same result as the hand
// path, one launch more. The backward takes dy already multiplied by the activation's
// derivative (the engine does it).
#include <climits>
#include <cstdint>

#include "kernels/cuda/bias.h"
#include "kernels/cuda_vendor/cublas_library.h"
#include "kernels/cuda_vendor/vendor.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::vendor {
namespace {

cublasOperation_t op(bool transpose) {
  return transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace

void gemm(Context& ctx, const GemmParams& p, const float* a, const float* b, float* c) {
  if (p.m <= 0 || p.n <= 0) return;
  const int64_t c_count = static_cast<int64_t>(p.m) * p.n;
  if (p.k <= 0) {
    if (p.beta == 0.0f) {
      ctx.zero(c, static_cast<size_t>(c_count));
    } else {
      WEFT_CHECK(c_count <= INT_MAX, "gemm: C has ", c_count, " elements, more than cuBLAS's int");
      WEFT_CUBLAS_CALL(
          cublas_library().sscal(ctx.cublas(), static_cast<int>(c_count), &p.beta, c, 1));
    }
    return;
  }
  const int lda = p.trans_a ? p.m : p.k;
  const int ldb = p.trans_b ? p.k : p.n;
  if (math_precision() == MathPrecision::bf16) {
    WEFT_CUBLAS_CALL(cublas_library().gemm_ex(
        ctx.cublas(), op(p.trans_b), op(p.trans_a), p.n, p.m, p.k, &p.alpha, b, CUDA_R_32F, ldb, a,
        CUDA_R_32F, lda, &p.beta, c, CUDA_R_32F, p.n, CUBLAS_COMPUTE_32F_FAST_16BF,
        CUBLAS_GEMM_DEFAULT));
    return;
  }
  WEFT_CUBLAS_CALL(cublas_library().sgemm(ctx.cublas(), op(p.trans_b), op(p.trans_a), p.n, p.m,
                                          p.k, &p.alpha, b, ldb, a, lda, &p.beta, c, p.n));
}

void linear_forward(Context& ctx, int n, int in_features, int out_features, const float* x,
                    const float* w, const float* bias, const FusedActivation& act, float* y) {
  GemmParams product;
  product.m = n;
  product.n = out_features;
  product.k = in_features;
  product.trans_b = true;
  gemm(ctx, product, x, w, y);
  if (n <= 0 || out_features <= 0) return;
  cuda::bias_activation(int64_t{n} * out_features, out_features, 1, bias, act, y, ctx.stream());
}

void linear_backward(Context& ctx, int n, int in_features, int out_features, const float* x,
                     const float* w, const float* dy, float* dx, float* dw, float* dbias) {
  if (dx != nullptr) {
    GemmParams data_grad;  // dx[n, in] = dy[n, out] * W[out, in]
    data_grad.m = n;
    data_grad.n = in_features;
    data_grad.k = out_features;
    gemm(ctx, data_grad, dy, w, dx);
  }
  if (dw != nullptr) {
    GemmParams weight_grad;  // dW[out, in] = dy[n, out]^T * x[n, in]
    weight_grad.m = out_features;
    weight_grad.n = in_features;
    weight_grad.k = n;
    weight_grad.trans_a = true;
    gemm(ctx, weight_grad, dy, x, dw);
  }
  if (dbias != nullptr) cuda::column_sums(n, out_features, dy, dbias, ctx.stream());
}

}  // namespace weft::vendor
