// What the hand-written CUDA kernels (kernels/cuda/) support: one supports() predicate per op
// family, read by the `auto` choice (kernels/selection.h). Where a predicate says no, `auto`
// runs cuDNN/cuBLAS instead and logs why, once; where the user forced `hand`, the call throws
// weft::NotImplemented with the same reason.
//
// A predicate looks only at the op's params struct, never at pointers or the device, so the
// forward and the backward of one op (which share the struct) always get the same answer. Keep
// it that way when tightening a predicate: in particular the gemm predicate must not depend on
// the transpose flags, because a matmul's backward multiplies the transposes of its forward.
//
// Plain C++ (no CUDA), so the decision can be tested on any machine. When a hand kernel gains
// or loses a capability, this file is the one place to say so.
#pragma once

#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft {

// Convolution: any size, stride, padding and dilation (kernels/cuda/conv.h, no groups), with
// one image of the input and of the output each below 2^31 floats.
KernelSupport hand_supports(const Conv2dParams& p);
// Transposed convolution: output padding smaller than the stride in both dimensions, so that
// p.as_conv() maps the output size back to the input size exactly (kernels/cuda/conv.h), and
// that convolution supported.
KernelSupport hand_supports(const ConvTranspose2dParams& p);
// Batch normalisation: any (batch, channels, spatial).
KernelSupport hand_supports(const BatchNormParams& p);
// GEMM: any m, n, k >= 0, either transpose (kernels/cuda/gemm.h).
KernelSupport hand_supports(const GemmParams& p);
// Linear layer [n, in] -> [n, out]: any sizes (it is three GEMMs).
KernelSupport hand_supports_linear(int n, int in_features, int out_features);

}  // namespace weft
