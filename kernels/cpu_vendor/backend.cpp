// The CPU vendor backend, "cpu-vendor" (backend.h): a PartialBackend (kernels/backend.h) that
// implements the families oneDNN covers here: convolution, transposed convolution, batch
// normalisation, GEMM and linear. Every other method throws weft::NotImplemented and
// implements() says no, so the dispatch (engine/dispatch.h) never picks it for those families.
// Pooling is not among them: oneDNN's max pooling keeps its own workspace where weft's backward
// reads an argmax plane index (kernels/cpu/pool.h), so the family would be half covered.
// Dropout has no vendor path anywhere (kernels/selection.h).
//
// Each method holds the oneDNN context's mutex: plans and their reorder buffers are shared, and
// the one stream is not meant for concurrent submission. oneDNN parallelises inside each call
// with OpenMP. One instance per process, never destroyed (ops may run from static destructors).
#include "kernels/cpu_vendor/backend.h"

#include <mutex>
#include <string>

#include "kernels/cpu_vendor/context.h"
#include "kernels/cpu_vendor/onednn.h"

namespace weft {
namespace {

class CpuVendorBackend final : public PartialBackend {
 public:
  const char* name() const override { return "cpu-vendor"; }
  bool implements(KernelFamily family) const override { return has_vendor_path(family); }

  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_forward(p, x, w, bias, y);
  }
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_backward_data(p, dy, w, dx);
  }
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_backward_filter(p, x, dy, dw, dbias);
  }
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_forward(p, x, w, bias, y);
  }
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_backward_data(p, dy, w, dx);
  }
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_backward_filter(p, x, dy, dw, dbias);
  }

  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override {
    onednn::gemm(p, a, b, c);  // dnnl_sgemm: no plan, nothing shared
  }
  void linear_forward(int n, int in_features, int out_features, const FusedActivation& act,
                      const float* x, const float* w, const float* bias, float* y) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::linear_forward(n, in_features, out_features, x, w, bias, y, act);
  }
  void linear_backward(int n, int in_features, int out_features, const FusedActivation&,
                       const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* dbias) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::linear_backward(n, in_features, out_features, x, w, dy, dx, dw, dbias);
  }

  void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                                const float* beta, float* y, float* save_mean, float* save_invstd,
                                float* running_mean, float* running_var) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::batch_norm_forward_train(p, x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                     running_var);
  }
  void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::batch_norm_forward_eval(p, x, gamma, beta, running_mean, running_var, y);
  }
  void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                           const float* y, const float* gamma, const float* save_mean,
                           const float* save_invstd, float* dx, float* dgamma,
                           float* dbeta) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::batch_norm_backward(p, dy, x, y, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }
  void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                                const float* y, const float* gamma, const float* running_mean,
                                const float* running_var, float* dx, float* dgamma,
                                float* dbeta) override {
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::batch_norm_backward_eval(p, dy, x, y, gamma, running_mean, running_var, dx, dgamma,
                                     dbeta);
  }
};

}  // namespace

Backend& cpu_vendor_backend() {
  static Backend* backend = new CpuVendorBackend();  // never destroyed, see the top
  return *backend;
}

std::string cpu_vendor_version() {
  return onednn::version();
}

}  // namespace weft
