// The convolution's forward for narrow layers: few output channels, or few taps per output
// channel, and a filter that fits in shared memory, over large maps (the shoe-pair CNNs' layers:
// 3, 6, 4 or 8 channels in, 4, 8 or 16 out, 5 x 5, over 42 images of up to 448 x 224; the first
// layers of the Fashion-MNIST and apparel CNNs: 1 or 3 channels in, 3 x 3, 32 or 64 out). There
// the implicit GEMM of conv.cu fills a 64-row tile with 4 output channels, or walks a reduction
// of 9-27 taps per 64 x 64 tile, and cuDNN did no better (1.05 ms for the stacked pair CNN's first
// layer on an H200, 2.4 TFLOP/s). This kernel keeps the whole filter in shared memory and gives
// each thread a strip of output pixels of a few channels, its input row window in registers.
// conv.cu calls it when narrow_forward_applies(), and its pooled form (a 2 x 2 max pool of the
// output, which is then never stored) for conv2d_max_pool2d; described in conv_forward_narrow.cu.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Whether the narrow forward takes p: at most 16 output channels or at most 32 taps per output
// channel (few_taps_forward), a filter of at most 4096 floats (out_channels * in_channels *
// kernel_h * kernel_w), a kernel width of 3, 4, 5 or 7, stride and dilation 1 along the width
// (any along the height), and every offset within int.
bool narrow_forward_applies(const Conv2dParams& p);

// Whether p has at most 32 taps per output channel (in_channels * kernel_h * kernel_w): there the
// forward stores 4 bytes per at most 64 flops, so it is bound by writing y, at any precision.
bool few_taps_forward(const Conv2dParams& p);

// y = act(conv(x, w) + bias) (bias may be null); overwrites y. `rounding`: the operands rounded
// as a tensor core at tf32 or bf16 would read them (none at fp32).
void conv2d_forward_narrow(const Conv2dParams& p, const float* x, const float* w,
                           const float* bias, float* y, cudaStream_t stream,
                           OperandRounding rounding = OperandRounding::none);

// Whether conv2d_forward_max_pool_narrow takes (p, pool): the narrow forward takes p, p has no
// activation, and pool is a 2 x 2 max pool of stride 2 without padding over p's output.
bool narrow_forward_max_pool_applies(const Conv2dParams& p, const Pool2dParams& pool);

// y, argmax = max_pool2d(conv(x, w) + bias) with pool.activation applied to each cell before it
// competes (kernels/params.h), without storing the convolution's output: the values, the argmax
// and the tie and NaN rules of conv2d_forward_narrow followed by max_pool2d_forward, bit for bit.
void conv2d_forward_max_pool_narrow(const Conv2dParams& p, const Pool2dParams& pool,
                                    const float* x, const float* w, const float* bias, float* y,
                                    int32_t* argmax, cudaStream_t stream,
                                    OperandRounding rounding = OperandRounding::none);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
