// CPU reference for the losses. Each forward returns the mean loss (reduction "mean", as
// PyTorch's default) and each backward writes the gradient of that mean loss with respect to
// its input, scaled by `grad_scale` (the incoming gradient of the scalar loss).
// Write rule: gradients are overwritten.
#pragma once

#include <cstdint>

namespace weft::cpu {

// Cross-entropy of logits [n, c] against integer targets [n] with optional per-class weights
// [c] (may be null) and label smoothing eps (targets become (1 - eps) one-hot + eps / c).
// Mean is PyTorch's: sum of per-sample losses weighted by weight[target], divided by the sum of
// those weights. A target outside [0, c) throws std::out_of_range naming the sample.
float cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing);
void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing, float grad_scale,
                            float* dlogits);
// Training's forward: returns the loss of cross_entropy_forward and writes dlogits as
// cross_entropy_backward does for grad_scale 1 (bit for bit both), each row's log-sum-exp once.
float cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                     const float* class_weights, float label_smoothing,
                                     float* dlogits);

// Binary cross-entropy with logits, elementwise over `count` values, stable for large |x|:
// loss = max(x, 0) - x * t + log(1 + exp(-|x|)).
float bce_with_logits_forward(int64_t count, const float* logits, const float* targets);
void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                              float grad_scale, float* dlogits);

// Binary cross-entropy on probabilities in [0, 1]; log terms clamped at -100 as PyTorch does.
float bce_forward(int64_t count, const float* probs, const float* targets);
void bce_backward(int64_t count, const float* probs, const float* targets, float grad_scale,
                  float* dprobs);

// Mean squared error.
float mse_forward(int64_t count, const float* x, const float* target);
void mse_backward(int64_t count, const float* x, const float* target, float grad_scale,
                  float* dx);

// Metrics counted beside a loss; both add (+=) to hits[0].
// Rows of logits [rows, cols] whose first largest value (a NaN never wins) is the label.
void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                       float* hits);
// Elements where the decision logit >= 0 agrees with target >= 0.5.
void count_threshold_hits(int64_t count, const float* logits, const float* targets, float* hits);

}  // namespace weft::cpu
