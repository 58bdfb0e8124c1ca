// The hand kernels' supports() predicates (hand_support.h).
#include "kernels/hand_support.h"

#include <string>

namespace weft {

KernelSupport hand_supports(const Conv2dParams&) {
  return KernelSupport::yes();
}

KernelSupport hand_supports(const ConvTranspose2dParams& p) {
  if (p.output_pad_h >= p.stride_h || p.output_pad_w >= p.stride_w) {
    return KernelSupport::no("output padding (" + std::to_string(p.output_pad_h) + ", " +
                             std::to_string(p.output_pad_w) + ") not smaller than the stride (" +
                             std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + ")");
  }
  return KernelSupport::yes();
}

KernelSupport hand_supports(const BatchNormParams&) {
  return KernelSupport::yes();
}

KernelSupport hand_supports(const GemmParams&) {
  return KernelSupport::yes();
}

KernelSupport hand_supports_linear(int, int, int) {
  return KernelSupport::yes();
}

}  // namespace weft
