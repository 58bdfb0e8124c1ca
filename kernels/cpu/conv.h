// CPU reference for 2-d convolution and transposed convolution (forward, backward-data,
// backward-filter). im2col + OpenBLAS SGEMM, processed in chunks of images so the column
// buffer stays bounded. Transposed convolution is built from the convolution's pieces
// (Caffe's DeconvolutionLayer does the same): its forward is conv backward-data, its
// backward-data is conv forward, its backward-filter is conv backward-filter with the roles of
// input and output-gradient exchanged.
//
// Write rule: every function *overwrites* its outputs (=), it never accumulates into them.
#pragma once

#include "kernels/params.h"

namespace weft::cpu {

// y[N, O, OH, OW] = conv(x[N, C, H, W], w[O, C, KH, KW]) + bias[O]   (bias may be null)
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y);

// dx[N, C, H, W] = conv2d_forward's input gradient given dy[N, O, OH, OW]
void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx);

// dw[O, C, KH, KW] and dbias[O] (dbias may be null) given x and dy
void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias);

// dbias[c] = the sum of t[n, c, :] over the batch and the plane: a bias gradient from dy
void channel_sums(const float* t, int batch, int channels, int64_t plane, float* dbias);

// y[N, O, OH, OW] = conv_transpose(x[N, C, H, W], w[C, O, KH, KW]) + bias[O]  (bias may be null)
void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y);

// dx[N, C, H, W] given dy[N, O, OH, OW]
void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                    const float* w, float* dx);

// dw[C, O, KH, KW] and dbias[O] (may be null) given x and dy
void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias);

}  // namespace weft::cpu
