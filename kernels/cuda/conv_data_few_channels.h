// The backward-data of a convolution with few input channels (C <= 4: an image layer's input
// gradient, and the transposed convolution that writes an image, the DCGAN generator's last
// layer), at fp32, tf32 and bf16: conv.cu's tiled kernel would fill a 64-row tile with C rows,
// a tensor-core tile 16 rows with C, and the phase convolutions of a strided layer the same.
// Kernels and their thread layouts in conv_data_few_channels.cu.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// The most input channels these kernels take.
constexpr int kFewDataChannels = 4;

// Which kernel computes the sums: `phases` (one thread per pixel and all its channels, the filter
// in shared memory; the default wherever it applies) or `direct` (one thread per dx element, the
// filter read from global memory: the fallback for a kernel of more than 2048 taps or 2^31
// pixels and more; tests compare the two).
enum class FewChannelsKernel { phases, direct };

// Whether the phase kernel takes p (at most 4 input channels, at most 2048 taps per channel pair,
// fewer than 2^31 pixels): the direct kernel takes the rest at fp32 only.
bool few_channels_phases_apply(const Conv2dParams& p);

// dx = the gradient of conv(x, w) (+ bias[c] per input channel: conv_transpose2d's forward)
// with respect to x, for p.in_channels <= kFewDataChannels; overwrites dx. `rounding`: dy and w
// rounded as a tensor core at tf32 or bf16 would read them (the phase kernel only), the products
// and sums in FP32.
void conv2d_backward_data_few_channels(const Conv2dParams& p, const float* dy, const float* w,
                                       const float* bias, float* dx, cudaStream_t stream,
                                       OperandRounding rounding = OperandRounding::none,
                                       FewChannelsKernel kernel = FewChannelsKernel::phases);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
