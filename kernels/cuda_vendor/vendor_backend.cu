// The vendor backend of a GPU, "cuda-vendor" (kernels/cuda/backends.h): a PartialBackend
// (kernels/backend.h) that implements the families cuDNN and cuBLAS cover here: convolution,
// transposed convolution, batch normalisation, GEMM and linear. Every other method throws
// weft::NotImplemented and implements() says no, so the dispatch (engine/dispatch.h) never picks
// it for those families, and the op-case table can run it alone (those cases count as skipped).
// Dropout is deliberately not among them: see has_vendor_path() in kernels/selection.h.
//
// Lifetime: one instance per device, created on first use and kept until the process ends
// without being destroyed, like the hand backend: destroying cuDNN/cuBLAS handles from a static
// destructor could run after the CUDA runtime has shut down.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda_vendor/cublas_library.h"
#include "kernels/cuda_vendor/vendor.h"

namespace weft::vendor {
namespace {

class VendorBackend final : public PartialBackend {
 public:
  explicit VendorBackend(int device) : context_(device) {}
  const char* name() const override { return "cuda-vendor"; }
  bool implements(KernelFamily family) const override { return has_vendor_path(family); }

  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv2d_forward(context_, p, x, w, bias, y);
  }
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv2d_backward_data(context_, p, dy, w, dx);
  }
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv2d_backward_filter(context_, p, x, dy, dw, dbias);
  }
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv_transpose2d_forward(context_, p, x, w, bias, y);
  }
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv_transpose2d_backward_data(context_, p, dy, w, dx);
  }
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::conv_transpose2d_backward_filter(context_, p, x, dy, dw, dbias);
  }

  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::gemm(context_, p, a, b, c);
  }
  void linear_forward(int n, int in_features, int out_features, const FusedActivation& act,
                      const float* x, const float* w, const float* bias, float* y) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::linear_forward(context_, n, in_features, out_features, x, w, bias, act, y);
  }
  void linear_backward(int n, int in_features, int out_features, const FusedActivation&,
                       const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* dbias) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::linear_backward(context_, n, in_features, out_features, x, w, dy, dx, dw, dbias);
  }

  void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                                const float* beta, float* y, float* save_mean, float* save_invstd,
                                float* running_mean, float* running_var) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::batch_norm_forward_train(context_, p, x, gamma, beta, y, save_mean, save_invstd,
                                     running_mean, running_var);
  }
  void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::batch_norm_forward_eval(context_, p, x, gamma, beta, running_mean, running_var, y);
  }
  void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                           const float* y, const float* gamma, const float* save_mean,
                           const float* save_invstd, float* dx, float* dgamma,
                           float* dbeta) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::batch_norm_backward(context_, p, dy, x, y, gamma, save_mean, save_invstd, dx, dgamma,
                                dbeta);
  }
  void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                                const float* y, const float* gamma, const float* running_mean,
                                const float* running_var, float* dx, float* dgamma,
                                float* dbeta) override {
    std::lock_guard<std::mutex> lock(context_.mutex());
    vendor::batch_norm_backward_eval(context_, p, dy, x, y, gamma, running_mean, running_var, dx,
                                     dgamma, dbeta);
  }

 private:
  Context context_;
};

}  // namespace

}  // namespace weft::vendor

namespace weft {

Backend& cuda_vendor_backend(int device) {
  static std::mutex mutex;
  static std::map<int, Backend*> backends;  // never destroyed, see the top of this file
  std::lock_guard<std::mutex> lock(mutex);
  Backend*& backend = backends[device];
  if (backend == nullptr) backend = new vendor::VendorBackend(device);
  return *backend;
}

std::string cuda_vendor_versions() {
  const size_t cudnn = cudnnGetVersion();  // major * 10000 + minor * 100 + patch (cuDNN 9)
  int major = 0, minor = 0, patch = 0;
  const vendor::CublasLibrary& cublas = vendor::cublas_library();
  cublas.get_property(MAJOR_VERSION, &major);
  cublas.get_property(MINOR_VERSION, &minor);
  cublas.get_property(PATCH_LEVEL, &patch);
  return "cuDNN " + std::to_string(cudnn / 10000) + "." + std::to_string(cudnn / 100 % 100) + "." +
         std::to_string(cudnn % 100) + ", cuBLAS " + std::to_string(major) + "." +
         std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace weft
