// The differentiable operations of weft. Each op is defined once, in engine/ops/*.cpp: it
// checks shapes and says what it expected, builds the kernel's params struct, calls the
// backend of its inputs' device (engine/dispatch.h) and records its backward on the tape
// (engine/autograd.h). Which kernel runs - CPU reference, hand CUDA, cuDNN - is the backend's
// business.
//
//   ops/arithmetic.cpp    add, sub, mul, div with broadcasting; scalars; sum, mean
//   ops/activation.cpp    relu, leaky_relu, elu, sigmoid, tanh, softmax, log_softmax
//   ops/convolution.cpp   conv2d, conv_transpose2d
//   ops/pooling.cpp       max_pool2d, avg_pool2d, global_avg_pool2d
//   ops/normalization.cpp batch_norm, dropout, activation_dropout
//   ops/linear.cpp        linear, matmul
//   ops/fusion.cpp        the fused-activation switch, add_relu
//   ops/loss.cpp          cross_entropy, bce_with_logits, bce, mse
#pragma once

#include <cstdint>

#include "engine/random.h"
#include "engine/tensor.h"
#include "kernels/params.h"

namespace weft {

// ---- arithmetic (NumPy broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);  // a + b
Tensor mul(const Tensor& a, float b);  // a * b
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
inline Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
inline Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
inline Tensor operator-(const Tensor& a) { return mul(a, -1.0f); }
Tensor sum(const Tensor& x);   // all elements -> one-element tensor of shape []
Tensor mean(const Tensor& x);  // all elements -> one-element tensor of shape []

// ---- activations ----
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float negative_slope = 0.01f);
Tensor elu(const Tensor& x, float alpha = 1.0f);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// Over the last axis of a 2-d [rows, classes] tensor.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

// ---- fused activations ----
// conv2d, batch_norm and linear take an activation to apply to their own output in the same
// kernel (a fused epilogue: kernels/params.h FusedActivation; relu, or leaky_relu with a slope
// >= 0). The result and its gradients are those of the op followed by relu() or leaky_relu();
// with fusion switched off (set_fused_activations(false), or WEFT_FUSION=off in the
// environment, read once) the ops compute exactly that composition instead, which is how the
// two are compared. add_relu (below) is relu(a + b) in one kernel under the same switch.
inline FusedActivation fused_relu() { return {FusedActivation::Kind::relu, 0.0f}; }
inline FusedActivation fused_leaky_relu(float negative_slope) {
  return {FusedActivation::Kind::leaky_relu, negative_slope};
}
void set_fused_activations(bool enabled);
bool fused_activations();
// relu(a + b) for a and b of one shape (a residual block's sum): one kernel forward, one
// backward (both inputs get dy where the output is positive); add then relu with fusion off.
Tensor add_relu(const Tensor& a, const Tensor& b);

// ---- convolution ----
struct Conv2dOptions {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
};
// x [N, C, H, W], weight [O, C, KH, KW], bias [O] or undefined
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options = {});
// act(conv2d(x, weight, bias, options)) with the activation fused into the convolution.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options, const FusedActivation& activation);

struct ConvTranspose2dOptions {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int output_pad_h = 0, output_pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
};
// x [N, C, H, W], weight [C, O, KH, KW] (PyTorch's layout), bias [O] or undefined
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& options = {});

// ---- pooling ----
struct Pool2dOptions {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
// max_pool2d(act(x), options), the activation (ReLU, or LeakyReLU with a slope >= 0) fused into
// the pool: the cells compete as act(x), and backward multiplies only the winners' gradients by
// its derivative, so the unpooled gradient needs no pass of its own. The same values, argmax and
// gradients bit for bit. The composition runs instead when fusion is off (WEFT_FUSION) or the
// windows overlap (stride < kernel).
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options,
                  const FusedActivation& activation);
// max_pool2d(conv2d(x, weight, bias, conv_options), pool_options, activation) with the
// convolution's output never stored where the device's backend has one kernel for both
// (Backend::fuses_conv_max_pool: the hand CUDA kernels, for a layer the narrow forward takes and a
// 2 x 2 pool of stride 2; the CPU, for a layer its direct loop takes and windows that do not
// overlap, one image at a time through a buffer in cache); the same values, argmax and gradients
// bit for bit as the composition on the same kernels, which runs everywhere else (and with fusion
// off, or the convolution family forced to the vendor). Backward: the pool's, then the
// convolution's; for a first layer (no dx) that the backend fuses
// (Backend::fuses_conv_max_pool_filter), dw and dbias straight from the pool's gradient, the
// full-size gradient never stored.
Tensor conv2d_max_pool2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Conv2dOptions& conv_options, const Pool2dOptions& pool_options,
                         const FusedActivation& activation = {});
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor global_avg_pool2d(const Tensor& x);  // [N, C, H, W] -> [N, C]

// ---- normalisation and regularisation ----
// x [N, C] or [N, C, ...]; gamma, beta, running_mean, running_var [C]. In training the batch
// statistics are used and the running ones updated (when defined); in eval the running ones.
// `activation` (none by default) is applied to the result in the same kernel.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  float momentum = 0.1f, float eps = 1e-5f,
                  const FusedActivation& activation = {});
// Inverted dropout in training, the identity in eval. The mask's (seed, offset) come from
// `generator` (the default generator when null).
Tensor dropout(const Tensor& x, float p, bool training, Generator* generator = nullptr);
// dropout(act(x), p, training, generator) for act relu or leaky_relu (slope >= 0): one kernel
// each way in training, drawing the same mask from the same numbers as the composition (which
// it computes instead with fusion off, engine/ops.h "fused activations"); act(x) in eval.
Tensor activation_dropout(const Tensor& x, const FusedActivation& activation, float p,
                          bool training, Generator* generator = nullptr);

// ---- linear algebra ----
// x [N, in], weight [out, in], bias [out] or undefined -> [N, out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// act(linear(x, weight, bias)) with the activation fused into the GEMM's epilogue.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const FusedActivation& activation);
// a [M, K] x b [K, N] -> [M, N]
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- losses (mean over the batch; a one-element tensor of shape []) ----
// logits [N, C], targets int32 [N], class_weights [C] or undefined.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const Tensor& class_weights = Tensor(), float label_smoothing = 0.0f);
Tensor bce_with_logits(const Tensor& logits, const Tensor& targets);
Tensor bce(const Tensor& probabilities, const Tensor& targets);
Tensor mse(const Tensor& x, const Tensor& target);

// ---- conversion ----
// uint8 pixels -> float32 x * scale + shift (not differentiable).
Tensor u8_to_f32(const Tensor& x, float scale, float shift);
// Rows `indices` (int32 [B]) of a uint8 data set [N, ...] on the same device, as float32
// [B, ...] = x * scale + shift: a batch gathered where the data set lives (not differentiable).
// Indices are checked against N on the CPU; on a GPU they must come from the caller's own
// permutation (a kernel cannot report them).
Tensor gather_u8_to_f32(const Tensor& data, const Tensor& indices, float scale, float shift);
// The same from uint8 images [N, C, H, W], each flipped and shifted by whole pixels as its row
// of `moves` (int32 [B, 5]: source image, flip_x, flip_y, sx, sy) says, positions outside the
// image filled as `fill` says (kernels/params.h ImageGatherParams): the flip and random-crop
// augmentations done where the data set lives. Moves are checked on the CPU (source image in
// range, flips 0 or 1), as indices are above.
Tensor gather_augment_u8_to_f32(const Tensor& data, const Tensor& moves, EdgeFill fill,
                                float fill_value, float scale, float shift);

}  // namespace weft
