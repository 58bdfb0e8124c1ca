// Convolutions that are matrix products: a window that covers the whole unpadded input, so the
// output is 1 x 1 (the DCGAN discriminator's last layer: 512 x 4 x 4 -> 1, and, seen from its
// transposed side, the generator's first: 100 x 1 x 1 -> 512 x 4 x 4). Described in
// conv_full_window.cu. Device pointers; work queued on `stream`; outputs overwritten.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Whether p's window is its whole input: kernel = input size, no padding, no dilation (the
// stride then does not matter: there is one output position).
bool full_window(const Conv2dParams& p);

// Floats of workspace each of the three passes below may need (the GEMM's split-K slices).
int64_t full_window_workspace_floats(const Conv2dParams& p);

// y[N, O] = act(x[N, C*KH*KW] w[O, C*KH*KW]^T + bias[O]).
void full_window_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y, float* workspace, cudaStream_t stream);

// dx[N, C*KH*KW] = dy[N, O] w[O, C*KH*KW] (+ in_bias[c] over each input channel's KH*KW values,
// for the transposed convolution's forward; may be null).
void full_window_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                               const float* in_bias, float* dx, float* workspace,
                               cudaStream_t stream);

// dw[O, C*KH*KW] = dy[N, O]^T x[N, C*KH*KW] (the bias gradient is the caller's).
void full_window_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                 float* workspace, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
