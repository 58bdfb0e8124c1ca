// Winograd F(2x2, 3x3) convolutions for the hand CPU backend: the 3x3, stride-1 layers of the
// residual nets and VGG-style CNNs (kernels/cpu/conv.cpp takes them when conv_algorithm() says
// so; conv_direct.h holds that choice).
//
// The idea (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): split the
// output into 2x2 tiles. Each tile is computed from the 4x4 input patch under it as
//
//   y_tile = A^T [ (G w G^T) (.) (B^T d B) ] A          ((.) is the elementwise product)
//
// with fixed 4x4, 4x3 and 4x2 matrices B, G, A. The 16 products (.) summed over input channels
// are 16 independent matrix products, so a convolution becomes
//
//   U[k] = (G w G^T)[k]    [O, C]        the weights, transformed once per call
//   V[k] = (B^T d B)[k]    [C, tiles]    the input patches, transformed
//   M[k] = U[k] V[k]       [O, tiles]    16 SGEMMs (OpenBLAS), k = 0..15
//   y    = A^T M A                       each tile's 2x2 outputs
//
// and needs 16 multiply-adds per 4 outputs per channel pair, where the direct sum needs 36:
// 2.25x fewer. The backwards are the same products transposed (derived from the forward by the
// chain rule, tile by tile; every output belongs to exactly one tile, so they are exact too):
//
//   backward-data    Z[k] = (A dy A^T)[k]   dV[k] = U[k]^T Z[k]   dx += B dV B^T (patches overlap)
//   backward-filter  dU[k] = sum over tiles of Z[k] V[k]^T        dw = G^T dU G
//
// The batch's tiles are cut into blocks of a few hundred, and each thread transforms a block,
// multiplies it and transforms it back while it is still in its L2 cache (conv_winograd.cpp).
// Results differ from the direct sum by rounding only (a few ulp of the largest partial
// sums; the op table checks them against kernels/reference).
#pragma once

#include "kernels/params.h"

namespace weft::cpu::winograd {

// Whether F(2x2, 3x3) applies: a 3x3 kernel at stride 1 and dilation 1.
bool applies(const Conv2dParams& p);

// Same contracts as conv2d_forward / _backward_data / _backward_filter (kernels/cpu/conv.h):
// every function overwrites its outputs; forward adds the bias (if any) and applies
// p.activation; backward_filter writes dw only (the caller sums dbias).
void forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y);
void backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx);
void backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw);

}  // namespace weft::cpu::winograd
