// The kernel interface every backend implements: one virtual function per kernel, each taking
// raw device pointers and a params struct (kernels/params.h). engine/ops/ defines each op once
// (shape rule, parameters, backward) and calls the dispatch of its tensors' device
// (engine/dispatch.h), which picks one backend of that device and calls it; the op never knows
// which implementation runs.
//
// The list of kernels is written once, in WEFT_BACKEND_OPS below: family, name, typed parameter
// list, argument list. The Backend class is generated from it, and so are the stubs of a backend
// that implements only some families (PartialBackend), the dispatch's methods (engine/dispatch.h)
// and the tests' recording fakes. A backend that implements every op writes its methods out once
// (kernels/cpu/backend.cpp, kernels/cuda/hand_backend.cu).
//
// Backends, by name:
//   cpu          kernels/cpu/          the reference for every op (OpenBLAS, OpenMP)
//   cuda-hand    kernels/cuda/         weft's own CUDA kernels on a GPU
//   emu          kernels/cuda/         the same sources under the host emulation of CUDA (tests)
//   cuda-vendor  kernels/cuda_vendor/  cuDNN and cuBLAS: conv, conv_transpose, batchnorm, gemm
//   cpu-vendor   kernels/cpu_vendor/   oneDNN (when built with it): the same four families
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

#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft {

// Hyper-parameters of one optimizer step for one parameter tensor. Bias corrections and
// schedules are computed on the host from `step` and passed by value - or, in a captured graph
// (engine/graph.h), where values passed by value would be frozen at capture, read by the kernel
// from `device_scalars` in the backend's memory, which the optimizer writes before each replay:
// SGD [lr]; Adam the three numbers of AdamScalars, in its order.
struct SgdStep {
  int64_t count = 0;
  float lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as the first gradient (PyTorch)
  const float* device_scalars = nullptr;
};
struct AdamStep {
  int64_t count = 0;
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
  int64_t step = 1;                     // 1 for the first update
  const float* device_scalars = nullptr;
};

// Adam's numbers that depend on the step and the learning rate, computed once per step on the
// host in double (as the CPU reference does), so every backend uses the same floats.
struct AdamScalars {
  float step_size;   // lr / (1 - beta1^t)
  float bias2_sqrt;  // sqrt(1 - beta2^t)
  float decay;       // AdamW: 1 - lr * weight_decay; Adam: 1
};
AdamScalars adam_scalars(const AdamStep& s);

// ---- the op table ----------------------------------------------------------------------------
//
// X(family, name, (typed parameters), (arguments)). The family is the unit of the kernel choice
// (kernels/selection.h, WEFT_KERNELS); the ops of one family that share a params struct (a
// forward and its backwards) always run on the same backend.
#define WEFT_BACKEND_OPS(X)                                                                       \
  /* ---- convolution ---- */                                                                    \
  X(conv, conv2d_forward,                                                                         \
    (const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y),         \
    (p, x, w, bias, y))                                                                           \
  X(conv, conv2d_backward_data,                                                                   \
    (const Conv2dParams& p, const float* dy, const float* w, float* dx), (p, dy, w, dx))          \
  X(conv, conv2d_backward_filter,                                                                 \
    (const Conv2dParams& p, const float* x, const float* dy, float* dw, float* dbias),            \
    (p, x, dy, dw, dbias))                                                                        \
  X(conv_transpose, conv_transpose2d_forward,                                                     \
    (const ConvTranspose2dParams& p, const float* x, const float* w, const float* bias,           \
     float* y),                                                                                   \
    (p, x, w, bias, y))                                                                           \
  X(conv_transpose, conv_transpose2d_backward_data,                                               \
    (const ConvTranspose2dParams& p, const float* dy, const float* w, float* dx),                 \
    (p, dy, w, dx))                                                                               \
  X(conv_transpose, conv_transpose2d_backward_filter,                                             \
    (const ConvTranspose2dParams& p, const float* x, const float* dy, float* dw, float* dbias),   \
    (p, x, dy, dw, dbias))                                                                        \
  /* ---- matrix products ---- */                                                               \
  X(gemm, gemm, (const GemmParams& p, const float* a, const float* b, float* c), (p, a, b, c))    \
  /* act: applied by the forward after the bias; the backward ignores it (dy arrives already */  \
  /* multiplied by its derivative) but takes it so its autotune key names the same layer */     \
  X(gemm, linear_forward,                                                                         \
    (int n, int in_features, int out_features, const FusedActivation& act, const float* x,       \
     const float* w, const float* bias, float* y),                                                \
    (n, in_features, out_features, act, x, w, bias, y))                                           \
  X(gemm, linear_backward,                                                                        \
    (int n, int in_features, int out_features, const FusedActivation& act, const float* x,       \
     const float* w, const float* dy, float* dx, float* dw, float* dbias),                        \
    (n, in_features, out_features, act, x, w, dy, dx, dw, dbias))                                 \
  /* ---- pooling ---- */                                                                       \
  X(pool, max_pool2d_forward,                                                                     \
    (const Pool2dParams& p, const float* x, float* y, int32_t* argmax), (p, x, y, argmax))       \
  /* y: the forward's output, read only with p.activation set (may be null otherwise) */          \
  X(pool, max_pool2d_backward,                                                                    \
    (const Pool2dParams& p, const float* dy, const float* y, const int32_t* argmax, float* dx),   \
    (p, dy, y, argmax, dx))                                                                       \
  /* y, argmax = max_pool2d_forward(pool, conv2d_forward(c, x, w, bias)): the convolution */     \
  /* without an activation, its output not stored where the backend fuses the two */            \
  X(pool, conv2d_max_pool2d_forward,                                                              \
    (const Conv2dParams& c, const Pool2dParams& pool, const float* x, const float* w,             \
     const float* bias, float* y, int32_t* argmax),                                               \
    (c, pool, x, w, bias, y, argmax))                                                             \
  /* dw, dbias (may be null) of that convolution from the pool's dy, y (read with */              \
  /* pool.activation) and argmax: conv2d_backward_filter of max_pool2d_backward's result */      \
  X(pool, conv2d_max_pool2d_backward_filter,                                                      \
    (const Conv2dParams& c, const Pool2dParams& pool, const float* x, const float* dy,            \
     const float* y, const int32_t* argmax, float* dw, float* dbias),                             \
    (c, pool, x, dy, y, argmax, dw, dbias))                                                       \
  X(pool, avg_pool2d_forward, (const Pool2dParams& p, const float* x, float* y), (p, x, y))       \
  X(pool, avg_pool2d_backward, (const Pool2dParams& p, const float* dy, float* dx), (p, dy, dx))  \
  X(pool, global_avg_pool_forward,                                                                \
    (int batch, int channels, int plane, const float* x, float* y),                               \
    (batch, channels, plane, x, y))                                                               \
  X(pool, global_avg_pool_backward,                                                               \
    (int batch, int channels, int plane, const float* dy, float* dx),                             \
    (batch, channels, plane, dy, dx))                                                             \
  /* ---- batch normalisation ---- */                                                           \
  X(batchnorm, batch_norm_forward_train,                                                          \
    (const BatchNormParams& p, const float* x, const float* gamma, const float* beta, float* y,   \
     float* save_mean, float* save_invstd, float* running_mean, float* running_var),              \
    (p, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var))                    \
  X(batchnorm, batch_norm_forward_eval,                                                           \
    (const BatchNormParams& p, const float* x, const float* gamma, const float* beta,             \
     const float* running_mean, const float* running_var, float* y),                              \
    (p, x, gamma, beta, running_mean, running_var, y))                                            \
  /* y: the forward's output, read only with p.activation set (may be null otherwise) */          \
  X(batchnorm, batch_norm_backward,                                                               \
    (const BatchNormParams& p, const float* dy, const float* x, const float* y,                   \
     const float* gamma, const float* save_mean, const float* save_invstd, float* dx,             \
     float* dgamma, float* dbeta),                                                                \
    (p, dy, x, y, gamma, save_mean, save_invstd, dx, dgamma, dbeta))                              \
  X(batchnorm, batch_norm_backward_eval,                                                          \
    (const BatchNormParams& p, const float* dy, const float* x, const float* y,                   \
     const float* gamma, const float* running_mean, const float* running_var, float* dx,          \
     float* dgamma, float* dbeta),                                                                \
    (p, dy, x, y, gamma, running_mean, running_var, dx, dgamma, dbeta))                           \
  /* ---- dropout ---- */                                                                       \
  X(dropout, dropout_forward, (const DropoutParams& p, const float* x, float* y), (p, x, y))      \
  X(dropout, dropout_backward, (const DropoutParams& p, const float* dy, float* dx), (p, dy, dx)) \
  /* y = dropout(act(x)): act (relu or leaky_relu) then dropout_forward's mask and scale; */     \
  /* backward dx = keep ? act'(x) * (dy * scale) : 0, the mask drawn again from p */             \
  X(dropout, activation_dropout_forward,                                                          \
    (const DropoutParams& p, const FusedActivation& act, const float* x, float* y),               \
    (p, act, x, y))                                                                               \
  X(dropout, activation_dropout_backward,                                                         \
    (const DropoutParams& p, const FusedActivation& act, const float* x, const float* dy,         \
     float* dx),                                                                                  \
    (p, act, x, dy, dx))                                                                          \
  /* ---- elementwise ---- */                                                                   \
  X(elementwise, activation_forward,                                                              \
    (Activation f, float alpha, int64_t count, const float* x, float* y),                         \
    (f, alpha, count, x, y))                                                                      \
  /* dx = dy * f'; reads x, or y where activation_backward_reads_output(f) (params.h): the */   \
  /* other may be null */                                                                       \
  X(elementwise, activation_backward,                                                             \
    (Activation f, float alpha, int64_t count, const float* x, const float* y, const float* dy,  \
     float* dx),                                                                                  \
    (f, alpha, count, x, y, dy, dx))                                                              \
  X(elementwise, binary_forward,                                                                  \
    (BinaryOp op, const BroadcastParams& p, const float* a, const float* b, float* out),          \
    (op, p, a, b, out))                                                                           \
  /* y = max(a + b, 0), a and b of `count` elements each (a residual add and its ReLU); its */    \
  /* backward is activation_backward(relu) read at y, shared by a and b */                       \
  X(elementwise, add_relu_forward, (int64_t count, const float* a, const float* b, float* y),     \
    (count, a, b, y))                                                                             \
  X(elementwise, reduce_broadcast,                                                                \
    (const BroadcastParams& p, const int64_t* strides, const float* grad,                         \
     int64_t reduced_count, float* reduced),                                                      \
    (p, strides, grad, reduced_count, reduced))                                                   \
  X(elementwise, affine, (int64_t count, float alpha, float beta, const float* x, float* y),      \
    (count, alpha, beta, x, y))                                                                   \
  /* y = x * (*scale): scale a tensor by a scalar that lives on the device */                   \
  X(elementwise, scale_by, (int64_t count, const float* scale, const float* x, float* y),         \
    (count, scale, x, y))                                                                         \
  X(elementwise, axpy_accumulate, (int64_t count, float alpha, const float* x, float* y),         \
    (count, alpha, x, y))                                                                         \
  X(elementwise, fill, (int64_t count, float value, float* y), (count, value, y))                 \
  /* out: one element */                                                                        \
  X(elementwise, sum, (int64_t count, const float* x, float* out), (count, x, out))               \
  /* y = x * scale + shift, pixels to floats */                                                 \
  X(elementwise, u8_to_f32,                                                                       \
    (int64_t count, const uint8_t* x, float scale, float shift, float* y),                        \
    (count, x, scale, shift, y))                                                                  \
  /* y[r, :] = src[indices[r], :] * scale + shift: a batch of rows gathered from a data set   \
     resident on the device, as floats (rows of row_elements bytes) */                          \
  X(elementwise, gather_u8_to_f32,                                                                \
    (int rows, int64_t row_elements, const uint8_t* src, const int32_t* indices, float scale,     \
     float shift, float* y),                                                                      \
    (rows, row_elements, src, indices, scale, shift, y))                                          \
  /* the same with each image flipped and shifted by whole pixels: moves[r, 0..4] = source */    \
  /* image, flip_x, flip_y, sx, sy (kernels/params.h ImageGatherParams) */                        \
  X(elementwise, gather_augment_u8_to_f32,                                                        \
    (const ImageGatherParams& p, const uint8_t* src, const int32_t* moves, float* y),             \
    (p, src, moves, y))                                                                           \
  /* ---- softmax ---- */                                                                       \
  X(softmax, softmax_forward, (int rows, int cols, const float* x, float* y), (rows, cols, x, y)) \
  X(softmax, softmax_backward,                                                                    \
    (int rows, int cols, const float* y, const float* dy, float* dx), (rows, cols, y, dy, dx))    \
  X(softmax, log_softmax_forward, (int rows, int cols, const float* x, float* y),                 \
    (rows, cols, x, y))                                                                           \
  X(softmax, log_softmax_backward,                                                                \
    (int rows, int cols, const float* y, const float* dy, float* dx), (rows, cols, y, dy, dx))    \
  /* ---- losses: mean over samples, written to `loss` (one element) ---- */                    \
  X(loss, cross_entropy_forward,                                                                  \
    (int n, int c, const float* logits, const int32_t* targets, const float* class_weights,       \
     float label_smoothing, float* loss),                                                         \
    (n, c, logits, targets, class_weights, label_smoothing, loss))                                \
  X(loss, cross_entropy_backward,                                                                 \
    (int n, int c, const float* logits, const int32_t* targets, const float* class_weights,       \
     float label_smoothing, const float* grad_loss, float* dlogits),                              \
    (n, c, logits, targets, class_weights, label_smoothing, grad_loss, dlogits))                  \
  /* training's forward: loss as cross_entropy_forward and, in the same pass, dlogits as */      \
  /* cross_entropy_backward writes it for grad_loss = 1 (a backward then only scales it) */      \
  X(loss, cross_entropy_forward_backward,                                                         \
    (int n, int c, const float* logits, const int32_t* targets, const float* class_weights,       \
     float label_smoothing, float* loss, float* dlogits),                                         \
    (n, c, logits, targets, class_weights, label_smoothing, loss, dlogits))                       \
  X(loss, bce_with_logits_forward,                                                                \
    (int64_t count, const float* logits, const float* targets, float* loss),                      \
    (count, logits, targets, loss))                                                               \
  X(loss, bce_with_logits_backward,                                                               \
    (int64_t count, const float* logits, const float* targets, const float* grad_loss,            \
     float* dlogits),                                                                             \
    (count, logits, targets, grad_loss, dlogits))                                                 \
  X(loss, bce_forward, (int64_t count, const float* probs, const float* targets, float* loss),    \
    (count, probs, targets, loss))                                                                \
  X(loss, bce_backward,                                                                           \
    (int64_t count, const float* probs, const float* targets, const float* grad_loss,             \
     float* dprobs),                                                                              \
    (count, probs, targets, grad_loss, dprobs))                                                   \
  X(loss, mse_forward, (int64_t count, const float* x, const float* target, float* loss),         \
    (count, x, target, loss))                                                                     \
  X(loss, mse_backward,                                                                           \
    (int64_t count, const float* x, const float* target, const float* grad_loss, float* dx),      \
    (count, x, target, grad_loss, dx))                                                            \
  /* ---- metrics: counts added (+=) to hits[0] on the device, so a step reads nothing back */   \
  /* rows whose first largest logit is the label */                                             \
  X(loss, count_argmax_hits,                                                                      \
    (int rows, int cols, const float* logits, const int32_t* labels, float* hits),                \
    (rows, cols, logits, labels, hits))                                                           \
  /* elements where (logit >= 0) == (target >= 0.5): multi-label decisions */                  \
  X(loss, count_threshold_hits,                                                                   \
    (int64_t count, const float* logits, const float* targets, float* hits),                      \
    (count, logits, targets, hits))                                                               \
  /* ---- optimizer updates (in place) ---- */                                                  \
  X(optimizer, sgd_update,                                                                        \
    (const SgdStep& s, float* param, const float* grad, float* momentum_buffer),                  \
    (s, param, grad, momentum_buffer))                                                            \
  X(optimizer, adam_update,                                                                       \
    (const AdamStep& s, float* param, const float* grad, float* exp_avg, float* exp_avg_sq),      \
    (s, param, grad, exp_avg, exp_avg_sq))                                                        \
  /* the same updates for `tensors` tensors at once (s.count unused; counts[i] elements each): */ \
  /* host arrays of device pointers; momentum_buffers may be null when s.momentum is 0 */         \
  X(optimizer, sgd_update_multi,                                                                  \
    (const SgdStep& s, int tensors, const int64_t* counts, float* const* params,                  \
     const float* const* grads, float* const* momentum_buffers),                                  \
    (s, tensors, counts, params, grads, momentum_buffers))                                        \
  X(optimizer, adam_update_multi,                                                                 \
    (const AdamStep& s, int tensors, const int64_t* counts, float* const* params,                 \
     const float* const* grads, float* const* exp_avgs, float* const* exp_avg_sqs),               \
    (s, tensors, counts, params, grads, exp_avgs, exp_avg_sqs))

// The ops, numbered in table order, and how many there are.
enum class Op {
#define WEFT_OP_ENUMERATOR(family, name, params, args) name,
  WEFT_BACKEND_OPS(WEFT_OP_ENUMERATOR)
#undef WEFT_OP_ENUMERATOR
};
#define WEFT_OP_ONE(family, name, params, args) +1
inline constexpr int kOpCount = 0 WEFT_BACKEND_OPS(WEFT_OP_ONE);
#undef WEFT_OP_ONE
static_assert(kOpCount == 57, "an op was added to or removed from WEFT_BACKEND_OPS: update its "
                              "call (kernels/reference/op_cases.h), the op-table test cases "
                              "(tests/test_backend_ops.cpp) and this count");

const char* op_name(Op op);
KernelFamily op_family(Op op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Whether this backend has kernels for `family`. A backend that lacks one throws
  // weft::NotImplemented from its methods (PartialBackend); the dispatch never picks it for that
  // family.
  virtual bool implements(KernelFamily) const { return true; }
  // Whether conv2d_max_pool2d_forward runs as one kernel here for these shapes, at the current
  // math precision (the engine then calls it instead of the convolution and the pool). Every
  // backend runs the op for any valid pair; the others compose it from their two kernels.
  virtual bool fuses_conv_max_pool(const Conv2dParams&, const Pool2dParams&) { return false; }
  // The same for conv2d_max_pool2d_backward_filter (no full-size gradient in between).
  virtual bool fuses_conv_max_pool_filter(const Conv2dParams&, const Pool2dParams&) {
    return false;
  }

#define WEFT_BACKEND_METHOD(family, name, params, args) virtual void name params = 0;
  WEFT_BACKEND_OPS(WEFT_BACKEND_METHOD)
#undef WEFT_BACKEND_METHOD
};

// A backend that implements only some families: every method throws weft::NotImplemented naming
// the op and the backend, and a derived class overrides what it has and says so in implements().
// The vendor backends and the tests' recording fakes derive from it. The op-case table
// (tests/test_backend_ops.cpp) counts NotImplemented as "skipped", so such a backend can be run
// on the whole table.
// The generated stubs name their parameters without using them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
class PartialBackend : public Backend {
 public:
#define WEFT_PARTIAL_METHOD(family, name, params, args) \
  void name params override { not_implemented(#name); }
  WEFT_BACKEND_OPS(WEFT_PARTIAL_METHOD)
#undef WEFT_PARTIAL_METHOD

 protected:
  [[noreturn]] void not_implemented(const char* op) const;
};
#pragma GCC diagnostic pop

// The CPU reference backend (always present).
Backend& cpu_backend();

}  // namespace weft
