// The fused activation of a vendor call (kernels/params.h FusedActivation). cuDNN's legacy
// convolution and batch-norm calls apply none (and its activation calls have no leaky ReLU), so
// the vendor path runs weft's own elementwise kernel right after the cuDNN call, on the same
// stream: the same result as the hand path, one launch more. Included by the vendor .cu files.
#pragma once

#include <cstdint>

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda_vendor/context.h"
#include "kernels/params.h"

namespace weft::vendor {

inline Activation activation_of(const FusedActivation& act) {
  return act.kind == FusedActivation::Kind::relu ? Activation::relu : Activation::leaky_relu;
}

// y = act(y) in place (nothing without an activation).
inline void apply_fused_activation(Context& ctx, const FusedActivation& act, int64_t count,
                                   float* y) {
  if (!act.active() || count <= 0) return;
  cuda::activation_forward(activation_of(act), act.alpha, count, y, y, ctx.stream());
}

// dy times the activation's slope at the forward's output y, into `scratch` (count floats),
// which is returned; dy itself without an activation. The activation keeps the sign of its
// input, so its derivative taken at y is the one at the input.
inline const float* gradient_through_activation(Context& ctx, const FusedActivation& act,
                                                int64_t count, const float* y, const float* dy,
                                                DeviceBuffer& scratch) {
  if (!act.active() || count <= 0) return dy;
  cuda::activation_backward(activation_of(act), act.alpha, count, y, y, dy, scratch.floats(),
                            ctx.stream());
  return scratch.floats();
}

}  // namespace weft::vendor
