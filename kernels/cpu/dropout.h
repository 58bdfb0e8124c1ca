// CPU reference for inverted dropout. The keep decision for element i is
// philox_uniform_at(seed, offset, i) >= p (kernels/philox.h), so the mask is never stored:
// backward draws it again from the same (seed, offset).
// Write rule: outputs are overwritten.
#pragma once

#include "kernels/params.h"

namespace weft::cpu {

// y = keep ? x / (1 - p) : 0
void dropout_forward(const DropoutParams& p, const float* x, float* y);
// dx = keep ? dy / (1 - p) : 0
void dropout_backward(const DropoutParams& p, const float* dy, float* dx);

}  // namespace weft::cpu
