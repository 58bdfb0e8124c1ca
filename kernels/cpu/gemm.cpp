// CPU matrix products and the linear (fully connected) layer.
//
// Every product goes to OpenBLAS's cblas_sgemm in row-major mode, which is multithreaded and
// far faster than any loop we would write here. The linear layer is three such products:
//   forward          y[n, out]   = x[n, in] * W[out, in]^T   (+ bias)
//   backward-data    dx[n, in]   = dy[n, out] * W[out, in]
//   backward-weight  dW[out, in] = dy[n, out]^T * x[n, in]
// Write rule: outputs are overwritten, except that gemm honours GemmParams::beta.
//
// Precision (kernels/selection.h MathPrecision): under tf32 or bf16 the operands A and B are
// first rounded as a GPU's tensor-core GEMM rounds them (TF32 ties away from zero, BF16 ties to
// even; kernels/reduced_precision.h) into scratch copies, and the product of the rounded values
// is then computed in FP32 as before, so the CPU is the reference for the hand tensor-core GEMM
// at the same precision (rounded_operand.h). Under fp32 nothing is rounded or copied.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/rounded_operand.h"

namespace weft::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a parallel region costs more
// than the work saves.
constexpr int64_t kParallelThreshold = 1 << 15;

}  // namespace

void gemm(const GemmParams& p, const float* a, const float* b, float* c) {
  if (p.m <= 0 || p.n <= 0) return;
  const int64_t c_count = static_cast<int64_t>(p.m) * p.n;
  if (p.k <= 0) {
    // An empty sum: C = beta * C. beta == 0 must overwrite, even if C held NaN.
    if (p.beta == 0.0f) {
      std::fill(c, c + c_count, 0.0f);
    } else {
      for (int64_t i = 0; i < c_count; ++i) c[i] *= p.beta;
    }
    return;
  }
  // Leading dimensions are the row lengths of A, B and C as stored (before op()).
  const int lda = p.trans_a ? p.m : p.k;
  const int ldb = p.trans_b ? p.k : p.n;
  const RoundedOperand ra(a, int64_t{p.m} * p.k), rb(b, int64_t{p.k} * p.n);
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
              p.trans_b ? CblasTrans : CblasNoTrans, p.m, p.n, p.k, p.alpha, ra.get(), lda,
              rb.get(), ldb, p.beta, c, p.n);
}

void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, float* y, const FusedActivation& act) {
  GemmParams p;
  p.m = n;
  p.n = out_features;
  p.k = in_features;
  p.trans_b = true;
  gemm(p, x, w, y);
  if (!bias && !act.active()) return;
  // The epilogue: bias and activation in one pass over y.
  const int64_t count = static_cast<int64_t>(n) * out_features;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int i = 0; i < n; ++i) {
    float* row = y + static_cast<int64_t>(i) * out_features;
    for (int j = 0; j < out_features; ++j) row[j] = act.apply(bias ? row[j] + bias[j] : row[j]);
  }
}

void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias) {
  if (dx) {
    GemmParams data_grad;  // dx[n, in] = dy[n, out] * W[out, in]
    data_grad.m = n;
    data_grad.n = in_features;
    data_grad.k = out_features;
    gemm(data_grad, dy, w, dx);
  }
  if (dw) {
    GemmParams weight_grad;  // dW[out, in] = dy[n, out]^T * x[n, in]
    weight_grad.m = out_features;
    weight_grad.n = in_features;
    weight_grad.k = n;
    weight_grad.trans_a = true;
    gemm(weight_grad, dy, x, dw);
  }
  if (!dbias) return;
  // Column sums of dy, accumulated in double, walking dy row by row (its storage order).
  std::vector<double> sums(static_cast<size_t>(std::max(out_features, 0)), 0.0);
  for (int i = 0; i < n; ++i) {
    const float* row = dy + static_cast<int64_t>(i) * out_features;
    for (int j = 0; j < out_features; ++j) sums[j] += row[j];
  }
  for (int j = 0; j < out_features; ++j) dbias[j] = static_cast<float>(sums[j]);
}

}  // namespace weft::cpu
