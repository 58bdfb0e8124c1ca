// Params structs (kernels/params.h) of the shapes tests use most: a convolution with a square
// kernel and the same stride and padding along both axes, and a pool of square windows.
#pragma once

#include "kernels/params.h"

namespace weft::test {

inline Conv2dParams square_conv(int batch, int in_channels, int in_h, int in_w, int out_channels,
                                int kernel, int pad, int stride = 1) {
  Conv2dParams c;
  c.batch = batch;
  c.in_channels = in_channels;
  c.in_h = in_h;
  c.in_w = in_w;
  c.out_channels = out_channels;
  c.kernel_h = c.kernel_w = kernel;
  c.stride_h = c.stride_w = stride;
  c.pad_h = c.pad_w = pad;
  return c;
}

inline Pool2dParams square_pool(int batch, int channels, int in_h, int in_w, int kernel,
                                int stride, int pad) {
  Pool2dParams p;
  p.batch = batch;
  p.channels = channels;
  p.in_h = in_h;
  p.in_w = in_w;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

// The non-overlapping pool of `window` x `window` cells (stride = window, no padding) over the
// output of convolution c.
inline Pool2dParams pool_over(const Conv2dParams& c, int window) {
  return square_pool(c.batch, c.out_channels, c.out_h(), c.out_w(), window, window, 0);
}

}  // namespace weft::test
