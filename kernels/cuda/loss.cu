// Hand-written CUDA kernels for the losses (declared in loss.h; formulas as in the CPU reference,
// kernels/cpu/loss.cpp, which derives them).
//
// Cross-entropy forward: one warp per sample row (rows w, w + W, ... for warp w of W in the
// grid; lane l takes the classes l, l + 32, ...). The warp finds the row's maximum and
// log-sum-exp with butterfly shuffles, so every lane holds
//   loss_i = (1 - eps) w[t_i] (lse_i - x_it) + eps / C * sum_k w[k] (lse_i - x_ik)
// and the weight w[t_i]. Each warp keeps running sums over its rows; block_sum (shared memory:
// 32 per-warp slots) adds the warps of a block and thread 0 writes the block's two partial sums
// (loss and weight) to scratch. finish_partial_sums (reduce.h) then writes
// loss[0] = sum of loss partials / sum of weight partials: PyTorch's weighted mean.
// Grid: at most kMaxPartials blocks of 8 warps.
//
// Cross-entropy backward: first one block sums W = sum_i w[t_i] and A = sum_k w[k] into
// scratch (threads stride over samples and classes, block_sum combines them); then one warp per
// row recomputes lse and writes, for each class k of the row (lane l takes k = l, l + 32, ...),
//   dx_ik = (p_k ((1 - eps) w[t_i] + eps / C * A) - eps / C * w[k] - [k == t_i] (1 - eps) w[t_i])
//           * grad_loss[0] / W,   p_k = exp(x_ik - lse_i).
//
// Elementwise losses (BCE with logits, BCE, MSE): the forward is the two-pass deterministic sum
// of reduce.h over per-element terms, divided by count; the backward is a map kernel
// (for_each_kernel, one element per thread, grid-stride) that reads grad_loss[0] on the device.
//
// Terms are computed in float (the reference uses double); partial sums are combined in double.
//
// Metric counts (count_argmax_hits, count_threshold_hits): one block of kBlockThreads threads;
// thread t takes rows (or elements) t, t + 256, ... and counts its hits, block_sum (shared
// memory: 32 per-warp slots) adds them, and thread 0 adds the total to hits[0]. A batch has at
// most a few thousand rows, so one block is enough and the count needs no second pass.
#include "kernels/cuda/loss.h"

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr unsigned kRowsPerBlock = kBlockThreads / kWarpSize;

__device__ __forceinline__ float class_weight(const float* class_weights, int k) {
  return class_weights != nullptr ? class_weights[k] : 1.0f;
}

// log(sum_j exp(x_j)) of one row, stably (the maximum is factored out); the same in every lane.
__device__ __forceinline__ float row_log_sum_exp(int c, const float* x, int lane) {
  float m = -INFINITY;
  for (int j = lane; j < c; j += kLanes) m = fmaxf(m, x[j]);
  m = warp_max(m);
  float total = 0.0f;
  for (int j = lane; j < c; j += kLanes) total += expf(x[j] - m);
  return m + logf(warp_sum(total));
}

__global__ void cross_entropy_forward_kernel(int n, int c, const float* logits,
                                             const int32_t* targets, const float* class_weights,
                                             float eps, float* partials) {
  const WarpRows walk = warp_rows();
  float loss_sum = 0.0f, weight_sum = 0.0f;  // the same in every lane of a warp
  for (int64_t r = walk.first; r < n; r += walk.stride) {
    const float* x = logits + r * c;
    const float lse = row_log_sum_exp(c, x, walk.lane);
    const int t = targets[r];
    const bool valid = t >= 0 && t < c;
    const float target_weight = valid ? class_weight(class_weights, t) : nanf("");
    float loss = valid ? (1.0f - eps) * target_weight * (lse - x[t]) : nanf("");
    if (eps > 0.0f) {
      float smooth = 0.0f;
      for (int k = walk.lane; k < c; k += kLanes) {
        smooth += class_weight(class_weights, k) * (lse - x[k]);
      }
      loss += eps / static_cast<float>(c) * warp_sum(smooth);
    }
    loss_sum += loss;
    weight_sum += target_weight;
  }
  // Count each warp once: only lane 0 contributes its warp's sums to the block's.
  loss_sum = block_sum(walk.lane == 0 ? loss_sum : 0.0f);
  weight_sum = block_sum(walk.lane == 0 ? weight_sum : 0.0f);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = loss_sum;
    partials[kMaxPartials + blockIdx.x] = weight_sum;
  }
}

// One block: sums[0] = sum_i w[t_i], sums[1] = sum_k w[k].
__global__ void cross_entropy_weight_sums_kernel(int n, int c, const int32_t* targets,
                                                 const float* class_weights, float* sums) {
  double target_weights = 0.0, all_weights = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    const int t = targets[i];
    target_weights += t >= 0 && t < c ? class_weight(class_weights, t) : nanf("");
  }
  for (int k = static_cast<int>(threadIdx.x); k < c; k += static_cast<int>(blockDim.x)) {
    all_weights += class_weight(class_weights, k);
  }
  target_weights = block_sum(target_weights);
  all_weights = block_sum(all_weights);
  if (threadIdx.x == 0) {
    sums[0] = static_cast<float>(target_weights);
    sums[1] = static_cast<float>(all_weights);
  }
}

__global__ void cross_entropy_backward_kernel(int n, int c, const float* logits,
                                              const int32_t* targets, const float* class_weights,
                                              float eps, const float* grad_loss,
                                              const float* sums, float* dlogits) {
  const float scale = grad_loss[0] / sums[0];
  const float smoothing_per_class = eps / static_cast<float>(c);
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < n; r += walk.stride) {
    const float* x = logits + r * c;
    float* dx = dlogits + r * c;
    const float lse = row_log_sum_exp(c, x, walk.lane);
    const int t = targets[r];
    const float target_part =
        t >= 0 && t < c ? (1.0f - eps) * class_weight(class_weights, t) : nanf("");
    const float prob_coefficient = target_part + smoothing_per_class * sums[1];
    for (int k = walk.lane; k < c; k += kLanes) {
      const float p = expf(x[k] - lse);
      float g = p * prob_coefficient - smoothing_per_class * class_weight(class_weights, k);
      if (k == t) g -= target_part;
      dx[k] = g * scale;
    }
  }
}

// ---- elementwise losses ------------------------------------------------------------------------

// max(x, 0) - x t + log(1 + exp(-|x|)): exp only ever sees a non-positive argument.
struct BceWithLogitsTerm {
  const float* logits;
  const float* targets;
  __device__ float operator()(int64_t i) const {
    const float x = logits[i];
    return fmaxf(x, 0.0f) - x * targets[i] + log1pf(expf(-fabsf(x)));
  }
};

// d/dx = sigmoid(x) - t, the sigmoid computed on the side that cannot overflow.
struct BceWithLogitsBackward {
  int64_t count;
  const float* logits;
  const float* targets;
  const float* grad_loss;
  float* dlogits;
  __device__ void operator()(int64_t i) const {
    const float x = logits[i];
    const float e = expf(-fabsf(x));
    const float s = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    dlogits[i] = (s - targets[i]) * (grad_loss[0] / static_cast<float>(count));
  }
};

// PyTorch's binary_cross_entropy: each log clamped at -100.
struct BceTerm {
  const float* probs;
  const float* targets;
  __device__ float operator()(int64_t i) const {
    const float p = probs[i], t = targets[i];
    const float log_p = fmaxf(logf(p), -100.0f);
    const float log_1mp = fmaxf(log1pf(-p), -100.0f);
    return -(t * log_p + (1.0f - t) * log_1mp);
  }
};

// d/dp = (p - t) / max(p (1 - p), 1e-12), as PyTorch.
struct BceBackward {
  int64_t count;
  const float* probs;
  const float* targets;
  const float* grad_loss;
  float* dprobs;
  __device__ void operator()(int64_t i) const {
    const float p = probs[i];
    const float denominator = fmaxf(p * (1.0f - p), 1e-12f);
    dprobs[i] = (p - targets[i]) / denominator * (grad_loss[0] / static_cast<float>(count));
  }
};

struct SquaredErrorTerm {
  const float* x;
  const float* target;
  __device__ float operator()(int64_t i) const {
    const float d = x[i] - target[i];
    return d * d;
  }
};

struct MseBackward {
  int64_t count;
  const float* x;
  const float* target;
  const float* grad_loss;
  float* dx;
  __device__ void operator()(int64_t i) const {
    dx[i] = (x[i] - target[i]) * (2.0f * grad_loss[0] / static_cast<float>(count));
  }
};

// loss[0] = sum of term(i) over i < count, divided by count.
template <class Term>
void mean_of_terms(int64_t count, Term term, float* loss, float* scratch, cudaStream_t stream) {
  const unsigned blocks = partial_sum_blocks(count);
  WEFT_LAUNCH(partial_sums_kernel<Term>, blocks, kBlockThreads, 0, stream, count, term, scratch);
  finish_partial_sums(scratch, static_cast<int>(blocks), nullptr, static_cast<double>(count),
                      loss, stream);
}

void check_label_smoothing(float eps) {
  WEFT_CHECK(eps >= 0.0f && eps <= 1.0f, "cross_entropy: label_smoothing ", eps,
             " is outside [0, 1]");
}

unsigned row_blocks(int rows, unsigned max_blocks) {
  const unsigned blocks = grid_blocks(rows, kRowsPerBlock);
  return blocks < max_blocks ? blocks : max_blocks;
}

}  // namespace

void cross_entropy_forward(int n, int c, const float* logits, const int32_t* targets,
                           const float* class_weights, float label_smoothing, float* loss,
                           float* scratch, cudaStream_t stream) {
  check_label_smoothing(label_smoothing);
  const unsigned blocks = row_blocks(n, kMaxPartials);
  WEFT_LAUNCH(cross_entropy_forward_kernel, blocks, kBlockThreads, 0, stream, n, c, logits,
              targets, class_weights, label_smoothing, scratch);
  finish_partial_sums(scratch, static_cast<int>(blocks), scratch + kMaxPartials, 0.0, loss,
                      stream);
}

void cross_entropy_backward(int n, int c, const float* logits, const int32_t* targets,
                            const float* class_weights, float label_smoothing,
                            const float* grad_loss, float* dlogits, float* scratch,
                            cudaStream_t stream) {
  check_label_smoothing(label_smoothing);
  if (n <= 0 || c <= 0) return;
  WEFT_LAUNCH(cross_entropy_weight_sums_kernel, 1, kBlockThreads, 0, stream, n, c, targets,
              class_weights, scratch);
  WEFT_LAUNCH(cross_entropy_backward_kernel, row_blocks(n, kMaxGridBlocks), kBlockThreads, 0,
              stream, n, c, logits, targets, class_weights, label_smoothing, grad_loss, scratch,
              dlogits);
}

void bce_with_logits_forward(int64_t count, const float* logits, const float* targets,
                             float* loss, float* scratch, cudaStream_t stream) {
  mean_of_terms(count, BceWithLogitsTerm{logits, targets}, loss, scratch, stream);
}

void bce_with_logits_backward(int64_t count, const float* logits, const float* targets,
                              const float* grad_loss, float* dlogits, cudaStream_t stream) {
  for_each(count, BceWithLogitsBackward{count, logits, targets, grad_loss, dlogits}, stream);
}

void bce_forward(int64_t count, const float* probs, const float* targets, float* loss,
                 float* scratch, cudaStream_t stream) {
  mean_of_terms(count, BceTerm{probs, targets}, loss, scratch, stream);
}

void bce_backward(int64_t count, const float* probs, const float* targets,
                  const float* grad_loss, float* dprobs, cudaStream_t stream) {
  for_each(count, BceBackward{count, probs, targets, grad_loss, dprobs}, stream);
}

void mse_forward(int64_t count, const float* x, const float* target, float* loss,
                 float* scratch, cudaStream_t stream) {
  mean_of_terms(count, SquaredErrorTerm{x, target}, loss, scratch, stream);
}

void mse_backward(int64_t count, const float* x, const float* target, const float* grad_loss,
                  float* dx, cudaStream_t stream) {
  for_each(count, MseBackward{count, x, target, grad_loss, dx}, stream);
}

namespace {

__global__ void count_argmax_hits_kernel(int rows, int cols, const float* logits,
                                         const int32_t* labels, float* hits) {
  float right = 0.0f;
  for (int r = static_cast<int>(threadIdx.x); r < rows; r += static_cast<int>(blockDim.x)) {
    const float* row = logits + static_cast<int64_t>(r) * cols;
    int best = 0;
    for (int c = 1; c < cols; ++c) {
      if (row[c] > row[best]) best = c;
    }
    right += best == labels[r] ? 1.0f : 0.0f;
  }
  right = block_sum(right);
  if (threadIdx.x == 0) hits[0] += right;
}

__global__ void count_threshold_hits_kernel(int64_t count, const float* logits,
                                            const float* targets, float* hits) {
  float right = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    right += (logits[i] >= 0.0f) == (targets[i] >= 0.5f) ? 1.0f : 0.0f;
  }
  right = block_sum(right);
  if (threadIdx.x == 0) hits[0] += right;
}

}  // namespace

void count_argmax_hits(int rows, int cols, const float* logits, const int32_t* labels,
                       float* hits, cudaStream_t stream) {
  if (rows <= 0) return;
  WEFT_LAUNCH(count_argmax_hits_kernel, 1, kBlockThreads, 0, stream, rows, cols, logits, labels,
              hits);
}

void count_threshold_hits(int64_t count, const float* logits, const float* targets, float* hits,
                          cudaStream_t stream) {
  if (count <= 0) return;
  WEFT_LAUNCH(count_threshold_hits_kernel, 1, kBlockThreads, 0, stream, count, logits, targets,
              hits);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
