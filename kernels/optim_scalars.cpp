// adam_scalars (kernels/backend.h): Adam's step-dependent numbers, one definition for every
// backend and for the optimizer that stages them for a captured graph.
#include <cmath>

#include "kernels/backend.h"

namespace weft {

AdamScalars adam_scalars(const AdamStep& s) {
  const double bias1 = 1.0 - std::pow(static_cast<double>(s.beta1), static_cast<double>(s.step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(s.beta2), static_cast<double>(s.step));
  return AdamScalars{static_cast<float>(s.lr / bias1), static_cast<float>(std::sqrt(bias2)),
                     s.decoupled_weight_decay ? 1.0f - s.lr * s.weight_decay : 1.0f};
}

}  // namespace weft
