// Hand-written CUDA kernels for the optimizer updates (declared in optim.h).
//
// Both are map kernels (for_each_kernel in common.h): thread t of the grid updates elements
// t, t + T, ... of the parameter, reading param, grad and the state once and writing param and
// state once, so an update costs one pass over memory. No shared memory; any count.
// Everything that depends only on the step number (Adam's bias corrections, AdamW's decay
// factor) is computed once on the host, in the same precision and order as the CPU reference,
// so emulated runs match it exactly and GPU runs within rounding (nvcc may fuse a multiply and
// an add into one FMA).
#include "kernels/cuda/optim.h"

#include <cmath>

#include "kernels/cuda/common.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

struct SgdKernel {
  float lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
  float* param;
  const float* grad;
  float* momentum_buffer;
  __device__ void operator()(int64_t i) const {
    float g = grad[i] + weight_decay * param[i];
    if (momentum != 0.0f) {
      const float buf =
          first_step ? g : momentum * momentum_buffer[i] + (1.0f - dampening) * g;
      momentum_buffer[i] = buf;
      g = nesterov ? g + momentum * buf : buf;
    }
    param[i] -= lr * g;
  }
};

struct AdamKernel {
  float beta1, beta2, eps;
  float step_size;   // lr / (1 - beta1^t)
  float bias2_sqrt;  // sqrt(1 - beta2^t)
  float decay;       // AdamW: 1 - lr * weight_decay; Adam: 1
  float l2;          // Adam: weight_decay; AdamW: 0
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  __device__ void operator()(int64_t i) const {
    const float g = grad[i] + l2 * param[i];
    const float m = beta1 * exp_avg[i] + (1.0f - beta1) * g;
    const float v = beta2 * exp_avg_sq[i] + (1.0f - beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] * decay - step_size * m / (sqrtf(v) / bias2_sqrt + eps);
  }
};

}  // namespace

void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer,
                cudaStream_t stream) {
  for_each(s.count,
           SgdKernel{s.lr, s.momentum, s.dampening, s.weight_decay, s.nesterov, s.first_step,
                     param, grad, momentum_buffer},
           stream);
}

void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq, cudaStream_t stream) {
  const double bias1 = 1.0 - std::pow(static_cast<double>(s.beta1), static_cast<double>(s.step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(s.beta2), static_cast<double>(s.step));
  AdamKernel update;
  update.beta1 = s.beta1;
  update.beta2 = s.beta2;
  update.eps = s.eps;
  update.step_size = static_cast<float>(s.lr / bias1);
  update.bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  update.decay = s.decoupled_weight_decay ? 1.0f - s.lr * s.weight_decay : 1.0f;
  update.l2 = s.decoupled_weight_decay ? 0.0f : s.weight_decay;
  update.param = param;
  update.grad = grad;
  update.exp_avg = exp_avg;
  update.exp_avg_sq = exp_avg_sq;
  for_each(s.count, update, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
