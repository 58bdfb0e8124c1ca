// HandBackend (hand_backend.h): each Backend method forwards to one hand-written kernel launcher
// of this folder. At the end of the file, the two concrete backends built on it: the emulated
// one (host compiler) and the CUDA one of a device (nvcc).
#include "kernels/cuda/hand_backend.h"

#include <string>

#include "engine/error.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/softmax.h"

#if defined(__CUDACC__)
#include <map>
#include <memory>
#include <mutex>

#include "engine/cuda/check.h"
#include "engine/cuda/runtime.h"
#else
#include <vector>
#endif

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void HandBackend::not_implemented(const char* op) const {
  throw NotImplemented(std::string(op) + " is not implemented yet in the hand backend (" +
                       name() + ")");
}

// ---- families without hand kernels yet ----------------------------------------------------------

void HandBackend::conv2d_forward(const Conv2dParams&, const float*, const float*, const float*,
                                 float*) {
  not_implemented("conv2d_forward");
}
void HandBackend::conv2d_backward_data(const Conv2dParams&, const float*, const float*, float*) {
  not_implemented("conv2d_backward_data");
}
void HandBackend::conv2d_backward_filter(const Conv2dParams&, const float*, const float*, float*,
                                         float*) {
  not_implemented("conv2d_backward_filter");
}
void HandBackend::conv_transpose2d_forward(const ConvTranspose2dParams&, const float*,
                                           const float*, const float*, float*) {
  not_implemented("conv_transpose2d_forward");
}
void HandBackend::conv_transpose2d_backward_data(const ConvTranspose2dParams&, const float*,
                                                 const float*, float*) {
  not_implemented("conv_transpose2d_backward_data");
}
void HandBackend::conv_transpose2d_backward_filter(const ConvTranspose2dParams&, const float*,
                                                   const float*, float*, float*) {
  not_implemented("conv_transpose2d_backward_filter");
}

void HandBackend::gemm(const GemmParams&, const float*, const float*, float*) {
  not_implemented("gemm");
}
void HandBackend::linear_forward(int, int, int, const float*, const float*, const float*,
                                 float*) {
  not_implemented("linear_forward");
}
void HandBackend::linear_backward(int, int, int, const float*, const float*, const float*,
                                  float*, float*, float*) {
  not_implemented("linear_backward");
}

void HandBackend::max_pool2d_forward(const Pool2dParams&, const float*, float*, int32_t*) {
  not_implemented("max_pool2d_forward");
}
void HandBackend::max_pool2d_backward(const Pool2dParams&, const float*, const int32_t*,
                                      float*) {
  not_implemented("max_pool2d_backward");
}
void HandBackend::avg_pool2d_forward(const Pool2dParams&, const float*, float*) {
  not_implemented("avg_pool2d_forward");
}
void HandBackend::avg_pool2d_backward(const Pool2dParams&, const float*, float*) {
  not_implemented("avg_pool2d_backward");
}
void HandBackend::global_avg_pool_forward(int, int, int, const float*, float*) {
  not_implemented("global_avg_pool_forward");
}
void HandBackend::global_avg_pool_backward(int, int, int, const float*, float*) {
  not_implemented("global_avg_pool_backward");
}

void HandBackend::batch_norm_forward_train(const BatchNormParams&, const float*, const float*,
                                           const float*, float*, float*, float*, float*,
                                           float*) {
  not_implemented("batch_norm_forward_train");
}
void HandBackend::batch_norm_forward_eval(const BatchNormParams&, const float*, const float*,
                                          const float*, const float*, const float*, float*) {
  not_implemented("batch_norm_forward_eval");
}
void HandBackend::batch_norm_backward(const BatchNormParams&, const float*, const float*,
                                      const float*, const float*, const float*, float*, float*,
                                      float*) {
  not_implemented("batch_norm_backward");
}
void HandBackend::batch_norm_backward_eval(const BatchNormParams&, const float*, const float*,
                                           const float*, const float*, const float*, float*,
                                           float*, float*) {
  not_implemented("batch_norm_backward_eval");
}

// ---- dropout ------------------------------------------------------------------------------------

void HandBackend::dropout_forward(const DropoutParams& p, const float* x, float* y) {
  cuda::dropout_forward(p, x, y, stream());
}
void HandBackend::dropout_backward(const DropoutParams& p, const float* dy, float* dx) {
  cuda::dropout_backward(p, dy, dx, stream());
}

// ---- elementwise --------------------------------------------------------------------------------

void HandBackend::activation_forward(Activation f, float alpha, int64_t count, const float* x,
                                     float* y) {
  cuda::activation_forward(f, alpha, count, x, y, stream());
}
void HandBackend::activation_backward(Activation f, float alpha, int64_t count, const float* x,
                                      const float* y, const float* dy, float* dx) {
  cuda::activation_backward(f, alpha, count, x, y, dy, dx, stream());
}
void HandBackend::binary_forward(BinaryOp op, const BroadcastParams& p, const float* a,
                                 const float* b, float* out) {
  cuda::binary_forward(op, p, a, b, out, stream());
}
void HandBackend::reduce_broadcast(const BroadcastParams& p, const int64_t* strides,
                                   const float* grad, int64_t reduced_count, float* reduced) {
  cuda::reduce_broadcast(p, strides, grad, reduced_count, reduced, scratch(), stream());
}
void HandBackend::affine(int64_t count, float alpha, float beta, const float* x, float* y) {
  cuda::affine(count, alpha, beta, x, y, stream());
}
void HandBackend::scale_by(int64_t count, const float* scale, const float* x, float* y) {
  cuda::scale_by(count, scale, x, y, stream());
}
void HandBackend::axpy_accumulate(int64_t count, float alpha, const float* x, float* y) {
  cuda::axpy_accumulate(count, alpha, x, y, stream());
}
void HandBackend::fill(int64_t count, float value, float* y) {
  cuda::fill(count, value, y, stream());
}
void HandBackend::sum(int64_t count, const float* x, float* out) {
  cuda::sum(count, x, out, scratch(), stream());
}
void HandBackend::u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift,
                            float* y) {
  cuda::u8_to_f32(count, x, scale, shift, y, stream());
}

// ---- softmax ------------------------------------------------------------------------------------

void HandBackend::softmax_forward(int rows, int cols, const float* x, float* y) {
  cuda::softmax_forward(rows, cols, x, y, stream());
}
void HandBackend::softmax_backward(int rows, int cols, const float* y, const float* dy,
                                   float* dx) {
  cuda::softmax_backward(rows, cols, y, dy, dx, stream());
}
void HandBackend::log_softmax_forward(int rows, int cols, const float* x, float* y) {
  cuda::log_softmax_forward(rows, cols, x, y, stream());
}
void HandBackend::log_softmax_backward(int rows, int cols, const float* y, const float* dy,
                                       float* dx) {
  cuda::log_softmax_backward(rows, cols, y, dy, dx, stream());
}

// ---- losses -------------------------------------------------------------------------------------

void HandBackend::cross_entropy_forward(int n, int c, const float* logits,
                                        const int32_t* targets, const float* class_weights,
                                        float label_smoothing, float* loss) {
  cuda::cross_entropy_forward(n, c, logits, targets, class_weights, label_smoothing, loss,
                              scratch(), stream());
}
void HandBackend::cross_entropy_backward(int n, int c, const float* logits,
                                         const int32_t* targets, const float* class_weights,
                                         float label_smoothing, const float* grad_loss,
                                         float* dlogits) {
  cuda::cross_entropy_backward(n, c, logits, targets, class_weights, label_smoothing, grad_loss,
                               dlogits, scratch(), stream());
}
void HandBackend::bce_with_logits_forward(int64_t count, const float* logits,
                                          const float* targets, float* loss) {
  cuda::bce_with_logits_forward(count, logits, targets, loss, scratch(), stream());
}
void HandBackend::bce_with_logits_backward(int64_t count, const float* logits,
                                           const float* targets, const float* grad_loss,
                                           float* dlogits) {
  cuda::bce_with_logits_backward(count, logits, targets, grad_loss, dlogits, stream());
}
void HandBackend::bce_forward(int64_t count, const float* probs, const float* targets,
                              float* loss) {
  cuda::bce_forward(count, probs, targets, loss, scratch(), stream());
}
void HandBackend::bce_backward(int64_t count, const float* probs, const float* targets,
                               const float* grad_loss, float* dprobs) {
  cuda::bce_backward(count, probs, targets, grad_loss, dprobs, stream());
}
void HandBackend::mse_forward(int64_t count, const float* x, const float* target, float* loss) {
  cuda::mse_forward(count, x, target, loss, scratch(), stream());
}
void HandBackend::mse_backward(int64_t count, const float* x, const float* target,
                               const float* grad_loss, float* dx) {
  cuda::mse_backward(count, x, target, grad_loss, dx, stream());
}

// ---- optimizer updates --------------------------------------------------------------------------

void HandBackend::sgd_update(const SgdStep& s, float* param, const float* grad,
                             float* momentum_buffer) {
  cuda::sgd_update(s, param, grad, momentum_buffer, stream());
}
void HandBackend::adam_update(const AdamStep& s, float* param, const float* grad,
                              float* exp_avg, float* exp_avg_sq) {
  cuda::adam_update(s, param, grad, exp_avg, exp_avg_sq, stream());
}

// ---- the concrete backends ----------------------------------------------------------------------

namespace {

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
  const char* name() const override { return "cuda"; }

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

Backend& cuda_backend(int device) {
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
