// HandBackend: the Backend interface (kernels/backend.h) over the hand-written CUDA kernels of
// this folder. Each method forwards to one family's launcher with the backend's stream and its
// scratch buffer. It is compiled twice, like every file here:
//   under nvcc it is the base of the CUDA backend of a device (hand_backend.cu, cuda_backend()):
//     device pointers, the device's one stream from engine/cuda/runtime.h;
//   on the host it is the emulated backend (emu_backend()): host pointers, kernels run by the
//     emulation (emulation.h); this is how CI tests every kernel against the CPU reference.
// Every family has hand kernels: convolution and transposed convolution (conv.cu), GEMM and
// linear (gemm.cu), pooling (pool.cu), batch normalisation (batchnorm.cu), dropout, elementwise,
// softmax, losses, reductions and optimizer updates. The launchers that need device workspace
// (conv backward-filter, batch norm) get it from the caching allocator for the call (see
// Workspace in hand_backend.cu).
//
// Only kernels/cuda/*.cu include this header. Engine code and tests reach the backends through
// kernels/cuda/backends.h, which is plain C++.
//
// Adding a kernel family (conv.cu, say):
//   1. kernels/cuda/conv.h declares the launchers inside
//      `namespace weft::cuda { inline namespace WEFT_KERNEL_ABI {` with the params struct,
//      pointers and a trailing cudaStream_t; conv.cu includes cuda_compat.h (through the
//      header), common.h and launch.h, keeps its kernels in an anonymous namespace, says at the
//      top which thread computes what and what lives in shared memory, and starts every kernel
//      with WEFT_LAUNCH. The code must be C++17 (nvcc) and warning-free under both compilers.
//   2. CMake picks the new .cu up by itself, for nvcc and for the emulation (re-run cmake).
//   3. Replace the not_implemented(...) bodies in hand_backend.cu by calls to the launchers.
//   4. tests/test_backend_ops.cpp already has cases for every Backend method; add shapes there
//      (odd sizes, batch 1, sizes that are not a multiple of the tile) and run the `emu` label.
#pragma once

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

class HandBackend : public Backend {
 public:
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
                                const float* beta, float* y, float* save_mean,
                                float* save_invstd, float* running_mean,
                                float* running_var) override;
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
  void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                           const float* y, const float* dy, float* dx) override;
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
  void bce_forward(int64_t count, const float* probs, const float* targets,
                   float* loss) override;
  void bce_backward(int64_t count, const float* probs, const float* targets,
                    const float* grad_loss, float* dprobs) override;
  void mse_forward(int64_t count, const float* x, const float* target, float* loss) override;
  void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                    float* dx) override;

  void sgd_update(const SgdStep& s, float* param, const float* grad,
                  float* momentum_buffer) override;
  void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                   float* exp_avg_sq) override;

 protected:
  // The stream every launch of this backend is queued on.
  virtual cudaStream_t stream() = 0;
  // kReduceScratchFloats floats (reduce.h) that the kernels can address, for partial sums.
  // One buffer serves every call: calls are ordered on the one stream, so a kernel never sees
  // the scratch of a call still in flight.
  virtual float* scratch() = 0;

 private:
  [[noreturn]] void not_implemented(const char* op) const;
};

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
