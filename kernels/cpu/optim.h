// CPU reference for the optimizer updates: one fused loop per parameter tensor that reads the
// gradient once and updates the parameter and its state in place. The formulas are PyTorch's
// (torch.optim.SGD, Adam, AdamW) so a run can be compared step for step.
#pragma once

#include "kernels/backend.h"

namespace weft::cpu {

// SGD with momentum, dampening, Nesterov and L2 weight decay:
//   g = grad + wd * param
//   buf = first_step ? g : momentum * buf + (1 - dampening) * g       (when momentum != 0)
//   g = nesterov ? g + momentum * buf : buf
//   param -= lr * g
void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer);

// Adam (L2 weight decay added to the gradient) or AdamW (decoupled: param *= 1 - lr * wd):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   param -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq);

}  // namespace weft::cpu
