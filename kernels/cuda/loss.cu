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
// Cross-entropy forward and backward in one kernel (training's forward, grad_loss = 1): the
// forward's grid and warps, but every block first sums W and A itself, exactly as the backward's
// single block does (the same threads, the same block_sum in double, so every block holds the
// same W, the backward's), and then each warp, with its row's lse in hand, writes the row's
// dx_ik above with grad_loss[0] / W = 1 / W beside the row's loss. W is final before the first
// row is touched, so dlogits needs no second pass; the price is n target weights read by every
// block (a few loads per thread at training batch sizes). The loss goes through the forward's
// partials and finish_partial_sums as before: two launches, the backward none.
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

// loss_i of row x (lse: its log-sum-exp); the same in every lane of the warp.
__device__ __forceinline__ float row_loss(int c, const float* x, float lse, int t,
                                          const float* class_weights, float eps, int lane) {
  const bool valid = t >= 0 && t < c;
  float loss = valid ? (1.0f - eps) * class_weight(class_weights, t) * (lse - x[t]) : nanf("");
  if (eps > 0.0f) {
    float smooth = 0.0f;
    for (int k = lane; k < c; k += kLanes) smooth += class_weight(class_weights, k) * (lse - x[k]);
    loss += eps / static_cast<float>(c) * warp_sum(smooth);
  }
  return loss;
}

// w[t] of a row, NaN for a target outside [0, c).
__device__ __forceinline__ float target_weight(int c, int t, const float* class_weights) {
  return t >= 0 && t < c ? class_weight(class_weights, t) : nanf("");
}

// The weight sums of the backward: W = sum_i w[t_i] and A = sum_k w[k], returned to every
// thread of the block (which must all call it: block_sum).
struct WeightSums {
  float targets, classes;
};
__device__ WeightSums block_weight_sums(int n, int c, const int32_t* targets,
                                        const float* class_weights) {
  double target_weights = 0.0, all_weights = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    target_weights += target_weight(c, targets[i], class_weights);
  }
  for (int k = static_cast<int>(threadIdx.x); k < c; k += static_cast<int>(blockDim.x)) {
    all_weights += class_weight(class_weights, k);
  }
  target_weights = block_sum(target_weights);
  all_weights = block_sum(all_weights);
  return WeightSums{static_cast<float>(target_weights), static_cast<float>(all_weights)};
}

// Lane l of the warp writes dx[k] = d loss_i / d x_k * scale for k = l, l + 32, ... of row x.
__device__ __forceinline__ void write_row_gradient(int c, const float* x, float lse, int t,
                                                   const float* class_weights, float eps,
                                                   float all_weights, float scale, int lane,
                                                   float* dx) {
  const float smoothing_per_class = eps / static_cast<float>(c);
  const float target_part =
      t >= 0 && t < c ? (1.0f - eps) * class_weight(class_weights, t) : nanf("");
  const float prob_coefficient = target_part + smoothing_per_class * all_weights;
  for (int k = lane; k < c; k += kLanes) {
    const float p = expf(x[k] - lse);
    float g = p * prob_coefficient - smoothing_per_class * class_weight(class_weights, k);
    if (k == t) g -= target_part;
    dx[k] = g * scale;
  }
}

// Thread 0 of the block writes the block's partial sums of the loss and the target weights;
// every warp passes its running sums (the same in each of its lanes).
__device__ __forceinline__ void write_block_partials(float loss_sum, float weight_sum, int lane,
                                                     float* partials) {
  // Count each warp once: only lane 0 contributes its warp's sums to the block's.
  loss_sum = block_sum(lane == 0 ? loss_sum : 0.0f);
  weight_sum = block_sum(lane == 0 ? weight_sum : 0.0f);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = loss_sum;
    partials[kMaxPartials + blockIdx.x] = weight_sum;
  }
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
    loss_sum += row_loss(c, x, lse, t, class_weights, eps, walk.lane);
    weight_sum += target_weight(c, t, class_weights);
  }
  write_block_partials(loss_sum, weight_sum, walk.lane, partials);
}

// One block: sums[0] = sum_i w[t_i], sums[1] = sum_k w[k].
__global__ void cross_entropy_weight_sums_kernel(int n, int c, const int32_t* targets,
                                                 const float* class_weights, float* sums) {
  const WeightSums w = block_weight_sums(n, c, targets, class_weights);
  if (threadIdx.x == 0) {
    sums[0] = w.targets;
    sums[1] = w.classes;
  }
}

__global__ void cross_entropy_backward_kernel(int n, int c, const float* logits,
                                              const int32_t* targets, const float* class_weights,
                                              float eps, const float* grad_loss,
                                              const float* sums, float* dlogits) {
  const float scale = grad_loss[0] / sums[0];
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < n; r += walk.stride) {
    const float* x = logits + r * c;
    write_row_gradient(c, x, row_log_sum_exp(c, x, walk.lane), targets[r], class_weights, eps,
                       sums[1], scale, walk.lane, dlogits + r * c);
  }
}

// The forward's partials and, with grad_loss = 1, the backward's dlogits (see the top).
__global__ void cross_entropy_forward_backward_kernel(int n, int c, const float* logits,
                                                      const int32_t* targets,
                                                      const float* class_weights, float eps,
                                                      float* partials, float* dlogits) {
  const WeightSums sums = block_weight_sums(n, c, targets, class_weights);
  const float scale = 1.0f / sums.targets;
  const WarpRows walk = warp_rows();
  float loss_sum = 0.0f, weight_sum = 0.0f;  // the same in every lane of a warp
  for (int64_t r = walk.first; r < n; r += walk.stride) {
    const float* x = logits + r * c;
    const float lse = row_log_sum_exp(c, x, walk.lane);
    const int t = targets[r];
    write_row_gradient(c, x, lse, t, class_weights, eps, sums.classes, scale, walk.lane,
                       dlogits + r * c);
    loss_sum += row_loss(c, x, lse, t, class_weights, eps, walk.lane);
    weight_sum += target_weight(c, t, class_weights);
  }
  write_block_partials(loss_sum, weight_sum, walk.lane, partials);
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

void cross_entropy_forward_backward(int n, int c, const float* logits, const int32_t* targets,
                                    const float* class_weights, float label_smoothing, float* loss,
                                    float* dlogits, float* scratch, cudaStream_t stream) {
  check_label_smoothing(label_smoothing);
  const unsigned blocks = row_blocks(n, kMaxPartials);
  WEFT_LAUNCH(cross_entropy_forward_backward_kernel, blocks, kBlockThreads, 0, stream, n, c, logits,
              targets, class_weights, label_smoothing, scratch, dlogits);
  finish_partial_sums(scratch, static_cast<int>(blocks), scratch + kMaxPartials, 0.0, loss, stream);
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
