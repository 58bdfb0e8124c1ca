// Small checks and helpers shared by the op definitions in engine/ops/.
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
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

// ---- shared by conv2d and conv2d_max_pool2d (engine/ops/convolution.cpp, pooling.cpp) ----

// The convolution's params from its tensors, every check of conv2d made (no activation set).
Conv2dParams conv2d_params(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Conv2dOptions& o, const char* op);

// Which gradients a convolution's backward computes: none for the input images of a first
// layer, none for frozen weights.
struct ConvGradients {
  bool x = false, weight = false, bias = false;
};
inline ConvGradients wanted_gradients(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool need_w = any_requires_grad({weight, bias});
  return {any_requires_grad({x}), need_w, need_w && bias.defined()};
}

// {dx, dw, dbias} of the convolution p from g = dL/dy (each undefined where not wanted).
std::vector<Tensor> conv2d_gradients(const Conv2dParams& p, const Tensor& x, const Tensor& w,
                                     const Tensor& g, const ConvGradients& wanted);

// The pool's params for an input of `shape`, every check of max_pool2d made.
Pool2dParams pool2d_params(const Shape& shape, const Pool2dOptions& o, const char* op);

}  // namespace weft::ops_detail
