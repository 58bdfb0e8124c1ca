// CPU reference for 2-d convolution and transposed convolution.
//
// How it works: im2col turns the convolution into one matrix product. For a batch of `nb`
// images the column matrix has one row per weight tap (c, kh, kw) and one column per output
// position (image, oh, ow), so that
//
//   forward          out[O, nb*OH*OW]  = W[O, C*KH*KW]       * col[C*KH*KW, nb*OH*OW]
//   backward-data    col               = W^T                 * dY[O, nb*OH*OW]   then col2im
//   backward-filter  dW[O, C*KH*KW]   += dY[O, nb*OH*OW]     * col^T
//
// Each product is a single OpenBLAS SGEMM over a whole chunk of images (OpenBLAS threads it
// itself), and the chunk size is chosen so the temporary buffers stay under kBufferBytes.
// Because the GEMM's columns run over (image, position) while NCHW tensors store
// (image, channel, position), output and output-gradient blocks are copied between the two
// layouts. im2col, col2im and those copies are split across OpenMP threads by (image, channel),
// where every thread writes a disjoint region. These loops and OpenBLAS share one OpenMP thread
// pool when the OpenMP build of OpenBLAS is linked (see CMakeLists.txt); with the pthreads build
// the idle threads of each pool spin against the other's busy ones.
//
// Transposed convolution is the adjoint of convolution, so it reuses the functions above with
// the convolution p.as_conv() (see kernels/params.h): its forward is that convolution's
// backward-data, and so on. Only the bias terms are added separately.
//
// The forward's fused activation (Conv2dParams::activation) is applied where the bias is added,
// in the copy back to NCHW (the direct loops apply it to their output afterwards).
//
// Shapes where im2col is weak (a kernel covering the whole input; few input or output channels;
// 3x3 stride-1 layers with many channels) take the full-window or direct loops of conv_direct.h
// or Winograd (conv_winograd.h) instead, chosen per call and pass by conv_algorithm().
//
// Write rule: every function overwrites its outputs.
#include "kernels/cpu/conv.h"

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/cpu_support.h"
#include "kernels/cpu/lane_sum.h"

namespace weft::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a parallel region costs more
// than the work saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// Upper bound on the temporary buffers of one call (column matrix plus the output block).
// A single image that needs more still gets processed, alone.
constexpr int64_t kBufferBytes = int64_t{32} << 20;

// The column matrix and output block of one call (cpu_support.h).
thread_local Scratch column_scratch, block_scratch;

// The output positions o in [0, out_size) whose input position o * stride + offset falls inside
// [0, in_size) form one interval [*lo, *hi); everything outside it reads padding.
void valid_output_range(int out_size, int in_size, int stride, int offset, int* lo, int* hi) {
  // o * stride + offset >= 0  <=>  o >= ceil(-offset / stride)
  int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // o * stride + offset <= in_size - 1  <=>  o <= floor((in_size - 1 - offset) / stride)
  int end = in_size - 1 - offset < 0 ? 0 : (in_size - 1 - offset) / stride + 1;
  first = std::min(first, out_size);
  end = std::clamp(end, first, out_size);
  *lo = first;
  *hi = end;
}

// Fills the KH*KW rows of the column matrix that belong to one input channel plane.
// Row (kh, kw) starts at col + (kh * KW + kw) * ld and holds OH*OW values; ld is the row length
// of the whole column matrix, which is wider than OH*OW when it holds several images.
void im2col_channel(const Conv2dParams& p, const float* plane, float* col, int64_t ld) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  for (int kh = 0; kh < p.kernel_h; ++kh) {
    for (int kw = 0; kw < p.kernel_w; ++kw) {
      float* row = col + (kh * p.kernel_w + kw) * ld;
      const int h_offset = kh * p.dilation_h - p.pad_h;
      const int w_offset = kw * p.dilation_w - p.pad_w;
      int ow_lo = 0, ow_hi = 0;
      valid_output_range(ow_size, p.in_w, p.stride_w, w_offset, &ow_lo, &ow_hi);
      for (int oh = 0; oh < oh_size; ++oh) {
        float* out = row + static_cast<int64_t>(oh) * ow_size;
        const int ih = oh * p.stride_h + h_offset;
        if (ih < 0 || ih >= p.in_h) {
          std::fill(out, out + ow_size, 0.0f);
          continue;
        }
        const float* in_row = plane + static_cast<int64_t>(ih) * p.in_w;
        std::fill(out, out + ow_lo, 0.0f);
        if (p.stride_w == 1) {  // a contiguous run of the input row
          std::copy(in_row + ow_lo + w_offset, in_row + ow_hi + w_offset, out + ow_lo);
        } else {
          for (int ow = ow_lo; ow < ow_hi; ++ow) out[ow] = in_row[ow * p.stride_w + w_offset];
        }
        std::fill(out + ow_hi, out + ow_size, 0.0f);
      }
    }
  }
}

// The adjoint of im2col_channel: overwrites one input-sized plane with the sum, over all kernel
// taps, of the column entries that were read from each input cell.
void col2im_channel(const Conv2dParams& p, const float* col, int64_t ld, float* plane) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  std::fill(plane, plane + static_cast<int64_t>(p.in_h) * p.in_w, 0.0f);
  for (int kh = 0; kh < p.kernel_h; ++kh) {
    for (int kw = 0; kw < p.kernel_w; ++kw) {
      const float* row = col + (kh * p.kernel_w + kw) * ld;
      const int h_offset = kh * p.dilation_h - p.pad_h;
      const int w_offset = kw * p.dilation_w - p.pad_w;
      int ow_lo = 0, ow_hi = 0;
      valid_output_range(ow_size, p.in_w, p.stride_w, w_offset, &ow_lo, &ow_hi);
      for (int oh = 0; oh < oh_size; ++oh) {
        const int ih = oh * p.stride_h + h_offset;
        if (ih < 0 || ih >= p.in_h) continue;
        const float* in = row + static_cast<int64_t>(oh) * ow_size;
        float* out_row = plane + static_cast<int64_t>(ih) * p.in_w;
        if (p.stride_w == 1) {  // contiguous: a loop the compiler vectorises
          float* out_run = out_row + w_offset;
          for (int ow = ow_lo; ow < ow_hi; ++ow) out_run[ow] += in[ow];
        } else {
          for (int ow = ow_lo; ow < ow_hi; ++ow) out_row[ow * p.stride_w + w_offset] += in[ow];
        }
      }
    }
  }
}

// Column matrix [C*KH*KW, nb*OH*OW] of images x[0 .. nb).
void im2col_chunk(const Conv2dParams& p, const float* x, int nb, float* col) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t ld = nb * out_plane;
  const int64_t taps = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
  const int64_t work = p.in_channels * taps * ld;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelThreshold)
  for (int n = 0; n < nb; ++n) {
    for (int c = 0; c < p.in_channels; ++c) {
      const float* plane = x + (static_cast<int64_t>(n) * p.in_channels + c) * in_plane;
      im2col_channel(p, plane, col + c * taps * ld + n * out_plane, ld);
    }
  }
}

// Overwrites images dx[0 .. nb) from the column matrix (the adjoint of im2col_chunk).
void col2im_chunk(const Conv2dParams& p, const float* col, int nb, float* dx) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t ld = nb * out_plane;
  const int64_t taps = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
  const int64_t work = p.in_channels * taps * ld;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelThreshold)
  for (int n = 0; n < nb; ++n) {
    for (int c = 0; c < p.in_channels; ++c) {
      float* plane = dx + (static_cast<int64_t>(n) * p.in_channels + c) * in_plane;
      col2im_channel(p, col + c * taps * ld + n * out_plane, ld, plane);
    }
  }
}

// NCHW block t[nb, channels, plane]  ->  matrix m[channels, nb*plane].
void nchw_to_channel_major(const float* t, int nb, int channels, int64_t plane, float* m) {
  const int64_t ld = nb * plane;
#pragma omp parallel for collapse(2) schedule(static) if (channels * ld > kParallelThreshold)
  for (int n = 0; n < nb; ++n) {
    for (int c = 0; c < channels; ++c) {
      const float* src = t + (static_cast<int64_t>(n) * channels + c) * plane;
      std::copy(src, src + plane, m + c * ld + n * plane);
    }
  }
}

// Matrix m[channels, nb*plane]  ->  NCHW block t[nb, channels, plane], adding bias[c] if given
// and applying the fused activation `act`.
void channel_major_to_nchw(const float* m, int nb, int channels, int64_t plane, const float* bias,
                           FusedActivation act, float* t) {
  const int64_t ld = nb * plane;
#pragma omp parallel for collapse(2) schedule(static) if (channels * ld > kParallelThreshold)
  for (int n = 0; n < nb; ++n) {
    for (int c = 0; c < channels; ++c) {
      const float* src = m + c * ld + n * plane;
      float* dst = t + (static_cast<int64_t>(n) * channels + c) * plane;
      const float b = bias ? bias[c] : 0.0f;
      if (act.active()) {
        for (int64_t i = 0; i < plane; ++i) dst[i] = act.apply(src[i] + b);
      } else {
        for (int64_t i = 0; i < plane; ++i) dst[i] = src[i] + b;
      }
    }
  }
}

// y = act(y) in place, for the paths that write y from their own accumulators.
void apply_activation(FusedActivation act, int64_t count, float* y) {
  if (!act.active()) return;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) y[i] = act.apply(y[i]);
}

// t[n, c, :] += bias[c]
void add_channel_bias(const float* bias, int batch, int channels, int64_t plane, float* t) {
  const int64_t work = static_cast<int64_t>(batch) * channels * plane;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelThreshold)
  for (int n = 0; n < batch; ++n) {
    for (int c = 0; c < channels; ++c) {
      float* dst = t + (static_cast<int64_t>(n) * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] += bias[c];
    }
  }
}

}  // namespace

// Accumulated in double (lane_sum.h).
void channel_sums(const float* t, int batch, int channels, int64_t plane, float* dbias) {
  const int64_t work = static_cast<int64_t>(batch) * channels * plane;
#pragma omp parallel for schedule(static) if (work > kParallelThreshold)
  for (int c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int n = 0; n < batch; ++n) {
      sum += sum_run(plane, t + (static_cast<int64_t>(n) * channels + c) * plane);
    }
    dbias[c] = static_cast<float>(sum);
  }
}

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t rows = static_cast<int64_t>(p.in_channels) * p.kernel_h * p.kernel_w;
  if (p.batch <= 0 || out_plane <= 0 || p.out_channels <= 0) return;
  switch (conv_algorithm(p, ConvPass::forward)) {
    case ConvAlgorithm::full_window:
      direct::full_window_forward(p, x, w, bias, y);
      apply_activation(p.activation, p.output_count(), y);
      return;
    case ConvAlgorithm::direct:
      direct::forward(p, x, w, bias, y);
      apply_activation(p.activation, p.output_count(), y);
      return;
    case ConvAlgorithm::winograd:
      winograd::forward(p, x, w, bias, y);
      return;
    case ConvAlgorithm::im2col:
      break;
  }

  const int chunk = images_per_chunk((rows + p.out_channels) * out_plane, p.batch, kBufferBytes);
  float* col = column_scratch.floats(rows * chunk * out_plane);
  float* out = block_scratch.floats(static_cast<int64_t>(p.out_channels) * chunk * out_plane);
  for (int n0 = 0; n0 < p.batch; n0 += chunk) {
    const int nb = std::min(chunk, p.batch - n0);
    const int64_t ld = nb * out_plane;
    im2col_chunk(p, x + static_cast<int64_t>(n0) * p.in_channels * in_plane, nb, col);
    // out[O, ld] = W[O, rows] * col[rows, ld]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.out_channels, static_cast<int>(ld),
                static_cast<int>(rows), 1.0f, w, static_cast<int>(rows), col,
                static_cast<int>(ld), 0.0f, out, static_cast<int>(ld));
    channel_major_to_nchw(out, nb, p.out_channels, out_plane, bias, p.activation,
                          y + static_cast<int64_t>(n0) * p.out_channels * out_plane);
  }
}

void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t rows = static_cast<int64_t>(p.in_channels) * p.kernel_h * p.kernel_w;
  if (p.batch <= 0) return;
  if (out_plane <= 0 || p.out_channels <= 0) {
    std::fill(dx, dx + static_cast<int64_t>(p.batch) * p.in_channels * in_plane, 0.0f);
    return;
  }
  switch (conv_algorithm(p, ConvPass::backward_data)) {
    case ConvAlgorithm::full_window:
      direct::full_window_backward_data(p, dy, w, dx);
      return;
    case ConvAlgorithm::direct:
      direct::backward_data(p, dy, w, dx);
      return;
    case ConvAlgorithm::winograd:
      winograd::backward_data(p, dy, w, dx);
      return;
    case ConvAlgorithm::im2col:
      break;
  }

  const int chunk = images_per_chunk((rows + p.out_channels) * out_plane, p.batch, kBufferBytes);
  float* col = column_scratch.floats(rows * chunk * out_plane);
  float* dy_block = block_scratch.floats(static_cast<int64_t>(p.out_channels) * chunk * out_plane);
  for (int n0 = 0; n0 < p.batch; n0 += chunk) {
    const int nb = std::min(chunk, p.batch - n0);
    const int64_t ld = nb * out_plane;
    const float* dy_chunk = dy + static_cast<int64_t>(n0) * p.out_channels * out_plane;
    nchw_to_channel_major(dy_chunk, nb, p.out_channels, out_plane, dy_block);
    // col[rows, ld] = W^T[rows, O] * dY[O, ld]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(rows),
                static_cast<int>(ld), p.out_channels, 1.0f, w, static_cast<int>(rows),
                dy_block, static_cast<int>(ld), 0.0f, col, static_cast<int>(ld));
    col2im_chunk(p, col, nb, dx + static_cast<int64_t>(n0) * p.in_channels * in_plane);
  }
}

void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t rows = static_cast<int64_t>(p.in_channels) * p.kernel_h * p.kernel_w;
  if (p.out_channels <= 0) return;
  if (p.batch <= 0 || out_plane <= 0) {
    if (dbias) channel_sums(dy, std::max(p.batch, 0), p.out_channels, out_plane, dbias);
    std::fill(dw, dw + static_cast<int64_t>(p.out_channels) * rows, 0.0f);
    return;
  }
  const ConvAlgorithm algorithm = conv_algorithm(p, ConvPass::backward_filter);
  // The direct loop sums dbias in its own pass over dy; the others leave it to channel_sums.
  if (dbias && algorithm != ConvAlgorithm::direct) {
    channel_sums(dy, p.batch, p.out_channels, out_plane, dbias);
  }
  switch (algorithm) {
    case ConvAlgorithm::full_window:
      direct::full_window_backward_filter(p, x, dy, dw);
      return;
    case ConvAlgorithm::direct:
      direct::backward_filter(p, x, dy, dw, dbias);
      return;
    case ConvAlgorithm::winograd:
      winograd::backward_filter(p, x, dy, dw);
      return;
    case ConvAlgorithm::im2col:
      break;
  }

  const int chunk = images_per_chunk((rows + p.out_channels) * out_plane, p.batch, kBufferBytes);
  float* col = column_scratch.floats(rows * chunk * out_plane);
  float* dy_block = block_scratch.floats(static_cast<int64_t>(p.out_channels) * chunk * out_plane);
  for (int n0 = 0; n0 < p.batch; n0 += chunk) {
    const int nb = std::min(chunk, p.batch - n0);
    const int64_t ld = nb * out_plane;
    im2col_chunk(p, x + static_cast<int64_t>(n0) * p.in_channels * in_plane, nb, col);
    const float* dy_chunk = dy + static_cast<int64_t>(n0) * p.out_channels * out_plane;
    nchw_to_channel_major(dy_chunk, nb, p.out_channels, out_plane, dy_block);
    // dW[O, rows] (+)= dY[O, ld] * col^T[ld, rows]; the first chunk overwrites (beta = 0).
    const float beta = n0 == 0 ? 0.0f : 1.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.out_channels, static_cast<int>(rows),
                static_cast<int>(ld), 1.0f, dy_block, static_cast<int>(ld), col,
                static_cast<int>(ld), beta, dw, static_cast<int>(rows));
  }
}

// Transposed convolution y = A^T x, where A is the convolution c = p.as_conv() with weights w:
// the transposed convolution's IOHW weights are exactly that convolution's OIHW weights.
// as_conv() maps our output size back to our input size only when output padding is smaller
// than the stride (PyTorch requires the same).

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y) {
  const Conv2dParams c = p.as_conv();
  assert(c.out_h() == p.in_h && c.out_w() == p.in_w);
  conv2d_backward_data(c, x, w, y);
  if (bias) {
    add_channel_bias(bias, p.batch, p.out_channels, static_cast<int64_t>(p.out_h()) * p.out_w(), y);
  }
}

void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    float* dx) {
  const Conv2dParams c = p.as_conv();
  assert(c.out_h() == p.in_h && c.out_w() == p.in_w);
  conv2d_forward(c, dy, w, nullptr, dx);
}

void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias) {
  const Conv2dParams c = p.as_conv();
  assert(c.out_h() == p.in_h && c.out_w() == p.in_w);
  // The convolution's input is our output gradient and its output gradient is our input.
  conv2d_backward_filter(c, dy, x, dw, nullptr);
  if (dbias) {
    channel_sums(dy, p.batch, p.out_channels, static_cast<int64_t>(p.out_h()) * p.out_w(), dbias);
  }
}

}  // namespace weft::cpu
