// The CPU vendor path, "cpu-vendor": weft's convolution, transposed convolution, batch-norm,
// GEMM and linear ops through oneDNN (Debian's libdnnl-dev, 2.x C++ API), one function per
// Backend method it covers, with the same params structs, raw host pointers and write rules as
// the hand CPU kernels (kernels/cpu/conv.h, batchnorm.h, gemm.h):
//   context.cpp   the process's one engine and stream, the plan cache, layout reorders
//   conv.cpp      conv2d and conv_transpose2d through oneDNN's convolution primitives
//   batchnorm.cpp batch normalisation through oneDNN's batch-normalization primitives
//   gemm.cpp      GEMM through dnnl_sgemm, the linear layer through the inner-product primitives
// backend.cpp wraps them as a Backend (kernels/cpu_vendor/backend.h). Compiled only when CMake
// finds oneDNN (WEFT_HAVE_ONEDNN).
//
// Plans. Creating a oneDNN primitive descriptor (which picks the implementation) and its
// primitive costs tens of microseconds to milliseconds (JIT code generation); a plan keeps both
// for one (pass, shape), created on the first call and kept for the process, in a map behind
// the context's mutex. oneDNN's own primitive cache would keep the primitive but not the
// descriptor's implementation search.
//
// Layouts. weft's tensors are plain NCHW / OIHW at every op boundary. Convolutions ask oneDNN
// for its preferred layouts (format_tag::any); where it picks a blocked one (nChw16c and
// friends on AVX-512), the plan reorders into a buffer of its own before the call and back
// after it, and counts each reorder (runtime_counters(): layout_reorders, reorder_bytes). Batch
// norm and the inner product run on the plain layouts directly.
//
// Threads: Debian's oneDNN is built with OpenMP (DNNL_CPU_THREADING_RUNTIME = OMP) against
// libgomp, the runtime weft's own loops and OpenBLAS use, so the three share one thread pool
// and one OMP_NUM_THREADS.
//
// Determinism: oneDNN's developer guide ("Primitive Attributes: deterministic") says most
// primitives are bit-identical run to run in a fixed environment (platform, library, thread
// count) but that some implementations use atomics; the attribute that forces deterministic
// implementations arrived after 2.6 (dnnl::primitive_attr::set_deterministic is not in the 2.6
// headers). So the dispatch counts cpu-vendor as not deterministic: in deterministic mode
// (WEFT_DETERMINISTIC=1) `auto` keeps the hand kernels.
#pragma once

#include <string>

#include "kernels/params.h"

namespace weft::onednn {

// "oneDNN 2.6.3 (cpu runtime OMP, ISA ...)": the library this process loaded.
std::string version();

// ---- convolution (conv.cpp) ----
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx);
void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias);
void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y);
void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    float* dx);
void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias);

// ---- batch normalisation (batchnorm.cpp) ----
void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var);
void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y);
// y: the forward's output, read only with p.activation set.
void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta);
void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta);

// ---- matrix products (gemm.cpp) ----
void gemm(const GemmParams& p, const float* a, const float* b, float* c);
// y = act(x w^T + bias), the activation a post-op of the inner product.
void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, float* y, const FusedActivation& act = {});
void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias);

}  // namespace weft::onednn
