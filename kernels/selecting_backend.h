// SelectingBackend: the Backend of a CUDA device that sends each call either to the hand-written
// kernels or to the vendor libraries, per op family, as kernels/selection.h decides.
//
// For every call it asks the hand kernel's supports() predicate (kernels/hand_support.h) about the
// call's params struct, combines the answer with the family's current choice (hand | vendor |
// auto) in decide_kernel_path(), and forwards to the chosen backend:
//   - a fallback of `auto` to the vendor library is logged once per family and reason;
//   - `vendor` for a family without a vendor path (dropout, pooling, elementwise, ...) runs the
//     hand kernel and says so once;
//   - `hand` forced on a call the predicate rejects throws weft::NotImplemented with the reason.
// Because the decision is a function of (family, choice, params) and an op's forward and
// backward share their params struct, a backward runs on the path its forward ran on.
//
// It holds no CUDA state of its own: plain C++ over two Backend references, so the routing is
// tested on the host with fake backends (tests/test_kernel_selection.cpp). The per-device
// instances the engine uses are built by cuda_selecting_backend() (kernels/cuda/backends.h).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/backend.h"
#include "kernels/selection.h"

namespace weft {

class SelectingBackend final : public Backend {
 public:
  SelectingBackend(std::string name, Backend& hand, Backend& vendor);
  const char* name() const override { return name_.c_str(); }

  // Which backend a call of `family` with this support answer runs on now (also used by
  // every method below). Logs and throws as described above.
  Backend& pick(KernelFamily family, const KernelSupport& hand_support = KernelSupport::yes());

  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override;
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override;
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override;
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override;
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override;
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override;
  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override;
  void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                      const float* bias, float* y) override;
  void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                       const float* dy, float* dx, float* dw, float* dbias) override;
  void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y,
                          int32_t* argmax) override;
  void max_pool2d_backward(const Pool2dParams& p, const float* dy, const int32_t* argmax,
                           float* dx) override;
  void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) override;
  void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) override;
  void global_avg_pool_forward(int batch, int channels, int plane, const float* x,
                               float* y) override;
  void global_avg_pool_backward(int batch, int channels, int plane, const float* dy,
                                float* dx) override;
  void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                                const float* beta, float* y, float* save_mean, float* save_invstd,
                                float* running_mean, float* running_var) override;
  void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override;
  void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           float* dx, float* dgamma, float* dbeta) override;
  void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                                const float* gamma, const float* running_mean,
                                const float* running_var, float* dx, float* dgamma,
                                float* dbeta) override;
  void dropout_forward(const DropoutParams& p, const float* x, float* y) override;
  void dropout_backward(const DropoutParams& p, const float* dy, float* dx) override;
  void activation_forward(Activation f, float alpha, int64_t count, const float* x,
                          float* y) override;
  void activation_backward(Activation f, float alpha, int64_t count, const float* x, const float* y,
                           const float* dy, float* dx) override;
  void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                      float* out) override;
  void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                        int64_t reduced_count, float* reduced) override;
  void affine(int64_t count, float alpha, float beta, const float* x, float* y) override;
  void scale_by(int64_t count, const float* scale, const float* x, float* y) override;
  void axpy_accumulate(int64_t count, float alpha, const float* x, float* y) override;
  void fill(int64_t count, float value, float* y) override;
  void sum(int64_t count, const float* x, float* out) override;
  void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y) override;
  void softmax_forward(int rows, int cols, const float* x, float* y) override;
  void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx) override;
  void log_softmax_forward(int rows, int cols, const float* x, float* y) override;
  void log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                            float* dx) override;
  void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                             const float* class_weights, float label_smoothing,
                             float* loss) override;
  void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                              const float* class_weights, float label_smoothing,
                              const float* grad_loss, float* dlogits) override;
  void bce_with_logits_forward(int64_t count, const float* logits, const float* targets,
                               float* loss) override;
  void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                                const float* grad_loss, float* dlogits) override;
  void bce_forward(int64_t count, const float* probs, const float* targets, float* loss) override;
  void bce_backward(int64_t count, const float* probs, const float* targets, const float* grad_loss,
                    float* dprobs) override;
  void mse_forward(int64_t count, const float* x, const float* target, float* loss) override;
  void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                    float* dx) override;
  void sgd_update(const SgdStep& s, float* param, const float* grad,
                  float* momentum_buffer) override;
  void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                   float* exp_avg_sq) override;

 private:
  std::string name_;
  Backend& hand_;
  Backend& vendor_;
};

}  // namespace weft
