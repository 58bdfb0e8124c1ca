// The switch for fused activations (engine/ops.h) and the unfused composition the ops fall back
// to: conv2d, batch_norm and linear hand their activation to the kernel when fusion is on, and
// apply relu() / leaky_relu() as a separate op when it is off. Also add_relu, the residual sum
// and its ReLU as one op, under the same switch.
#include <cstdlib>
#include <mutex>
#include <string>

#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
namespace {

std::mutex fusion_mutex;
int fusion_setting = -1;  // -1: WEFT_FUSION not read yet

}  // namespace

void set_fused_activations(bool enabled) {
  std::lock_guard<std::mutex> lock(fusion_mutex);
  fusion_setting = enabled ? 1 : 0;
}

bool fused_activations() {
  std::lock_guard<std::mutex> lock(fusion_mutex);
  if (fusion_setting < 0) {
    const char* value = std::getenv("WEFT_FUSION");
    const std::string text = value != nullptr ? value : "on";
    WEFT_CHECK(text == "on" || text == "off" || text == "1" || text == "0",
               "WEFT_FUSION must be on or off, got '", text, "'");
    fusion_setting = text == "on" || text == "1" ? 1 : 0;
  }
  return fusion_setting == 1;
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  const char* op = "add_relu";
  // Operands that broadcast (not a residual sum) take the composition, which handles them.
  if (!fused_activations() || a.shape() != b.shape()) return relu(add(a, b));
  ops_detail::check_float(a, op, "left operand");
  ops_detail::check_float(b, op, "right operand");
  ops_detail::check_same_device({a, b}, op);
  Tensor y = Tensor::empty_like(a);
  dispatch(a.device())
      .add_relu_forward(a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  const Tensor y_saved = y.detach();
  record(y, op, {a, b}, [=](const Tensor& g) {
    // d/da = d/db = dy where y > 0: relu's backward read at y, one gradient for both inputs
    // (as add's backward hands g itself to both).
    const Tensor gx = ops_detail::activation_gradient(g, y_saved, fused_relu());
    return std::vector<Tensor>{gx, gx};
  });
  return y;
}

namespace ops_detail {

bool fuse(const FusedActivation& activation, const char* op) {
  if (!activation.active()) return false;
  WEFT_CHECK(activation.kind != FusedActivation::Kind::leaky_relu || activation.alpha >= 0.0f,
             op, ": a fused leaky_relu needs a slope >= 0, got ", activation.alpha);
  return fused_activations();
}

Tensor activate(const Tensor& y, const FusedActivation& activation) {
  switch (activation.kind) {
    case FusedActivation::Kind::none:
      return y;
    case FusedActivation::Kind::relu:
      return relu(y);
    case FusedActivation::Kind::leaky_relu:
      return leaky_relu(y, activation.alpha);
  }
  return y;
}

Tensor activation_gradient(const Tensor& g, const Tensor& y, const FusedActivation& activation) {
  if (!activation.active()) return g;
  Tensor gx = Tensor::empty_like(g);
  // relu and leaky_relu keep the sign of their input, so their derivative read at y (passed as
  // the kernel's x) is the one at the input.
  const Activation f =
      activation.kind == FusedActivation::Kind::relu ? Activation::relu : Activation::leaky_relu;
  dispatch(g.device())
      .activation_backward(f, activation.alpha, g.numel(), y.data<float>(), y.data<float>(),
                           g.data<float>(), gx.data<float>());
  return gx;
}

}  // namespace ops_detail
}  // namespace weft
