// CPU optimizer updates (see optim.h for the formulas). Plain loops over the parameter's
// elements, parallel with OpenMP for large tensors.
#include "kernels/cpu/optim.h"

#include <cmath>

namespace weft::cpu {

void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer) {
  const float lr = s.device_scalars != nullptr ? s.device_scalars[0] : s.lr;
#pragma omp parallel for if (s.count > 65536)
  for (int64_t i = 0; i < s.count; ++i) {
    float g = grad[i] + s.weight_decay * param[i];
    if (s.momentum != 0.0f) {
      const float buf = s.first_step ? g
                                     : s.momentum * momentum_buffer[i] + (1.0f - s.dampening) * g;
      momentum_buffer[i] = buf;
      g = s.nesterov ? g + s.momentum * buf : buf;
    }
    param[i] -= lr * g;
  }
}

void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq) {
  const AdamScalars a = s.device_scalars != nullptr
                            ? AdamScalars{s.device_scalars[0], s.device_scalars[1],
                                          s.device_scalars[2]}
                            : adam_scalars(s);
  const float step_size = a.step_size, bias2_sqrt = a.bias2_sqrt, decay = a.decay;
  const float l2 = s.decoupled_weight_decay ? 0.0f : s.weight_decay;
#pragma omp parallel for if (s.count > 65536)
  for (int64_t i = 0; i < s.count; ++i) {
    const float g = grad[i] + l2 * param[i];
    const float m = s.beta1 * exp_avg[i] + (1.0f - s.beta1) * g;
    const float v = s.beta2 * exp_avg_sq[i] + (1.0f - s.beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] * decay - step_size * m / (std::sqrt(v) / bias2_sqrt + s.eps);
  }
}

}  // namespace weft::cpu
