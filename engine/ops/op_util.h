// Small checks and helpers shared by the op definitions in engine/ops/.
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/tensor.h"
#include "kernels/error.h"

namespace weft::ops_detail {

// The float pointer of an optional tensor: nullptr when undefined.
inline float* optional_data(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

inline void check_float(const Tensor& t, const char* op, const char* what) {
  WEFT_CHECK(t.defined(), op, ": ", what, " is undefined");
  WEFT_CHECK(t.dtype() == DType::f32, op, ": ", what, " must be float32, got ", t.str());
}

inline void check_same_device(const std::vector<Tensor>& tensors, const char* op) {
  Device device;
  bool first = true;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (first) {
      device = t.device();
      first = false;
    }
    WEFT_CHECK(t.device() == device, op, ": tensors on different devices (", device.str(),
               " and ", t.device().str(), ")");
  }
}

inline void check_shape(const Tensor& t, const Shape& expected, const char* op,
                        const char* what) {
  WEFT_CHECK(t.shape() == expected, op, ": ", what, " should have shape ", shape_str(expected),
             ", got ", shape_str(t.shape()));
}

// Whether `activation` goes to the kernel: it is set and fusion is on (engine/ops.h). Refuses
// a leaky_relu slope below 0 (whose output would not keep the sign its backward relies on).
bool fuse(const FusedActivation& activation, const char* op);
// The unfused composition: relu(y) or leaky_relu(y, alpha) as their own op (y without one).
Tensor activate(const Tensor& y, const FusedActivation& activation);
// g times the activation's derivative, read from the op's output y (a fused op's backward).
Tensor activation_gradient(const Tensor& g, const Tensor& y, const FusedActivation& activation);

inline int to_int(int64_t value, const char* op) {
  WEFT_CHECK(value >= 0 && value <= INT32_MAX, op, ": size ", value, " is too large");
  return static_cast<int>(value);
}

}  // namespace weft::ops_detail
