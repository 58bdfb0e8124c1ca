// The hand kernels' supports() predicates (hand_support.h).
#include "kernels/hand_support.h"

#include <cstdint>
#include <string>

namespace weft {

KernelSupport hand_supports(const Conv2dParams& p) {
  // The indexed operands of forward and backward-filter (kernels/cuda/conv_operands.h) hold
  // offsets within one image in an int.
  constexpr int64_t kLimit = int64_t{1} << 31;
  const int64_t in_image = int64_t{p.in_channels} * p.in_h * p.in_w;
  const int64_t out_image = int64_t{p.out_channels} * p.out_h() * p.out_w();
  if (in_image >= kLimit || out_image >= kLimit) {
    return KernelSupport::no("an image of " + std::to_string(in_image) + " or " +
                             std::to_string(out_image) + " floats, beyond 2^31");
  }
  return KernelSupport::yes();
}

KernelSupport hand_supports(const ConvTranspose2dParams& p) {
  if (p.output_pad_h >= p.stride_h || p.output_pad_w >= p.stride_w) {
    return KernelSupport::no("output padding (" + std::to_string(p.output_pad_h) + ", " +
                             std::to_string(p.output_pad_w) + ") not smaller than the stride (" +
                             std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + ")");
  }
  return hand_supports(p.as_conv());
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
