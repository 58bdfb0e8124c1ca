// CPU reference for inverted dropout, alone or after relu / leaky_relu. The keep decision for
// element i is philox_uniform_at(seed, offset, i) >= p (kernels/philox.h), so the mask is never
// stored: backward draws it again from the same (seed, offset).
// Write rule: outputs are overwritten.
#pragma once

#include "kernels/params.h"

namespace weft::cpu {

// y = keep ? x / (1 - p) : 0
void dropout_forward(const DropoutParams& p, const float* x, float* y);
// dx = keep ? dy / (1 - p) : 0
void dropout_backward(const DropoutParams& p, const float* dy, float* dx);

// y = keep ? act(x) / (1 - p) : 0, act relu or leaky_relu (FusedActivation::apply): the same
// floats as activation_forward then dropout_forward.
void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                float* y);
// dx = keep ? act'(x) (dy / (1 - p)) : 0 (FusedActivation::gradient_at_input): the same floats
// as dropout_backward then activation_backward at x.
void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                 const float* dy, float* dx);

}  // namespace weft::cpu
