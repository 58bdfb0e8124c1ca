// The losses. Each returns the mean loss as a one-element tensor that stays on the device;
// backward passes the loss's incoming gradient to the kernel as a device pointer, so a training
// step never waits for the loss value on the host. cross_entropy, when its logits need a
// gradient, computes loss and gradient in one kernel (fusion on, engine/ops.h): its backward is
// then a scale by the incoming gradient, or nothing for backward()'s own seed of one.
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& class_weights,
                     float label_smoothing) {
  const char* op = "cross_entropy";
  check_float(logits, op, "logits");
  check_same_device({logits, targets, class_weights}, op);
  WEFT_CHECK(logits.ndim() == 2, op, ": logits must be [N, classes], got ", logits.str());
  WEFT_CHECK(targets.defined() && targets.dtype() == DType::i32, op,
             ": targets must be int32 class indices, got ", targets.str());
  check_shape(targets, {logits.dim(0)}, op, "targets");
  if (class_weights.defined()) {
    check_float(class_weights, op, "class weights");
    check_shape(class_weights, {logits.dim(1)}, op, "class weights");
  }
  WEFT_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, op,
             ": label smoothing must be in [0, 1], got ", label_smoothing);
  const int n = to_int(logits.dim(0), op), c = to_int(logits.dim(1), op);
  Tensor loss = Tensor::empty({}, DType::f32, logits.device());
  if (fused_activations() && grad_mode_enabled() && any_requires_grad({logits})) {
    // Training: the forward writes d loss / d logits for an incoming gradient of 1 in the same
    // pass, and the backward scales it by the one that comes (or hands it on as it is when
    // that is backward()'s own seed of one, known without reading the device).
    Tensor dlogits = Tensor::empty_like(logits);
    dispatch(logits.device())
        .cross_entropy_forward_backward(n, c, logits.data<float>(), targets.data<int32_t>(),
                                        optional_data(class_weights), label_smoothing,
                                        loss.data<float>(), dlogits.data<float>());
    record(loss, op, {logits}, [dlogits](const Tensor& g) {
      if (is_backward_seed_of_one(g)) return std::vector<Tensor>{dlogits};
      Tensor gl = Tensor::empty_like(dlogits);
      dispatch(g.device())
          .scale_by(dlogits.numel(), g.data<float>(), dlogits.data<float>(), gl.data<float>());
      return std::vector<Tensor>{gl};
    });
    return loss;
  }
  dispatch(logits.device())
      .cross_entropy_forward(n, c, logits.data<float>(), targets.data<int32_t>(),
                             optional_data(class_weights), label_smoothing, loss.data<float>());
  const Tensor logits_saved = logits.detach(), weights_saved = class_weights;
  record(loss, op, {logits}, [=](const Tensor& g) {
    Tensor gl = Tensor::empty_like(logits_saved);
    dispatch(g.device())
        .cross_entropy_backward(n, c, logits_saved.data<float>(), targets.data<int32_t>(),
                                optional_data(weights_saved), label_smoothing, g.data<float>(),
                                gl.data<float>());
    return std::vector<Tensor>{gl};
  });
  return loss;
}

namespace {
void check_pair(const Tensor& x, const Tensor& target, const char* op) {
  check_float(x, op, "input");
  check_float(target, op, "target");
  check_same_device({x, target}, op);
  WEFT_CHECK(x.shape() == target.shape(), op, ": input ", x.str(), " and target ", target.str(),
             " must have the same shape");
}
}  // namespace

Tensor bce_with_logits(const Tensor& logits, const Tensor& targets) {
  check_pair(logits, targets, "bce_with_logits");
  Tensor loss = Tensor::empty({}, DType::f32, logits.device());
  dispatch(logits.device())
      .bce_with_logits_forward(logits.numel(), logits.data<float>(), targets.data<float>(),
                               loss.data<float>());
  const Tensor x_saved = logits.detach(), t_saved = targets.detach();
  record(loss, "bce_with_logits", {logits}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(x_saved);
    dispatch(g.device()).bce_with_logits_backward(x_saved.numel(), x_saved.data<float>(),
                                                     t_saved.data<float>(), g.data<float>(),
                                                     gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return loss;
}

Tensor bce(const Tensor& probabilities, const Tensor& targets) {
  check_pair(probabilities, targets, "bce");
  Tensor loss = Tensor::empty({}, DType::f32, probabilities.device());
  dispatch(probabilities.device())
      .bce_forward(probabilities.numel(), probabilities.data<float>(), targets.data<float>(),
                   loss.data<float>());
  const Tensor x_saved = probabilities.detach(), t_saved = targets.detach();
  record(loss, "bce", {probabilities}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(x_saved);
    dispatch(g.device()).bce_backward(x_saved.numel(), x_saved.data<float>(),
                                         t_saved.data<float>(), g.data<float>(),
                                         gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return loss;
}

Tensor mse(const Tensor& x, const Tensor& target) {
  check_pair(x, target, "mse");
  Tensor loss = Tensor::empty({}, DType::f32, x.device());
  dispatch(x.device()).mse_forward(x.numel(), x.data<float>(), target.data<float>(),
                                      loss.data<float>());
  const Tensor x_saved = x.detach(), t_saved = target.detach();
  record(loss, "mse", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(x_saved);
    dispatch(g.device()).mse_backward(x_saved.numel(), x_saved.data<float>(),
                                         t_saved.data<float>(), g.data<float>(),
                                         gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return loss;
}

}  // namespace weft
