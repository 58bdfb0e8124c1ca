// The executable definition of 2-d convolution and transposed convolution: direct loops over
// every output element and every kernel tap, accumulated in double, written to be read rather
// than to be fast. The kernels (kernels/cpu/, kernels/cuda/, kernels/cuda_vendor/) are tested
// against these functions; nothing in the engine calls them.
//
// Same arguments as the Backend methods of the same names (kernels/backend.h, layouts in
// kernels/params.h), except that every output is double: the unrounded value of the sum, so a
// test compares a kernel's float result with the definition rather than with another rounding.
// A null bias adds nothing; a null dbias is not computed.
#pragma once

#include "kernels/params.h"

namespace weft::reference {

// y[n, o, oh, ow] = bias[o] + sum over (c, kh, kw) of
//     x[n, c, oh * stride_h - pad_h + kh * dilation_h, ow * stride_w - pad_w + kw * dilation_w]
//     * w[o, c, kh, kw]
// where taps that land in the padding read zero, then p.activation applied (v > 0 ? v : slope v,
// slope 0 for relu and alpha for leaky_relu).
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    double* y);
// dx = the gradient of <y, dy> with respect to x: each tap sends dy * w back to the x it read.
void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, double* dx);
// dw = the gradient of <y, dy> with respect to w (each tap adds x * dy), dbias = sum of dy over
// (n, oh, ow).
void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, double* dw,
                            double* dbias);

// Transposed convolution by its own definition, a scatter (as PyTorch documents it), written
// independently of ConvTranspose2dParams::as_conv(): each input cell x[n, c, h, w] adds
// x * w[c, o, kh, kw] to y[n, o, h * stride_h - pad_h + kh * dilation_h,
// w * stride_w - pad_w + kw * dilation_w] (taps outside y are dropped), then bias[o] is added.
void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, double* y);
// dx = the gradient of <y, dy> with respect to x: each tap reads back the dy it wrote to.
void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    double* dx);
// dw = the gradient of <y, dy> with respect to w, dbias = sum of dy over (n, oh, ow).
void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, double* dw, double* dbias);

}  // namespace weft::reference
