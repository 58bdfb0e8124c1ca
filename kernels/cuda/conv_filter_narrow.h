// The convolution's backward-filter for narrow layers: few output channels, few input channels
// times kernel rows, and a long reduction over the batch's output positions (the shoe-pair
// CNNs' first layers: 3 or 6 channels in, 4 out, 5 x 5, over 42 images of 448 x 224). There the
// implicit GEMM of conv.cu is mostly padding (a 64-wide tile over 4 output channels) and its
// split of the reduction too coarse; this kernel keeps the whole filter slice of a warp in
// registers and walks the positions with the warp's lanes. conv.cu calls it at FP32 when
// narrow_filter_applies(); described in conv_filter_narrow.cu.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Whether a narrow kernel (conv_forward_narrow.cu, conv_filter_narrow.cu) that takes p should at
// `precision`: always at fp32; at tf32 and bf16 only up to 8 output channels, where at least half
// of every 16-row tensor-core tile would be padding, so the SIMT kernel with rounded operands
// does the same products with less waste.
inline bool narrow_at(MathPrecision precision, const Conv2dParams& p) {
  return precision == MathPrecision::fp32 || p.out_channels <= 8;
}

// Whether the narrow kernel takes p: at most 16 output channels, in_channels * kernel_h at most
// 64, a kernel width of 3, 4, 5 or 7, and every offset within int.
bool narrow_filter_applies(const Conv2dParams& p);

// Floats of workspace it needs: one partial dW per chunk of output rows.
int64_t narrow_filter_workspace_floats(const Conv2dParams& p);

// dw[O, C, KH, KW] from x and dy (the bias gradient is conv.cu's); overwrites dw. `rounding`:
// the operands rounded as a tensor core at tf32 or bf16 would read them (none at fp32).
void conv2d_backward_filter_narrow(const Conv2dParams& p, const float* x, const float* dy,
                                   float* dw, float* workspace, cudaStream_t stream,
                                   OperandRounding rounding = OperandRounding::none);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
