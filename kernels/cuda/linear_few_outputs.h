// The linear layer's forward for layers of at most kFewOutputs outputs (a classifier's last
// layer, a full-window convolution to one channel), where the GEMM's block tiles would be mostly
// padding: one dot product per output, each row of x read once (linear_few_outputs.cu says which
// thread computes what). gemm.cu's linear_forward takes this path for such layers at every
// precision. Device pointers; work queued on `stream`; no workspace.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

constexpr int kFewOutputs = 16;

// Whether linear_forward_few_outputs takes this layer: 1 to kFewOutputs outputs, rows and
// in_features positive.
bool linear_has_few_outputs(int rows, int in_features, int out_features);

// y[n, out] = act(x[n, in] w[out, in]^T + bias[out]) (bias may be null), the operands rounded
// by `rounding` (none, TF32 or BF16, as the tensor cores would) and every sum in FP32.
void linear_forward_few_outputs(int n, int in_features, int out_features, const float* x,
                                const float* w, const float* bias, const FusedActivation& act,
                                OperandRounding rounding, float* y, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
