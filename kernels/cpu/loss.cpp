// CPU reference for the loss functions declared in loss.h: cross-entropy (with class weights and
// label smoothing), binary cross-entropy on logits and on probabilities, and mean squared error.
// Every forward returns the mean loss; every backward writes d(mean loss)/d(input) * grad_scale.
// Per-element terms are computed in double and summed in fixed blocks, so a loss value does not
// depend on the number of threads.
#include "kernels/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft::cpu {
namespace {

constexpr int64_t kParallelThreshold = 1 << 15;
constexpr int64_t kSumBlock = 1 << 12;

// sum_{i < count} term(i) in double: blocks in parallel, block sums added in order.
template <class Term>
double blocked_sum(int64_t count, int64_t work_per_item, Term term) {
  if (count <= 0) return 0.0;
  const int64_t blocks = (count + kSumBlock - 1) / kSumBlock;
  std::vector<double> block_sums(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static) if (count * work_per_item > kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(count, (blk + 1) * kSumBlock);
    double acc = 0.0;
    for (int64_t i = blk * kSumBlock; i < end; ++i) acc += term(i);
    block_sums[static_cast<size_t>(blk)] = acc;
  }
  double total = 0.0;
  for (double s : block_sums) total += s;
  return total;
}

// The weighted mean; 0 / 0 (an empty batch) gives NaN, as PyTorch's mean does.
float mean_of(double total, double denominator) {
  return static_cast<float>(total / denominator);
}

// Runs before any parallel loop, so the exception leaves from the calling thread.
void check_targets(int n, int c, const int32_t* targets) {
  for (int i = 0; i < n; ++i) {
    if (targets[i] < 0 || targets[i] >= c) {
      throw std::out_of_range("cross_entropy: target " + std::to_string(targets[i]) +
                              " of sample " + std::to_string(i) +
                              " is outside the valid range [0, " + std::to_string(c) + ")");
    }
  }
}

void check_label_smoothing(float eps) {
  if (!(eps >= 0.0f && eps <= 1.0f)) {
    throw std::invalid_argument("cross_entropy: label_smoothing " + std::to_string(eps) +
                                " is outside [0, 1]");
  }
}

// log(sum_j exp(x_j)) of one row, stably: the row maximum is factored out.
double log_sum_exp(int c, const float* x) {
  float m = x[0];
  for (int j = 1; j < c; ++j) m = std::max(m, x[j]);
  double total = 0.0;
  for (int j = 0; j < c; ++j) total += std::exp(static_cast<double>(x[j]) - m);
  return m + std::log(total);
}

double class_weight(const float* class_weights, int k) {
  return class_weights ? static_cast<double>(class_weights[k]) : 1.0;
}

// Sum over the batch of weight[target_i]: the denominator of the weighted mean.
double target_weight_sum(int n, const int32_t* targets, const float* class_weights) {
  return blocked_sum(n, 1, [&](int64_t i) { return class_weight(class_weights, targets[i]); });
}

double all_class_weight_sum(int c, const float* class_weights) {
  double total = 0.0;
  for (int k = 0; k < c; ++k) total += class_weight(class_weights, k);
  return total;
}

// One row x of the cross-entropy (formulas below, at cross_entropy_forward and _backward), given
// its log-sum-exp: the row's loss, and its gradient times `scale` written to dx.
struct CrossEntropyRow {
  int c;
  const float* class_weights;
  double eps;

  double loss(const float* x, double lse, int t) const {
    double value = (1.0 - eps) * class_weight(class_weights, t) * (lse - x[t]);
    if (eps > 0.0) {
      double smooth = 0.0;
      for (int k = 0; k < c; ++k) smooth += class_weight(class_weights, k) * (lse - x[k]);
      value += eps / c * smooth;
    }
    return value;
  }

  // all_class_weight: sum_k w[k].
  void gradient(const float* x, double lse, int t, double all_class_weight, double scale,
                float* dx) const {
    const double target_part = (1.0 - eps) * class_weight(class_weights, t);
    const double prob_coefficient = target_part + eps / c * all_class_weight;
    for (int k = 0; k < c; ++k) {
      const double p = std::exp(static_cast<double>(x[k]) - lse);
      double g = p * prob_coefficient - eps / c * class_weight(class_weights, k);
      if (k == t) g -= target_part;
      dx[k] = static_cast<float>(g * scale);
    }
  }
};

}  // namespace

// Cross-entropy, identical to PyTorch's F.cross_entropy(x, t, weight=w, label_smoothing=eps)
// with reduction "mean". With -logp_c = logsumexp(x_i) - x_ic and w = 1 when no weights are given,
//
//   loss_i = (1 - eps) * w[t_i] * (-logp_i[t_i])  +  (eps / C) * sum_c w[c] * (-logp_i[c])
//   loss   = sum_i loss_i / sum_i w[t_i]
//
// PyTorch (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing) computes it as
// (1 - eps) * nll_loss(log_softmax(x), t, w) + (eps / C) * smooth, where nll_loss already divides
// by sum_i w[t_i] and the smoothing sum -sum_i sum_c w[c] logp_i[c] is divided by the same
// sum_i w[t_i] (not by n, and not by the weights of all classes). Without weights both
// denominators are n and loss_i is the cross-entropy against the target (1 - eps) one-hot + eps/C.
float cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing) {
  check_targets(n, c, targets);
  check_label_smoothing(label_smoothing);
  const CrossEntropyRow row{c, class_weights, label_smoothing};
  const double total = blocked_sum(n, c, [&](int64_t i) {
    const float* x = logits + i * c;
    return row.loss(x, log_sum_exp(c, x), targets[i]);
  });
  return mean_of(total, target_weight_sum(n, targets, class_weights));
}

// With p = softmax(x_i) and d(-logp_c)/dx_k = p_k - [k == c], differentiating loss_i above gives
//
//   d loss_i / d x_ik = p_k * ((1 - eps) w[t_i] + (eps / C) sum_c w[c])
//                       - (1 - eps) w[t_i] [k == t_i] - (eps / C) w[k]
//
// and the mean divides by W = sum_i w[t_i]. Unweighted this is p_k - (1 - eps)[k == t_i] - eps/C.
void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing, float grad_scale,
                            float* dlogits) {
  check_targets(n, c, targets);
  check_label_smoothing(label_smoothing);
  const CrossEntropyRow row{c, class_weights, label_smoothing};
  const double scale = grad_scale / target_weight_sum(n, targets, class_weights);
  const double all_class_weight = all_class_weight_sum(c, class_weights);
  const int64_t count = static_cast<int64_t>(n) * c;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int i = 0; i < n; ++i) {
    const float* x = logits + static_cast<int64_t>(i) * c;
    row.gradient(x, log_sum_exp(c, x), targets[i], all_class_weight, scale,
                 dlogits + static_cast<int64_t>(i) * c);
  }
}

// Both of the above in one pass over the rows, each row's log-sum-exp computed once: W first
// (it is needed before a gradient is final), then each row's loss summed as the forward sums it
// and its gradient written as the backward writes it for grad_scale 1, so loss and dlogits are
// bit for bit those of the two calls.
float cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                     const float* class_weights, float label_smoothing,
                                     float* dlogits) {
  check_targets(n, c, targets);
  check_label_smoothing(label_smoothing);
  const CrossEntropyRow row{c, class_weights, label_smoothing};
  const double weight_sum = target_weight_sum(n, targets, class_weights);
  const double scale = 1.0 / weight_sum;
  const double all_class_weight = all_class_weight_sum(c, class_weights);
  const double total = blocked_sum(n, c, [&](int64_t i) {
    const float* x = logits + i * c;
    const double lse = log_sum_exp(c, x);
    row.gradient(x, lse, targets[i], all_class_weight, scale, dlogits + i * c);
    return row.loss(x, lse, targets[i]);
  });
  return mean_of(total, weight_sum);
}

// max(x, 0) - x t + log(1 + exp(-|x|)) equals -[t log s(x) + (1 - t) log(1 - s(x))] for the
// sigmoid s, but exp only ever sees a non-positive argument, so nothing overflows.
float bce_with_logits_forward(int64_t count, const float* logits, const float* targets) {
  const double total = blocked_sum(count, 1, [&](int64_t i) {
    const double x = logits[i], t = targets[i];
    return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
  });
  return mean_of(total, static_cast<double>(count));
}

// d/dx = sigmoid(x) - t, with the sigmoid computed on whichever side cannot overflow.
void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                              float grad_scale, float* dlogits) {
  const double scale = static_cast<double>(grad_scale) / static_cast<double>(count);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    const double x = logits[i];
    const double e = std::exp(-std::abs(x));
    const double s = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    dlogits[i] = static_cast<float>((s - targets[i]) * scale);
  }
}

// PyTorch's binary_cross_entropy: each log is clamped at -100 so p = 0 or p = 1 gives a large
// finite loss instead of inf. A probability outside [0, 1] (or NaN) throws, as PyTorch does.
float bce_forward(int64_t count, const float* probs, const float* targets) {
  for (int64_t i = 0; i < count; ++i) {
    if (!(probs[i] >= 0.0f && probs[i] <= 1.0f)) {
      throw std::out_of_range("bce: probability " + std::to_string(probs[i]) + " of element " +
                              std::to_string(i) + " is outside the valid range [0, 1]");
    }
  }
  const double total = blocked_sum(count, 1, [&](int64_t i) {
    const double p = probs[i], t = targets[i];
    const double log_p = std::max(std::log(p), -100.0);
    const double log_1mp = std::max(std::log1p(-p), -100.0);
    return -(t * log_p + (1.0 - t) * log_1mp);
  });
  return mean_of(total, static_cast<double>(count));
}

// d/dp = (p - t) / (p (1 - p)), with the denominator clamped at 1e-12 as PyTorch does (so the
// gradient stays finite at p = 0 or 1; it is not the derivative of the clamped logs there).
void bce_backward(int64_t count, const float* probs, const float* targets, float grad_scale,
                  float* dprobs) {
  const double scale = static_cast<double>(grad_scale) / static_cast<double>(count);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    const double p = probs[i];
    const double denominator = std::max(p * (1.0 - p), 1e-12);
    dprobs[i] = static_cast<float>((p - targets[i]) / denominator * scale);
  }
}

float mse_forward(int64_t count, const float* x, const float* target) {
  const double total = blocked_sum(count, 1, [&](int64_t i) {
    const double d = static_cast<double>(x[i]) - target[i];
    return d * d;
  });
  return mean_of(total, static_cast<double>(count));
}

void mse_backward(int64_t count, const float* x, const float* target, float grad_scale,
                  float* dx) {
  const double scale = 2.0 * static_cast<double>(grad_scale) / static_cast<double>(count);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i)
    dx[i] = static_cast<float>((static_cast<double>(x[i]) - target[i]) * scale);
}

void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                       float* hits) {
  int64_t right = 0;
  for (int r = 0; r < rows; ++r) {
    const float* row = logits + static_cast<int64_t>(r) * cols;
    int best = 0;
    for (int c = 1; c < cols; ++c) {
      if (row[c] > row[best]) best = c;
    }
    right += best == labels[r];
  }
  hits[0] += static_cast<float>(right);
}

void count_threshold_hits(int64_t count, const float* logits, const float* targets, float* hits) {
  int64_t right = 0;
  for (int64_t i = 0; i < count; ++i) right += (logits[i] >= 0.0f) == (targets[i] >= 0.5f);
  hits[0] += static_cast<float>(right);
}

}  // namespace weft::cpu
