// CPU matrix products through OpenBLAS (cblas_sgemm), and the linear layer built on them.
// Write rule: outputs are overwritten unless GemmParams::beta says otherwise.
#pragma once

#include "kernels/params.h"

namespace weft::cpu {

// Row-major C[m, n] = alpha * op(A) * op(B) + beta * C, with op(A) [m, k] and op(B) [k, n].
void gemm(const GemmParams& p, const float* a, const float* b, float* c);

// y[n, out] = act(x[n, in] * w[out, in]^T + bias[out])   (bias may be null; act is applied
// in the same pass over y as the bias)
void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, float* y, const FusedActivation& act = {});

// dx = dy * w, dw = dy^T * x, dbias = column sums of dy. Each output may be null and is
// then skipped (dw and dbias are null for frozen weights, dx for a network's input).
void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias);

}  // namespace weft::cpu
