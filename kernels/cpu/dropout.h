// CPU reference for inverted dropout, alone or after relu / leaky_relu. The keep decision for
// element i is philox_uniform_at(seed, offset, i) >= p (kernels/philox.h), so the mask is never
// stored: backward draws it again from the same (seed, offset).
// Write rule: outputs are overwritten.
#pragma once

#include <cstdint>

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

// The Philox words the kernels above draw for 8 consecutive counters first_counter .. + 7,
// words[w][l] = word w of philox4x32_10(first_counter + l, seed): by the generic lane loops
// (avx2 false) or by the AVX2 intrinsics (avx2 true; only where philox_avx2_available()). For
// tests, which hold both to philox4x32_10 on any machine that has AVX2.
void philox_lanes_for_test(uint64_t first_counter, uint64_t seed, bool avx2,
                           uint32_t (&words)[4][8]);
bool philox_avx2_available();

}  // namespace weft::cpu
