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
//
// Under the math precision tf32 or bf16 every product's factors are rounded first, as the CPU
// reference's are (kernels/cpu/rounded_operand.h), and oneDNN multiplies the rounded values in
// FP32; bias gradients are summed from the unrounded dy by the CPU reference, as on the GPU.
#include "kernels/cpu_vendor/backend.h"

#include <mutex>
#include <string>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rounded_operand.h"
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
    const cpu::RoundedOperand rx(x, p.input_count()), rw(w, p.weight_count());
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_forward(p, rx.get(), rw.get(), bias, y);
  }
  void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w,
                            float* dx) override {
    const cpu::RoundedOperand rdy(dy, p.output_count()), rw(w, p.weight_count());
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_backward_data(p, rdy.get(), rw.get(), dx);
  }
  void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                              float* dbias) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rdy(dy, p.output_count());
    if (dbias && rdy.rounded()) {
      cpu::channel_sums(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
    }
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv2d_backward_filter(p, rx.get(), rdy.get(), dw, rdy.rounded() ? nullptr : dbias);
  }
  void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                                const float* bias, float* y) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rw(w, p.weight_count());
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_forward(p, rx.get(), rw.get(), bias, y);
  }
  void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy,
                                      const float* w, float* dx) override {
    const cpu::RoundedOperand rdy(dy, p.output_count()), rw(w, p.weight_count());
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_backward_data(p, rdy.get(), rw.get(), dx);
  }
  void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    const cpu::RoundedOperand rx(x, p.input_count()), rdy(dy, p.output_count());
    if (dbias && rdy.rounded()) {
      cpu::channel_sums(dy, p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dbias);
    }
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::conv_transpose2d_backward_filter(p, rx.get(), rdy.get(), dw,
                                             rdy.rounded() ? nullptr : dbias);
  }

  void gemm(const GemmParams& p, const float* a, const float* b, float* c) override {
    const cpu::RoundedOperand ra(a, int64_t{p.m} * p.k), rb(b, int64_t{p.k} * p.n);
    onednn::gemm(p, ra.get(), rb.get(), c);  // dnnl_sgemm: no plan, nothing shared
  }
  void linear_forward(int n, int in_features, int out_features, const FusedActivation& act,
                      const float* x, const float* w, const float* bias, float* y) override {
    const cpu::RoundedOperand rx(x, int64_t{n} * in_features),
        rw(w, int64_t{out_features} * in_features);
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::linear_forward(n, in_features, out_features, rx.get(), rw.get(), bias, y, act);
  }
  void linear_backward(int n, int in_features, int out_features, const FusedActivation&,
                       const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* dbias) override {
    const cpu::RoundedOperand rx(x, int64_t{n} * in_features),
        rw(w, int64_t{out_features} * in_features), rdy(dy, int64_t{n} * out_features);
    if (dbias && rdy.rounded()) {
      cpu::linear_backward(n, in_features, out_features, nullptr, nullptr, dy, nullptr, nullptr,
                           dbias);
    }
    std::lock_guard<std::mutex> lock(onednn::context().mutex());
    onednn::linear_backward(n, in_features, out_features, rx.get(), rw.get(), rdy.get(), dx, dw,
                            rdy.rounded() ? nullptr : dbias);
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
