// FP32 <-> BF16 conversion around the cuDNN BF16 convolutions (conv.cu). weft keeps every tensor
// in FP32 (master weights and activations alike); at --precision bf16 the vendor path converts a
// convolution's two operands into BF16 scratch, lets cuDNN run the pass on BF16 tensors with FP32
// accumulation, and converts the BF16 result back: the result is rounded to BF16 once, as under
// PyTorch's autocast, whose convolutions return BF16 tensors. Compiled by nvcc only.
#pragma once

#include <cstdint>

#include "kernels/cuda_vendor/context.h"

namespace weft::vendor {

// out[i] = x[i] rounded to the nearest BF16 (ties to even), for i < count; out holds 2 * count
// bytes.
void to_bf16(Context& ctx, const float* x, int64_t count, void* out);
// out[i] = the BF16 x[i] widened to FP32 (exact).
void from_bf16(Context& ctx, const void* x, int64_t count, float* out);

}  // namespace weft::vendor
