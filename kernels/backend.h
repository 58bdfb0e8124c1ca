// The kernel interface every backend implements: one virtual function per kernel, each taking
// raw device pointers and a params struct (kernels/params.h). engine/ops/ defines each op once
// (shape rule, parameters, backward) and calls the backend of its tensors' device; it never
// knows which implementation runs.
//
// Backends: CpuBackend (kernels/cpu/backend.cpp, the reference for every op) and, in a CUDA
// build, the CUDA backend that chooses between hand-written kernels and cuDNN/cuBLAS per op
// family.
//
// Scalars that a training step produces on the device (a loss, a sum) are written to a
// one-element device buffer rather than returned, and the gradient of a scalar loss comes in
// the same way, so no op forces a device-to-host copy.
//
// Write rule: every function overwrites its outputs, except axpy_accumulate (which adds) and
// batch-norm's running statistics (updated in place). Optimizer updates change their
// parameter and state buffers in place.
#pragma once

#include <cstdint>

#include "kernels/cpu/elementwise.h"
#include "kernels/params.h"

namespace weft {

using cpu::Activation;
using cpu::BinaryOp;
using cpu::BroadcastParams;

// Hyper-parameters of one optimizer step for one parameter tensor. Bias corrections and
// schedules are computed on the host from `step` and passed by value.
struct SgdStep {
  int64_t count = 0;
  float lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as the first gradient (PyTorch)
};
struct AdamStep {
  int64_t count = 0;
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
  int64_t step = 1;                     // 1 for the first update
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- convolution ----
  virtual void conv2d_forward(const Conv2dParams& p, const float* x, const float* w,
                              const float* bias, float* y) = 0;
  virtual void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                                    float* dx) = 0;
  virtual void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy,
                                      float* dw, float* dbias) = 0;
  virtual void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x,
                                        const float* w, const float* bias, float* y) = 0;
  virtual void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                              const float* w, float* dx) = 0;
  virtual void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                                const float* dy, float* dw, float* dbias) = 0;

  // ---- matrix products ----
  virtual void gemm(const GemmParams& p, const float* a, const float* b, float* c) = 0;
  virtual void linear_forward(int n, int in_features, int out_features, const float* x,
                              const float* w, const float* bias, float* y) = 0;
  virtual void linear_backward(int n, int in_features, int out_features, const float* x,
                               const float* w, const float* dy, float* dx, float* dw,
                               float* dbias) = 0;

  // ---- pooling ----
  virtual void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y,
                                  int32_t* argmax) = 0;
  virtual void max_pool2d_backward(const Pool2dParams& p, const float* dy, const int32_t* argmax,
                                   float* dx) = 0;
  virtual void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) = 0;
  virtual void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) = 0;
  virtual void global_avg_pool_forward(int batch, int channels, int plane, const float* x,
                                       float* y) = 0;
  virtual void global_avg_pool_backward(int batch, int channels, int plane, const float* dy,
                                        float* dx) = 0;

  // ---- batch normalisation ----
  virtual void batch_norm_forward_train(const BatchNormParams& p, const float* x,
                                        const float* gamma, const float* beta, float* y,
                                        float* save_mean, float* save_invstd,
                                        float* running_mean, float* running_var) = 0;
  virtual void batch_norm_forward_eval(const BatchNormParams& p, const float* x,
                                       const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var,
                                       float* y) = 0;
  virtual void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                                   const float* gamma, const float* save_mean,
                                   const float* save_invstd, float* dx, float* dgamma,
                                   float* dbeta) = 0;
  virtual void batch_norm_backward_eval(const BatchNormParams& p, const float* dy,
                                        const float* x, const float* gamma,
                                        const float* running_mean, const float* running_var,
                                        float* dx, float* dgamma, float* dbeta) = 0;

  // ---- dropout ----
  virtual void dropout_forward(const DropoutParams& p, const float* x, float* y) = 0;
  virtual void dropout_backward(const DropoutParams& p, const float* dy, float* dx) = 0;

  // ---- elementwise ----
  virtual void activation_forward(Activation f, float alpha, int64_t count, const float* x,
                                  float* y) = 0;
  virtual void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                                   const float* y, const float* dy, float* dx) = 0;
  virtual void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a,
                              const float* b, float* out) = 0;
  virtual void reduce_broadcast(const BroadcastParams& p, const int64_t* strides,
                                const float* grad, int64_t reduced_count, float* reduced) = 0;
  virtual void affine(int64_t count, float alpha, float beta, const float* x, float* y) = 0;
  // y = x * (*scale_device): scale a tensor by a scalar that lives on the device.
  virtual void scale_by(int64_t count, const float* scale, const float* x, float* y) = 0;
  virtual void axpy_accumulate(int64_t count, float alpha, const float* x, float* y) = 0;
  virtual void fill(int64_t count, float value, float* y) = 0;
  virtual void sum(int64_t count, const float* x, float* out) = 0;  // out: one element
  // y = x * scale + shift, pixels to floats.
  virtual void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift,
                         float* y) = 0;

  // ---- softmax ----
  virtual void softmax_forward(int rows, int cols, const float* x, float* y) = 0;
  virtual void softmax_backward(int rows, int cols, const float* y, const float* dy,
                                float* dx) = 0;
  virtual void log_softmax_forward(int rows, int cols, const float* x, float* y) = 0;
  virtual void log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                                    float* dx) = 0;

  // ---- losses: mean over samples, written to `loss` (one element) ----
  virtual void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                                     const float* class_weights, float label_smoothing,
                                     float* loss) = 0;
  virtual void cross_entropy_backward(int n, int c, const float* logits,
                                      const int32_t* targets, const float* class_weights,
                                      float label_smoothing, const float* grad_loss,
                                      float* dlogits) = 0;
  virtual void bce_with_logits_forward(int64_t count, const float* logits,
                                       const float* targets, float* loss) = 0;
  virtual void bce_with_logits_backward(int64_t count, const float* logits,
                                        const float* targets, const float* grad_loss,
                                        float* dlogits) = 0;
  virtual void bce_forward(int64_t count, const float* probs, const float* targets,
                           float* loss) = 0;
  virtual void bce_backward(int64_t count, const float* probs, const float* targets,
                            const float* grad_loss, float* dprobs) = 0;
  virtual void mse_forward(int64_t count, const float* x, const float* target, float* loss) = 0;
  virtual void mse_backward(int64_t count, const float* x, const float* target,
                            const float* grad_loss, float* dx) = 0;

  // ---- optimizer updates (in place) ----
  virtual void sgd_update(const SgdStep& s, float* param, const float* grad,
                          float* momentum_buffer) = 0;
  virtual void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                           float* exp_avg_sq) = 0;
};

// The CPU reference backend (always present).
Backend& cpu_backend();

}  // namespace weft
