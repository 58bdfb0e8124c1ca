// Hand-written CUDA kernels for the losses, with the semantics of the CPU reference
// (kernels/cpu/loss.h): every forward writes the mean loss to loss[0], a one-element device
// buffer, and every backward reads the incoming gradient of that scalar from grad_loss[0], so a
// training step never copies a loss to the host. The kernels are described in loss.cu.
//
// `scratch`: kReduceScratchFloats floats of device memory (reduce.h) for the partial sums.
// Differences from the reference, which checks its inputs on the host: a cross-entropy target
// outside [0, c) makes the loss (and that sample's gradient row) NaN, and a BCE probability
// outside [0, 1] gives NaN, instead of throwing. label_smoothing outside [0, 1] throws
// weft::Error, as it is a host value.
// Write rule: outputs are overwritten.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                           const float* class_weights, float label_smoothing, float* loss,
                           float* scratch, cudaStream_t stream);
void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing,
                            const float* grad_loss, float* dlogits, float* scratch,
                            cudaStream_t stream);
// Training's forward: loss[0] as cross_entropy_forward writes it and dlogits as
// cross_entropy_backward writes it for grad_loss[0] = 1, in one kernel (and the finishing sum).
void cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                    const float* class_weights, float label_smoothing, float* loss,
                                    float* dlogits, float* scratch, cudaStream_t stream);

void bce_with_logits_forward(int64_t count, const float* logits, const float* targets,
                             float* loss, float* scratch, cudaStream_t stream);
void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                              const float* grad_loss, float* dlogits, cudaStream_t stream);

void bce_forward(int64_t count, const float* probs, const float* targets, float* loss,
                 float* scratch, cudaStream_t stream);
void bce_backward(int64_t count, const float* probs, const float* targets,
                  const float* grad_loss, float* dprobs, cudaStream_t stream);

void mse_forward(int64_t count, const float* x, const float* target, float* loss,
                 float* scratch, cudaStream_t stream);
void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                  float* dx, cudaStream_t stream);

// Metrics: add (+=) to hits[0] the rows whose first largest logit is the label, or the elements
// where (logit >= 0) == (target >= 0.5). One launch, no host read.
void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                       float* hits, cudaStream_t stream);
void count_threshold_hits(int64_t count, const float* logits, const float* targets, float* hits,
                          cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
