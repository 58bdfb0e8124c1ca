// The direct-loop definitions of convolution and transposed convolution (conv.h). Each op
// enumerates its taps, the (x, w, y) index triples of the products it is made of, once; the
// forward and both backwards are then three readings of the same list of products.
#include "kernels/reference/conv.h"

#include <cstdint>

namespace weft::reference {

namespace {

// Calls tap(x_index, w_index, y_index) for every product x * w that the convolution's output
// contains, in the order n, o, oh, ow, c, kh, kw; taps that land in the padding are skipped.
template <typename Tap>
void for_each_conv_tap(const Conv2dParams& p, Tap tap) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  for (int n = 0; n < p.batch; ++n)
    for (int o = 0; o < p.out_channels; ++o)
      for (int oh = 0; oh < oh_size; ++oh)
        for (int ow = 0; ow < ow_size; ++ow) {
          const int64_t y_index = ((int64_t{n} * p.out_channels + o) * oh_size + oh) * ow_size + ow;
          for (int c = 0; c < p.in_channels; ++c)
            for (int kh = 0; kh < p.kernel_h; ++kh) {
              const int ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
              if (ih < 0 || ih >= p.in_h) continue;
              for (int kw = 0; kw < p.kernel_w; ++kw) {
                const int iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (iw < 0 || iw >= p.in_w) continue;
                const int64_t x_index =
                    ((int64_t{n} * p.in_channels + c) * p.in_h + ih) * p.in_w + iw;
                const int64_t w_index =
                    ((int64_t{o} * p.in_channels + c) * p.kernel_h + kh) * p.kernel_w + kw;
                tap(x_index, w_index, y_index);
              }
            }
        }
}

// The transposed convolution's scatter: input cell x[n, c, h, w] times w[c, o, kh, kw] lands on
// y[n, o, h * sh - ph + kh * dh, w * sw - pw + kw * dw]; products that land outside y are
// dropped.
template <typename Tap>
void for_each_conv_transpose_tap(const ConvTranspose2dParams& p, Tap tap) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  for (int n = 0; n < p.batch; ++n)
    for (int c = 0; c < p.in_channels; ++c)
      for (int h = 0; h < p.in_h; ++h)
        for (int w = 0; w < p.in_w; ++w) {
          const int64_t x_index = ((int64_t{n} * p.in_channels + c) * p.in_h + h) * p.in_w + w;
          for (int o = 0; o < p.out_channels; ++o)
            for (int kh = 0; kh < p.kernel_h; ++kh) {
              const int oh = h * p.stride_h - p.pad_h + kh * p.dilation_h;
              if (oh < 0 || oh >= oh_size) continue;
              for (int kw = 0; kw < p.kernel_w; ++kw) {
                const int ow = w * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (ow < 0 || ow >= ow_size) continue;
                const int64_t y_index =
                    ((int64_t{n} * p.out_channels + o) * oh_size + oh) * ow_size + ow;
                const int64_t w_index =
                    ((int64_t{c} * p.out_channels + o) * p.kernel_h + kh) * p.kernel_w + kw;
                tap(x_index, w_index, y_index);
              }
            }
        }
}

void set_zero(double* out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = 0.0;
}

// y = bias[o] on every output element of channel o (zero without a bias), in layout
// [batch, channels, plane].
void start_with_bias(const float* bias, int batch, int channels, int64_t plane, double* y) {
  for (int64_t i = 0; i < int64_t{batch} * channels * plane; ++i) {
    y[i] = bias != nullptr ? double{bias[(i / plane) % channels]} : 0.0;
  }
}

// dbias[o] = the sum of dy over channel o, in layout [batch, channels, plane].
void sum_per_channel(const float* dy, int batch, int channels, int64_t plane, double* dbias) {
  set_zero(dbias, channels);
  for (int64_t i = 0; i < int64_t{batch} * channels * plane; ++i) {
    dbias[(i / plane) % channels] += dy[i];
  }
}

int64_t conv_x_count(const Conv2dParams& p) {
  return int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
}
int64_t conv_w_count(const Conv2dParams& p) {
  return int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w;
}
int64_t conv_transpose_x_count(const ConvTranspose2dParams& p) {
  return int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
}
int64_t conv_transpose_w_count(const ConvTranspose2dParams& p) {
  return int64_t{p.in_channels} * p.out_channels * p.kernel_h * p.kernel_w;
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    double* y) {
  start_with_bias(bias, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), y);
  for_each_conv_tap(p, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += double{x[xi]} * w[wi]; });
  if (!p.activation.active()) return;
  const double slope = p.activation.kind == FusedActivation::Kind::relu ? 0.0 : p.activation.alpha;
  for (int64_t i = 0; i < p.output_count(); ++i) y[i] = y[i] > 0.0 ? y[i] : slope * y[i];
}

void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, double* dx) {
  set_zero(dx, conv_x_count(p));
  for_each_conv_tap(p,
                    [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += double{dy[yi]} * w[wi]; });
}

void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, double* dw,
                            double* dbias) {
  set_zero(dw, conv_w_count(p));
  for_each_conv_tap(p,
                    [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += double{x[xi]} * dy[yi]; });
  if (dbias != nullptr) {
    sum_per_channel(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
  }
}

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, double* y) {
  start_with_bias(bias, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), y);
  for_each_conv_transpose_tap(
      p, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += double{x[xi]} * w[wi]; });
}

void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    double* dx) {
  set_zero(dx, conv_transpose_x_count(p));
  for_each_conv_transpose_tap(
      p, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += double{dy[yi]} * w[wi]; });
}

void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, double* dw, double* dbias) {
  set_zero(dw, conv_transpose_w_count(p));
  for_each_conv_transpose_tap(
      p, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += double{x[xi]} * dy[yi]; });
  if (dbias != nullptr) {
    sum_per_channel(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
  }
}

}  // namespace weft::reference
