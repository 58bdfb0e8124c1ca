// CpuBackend: the Backend interface (kernels/backend.h) over the CPU reference kernels in this
// folder. Each method forwards to one kernel (a convolution and its max pool to one fused loop
// where the direct convolution takes the layer, else to the two); scalars that the interface keeps
// in one-element buffers are plain host memory here. Under the math precision tf32 or bf16 the
// factors of the convolutions are rounded first, as the GEMM's are (rounded_operand.h); a bias
// gradient is summed from the unrounded dy, as on the GPU.
#include "kernels/backend.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/rounded_operand.h"
#include "kernels/cpu/softmax.h"
#include "kernels/selection.h"

namespace weft {
namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rw(w, p.weight_count());
    cpu::conv2d_forward(p, rx.get(), rw.get(), bias, y);
  }
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override {
    const cpu::RoundedOperand rdy(dy, p.output_count()), rw(w, p.weight_count());
    cpu::conv2d_backward_data(p, rdy.get(), rw.get(), dx);
  }
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rdy(dy, p.output_count());
    cpu::conv2d_backward_filter(p, rx.get(), rdy.get(), dw, rdy.rounded() ? nullptr : dbias);
    if (dbias && rdy.rounded()) {
      cpu::channel_sums(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
    }
  }
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rw(w, p.weight_count());
    cpu::conv_transpose2d_forward(p, rx.get(), rw.get(), bias, y);
  }
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override {
    const cpu::RoundedOperand rdy(dy, p.output_count()), rw(w, p.weight_count());
    cpu::conv_transpose2d_backward_data(p, rdy.get(), rw.get(), dx);
  }
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rdy(dy, p.output_count());
    cpu::conv_transpose2d_backward_filter(p, rx.get(), rdy.get(), dw,
                                          rdy.rounded() ? nullptr : dbias);
    if (dbias && rdy.rounded()) {
      cpu::channel_sums(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
    }
  }

  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override {
    cpu::gemm(p, a, b, c);
  }
  void linear_forward(int n, int in_features, int out_features, const FusedActivation& act,
                      const float* x, const float* w, const float* bias, float* y) override {
    cpu::linear_forward(n, in_features, out_features, x, w, bias, y, act);
  }
  void linear_backward(int n, int in_features, int out_features, const FusedActivation&,
                       const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* dbias) override {
    cpu::linear_backward(n, in_features, out_features, x, w, dy, dx, dw, dbias);
  }

  void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y,
                          int32_t* argmax) override {
    cpu::max_pool2d_forward(p, x, y, argmax);
  }
  void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                           const int32_t* argmax, float* dx) override {
    cpu::max_pool2d_backward(p, dy, y, argmax, dx);
  }
  // A convolution the direct loop takes and its pool run as one loop (conv_direct.h), bit for
  // bit the composition below; the backward-filter at fp32 only (at tf32 and bf16 the
  // composition rounds the convolution's whole gradient and sums dbias from the unrounded one).
  bool fuses_conv_max_pool(const Conv2dParams& c, const Pool2dParams& pool) override {
    return cpu::direct::fuses_max_pool(c, pool);
  }
  bool fuses_conv_max_pool_filter(const Conv2dParams& c, const Pool2dParams& pool) override {
    return math_precision() == MathPrecision::fp32 && cpu::direct::fuses_max_pool_filter(c, pool);
  }
  void conv2d_max_pool2d_forward(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                                 const float* w, const float* bias, float* y,
                                 int32_t* argmax) override {
    check_conv_max_pool(c, pool);
    if (fuses_conv_max_pool(c, pool)) {
      const cpu::RoundedOperand rx(x, c.input_count()), rw(w, c.weight_count());
      cpu::direct::forward_max_pool(c, pool, rx.get(), rw.get(), bias, y, argmax);
      return;
    }
    std::vector<float> conv_out(static_cast<size_t>(c.output_count()));
    conv2d_forward(c, x, w, bias, conv_out.data());
    cpu::max_pool2d_forward(pool, conv_out.data(), y, argmax);
  }
  void conv2d_max_pool2d_backward_filter(const Conv2dParams& c, const Pool2dParams& pool,
                                         const float* x, const float* dy, const float* y,
                                         const int32_t* argmax, float* dw,
                                         float* dbias) override {
    check_conv_max_pool(c, pool);
    if (fuses_conv_max_pool_filter(c, pool)) {
      cpu::direct::backward_filter_max_pool(c, pool, x, dy, y, argmax, dw, dbias);
      return;
    }
    std::vector<float> conv_gradient(static_cast<size_t>(c.output_count()));
    max_pool2d_backward(pool, dy, y, argmax, conv_gradient.data());
    conv2d_backward_filter(c, x, conv_gradient.data(), dw, dbias);
  }
  void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) override {
    cpu::avg_pool2d_forward(p, x, y);
  }
  void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) override {
    cpu::avg_pool2d_backward(p, dy, dx);
  }
  void global_avg_pool_forward(int batch, int channels, int plane, const float* x,
                               float* y) override {
    cpu::global_avg_pool_forward(batch, channels, plane, x, y);
  }
  void global_avg_pool_backward(int batch, int channels, int plane, const float* dy,
                                float* dx) override {
    cpu::global_avg_pool_backward(batch, channels, plane, dy, dx);
  }

  void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                                const float* beta, float* y, float* save_mean,
                                float* save_invstd, float* running_mean,
                                float* running_var) override {
    cpu::batch_norm_forward_train(p, x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                  running_var);
  }
  void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override {
    cpu::batch_norm_forward_eval(p, x, gamma, beta, running_mean, running_var, y);
  }
  void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                           const float* y, const float* gamma, const float* save_mean,
                           const float* save_invstd, float* dx, float* dgamma,
                           float* dbeta) override {
    cpu::batch_norm_backward(p, dy, x, y, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }
  void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                                const float* y, const float* gamma, const float* running_mean,
                                const float* running_var, float* dx, float* dgamma,
                                float* dbeta) override {
    cpu::batch_norm_backward_eval(p, dy, x, y, gamma, running_mean, running_var, dx, dgamma,
                                  dbeta);
  }

  void dropout_forward(const DropoutParams& p, const float* x, float* y) override {
    cpu::dropout_forward(p, x, y);
  }
  void dropout_backward(const DropoutParams& p, const float* dy, float* dx) override {
    cpu::dropout_backward(p, dy, dx);
  }
  void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act,
                                  const float* x, float* y) override {
    cpu::activation_dropout_forward(p, act, x, y);
  }
  void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act,
                                   const float* x, const float* dy, float* dx) override {
    cpu::activation_dropout_backward(p, act, x, dy, dx);
  }

  void activation_forward(Activation f, float alpha, int64_t count, const float* x,
                          float* y) override {
    cpu::activation_forward(f, alpha, count, x, y);
  }
  void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                           const float* y, const float* dy, float* dx) override {
    cpu::activation_backward(f, alpha, count, x, y, dy, dx);
  }
  void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                      float* out) override {
    cpu::binary_forward(op, p, a, b, out);
  }
  void add_relu_forward(int64_t count, const float* a, const float* b, float* y) override {
    cpu::add_relu_forward(count, a, b, y);
  }
  void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                        int64_t reduced_count, float* reduced) override {
    cpu::reduce_broadcast(p, strides, grad, reduced_count, reduced);
  }
  void affine(int64_t count, float alpha, float beta, const float* x, float* y) override {
    cpu::affine(count, alpha, beta, x, y);
  }
  void scale_by(int64_t count, const float* scale, const float* x, float* y) override {
    cpu::affine(count, *scale, 0.0f, x, y);
  }
  void axpy_accumulate(int64_t count, float alpha, const float* x, float* y) override {
    cpu::axpy_accumulate(count, alpha, x, y);
  }
  void fill(int64_t count, float value, float* y) override { cpu::fill(count, value, y); }
  void sum(int64_t count, const float* x, float* out) override {
    *out = static_cast<float>(cpu::sum(count, x));
  }
  void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y) override {
#pragma omp parallel for if (count > 65536)
    for (int64_t i = 0; i < count; ++i) y[i] = static_cast<float>(x[i]) * scale + shift;
  }
  void gather_u8_to_f32(int rows, int64_t row_elements, const uint8_t* src,
                        const int32_t* indices, float scale, float shift, float* y) override {
#pragma omp parallel for if (int64_t{rows} * row_elements > 65536)
    for (int r = 0; r < rows; ++r) {
      const uint8_t* row = src + int64_t{indices[r]} * row_elements;
      float* out = y + int64_t{r} * row_elements;
      for (int64_t e = 0; e < row_elements; ++e) out[e] = static_cast<float>(row[e]) * scale + shift;
    }
  }
  void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src,
                                const int32_t* moves, float* y) override {
    cpu::gather_augment_u8_to_f32(p, src, moves, y);
  }

  void softmax_forward(int rows, int cols, const float* x, float* y) override {
    cpu::softmax_forward(rows, cols, x, y);
  }
  void softmax_backward(int rows, int cols, const float* y, const float* dy,
                        float* dx) override {
    cpu::softmax_backward(rows, cols, y, dy, dx);
  }
  void log_softmax_forward(int rows, int cols, const float* x, float* y) override {
    cpu::log_softmax_forward(rows, cols, x, y);
  }
  void log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                            float* dx) override {
    cpu::log_softmax_backward(rows, cols, y, dy, dx);
  }

  void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                             const float* class_weights, float label_smoothing,
                             float* loss) override {
    *loss = cpu::cross_entropy_forward(n, c, logits, targets, class_weights, label_smoothing);
  }
  void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                              const float* class_weights, float label_smoothing,
                              const float* grad_loss, float* dlogits) override {
    cpu::cross_entropy_backward(n, c, logits, targets, class_weights, label_smoothing,
                                *grad_loss, dlogits);
  }
  void cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                      const float* class_weights, float label_smoothing,
                                      float* loss, float* dlogits) override {
    *loss = cpu::cross_entropy_forward_backward(n, c, logits, targets, class_weights,
                                                label_smoothing, dlogits);
  }
  void bce_with_logits_forward(int64_t count, const float* logits, const float* targets,
                               float* loss) override {
    *loss = cpu::bce_with_logits_forward(count, logits, targets);
  }
  void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                                const float* grad_loss, float* dlogits) override {
    cpu::bce_with_logits_backward(count, logits, targets, *grad_loss, dlogits);
  }
  void bce_forward(int64_t count, const float* probs, const float* targets,
                   float* loss) override {
    *loss = cpu::bce_forward(count, probs, targets);
  }
  void bce_backward(int64_t count, const float* probs, const float* targets,
                    const float* grad_loss, float* dprobs) override {
    cpu::bce_backward(count, probs, targets, *grad_loss, dprobs);
  }
  void mse_forward(int64_t count, const float* x, const float* target, float* loss) override {
    *loss = cpu::mse_forward(count, x, target);
  }
  void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                    float* dx) override {
    cpu::mse_backward(count, x, target, *grad_loss, dx);
  }

  void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                         float* hits) override {
    cpu::count_argmax_hits(rows, cols, logits, labels, hits);
  }
  void count_threshold_hits(int64_t count, const float* logits, const float* targets,
                            float* hits) override {
    cpu::count_threshold_hits(count, logits, targets, hits);
  }

  void sgd_update(const SgdStep& s, float* param, const float* grad,
                  float* momentum_buffer) override {
    cpu::sgd_update(s, param, grad, momentum_buffer);
  }
  void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                   float* exp_avg_sq) override {
    cpu::adam_update(s, param, grad, exp_avg, exp_avg_sq);
  }
  // On the CPU a launch costs nothing: the multi-tensor updates are the single ones in turn.
  void sgd_update_multi(const SgdStep& s, int tensors, const int64_t* counts, float* const* params,
                        const float* const* grads, float* const* momentum_buffers) override {
    for (int i = 0; i < tensors; ++i) {
      SgdStep one = s;
      one.count = counts[i];
      cpu::sgd_update(one, params[i], grads[i],
                      momentum_buffers != nullptr ? momentum_buffers[i] : nullptr);
    }
  }
  void adam_update_multi(const AdamStep& s, int tensors, const int64_t* counts,
                         float* const* params, const float* const* grads, float* const* exp_avgs,
                         float* const* exp_avg_sqs) override {
    for (int i = 0; i < tensors; ++i) {
      AdamStep one = s;
      one.count = counts[i];
      cpu::adam_update(one, params[i], grads[i], exp_avgs[i], exp_avg_sqs[i]);
    }
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace weft
