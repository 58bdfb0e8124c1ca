// SelectingBackend (selecting_backend.h): one decision per call, then a plain forward.
#include "kernels/selecting_backend.h"

#include <utility>

#include "engine/error.h"
#include "kernels/hand_support.h"

namespace weft {

SelectingBackend::SelectingBackend(std::string name, Backend& hand, Backend& vendor)
    : name_(std::move(name)), hand_(hand), vendor_(vendor) {}

Backend& SelectingBackend::pick(KernelFamily family, const KernelSupport& hand_support) {
  using Note = KernelDecision::Note;
  const KernelDecision decision = decide_kernel_path(family, kernel_choice(family), hand_support);
  if (decision.note == Note::none) return decision.path == KernelPath::hand ? hand_ : vendor_;
  const std::string family_text = family_name(family);
  switch (decision.note) {
    case Note::none:
      break;
    case Note::fallback:
      log_kernel_note_once(family, decision.reason,
                           family_text + ": the hand kernel does not support " + decision.reason +
                               "; using " + vendor_.name() + " (kernel choice auto)");
      break;
    case Note::no_vendor_path:
      log_kernel_note_once(family, decision.reason, decision.reason);
      break;
    case Note::hand_unsupported:
      throw NotImplemented(family_text + ": the hand kernel does not support " + decision.reason +
                           " (choose auto or vendor for " + family_text + " in WEFT_KERNELS)");
  }
  return decision.path == KernelPath::hand ? hand_ : vendor_;
}

void SelectingBackend::conv2d_forward(const Conv2dParams& p, const float* x, const float* w,
                                      const float* bias, float* y) {
  pick(KernelFamily::conv, hand_supports(p)).conv2d_forward(p, x, w, bias, y);
}
void SelectingBackend::conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                                            float* dx) {
  pick(KernelFamily::conv, hand_supports(p)).conv2d_backward_data(p, dy, w, dx);
}
void SelectingBackend::conv2d_backward_filter(const Conv2dParams& p, const float* x,
                                              const float* dy, float* dw, float* dbias) {
  pick(KernelFamily::conv, hand_supports(p)).conv2d_backward_filter(p, x, dy, dw, dbias);
}
void SelectingBackend::conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x,
                                                const float* w, const float* bias, float* y) {
  pick(KernelFamily::conv_transpose, hand_supports(p)).conv_transpose2d_forward(p, x, w, bias, y);
}
void SelectingBackend::conv_transpose2d_backward_data(const ConvTranspose2dParams& p,
                                                      const float* dy, const float* w, float* dx) {
  pick(KernelFamily::conv_transpose, hand_supports(p)).conv_transpose2d_backward_data(p, dy, w, dx);
}
void SelectingBackend::conv_transpose2d_backward_filter(const ConvTranspose2dParams& p,
                                                        const float* x, const float* dy, float* dw,
                                                        float* dbias) {
  pick(KernelFamily::conv_transpose, hand_supports(p))
      .conv_transpose2d_backward_filter(p, x, dy, dw, dbias);
}
void SelectingBackend::gemm(const GemmParams& p, const float* a, const float* b, float* c) {
  pick(KernelFamily::gemm, hand_supports(p)).gemm(p, a, b, c);
}
void SelectingBackend::linear_forward(int n, int in_features, int out_features, const float* x,
                                      const float* w, const float* bias, float* y) {
  pick(KernelFamily::gemm, hand_supports_linear(n, in_features, out_features))
      .linear_forward(n, in_features, out_features, x, w, bias, y);
}
void SelectingBackend::linear_backward(int n, int in_features, int out_features, const float* x,
                                       const float* w, const float* dy, float* dx, float* dw,
                                       float* dbias) {
  pick(KernelFamily::gemm, hand_supports_linear(n, in_features, out_features))
      .linear_backward(n, in_features, out_features, x, w, dy, dx, dw, dbias);
}
void SelectingBackend::max_pool2d_forward(const Pool2dParams& p, const float* x, float* y,
                                          int32_t* argmax) {
  pick(KernelFamily::pool).max_pool2d_forward(p, x, y, argmax);
}
void SelectingBackend::max_pool2d_backward(const Pool2dParams& p, const float* dy,
                                           const int32_t* argmax, float* dx) {
  pick(KernelFamily::pool).max_pool2d_backward(p, dy, argmax, dx);
}
void SelectingBackend::avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  pick(KernelFamily::pool).avg_pool2d_forward(p, x, y);
}
void SelectingBackend::avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) {
  pick(KernelFamily::pool).avg_pool2d_backward(p, dy, dx);
}
void SelectingBackend::global_avg_pool_forward(int batch, int channels, int plane, const float* x,
                                               float* y) {
  pick(KernelFamily::pool).global_avg_pool_forward(batch, channels, plane, x, y);
}
void SelectingBackend::global_avg_pool_backward(int batch, int channels, int plane, const float* dy,
                                                float* dx) {
  pick(KernelFamily::pool).global_avg_pool_backward(batch, channels, plane, dy, dx);
}
void SelectingBackend::batch_norm_forward_train(const BatchNormParams& p, const float* x,
                                                const float* gamma, const float* beta, float* y,
                                                float* save_mean, float* save_invstd,
                                                float* running_mean, float* running_var) {
  pick(KernelFamily::batchnorm, hand_supports(p))
      .batch_norm_forward_train(p, x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                running_var);
}
void SelectingBackend::batch_norm_forward_eval(const BatchNormParams& p, const float* x,
                                               const float* gamma, const float* beta,
                                               const float* running_mean, const float* running_var,
                                               float* y) {
  pick(KernelFamily::batchnorm, hand_supports(p))
      .batch_norm_forward_eval(p, x, gamma, beta, running_mean, running_var, y);
}
void SelectingBackend::batch_norm_backward(const BatchNormParams& p, const float* dy,
                                           const float* x, const float* gamma,
                                           const float* save_mean, const float* save_invstd,
                                           float* dx, float* dgamma, float* dbeta) {
  pick(KernelFamily::batchnorm, hand_supports(p))
      .batch_norm_backward(p, dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
}
void SelectingBackend::batch_norm_backward_eval(const BatchNormParams& p, const float* dy,
                                                const float* x, const float* gamma,
                                                const float* running_mean, const float* running_var,
                                                float* dx, float* dgamma, float* dbeta) {
  pick(KernelFamily::batchnorm, hand_supports(p))
      .batch_norm_backward_eval(p, dy, x, gamma, running_mean, running_var, dx, dgamma, dbeta);
}
void SelectingBackend::dropout_forward(const DropoutParams& p, const float* x, float* y) {
  pick(KernelFamily::dropout).dropout_forward(p, x, y);
}
void SelectingBackend::dropout_backward(const DropoutParams& p, const float* dy, float* dx) {
  pick(KernelFamily::dropout).dropout_backward(p, dy, dx);
}
void SelectingBackend::activation_forward(Activation f, float alpha, int64_t count, const float* x,
                                          float* y) {
  pick(KernelFamily::elementwise).activation_forward(f, alpha, count, x, y);
}
void SelectingBackend::activation_backward(Activation f, float alpha, int64_t count, const float* x,
                                           const float* y, const float* dy, float* dx) {
  pick(KernelFamily::elementwise).activation_backward(f, alpha, count, x, y, dy, dx);
}
void SelectingBackend::binary_forward(BinaryOp op, const BroadcastParams& p, const float* a,
                                      const float* b, float* out) {
  pick(KernelFamily::elementwise).binary_forward(op, p, a, b, out);
}
void SelectingBackend::reduce_broadcast(const BroadcastParams& p, const int64_t* strides,
                                        const float* grad, int64_t reduced_count, float* reduced) {
  pick(KernelFamily::elementwise).reduce_broadcast(p, strides, grad, reduced_count, reduced);
}
void SelectingBackend::affine(int64_t count, float alpha, float beta, const float* x, float* y) {
  pick(KernelFamily::elementwise).affine(count, alpha, beta, x, y);
}
void SelectingBackend::scale_by(int64_t count, const float* scale, const float* x, float* y) {
  pick(KernelFamily::elementwise).scale_by(count, scale, x, y);
}
void SelectingBackend::axpy_accumulate(int64_t count, float alpha, const float* x, float* y) {
  pick(KernelFamily::elementwise).axpy_accumulate(count, alpha, x, y);
}
void SelectingBackend::fill(int64_t count, float value, float* y) {
  pick(KernelFamily::elementwise).fill(count, value, y);
}
void SelectingBackend::sum(int64_t count, const float* x, float* out) {
  pick(KernelFamily::elementwise).sum(count, x, out);
}
void SelectingBackend::u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift,
                                 float* y) {
  pick(KernelFamily::elementwise).u8_to_f32(count, x, scale, shift, y);
}
void SelectingBackend::softmax_forward(int rows, int cols, const float* x, float* y) {
  pick(KernelFamily::softmax).softmax_forward(rows, cols, x, y);
}
void SelectingBackend::softmax_backward(int rows, int cols, const float* y, const float* dy,
                                        float* dx) {
  pick(KernelFamily::softmax).softmax_backward(rows, cols, y, dy, dx);
}
void SelectingBackend::log_softmax_forward(int rows, int cols, const float* x, float* y) {
  pick(KernelFamily::softmax).log_softmax_forward(rows, cols, x, y);
}
void SelectingBackend::log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                                            float* dx) {
  pick(KernelFamily::softmax).log_softmax_backward(rows, cols, y, dy, dx);
}
void SelectingBackend::cross_entropy_forward(int n, int c, const float* logits,
                                             const int32_t* targets, const float* class_weights,
                                             float label_smoothing, float* loss) {
  pick(KernelFamily::loss)
      .cross_entropy_forward(n, c, logits, targets, class_weights, label_smoothing, loss);
}
void SelectingBackend::cross_entropy_backward(int n, int c, const float* logits,
                                              const int32_t* targets, const float* class_weights,
                                              float label_smoothing, const float* grad_loss,
                                              float* dlogits) {
  pick(KernelFamily::loss)
      .cross_entropy_backward(n, c, logits, targets, class_weights, label_smoothing, grad_loss,
                              dlogits);
}
void SelectingBackend::bce_with_logits_forward(int64_t count, const float* logits,
                                               const float* targets, float* loss) {
  pick(KernelFamily::loss).bce_with_logits_forward(count, logits, targets, loss);
}
void SelectingBackend::bce_with_logits_backward(int64_t count, const float* logits,
                                                const float* targets, const float* grad_loss,
                                                float* dlogits) {
  pick(KernelFamily::loss).bce_with_logits_backward(count, logits, targets, grad_loss, dlogits);
}
void SelectingBackend::bce_forward(int64_t count, const float* probs, const float* targets,
                                   float* loss) {
  pick(KernelFamily::loss).bce_forward(count, probs, targets, loss);
}
void SelectingBackend::bce_backward(int64_t count, const float* probs, const float* targets,
                                    const float* grad_loss, float* dprobs) {
  pick(KernelFamily::loss).bce_backward(count, probs, targets, grad_loss, dprobs);
}
void SelectingBackend::mse_forward(int64_t count, const float* x, const float* target,
                                   float* loss) {
  pick(KernelFamily::loss).mse_forward(count, x, target, loss);
}
void SelectingBackend::mse_backward(int64_t count, const float* x, const float* target,
                                    const float* grad_loss, float* dx) {
  pick(KernelFamily::loss).mse_backward(count, x, target, grad_loss, dx);
}
void SelectingBackend::sgd_update(const SgdStep& s, float* param, const float* grad,
                                  float* momentum_buffer) {
  pick(KernelFamily::optimizer).sgd_update(s, param, grad, momentum_buffer);
}
void SelectingBackend::adam_update(const AdamStep& s, float* param, const float* grad,
                                   float* exp_avg, float* exp_avg_sq) {
  pick(KernelFamily::optimizer).adam_update(s, param, grad, exp_avg, exp_avg_sq);
}

}  // namespace weft
