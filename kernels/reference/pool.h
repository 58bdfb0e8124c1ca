// The executable definition of max, average and global average pooling: direct loops over every
// output and every window position, accumulated in double, written to be read rather than to be
// fast. The kernels are tested against these functions; nothing in the engine calls them.
//
// Same arguments as the Backend methods of the same names (kernels/backend.h, Pool2dParams in
// kernels/params.h), except that every float output is double: the unrounded result.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace weft::reference {

// y = the largest real cell of each window, argmax = its index within the input plane
// (h * in_w + w). The window's positions are visited row by row and the first strictly larger
// value wins, so among ties the first one does; padding never wins; a NaN wins only as the
// window's first real cell. With p.activation set the cells compete as act(x): the pool of the
// activated input.
void max_pool2d_forward(const Pool2dParams& p, const float* x, double* y, int32_t* argmax);
// dx = each dy added to the cell its argmax names (overlapping windows may add several); with
// p.activation set, each winning cell's sum then multiplied by the activation's derivative read
// at its window's y (activation_backward of the unpooled gradient, which is zero elsewhere).
void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, double* dx);

// y = the window's sum of real cells divided by the number of window positions inside the
// padded input (count_include_pad) or inside the real input only.
void avg_pool2d_forward(const Pool2dParams& p, const float* x, double* y);
// dx = each dy, divided by its window's divisor, added to every real cell of the window.
void avg_pool2d_backward(const Pool2dParams& p, const float* dy, double* dx);

// y[n, c] = the mean of x[n, c, :] over `plane` values; dx[n, c, :] = dy[n, c] / plane.
void global_avg_pool_forward(int batch, int channels, int plane, const float* x, double* y);
void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, double* dx);

}  // namespace weft::reference
