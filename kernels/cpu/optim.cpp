// CPU optimizer updates (see optim.h for the formulas). Plain loops over the parameter's
// elements, parallel with OpenMP for large tensors.
//
// Vectorised: every scalar of the step is copied into a local first (read through the step's
// reference, a float field could alias the float arrays being written, so the compiler reloaded
// it per element and kept the loops scalar), SGD's variants are separate loops with no branch
// inside, and Adam's square root compiles without errno (CMakeLists.txt: -fno-math-errno for this
// file). The loops are built once per x86-64 vector width (WEFT_CPU_CLONES), without contraction
// into FMA (-ffp-contract=off, same place): the arithmetic per element is unchanged, so the
// results are the same bit for bit on every processor.
#include "kernels/cpu/optim.h"

#include <cmath>
#include <cstdint>

#include "kernels/cpu/cpu_support.h"

namespace weft::cpu {
namespace {

constexpr int64_t kParallelCount = 65536;

// param -= lr * (grad + wd * param)
WEFT_CPU_CLONES void sgd_plain(int64_t count, float lr, float wd, float* param,
                               const float* grad) {
#pragma omp parallel for if (count > kParallelCount)
  for (int64_t i = 0; i < count; ++i) {
    const float g = grad[i] + wd * param[i];
    param[i] -= lr * g;
  }
}

// The momentum variants; first_step: buf = g (PyTorch's first step), else the running update.
WEFT_CPU_CLONES void sgd_momentum(int64_t count, float lr, float wd, float momentum,
                                  float dampening, bool first_step, bool nesterov, float* param,
                                  const float* grad, float* buffer) {
  const float keep = 1.0f - dampening;
  if (first_step) {
#pragma omp parallel for if (count > kParallelCount)
    for (int64_t i = 0; i < count; ++i) {
      const float g = grad[i] + wd * param[i];
      buffer[i] = g;
      param[i] -= lr * (nesterov ? g + momentum * g : g);
    }
    return;
  }
  if (nesterov) {
#pragma omp parallel for if (count > kParallelCount)
    for (int64_t i = 0; i < count; ++i) {
      const float g = grad[i] + wd * param[i];
      const float buf = momentum * buffer[i] + keep * g;
      buffer[i] = buf;
      param[i] -= lr * (g + momentum * buf);
    }
    return;
  }
#pragma omp parallel for if (count > kParallelCount)
  for (int64_t i = 0; i < count; ++i) {
    const float g = grad[i] + wd * param[i];
    const float buf = momentum * buffer[i] + keep * g;
    buffer[i] = buf;
    param[i] -= lr * buf;
  }
}

WEFT_CPU_CLONES void adam_loop(int64_t count, float beta1, float beta2, float eps, float l2,
                               float step_size, float bias2_sqrt, float decay, float* param,
                               const float* grad, float* exp_avg, float* exp_avg_sq) {
  const float keep1 = 1.0f - beta1, keep2 = 1.0f - beta2;
#pragma omp parallel for if (count > kParallelCount)
  for (int64_t i = 0; i < count; ++i) {
    const float g = grad[i] + l2 * param[i];
    const float m = beta1 * exp_avg[i] + keep1 * g;
    const float v = beta2 * exp_avg_sq[i] + keep2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] * decay - step_size * m / (std::sqrt(v) / bias2_sqrt + eps);
  }
}

}  // namespace

void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer) {
  const float lr = s.device_scalars != nullptr ? s.device_scalars[0] : s.lr;
  if (s.momentum == 0.0f) {
    sgd_plain(s.count, lr, s.weight_decay, param, grad);
    return;
  }
  sgd_momentum(s.count, lr, s.weight_decay, s.momentum, s.dampening, s.first_step, s.nesterov,
               param, grad, momentum_buffer);
}

void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq) {
  const AdamScalars a = s.device_scalars != nullptr
                            ? AdamScalars{s.device_scalars[0], s.device_scalars[1],
                                          s.device_scalars[2]}
                            : adam_scalars(s);
  const float l2 = s.decoupled_weight_decay ? 0.0f : s.weight_decay;
  adam_loop(s.count, s.beta1, s.beta2, s.eps, l2, a.step_size, a.bias2_sqrt, a.decay, param,
            grad, exp_avg, exp_avg_sq);
}

}  // namespace weft::cpu
