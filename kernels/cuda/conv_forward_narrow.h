// The convolution's forward for narrow layers: few output channels and a filter that fits in
// shared memory, over large maps (the shoe-pair CNNs' layers: 3, 6, 4 or 8 channels in, 4, 8 or
// 16 out, 5 x 5, over 42 images of up to 448 x 224). There the implicit GEMM of conv.cu fills
// a 64-row tile with 4 output channels, and cuDNN took 1.05 ms for the first layer on an H200
// (2.4 TFLOP/s). This kernel keeps the whole filter in shared memory and gives each thread a
// strip of output pixels of a few channels, its input row window in registers. conv.cu calls it
// at FP32 when narrow_forward_applies(); described in conv_forward_narrow.cu.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Whether the narrow forward takes p: at most 16 output channels, a filter of at most 4096
// floats (out_channels * in_channels * kernel_h * kernel_w), a kernel width of 3, 4, 5 or 7,
// stride and dilation 1 along the width (any along the height), and every offset within int.
bool narrow_forward_applies(const Conv2dParams& p);

// y = act(conv(x, w) + bias) (bias may be null); overwrites y. `rounding`: the operands rounded
// as a tensor core at tf32 or bf16 would read them (none at fp32).
void conv2d_forward_narrow(const Conv2dParams& p, const float* x, const float* w,
                           const float* bias, float* y, cudaStream_t stream,
                           OperandRounding rounding = OperandRounding::none);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
