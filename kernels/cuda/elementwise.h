// Hand-written CUDA kernels for elementwise work: activations and their derivatives,
// NumPy-broadcasting binary arithmetic, the reduction of a broadcast gradient back to its
// input's shape, and the BLAS-1 style helpers (affine, scale by a device scalar, axpy, fill,
// bytes to floats). Same semantics as the CPU reference in kernels/cpu/elementwise.h; the
// kernels themselves are described in elementwise.cu.
//
// Every launcher takes device pointers and the stream to queue the work on, and returns at once.
// Write rule: outputs are overwritten, except axpy_accumulate, which adds.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void activation_forward(Activation f, float alpha, int64_t count, const float* x, float* y,
                        cudaStream_t stream);
void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                         const float* y, const float* dy, float* dx, cudaStream_t stream);

void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                    float* out, cudaStream_t stream);

// y = max(a + b, 0) over `count` elements (a residual add and its ReLU in one pass).
void add_relu_forward(int64_t count, const float* a, const float* b, float* y, cudaStream_t stream);

// `strides` is a host array (the a_strides or b_strides of the forward's BroadcastParams).
// `scratch`: kReduceScratchFloats floats of device memory (reduce.h), used when everything is
// reduced to one element. Throws weft::Error for stride sets in which two kept coordinates
// would write the same element (no real tensor layout does that).
void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                      int64_t reduced_count, float* reduced, float* scratch,
                      cudaStream_t stream);

void affine(int64_t count, float alpha, float beta, const float* x, float* y,
            cudaStream_t stream);
// y = x * scale[0], the scale read on the device.
void scale_by(int64_t count, const float* scale, const float* x, float* y, cudaStream_t stream);
void axpy_accumulate(int64_t count, float alpha, const float* x, float* y, cudaStream_t stream);
void fill(int64_t count, float value, float* y, cudaStream_t stream);
// Rows indices[0..rows) of a uint8 data set, as floats (see gather_rows_kernel).
void gather_u8_to_f32(int rows, int64_t row_elements, const uint8_t* src, const int32_t* indices,
                      float scale, float shift, float* y, cudaStream_t stream);
void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src, const int32_t* moves,
                              float* y, cudaStream_t stream);
void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y,
               cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
