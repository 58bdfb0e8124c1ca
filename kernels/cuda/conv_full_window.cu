// Full-window convolutions as matrix products (declared in conv_full_window.h).
//
// When the window covers the whole unpadded input (KH = H, KW = W, no padding, no dilation),
// there is one output position, and with K = C * KH * KW the NCHW input of image n is row n of a
// row-major [N, K] matrix, the OIHW filter a row-major [O, K] matrix and the output [N, O]:
//
//   forward          y  = x w^T + bias        the linear layer's forward (gemm.cu)
//   backward-data    dx = dy w                a GEMM, [N, O] x [O, K]
//   backward-filter  dw = dy^T x              a GEMM, [O, N] x [N, K]
//
// Nothing is copied or reordered. The implicit-GEMM kernels of conv.cu would put all N output
// positions of one channel in one block tile and walk K = 8192 serially (the DCGAN
// discriminator's last layer, 512 x 4 x 4 -> 1: 0.99 ms on an H200, cuDNN 0.38 ms under the rules
// of kernels/cuda_vendor/conv.cu); the GEMM splits such a long K over blocks (split-K,
// gemm.cu) and adds the slices in a fixed order. Through gemm() the precision switch applies as
// for every product: FP32 FFMA, or the tensor-core kernel at tf32/bf16.
//
// The transposed convolution whose input is 1 x 1 (the DCGAN generator's first layer) has this
// convolution as its as_conv(): its forward is backward-data here, with its bias over the
// [N, C, KH * KW] result; ChannelBiasFill (by for_each: one thread per element, grid-stride, no
// shared memory) writes the bias first and the GEMM adds the product to it (beta = 1).
#include "kernels/cuda/conv_full_window.h"

#include "kernels/cuda/common.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

int64_t window(const Conv2dParams& p) {
  return int64_t{p.in_channels} * p.kernel_h * p.kernel_w;
}

// out[n, c, s] = bias[c] for the [rows, channels, plane] tensor out.
struct ChannelBiasFill {
  int64_t channels, plane;
  const float* bias;
  float* out;
  __device__ __forceinline__ void operator()(int64_t i) const {
    out[i] = bias[i / plane % channels];
  }
};

}  // namespace

bool full_window(const Conv2dParams& p) {
  return p.kernel_h == p.in_h && p.kernel_w == p.in_w && p.pad_h == 0 && p.pad_w == 0 &&
         p.dilation_h == 1 && p.dilation_w == 1 && p.batch > 0 && p.in_channels > 0 &&
         p.out_channels > 0 && window(p) < (int64_t{1} << 31);
}

int64_t full_window_workspace_floats(const Conv2dParams& p) {
  return linear_workspace_floats(p.batch, static_cast<int>(window(p)), p.out_channels);
}

void full_window_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y, float* workspace, cudaStream_t stream) {
  linear_forward(p.batch, static_cast<int>(window(p)), p.out_channels, x, w, bias, p.activation,
                 y, workspace, stream);
}

void full_window_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                               const float* in_bias, float* dx, float* workspace,
                               cudaStream_t stream) {
  GemmParams product;  // dx[N, K] = dy[N, O] * w[O, K] (+ the bias already in dx)
  product.m = p.batch;
  product.n = static_cast<int>(window(p));
  product.k = p.out_channels;
  if (in_bias != nullptr) {
    const int64_t plane = int64_t{p.kernel_h} * p.kernel_w;
    for_each(int64_t{p.batch} * window(p), ChannelBiasFill{p.in_channels, plane, in_bias, dx},
             stream);
    product.beta = 1.0f;
  }
  gemm(product, dy, w, dx, workspace, stream);
}

void full_window_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                 float* workspace, cudaStream_t stream) {
  GemmParams product;  // dw[O, K] = dy[N, O]^T * x[N, K]
  product.m = p.out_channels;
  product.n = static_cast<int>(window(p));
  product.k = p.batch;
  product.trans_a = true;
  gemm(product, dy, x, dw, workspace, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
