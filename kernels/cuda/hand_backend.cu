// The hand-written CUDA kernels of this folder as Backends (kernels/backend.h). HandBackend's
// methods each forward to one family's launcher with the backend's stream and, where a launcher
// needs it, a workspace or the scratch buffer. The file is compiled twice, like every file here:
//   under nvcc it defines the backend of a GPU (cuda_hand_backend(), named "cuda-hand"): device
//     pointers, the device's one stream from kernels/cuda_runtime/runtime.h;
//   on the host it defines the emulated backend (emu_backend(), named "emu"): host pointers,
//     kernels run by the emulation (emulation.h); this is how CI tests every kernel against the
//     CPU reference.
// Every family has hand kernels: convolution and transposed convolution (conv.cu), GEMM and
// linear (gemm.cu), pooling (pool.cu), batch normalisation (batchnorm.cu), dropout, elementwise,
// softmax, losses, reductions and optimizer updates.
//
// Adding a kernel family (conv.cu, say):
//   1. kernels/cuda/conv.h declares the launchers inside
//      `namespace weft::cuda { inline namespace WEFT_KERNEL_ABI {` with the params struct,
//      pointers and a trailing cudaStream_t; conv.cu includes cuda_compat.h (through the
//      header), common.h and launch.h, keeps its kernels in an anonymous namespace, says at the
//      top which thread computes what and what lives in shared memory, and starts every kernel
//      with WEFT_LAUNCH. The code must be C++17 (nvcc) and warning-free under both compilers.
//   2. CMake picks the new .cu up by itself, for nvcc and for the emulation (re-run cmake).
//   3. Call the launchers from HandBackend's methods below.
//   4. Add cases to the op table (tests/test_backend_ops.cpp): odd sizes, batch 1, sizes that
//      are not a multiple of the tile; run the `emu` label.
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/softmax.h"
#include "kernels/error.h"

#if defined(__CUDACC__)
#include <map>
#include <memory>
#include <mutex>

#include "kernels/cuda_runtime/check.h"
#include "kernels/cuda_runtime/runtime.h"
#else
#include <vector>

#include "kernels/emu_memory.h"
#endif

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// ---- workspace ------------------------------------------------------------------------------

namespace {

// Device memory a launcher needs for one call (partial results of split reductions), taken for
// the duration of the call. On a GPU it comes from the device's caching allocator and goes back
// to it when the call returns, while the kernels may still be queued: that is safe because every
// kernel of the device runs on its one stream, so whatever receives the block next is ordered
// after them (kernels/cuda_runtime/runtime.h). Under emulation it comes from the emulated
// device's pool (kernels/emu_memory.h), for the same reason and so that a graph capture keeps it.
class Workspace {
 public:
  explicit Workspace(int64_t floats)
      : bytes_(static_cast<size_t>(floats > 0 ? floats : 0) * sizeof(float)) {
    if (bytes_ == 0) return;
#if defined(__CUDACC__)
    WEFT_CUDA_CHECK(cudaGetDevice(&device_));
    data_ = static_cast<float*>(cached_malloc(device_, bytes_));
#else
    data_ = static_cast<float*>(emu_memory::allocate(bytes_));
#endif
  }
  ~Workspace() {
    if (data_ == nullptr) return;
#if defined(__CUDACC__)
    cached_free(device_, data_, bytes_);
#else
    emu_memory::release(data_, bytes_);
#endif
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  float* data() const { return data_; }

 private:
  size_t bytes_;
  float* data_ = nullptr;
#if defined(__CUDACC__)
  int device_ = 0;
#endif
};

// Every op of WEFT_BACKEND_OPS, on the stream and scratch buffer that the concrete backend at the
// end of the file provides.
class HandBackend : public Backend {
 public:
  // ---- convolution ----

  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override {
    cudaStream_t s = stream();  // first: it makes this backend's device current
    Workspace workspace(cuda::conv2d_forward_workspace_floats(p));
    cuda::conv2d_forward(p, x, w, bias, y, workspace.data(), s);
  }
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::conv2d_backward_data_workspace_floats(p));
    cuda::conv2d_backward_data(p, dy, w, dx, workspace.data(), s);
  }
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override {
    cudaStream_t s = stream();  // first: it makes this backend's device current
    Workspace workspace(cuda::conv2d_backward_filter_workspace_floats(p));
    cuda::conv2d_backward_filter(p, x, dy, dw, dbias, workspace.data(), s);
  }
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::conv2d_backward_data_workspace_floats(p.as_conv()));
    cuda::conv_transpose2d_forward(p, x, w, bias, y, workspace.data(), s);
  }
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::conv2d_forward_workspace_floats(p.as_conv()));
    cuda::conv_transpose2d_backward_data(p, dy, w, dx, workspace.data(), s);
  }
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::conv_transpose2d_backward_filter_workspace_floats(p));
    cuda::conv_transpose2d_backward_filter(p, x, dy, dw, dbias, workspace.data(), s);
  }

  // ---- matrix products ----

  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override {
    Workspace workspace(cuda::gemm_workspace_floats(p));
    cuda::gemm(p, a, b, c, workspace.data(), stream());
  }
  void linear_forward(int n, int in_features, int out_features, const FusedActivation& act,
                      const float* x, const float* w, const float* bias, float* y) override {
    Workspace workspace(cuda::linear_workspace_floats(n, in_features, out_features));
    cuda::linear_forward(n, in_features, out_features, x, w, bias, act, y, workspace.data(),
                         stream());
  }
  void linear_backward(int n, int in_features, int out_features, const FusedActivation&,
                       const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* dbias) override {
    Workspace workspace(cuda::linear_workspace_floats(n, in_features, out_features));
    cuda::linear_backward(n, in_features, out_features, x, w, dy, dx, dw, dbias, workspace.data(),
                          stream());
  }

  // ---- pooling ----

  void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y,
                          int32_t* argmax) override {
    cuda::max_pool2d_forward(p, x, y, argmax, stream());
  }
  void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                           const int32_t* argmax, float* dx) override {
    cuda::max_pool2d_backward(p, dy, y, argmax, dx, stream());
  }
  bool fuses_conv_max_pool(const Conv2dParams& c, const Pool2dParams& pool) override {
    return cuda::conv2d_max_pool2d_fuses(c, pool);
  }
  // One kernel where it fuses; otherwise the convolution into a workspace, then the pool.
  void conv2d_max_pool2d_forward(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                                 const float* w, const float* bias, float* y,
                                 int32_t* argmax) override {
    check_conv_max_pool(c, pool);
    cudaStream_t s = stream();
    if (cuda::conv2d_max_pool2d_fuses(c, pool)) {
      cuda::conv2d_max_pool2d_forward_fused(c, pool, x, w, bias, y, argmax, s);
      return;
    }
    Workspace conv_out(c.output_count());
    conv2d_forward(c, x, w, bias, conv_out.data());
    cuda::max_pool2d_forward(pool, conv_out.data(), y, argmax, s);
  }
  bool fuses_conv_max_pool_filter(const Conv2dParams& c, const Pool2dParams& pool) override {
    return cuda::conv2d_max_pool2d_filter_fuses(c, pool);
  }
  // One product that forms dconv as it reads it where it fuses; otherwise the pool's backward
  // into a workspace, then the convolution's backward-filter.
  void conv2d_max_pool2d_backward_filter(const Conv2dParams& c, const Pool2dParams& pool,
                                         const float* x, const float* dy, const float* y,
                                         const int32_t* argmax, float* dw,
                                         float* dbias) override {
    check_conv_max_pool(c, pool);
    check_pool_activation(pool, y);
    cudaStream_t s = stream();
    if (cuda::conv2d_max_pool2d_filter_fuses(c, pool)) {
      Workspace workspace(cuda::conv2d_max_pool2d_filter_workspace_floats(c));
      cuda::conv2d_max_pool2d_backward_filter_fused(c, pool, x, dy, y, argmax, dw, dbias,
                                                    workspace.data(), s);
      return;
    }
    Workspace conv_gradient(c.output_count());
    cuda::max_pool2d_backward(pool, dy, y, argmax, conv_gradient.data(), s);
    conv2d_backward_filter(c, x, conv_gradient.data(), dw, dbias);
  }
  void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) override {
    cuda::avg_pool2d_forward(p, x, y, stream());
  }
  void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) override {
    cuda::avg_pool2d_backward(p, dy, dx, stream());
  }
  void global_avg_pool_forward(int batch, int channels, int plane, const float* x,
                               float* y) override {
    cuda::global_avg_pool_forward(batch, channels, plane, x, y, stream());
  }
  void global_avg_pool_backward(int batch, int channels, int plane, const float* dy,
                                float* dx) override {
    cuda::global_avg_pool_backward(batch, channels, plane, dy, dx, stream());
  }

  // ---- batch normalisation ----

  void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                                const float* beta, float* y, float* save_mean, float* save_invstd,
                                float* running_mean, float* running_var) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::batch_norm_workspace_floats(p));
    cuda::batch_norm_forward_train(p, x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                   running_var, workspace.data(), s);
  }
  void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override {
    cuda::batch_norm_forward_eval(p, x, gamma, beta, running_mean, running_var, y, stream());
  }
  void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                           const float* y, const float* gamma, const float* save_mean,
                           const float* save_invstd, float* dx, float* dgamma,
                           float* dbeta) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::batch_norm_workspace_floats(p));
    cuda::batch_norm_backward(p, dy, x, y, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                              workspace.data(), s);
  }
  void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                                const float* y, const float* gamma, const float* running_mean,
                                const float* running_var, float* dx, float* dgamma,
                                float* dbeta) override {
    cudaStream_t s = stream();
    Workspace workspace(cuda::batch_norm_workspace_floats(p));
    cuda::batch_norm_backward_eval(p, dy, x, y, gamma, running_mean, running_var, dx, dgamma,
                                   dbeta, workspace.data(), s);
  }

  // ---- dropout ----

  void dropout_forward(const DropoutParams& p, const float* x, float* y) override {
    cuda::dropout_forward(p, x, y, stream());
  }
  void dropout_backward(const DropoutParams& p, const float* dy, float* dx) override {
    cuda::dropout_backward(p, dy, dx, stream());
  }
  void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act,
                                  const float* x, float* y) override {
    cuda::activation_dropout_forward(p, act, x, y, stream());
  }
  void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act,
                                   const float* x, const float* dy, float* dx) override {
    cuda::activation_dropout_backward(p, act, x, dy, dx, stream());
  }

  // ---- elementwise ----

  void activation_forward(Activation f, float alpha, int64_t count, const float* x,
                          float* y) override {
    cuda::activation_forward(f, alpha, count, x, y, stream());
  }
  void activation_backward(Activation f, float alpha, int64_t count, const float* x, const float* y,
                           const float* dy, float* dx) override {
    cuda::activation_backward(f, alpha, count, x, y, dy, dx, stream());
  }
  void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                      float* out) override {
    cuda::binary_forward(op, p, a, b, out, stream());
  }
  void add_relu_forward(int64_t count, const float* a, const float* b, float* y) override {
    cuda::add_relu_forward(count, a, b, y, stream());
  }
  void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                        int64_t reduced_count, float* reduced) override {
    cuda::reduce_broadcast(p, strides, grad, reduced_count, reduced, scratch(), stream());
  }
  void affine(int64_t count, float alpha, float beta, const float* x, float* y) override {
    cuda::affine(count, alpha, beta, x, y, stream());
  }
  void scale_by(int64_t count, const float* scale, const float* x, float* y) override {
    cuda::scale_by(count, scale, x, y, stream());
  }
  void axpy_accumulate(int64_t count, float alpha, const float* x, float* y) override {
    cuda::axpy_accumulate(count, alpha, x, y, stream());
  }
  void fill(int64_t count, float value, float* y) override {
    cuda::fill(count, value, y, stream());
  }
  void sum(int64_t count, const float* x, float* out) override {
    cuda::sum(count, x, out, scratch(), stream());
  }
  void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y) override {
    cuda::u8_to_f32(count, x, scale, shift, y, stream());
  }
  void gather_u8_to_f32(int rows, int64_t row_elements, const uint8_t* src,
                        const int32_t* indices, float scale, float shift, float* y) override {
    cuda::gather_u8_to_f32(rows, row_elements, src, indices, scale, shift, y, stream());
  }
  void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src,
                                const int32_t* moves, float* y) override {
    cuda::gather_augment_u8_to_f32(p, src, moves, y, stream());
  }

  // ---- softmax ----

  void softmax_forward(int rows, int cols, const float* x, float* y) override {
    cuda::softmax_forward(rows, cols, x, y, stream());
  }
  void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx) override {
    cuda::softmax_backward(rows, cols, y, dy, dx, stream());
  }
  void log_softmax_forward(int rows, int cols, const float* x, float* y) override {
    cuda::log_softmax_forward(rows, cols, x, y, stream());
  }
  void log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                            float* dx) override {
    cuda::log_softmax_backward(rows, cols, y, dy, dx, stream());
  }

  // ---- losses ----

  void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                             const float* class_weights, float label_smoothing,
                             float* loss) override {
    cuda::cross_entropy_forward(n, c, logits, targets, class_weights, label_smoothing, loss,
                                scratch(), stream());
  }
  void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                              const float* class_weights, float label_smoothing,
                              const float* grad_loss, float* dlogits) override {
    cuda::cross_entropy_backward(n, c, logits, targets, class_weights, label_smoothing, grad_loss,
                                 dlogits, scratch(), stream());
  }
  void cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                      const float* class_weights, float label_smoothing,
                                      float* loss, float* dlogits) override {
    cuda::cross_entropy_forward_backward(n, c, logits, targets, class_weights, label_smoothing,
                                         loss, dlogits, scratch(), stream());
  }
  void bce_with_logits_forward(int64_t count, const float* logits, const float* targets,
                               float* loss) override {
    cuda::bce_with_logits_forward(count, logits, targets, loss, scratch(), stream());
  }
  void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                                const float* grad_loss, float* dlogits) override {
    cuda::bce_with_logits_backward(count, logits, targets, grad_loss, dlogits, stream());
  }
  void bce_forward(int64_t count, const float* probs, const float* targets, float* loss) override {
    cuda::bce_forward(count, probs, targets, loss, scratch(), stream());
  }
  void bce_backward(int64_t count, const float* probs, const float* targets, const float* grad_loss,
                    float* dprobs) override {
    cuda::bce_backward(count, probs, targets, grad_loss, dprobs, stream());
  }
  void mse_forward(int64_t count, const float* x, const float* target, float* loss) override {
    cuda::mse_forward(count, x, target, loss, scratch(), stream());
  }
  void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                    float* dx) override {
    cuda::mse_backward(count, x, target, grad_loss, dx, stream());
  }
  void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                         float* hits) override {
    cuda::count_argmax_hits(rows, cols, logits, labels, hits, stream());
  }
  void count_threshold_hits(int64_t count, const float* logits, const float* targets,
                            float* hits) override {
    cuda::count_threshold_hits(count, logits, targets, hits, stream());
  }

  // ---- optimizer updates ----

  void sgd_update(const SgdStep& s, float* param, const float* grad,
                  float* momentum_buffer) override {
    cuda::sgd_update(s, param, grad, momentum_buffer, stream());
  }
  void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                   float* exp_avg_sq) override {
    cuda::adam_update(s, param, grad, exp_avg, exp_avg_sq, stream());
  }
  void sgd_update_multi(const SgdStep& s, int tensors, const int64_t* counts, float* const* params,
                        const float* const* grads, float* const* momentum_buffers) override {
    cuda::sgd_update_multi(s, tensors, counts, params, grads, momentum_buffers, stream());
  }
  void adam_update_multi(const AdamStep& s, int tensors, const int64_t* counts,
                         float* const* params, const float* const* grads, float* const* exp_avgs,
                         float* const* exp_avg_sqs) override {
    cuda::adam_update_multi(s, tensors, counts, params, grads, exp_avgs, exp_avg_sqs, stream());
  }

 protected:
  // The stream every launch of this backend is queued on.
  virtual cudaStream_t stream() = 0;
  // kReduceScratchFloats floats (reduce.h) that the kernels can address, for partial sums.
  // One buffer serves every call: calls are ordered on the one stream, so a kernel never sees
  // the scratch of a call still in flight.
  virtual float* scratch() = 0;
};

// ---- the concrete backends ----------------------------------------------------------------------

#if defined(__CUDACC__)

// The hand kernels on GPU `device`, queued on the device's one stream.
class CudaBackend final : public HandBackend {
 public:
  explicit CudaBackend(int device) : device_(device), stream_(device_stream(device)) {
    // Kept for the life of the process: the backend is a per-device singleton, and freeing at
    // exit could run after the CUDA runtime has shut down.
    scratch_ = static_cast<float*>(
        cached_malloc(device, static_cast<size_t>(kReduceScratchFloats) * sizeof(float)));
  }
  const char* name() const override { return "cuda-hand"; }

 protected:
  cudaStream_t stream() override {
    int current = -1;
    WEFT_CUDA_CHECK(cudaGetDevice(&current));
    if (current != device_) WEFT_CUDA_CHECK(cudaSetDevice(device_));
    return stream_;
  }
  float* scratch() override { return scratch_; }

 private:
  int device_;
  cudaStream_t stream_;
  float* scratch_ = nullptr;
};

#else

// The hand kernels under host emulation, on host memory. Launches run to completion before they
// return, so the stream is only a token.
class EmulatedBackend final : public HandBackend {
 public:
  EmulatedBackend() : scratch_(static_cast<size_t>(kReduceScratchFloats)) {}
  const char* name() const override { return "emu"; }

 protected:
  cudaStream_t stream() override { return nullptr; }
  float* scratch() override { return scratch_.data(); }

 private:
  std::vector<float> scratch_;
};

#endif

}  // namespace
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda

namespace weft {

#if defined(__CUDACC__)

Backend& cuda_hand_backend(int device) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<cuda::CudaBackend>> backends;
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<cuda::CudaBackend>& backend = backends[device];
  if (!backend) backend = std::make_unique<cuda::CudaBackend>(device);
  return *backend;
}

#else

Backend& emu_backend() {
  static cuda::EmulatedBackend backend;
  return backend;
}

#endif

}  // namespace weft
