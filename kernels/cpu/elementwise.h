// CPU reference for elementwise work: activations, broadcasting binary arithmetic, scaling and
// the reductions the engine needs. All loops are flat over `count` elements.
// Write rule: every function overwrites its outputs, except those named *_accumulate.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace weft::cpu {

// y = f(x). `alpha` is the negative slope of leaky_relu and the alpha of elu; ignored otherwise.
void activation_forward(Activation f, float alpha, int64_t count, const float* x, float* y);

// dx = dy * f'(x). Given both x and y = f(x) so each activation uses the cheaper one
// (sigmoid and tanh use y; relu, leaky_relu and elu use x). At relu's kink x = 0 the
// derivative is taken as 0, as PyTorch does.
void activation_backward(Activation f, float alpha, int64_t count, const float* x, const float* y,
                         const float* dy, float* dx);

// out[i] = a[ia(i)] op b[ib(i)] for every out element.
void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                    float* out);

// y[i] = max(a[i] + b[i], 0) (NaN gives 0, as relu does): add then relu in one pass.
void add_relu_forward(int64_t count, const float* a, const float* b, float* y);

// Reduce a gradient over the broadcast dimensions: reduced[j] = sum of grad[i] over the i
// that map to j through `strides` (the a_strides or b_strides of the forward). `reduced` has
// as many elements as the input it belongs to and is overwritten.
void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                      int64_t reduced_count, float* reduced);

// y = alpha * x + beta (elementwise, for scalar arithmetic)
void affine(int64_t count, float alpha, float beta, const float* x, float* y);

// y[i] += alpha * x[i]
void axpy_accumulate(int64_t count, float alpha, const float* x, float* y);

// y[i] = value
void fill(int64_t count, float value, float* y);

// Sum of all elements, accumulated in double.
double sum(int64_t count, const float* x);

// y[r, c, y, x] = a pixel of image moves[r, 0] moved as moves[r, 1..4] say, or the fill, times
// scale plus shift (kernels/params.h ImageGatherParams).
void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src, const int32_t* moves,
                              float* y);

}  // namespace weft::cpu
