// Hand-written CUDA kernels for batch normalisation (declared in batchnorm.h).
//
// x is viewed as [N, C, S] (S = spatial size); channel c owns the M = N * S values
// x[n, c, s], numbered j = n * S + s. Everything per channel is a reduction over those M values.
// Two paths:
//
// Resident (M <= 8192 and no p.sync; resident_forward_kernel, resident_backward_kernel, described
// at their definitions): one block per channel holds the channel's values in registers (8 or 32
// per thread, by quads where S % 4 == 0, each thread's addresses walked by additions), reduces
// them in double through shared memory, and writes y (or dx, dgamma, dbeta)
// in the same launch: one launch for the training forward, one for the backward, where the split
// path takes three. Meant for the small, launch-latency-bound layers (7 x 7 or 4 x 4 maps).
//
// Split (larger M, or p.sync): M can be large (128 images of 112 x 112: 1.6 million) while C is
// small (64), so one block per channel would leave most of the GPU idle. Each channel is
// therefore cut into `splits` slices of consecutive j, one block each, and the blocks' partial
// results are combined by a second, tiny kernel:
//
//   grid (C, splits) of `threads` threads (a multiple of 32, at most 256); block (c, s) takes
//   the slice j in [s * slice, (s + 1) * slice) of channel c, and its thread t the values
//   j = s * slice + t, + threads, ... (consecutive threads on consecutive s inside an image:
//   coalesced). The plan (plan_reduction) gives each thread about 16 values. When S % 4 == 0
//   and the arrays the reduction reads are 16-byte aligned, the slices are of quads (four
//   consecutive values of one image: S % 4 == 0 keeps a quad inside a channel) instead: thread t
//   takes quads (float4 loads, one address per quad), about 4 of them; the training forward's
//   moments take 16 or 8 a thread where the grid still fills a wave of the card
//   (plan_moment_quads), four in flight.
//
// Training forward, split (three kernels):
//   channel_moments_kernel   each thread keeps Welford's running (count, mean, M2) of its
//       values in float: no sum of squares, so no cancellation when the mean is large next to
//       the spread. The values are shifted first by K = the channel's first value (the same K
//       in every block of the channel): float then keeps its 24 bits relative to the spread of
//       the data rather than to its mean (a float mean near 100 could not move by less than
//       8e-6). By quads (channel_moments_quads_kernel) a thread computes the moments of four
//       quads' sixteen shifted values directly in registers (mean, then the squared deviations
//       from it) and merges them into its own with Chan's formula: one division per sixteen
//       values where Welford pays one per value. The threads of a warp merge their moments with
//       Chan's pairwise formula through shuffles (lane 0 ends with the warp's moments); shared
//       memory holds one (count, mean, M2) per warp; warp 0 merges those; thread 0 writes the
//       block's moments to the workspace. Per-thread chains are short (16 values, or at most 16
//       merges of 16 by quads) and the tree merge adds no long chains, so float suffices.
//   finish_moments_kernel    one warp per channel merges the channel's `splits` partial
//       moments in double (lane l those numbered l, l + 32, ... in order, then a butterfly over
//       the lanes: merge_splits) and adds K back to the mean; mean, biased variance M2 / M
//       (normalises), invstd = 1 / sqrt(var + eps) go to save_mean / save_invstd, and the low part
//       of the mean that float cannot hold to the workspace (see ChannelStats); the running
//       statistics move towards the mean and the unbiased variance M2 / (M - 1) with the momentum
//       (PyTorch's rule).
//   the normalisation pass   y = (x - mean[c]) * (gamma[c] * invstd[c]) + beta[c], the
//       subtraction compensated with the low part (NormalizeOp, run by per_element_pass below).
//
// Backward, split (three kernels), with xhat = (x - mean) * invstd:
//   gradient_sums_kernel     the same grid; each thread adds dy and dy * xhat over its values in
//       float, block_sum (shared memory: 32 per-warp slots) combines each of the two sums, and
//       thread 0 writes the block's pair to the workspace. Both reductions share one read of
//       dy and x. By quads (gradient_sums_quads_kernel: dy, x and, with an activation, y
//       aligned) the same sums over float4 loads, one address per quad.
//   finish_gradient_sums_kernel  one warp per channel adds the `splits` pairs in double (lane l
//       those numbered l, l + 32, ..., then warp_sum): dbeta = sum(dy), dgamma = sum(dy * xhat),
//       and the two means the dx formula needs, kept in the workspace.
//   the input-gradient pass  per element: dx = gamma * invstd * (dy - mean(dy) -
//       xhat * mean(dy * xhat)), the chain rule through the batch mean and variance (the CPU
//       reference states it). For the eval backward, whose statistics are constants,
//       dx = dy * gamma * invstd instead, and the sums are only computed when dgamma or dbeta is
//       wanted.
//
// Eval forward: the normalisation pass with the running statistics (invstd from running_var).
//
// The two per-element passes (per_element_pass: common.h's channel_pass) find each element's
// channel c = (i / S) % C with two multiply-high divisions (FastDivmod, common.h) rather than a
// 64-bit division per element, which had made them compute-bound (469 instructions per element
// in the normalisation's loop), and move four elements per thread with float4 accesses when
// S % 4 == 0 and the arrays are 16-byte aligned: channel_quads_kernel, one thread per quad, the
// quad's channel and its per-channel factors read once; otherwise channel_map_kernel, one thread
// per element.
//
// Fused activation (p.activation): the normalisation pass applies it to y as it writes it; the
// backward kernels read dy through it (GradientIn: dy times its slope at the forward's output y)
// wherever they read dy, so it costs no launch and no pass of its own.
//
// Synchronised batch norm (p.sync, kernels/params.h): between the partial results and their
// finishing, the forward's rank_moments_kernel merges the splits as finish_moments_kernel does
// (merge_splits) and writes this rank's (count, mean, M2) to its slot of the exchange buffer,
// the exchange fills the other ranks' slots, and merge_ranks_kernel merges the slots in rank
// order and finishes as finish_moments_kernel does (finish_channel). The backward's
// rank_gradient_sums_kernel writes this rank's sums (dgamma, dbeta) and its count, the exchange
// sums them over the ranks, and rank_coefficients_kernel gives the input-gradient pass the means
// over every rank's values. The exchange buffer is doubles at the start of the workspace.
//
// Deterministic: every combination happens in a fixed order, no atomics. Supported shapes: any
// batch, channels, spatial (M = N * S up to 2^31 - 1 per channel; channels up to 2^31 - 1).
#include "kernels/cuda/batchnorm.h"

#include <algorithm>
#include <type_traits>

#include "kernels/cuda/batchnorm_channel.h"
#include "kernels/cuda/batchnorm_resident.h"
#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

using namespace batchnorm;  // NOLINT: this file's shared parts (batchnorm_channel.h, _resident.h)

// ---- how a channel's reduction is split ---------------------------------------------------------

constexpr int kValuesPerThread = 16;
constexpr int kQuadsPerThread = 4;  // the same 16 values, read as quads
constexpr int kMaxSplits = 256;

struct ReductionPlan {
  unsigned threads;  // per block, a multiple of 32
  int splits;        // blocks per channel
  int slice;         // items (values or quads) per block
};

// Splits `items` per channel into blocks of up to kBlockThreads threads, `per_thread` items each.
ReductionPlan plan_items(int64_t items, int per_thread) {
  const int64_t m = std::max<int64_t>(items, 0);
  const int64_t rounded = (m + kWarpSize - 1) / kWarpSize * kWarpSize;
  const int64_t threads = std::clamp<int64_t>(rounded, kWarpSize, kBlockThreads);
  const int64_t per_block = threads * per_thread;
  int64_t splits = std::clamp<int64_t>((m + per_block - 1) / per_block, 1, kMaxSplits);
  const int64_t slice = (m + splits - 1) / splits;
  if (slice > 0) splits = (m + slice - 1) / slice;  // no empty block
  return ReductionPlan{static_cast<unsigned>(threads), static_cast<int>(splits),
                       static_cast<int>(slice)};
}

// The plan over the M = N * S values of a channel, or over its M / 4 quads (quads: S % 4 == 0).
// Both give a block of 256 threads 4096 values, so from M = 1024 on they have the same splits,
// and below it the quad plan has one block (batch_norm_workspace_floats takes the larger).
ReductionPlan plan_reduction(const BatchNormParams& p, bool quads) {
  const int64_t m = int64_t{std::max(p.batch, 0)} * std::max(p.spatial, 0);
  return quads ? plan_items(m / 4, kQuadsPerThread) : plan_items(m, kValuesPerThread);
}

// The training forward's moments by quads take more quads a thread where the grid stays at least
// one wave of the card (kBlocksPerSm blocks on each SM): 16 or 8 quads a thread rather than 4,
// so each block's merge tree (shuffles and divisions, its threads waiting on it with no load in
// flight) is paid for 256 or 128 values a thread, not 64. Never more splits than plan_reduction's
// (batch_norm_workspace_floats sizes the partials by those).
ReductionPlan plan_moment_quads(const BatchNormParams& p) {
  const int64_t m = int64_t{std::max(p.batch, 0)} * std::max(p.spatial, 0);
  const int64_t wave = int64_t{kBlocksPerSm} * sm_count();
  for (const int per_thread : {4 * kQuadsPerThread, 2 * kQuadsPerThread}) {
    const ReductionPlan plan = plan_items(m / 4, per_thread);
    if (int64_t{p.channels} * plan.splits >= wave) return plan;
  }
  return plan_items(m / 4, kQuadsPerThread);
}

// ---- Welford / Chan moments ---------------------------------------------------------------------

struct Moments {
  float count, mean, m2;  // m2: sum of squared deviations from the mean
};

// Chan et al.'s pairwise combination; exact for the empty set on either side.
__device__ __forceinline__ Moments merge(const Moments& a, const Moments& b) {
  const float count = a.count + b.count;
  if (count == 0.0f) return a;
  const float delta = b.mean - a.mean;
  const float b_share = b.count / count;
  return Moments{count, a.mean + delta * b_share, a.m2 + b.m2 + delta * delta * a.count * b_share};
}

__device__ __forceinline__ Moments shuffle_down(const Moments& m, int offset) {
  return Moments{__shfl_down_sync(kFullWarpMask, m.count, offset),
                 __shfl_down_sync(kFullWarpMask, m.mean, offset),
                 __shfl_down_sync(kFullWarpMask, m.m2, offset)};
}

// Tree merge over the warp: at step `offset` lane l merges lane l + offset's moments into its
// own, so after five steps lane 0 holds the warp's (the other lanes hold partial results).
__device__ __forceinline__ Moments warp_merge(Moments m) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) m = merge(m, shuffle_down(m, offset));
  return m;
}

// The moments of `count` values held in registers: their mean, and the sum of squared deviations
// from it computed directly (exact but for float rounding; 1 / count is exact for 4 and 8).
template <int kCount>
__device__ __forceinline__ Moments group_moments(const float (&v)[kCount]) {
  float sum = 0.0f;
  WEFT_UNROLL
  for (int i = 0; i < kCount; ++i) sum += v[i];
  const float mean = sum * (1.0f / kCount);
  float m2 = 0.0f;
  WEFT_UNROLL
  for (int i = 0; i < kCount; ++i) m2 += (v[i] - mean) * (v[i] - mean);
  return Moments{static_cast<float>(kCount), mean, m2};
}

// The end of both moments kernels: the block's moments merged (warp_merge in every warp, the
// per-warp moments through shared memory, then warp 0) and written by thread 0 to the partials.
__device__ __forceinline__ void write_block_moments(Moments m, float* partials) {
  __shared__ Moments warp_moments[kWarpSize];
  WEFT_SHARED_UNDEFINED(warp_moments);
  const unsigned lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  m = warp_merge(m);
  if (lane == 0) warp_moments[warp] = m;
  __syncthreads();
  if (warp == 0) {
    m = lane < blockDim.x / kWarpSize ? warp_moments[lane] : Moments{0.0f, 0.0f, 0.0f};
    m = warp_merge(m);
    if (lane == 0) {
      float* out = partials + (int64_t{blockIdx.x} * gridDim.y + blockIdx.y) * 3;
      out[0] = m.count;
      out[1] = m.mean;
      out[2] = m.m2;
    }
  }
}

__global__ void channel_moments_kernel(ChannelSlice cs, int slice, const float* x,
                                       float* partials) {
  const int c = static_cast<int>(blockIdx.x);
  const float shift = cs.count > 0 ? x[cs.address(c, 0)] : 0.0f;  // K
  Moments m{0.0f, 0.0f, 0.0f};
  for (int j = cs.begin(slice) + static_cast<int>(threadIdx.x); j < cs.end(slice);
       j += static_cast<int>(blockDim.x)) {
    const float v = x[cs.address(c, j)] - shift;
    m.count += 1.0f;
    const float delta = v - m.mean;
    m.mean += delta / m.count;
    m.m2 += delta * (v - m.mean);
  }
  write_block_moments(m, partials);
}

// channel_moments_kernel by quads (cs over quads): thread t takes quads q = begin + t, + T, ...
// (a ChannelWalk: no division per quad) four at a time (four float4 loads in flight), whose
// sixteen shifted values' moments it computes in registers (group_moments) and merges into its
// own with one division; the last one to three quads one at a time the same way. Then
// write_block_moments.
__global__ void __launch_bounds__(kBlockThreads)
    channel_moments_quads_kernel(ChannelSlice cs, int slice, const float* x, float* partials) {
  const int c = static_cast<int>(blockIdx.x);
  const float shift = cs.count > 0 ? x[4 * cs.address(c, 0)] : 0.0f;  // K
  const int step = static_cast<int>(blockDim.x), end = cs.end(slice);
  Moments m{0.0f, 0.0f, 0.0f};
  int q = cs.begin(slice) + static_cast<int>(threadIdx.x);
  ChannelWalk at = cs.walk(c, q, step);
  for (; q + 3 * step < end; q += 4 * step) {
    float v[16];
    WEFT_UNROLL
    for (int k = 0; k < 4; ++k, at.next()) {
      const float4 a = load4(x, at.address);
      v[4 * k] = a.x - shift;
      v[4 * k + 1] = a.y - shift;
      v[4 * k + 2] = a.z - shift;
      v[4 * k + 3] = a.w - shift;
    }
    m = merge(m, group_moments(v));
  }
  for (; q < end; q += step, at.next()) {
    const float4 a = load4(x, at.address);
    const float v[4] = {a.x - shift, a.y - shift, a.z - shift, a.w - shift};
    m = merge(m, group_moments(v));
  }
  write_block_moments(m, partials);
}

// Merges the moments (count, mean, m2) into `m` (Chan et al., in double; exact for the empty set
// on either side).
__device__ __forceinline__ void merge_into(ChannelMoments& m, double count, double mean,
                                           double m2) {
  const double total = m.count + count;
  if (total == 0.0) return;
  const double delta = mean - m.mean;
  const double share = count / total;
  m.mean += delta * share;
  m.m2 += m2 + delta * delta * m.count * share;
  m.count = total;
}

// Blocks of kBlockThreads threads for one warp per channel.
unsigned warp_grid_blocks(int64_t channels) {
  return grid_blocks(channels * kWarpSize);
}

// Channel c's moments from its `splits` block partials, with K (the channel's first value,
// element (0, c, 0)) added back to the mean. Called by the 32 lanes of a warp together (one
// warp per channel): lane l merges partials l, l + 32, ... in order, then five butterfly steps
// merge the lanes' moments (lane l with lane l ^ 16, ^ 8, ...), a fixed order; lane 0's result
// is the one written. (One thread per channel, as it was, chained up to 256 merges, each with a
// double division: tens of microseconds for a layer of few, large channels.)
__device__ ChannelMoments merge_splits(int64_t c, int spatial, int splits, const float* partials,
                                       const float* x) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  ChannelMoments m{0.0, 0.0, 0.0};  // of the shifted values
  for (int s = lane; s < splits; s += kWarpSize) {
    const float* part = partials + (c * splits + s) * 3;
    merge_into(m, part[0], part[1], part[2]);
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const double count = __shfl_xor_sync(kFullWarpMask, m.count, offset);
    const double mean = __shfl_xor_sync(kFullWarpMask, m.mean, offset);
    const double m2 = __shfl_xor_sync(kFullWarpMask, m.m2, offset);
    merge_into(m, count, mean, m2);
  }
  if (m.count > 0.0) m.mean += x[c * spatial];  // K
  return m;
}

// The channels c of this grid's warps, one warp each: f(c, lane) for every channel, called by
// all 32 lanes of the warp (the merges above shuffle across them).
template <class F>
__device__ __forceinline__ void for_each_channel_by_warps(int64_t channels, const F& f) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warps = grid_thread_count() / kWarpSize;
  for (int64_t c = grid_thread_index() / kWarpSize; c < channels; c += warps) f(c, lane);
}

// Channel c's statistics from its moments, written (channel_statistics, then write_channel).
__device__ void finish_channel(const BatchNormParams& p, int64_t c, const ChannelMoments& m,
                               const MomentOutputs& out) {
  write_channel(p, c, m, channel_statistics(p, m), out);
}

__global__ void finish_moments_kernel(BatchNormParams p, int splits, const float* partials,
                                      const float* x, MomentOutputs out) {
  for_each_channel_by_warps(p.channels, [&](int64_t c, int lane) {
    const ChannelMoments m = merge_splits(c, p.spatial, splits, partials, x);
    if (lane == 0) finish_channel(p, c, m, out);
  });
}

// Synchronised: this rank's moments into slot `rank` of parts [ranks, C, 3], zeros elsewhere.
__global__ void rank_moments_kernel(BatchNormParams p, int splits, const float* partials,
                                    const float* x, int rank, int ranks, double* parts) {
  for_each_channel_by_warps(p.channels, [&](int64_t c, int lane) {
    const ChannelMoments m = merge_splits(c, p.spatial, splits, partials, x);
    if (lane != 0) return;
    for (int r = 0; r < ranks; ++r) {
      double* slot = parts + (int64_t{r} * p.channels + c) * 3;
      slot[0] = r == rank ? m.count : 0.0;
      slot[1] = r == rank ? m.mean : 0.0;
      slot[2] = r == rank ? m.m2 : 0.0;
    }
  });
}

// Synchronised, after the exchange: the ranks' moments merged in rank order, then finished.
__global__ void merge_ranks_kernel(BatchNormParams p, int ranks, const double* parts,
                                   MomentOutputs out) {
  for (int64_t c = grid_thread_index(); c < p.channels; c += grid_thread_count()) {
    ChannelMoments m{0.0, 0.0, 0.0};
    for (int r = 0; r < ranks; ++r) {
      const double* slot = parts + (int64_t{r} * p.channels + c) * 3;
      merge_into(m, slot[0], slot[1], slot[2]);
    }
    finish_channel(p, c, m, out);
  }
}

// ---- per-element passes: normalisation and the input gradient -----------------------------------
// By common.h's channel_pass over x [N, C, S] (an element's channel is its row of the [N, C, S]
// grid): quads when S % 4 == 0 (so a quad never straddles two channels) and every array the op
// reads or writes per element is 16-byte aligned, its per-channel factors then read once a quad.
template <class Op>
void per_element_pass(const BatchNormParams& p, int64_t count, const Op& op,
                      cudaStream_t stream) {
  channel_pass(count, p.channels, p.spatial, p.spatial % 4 == 0 && op.vectorisable(), op, stream);
}

// y = act((x - mean[c]) * (gamma[c] * invstd[c]) + beta[c]).
struct NormalizeOp {
  ChannelStats stats;
  const float* x;
  const float* gamma;
  const float* beta;
  FusedActivation act;
  float* y;
  bool vectorisable() const { return aligned16(x) && aligned16(y); }
  __device__ __forceinline__ void operator()(int64_t i, int64_t c) const {
    y[i] = normalized(act, stats.centre(c)(x[i]), gamma[c] * stats.invstd(c), beta[c]);
  }
  // The channel's four factors are read once, before the quad's store (which the compiler must
  // otherwise assume could change them).
  __device__ __forceinline__ void quad(int64_t q, int64_t c) const {
    const Centre centre = stats.centre(c);
    const float scale = gamma[c] * stats.invstd(c), b = beta[c];
    const float4 v = load4(x, q);
    store4(y, q,
           make_float4(normalized(act, centre(v.x), scale, b),
                       normalized(act, centre(v.y), scale, b),
                       normalized(act, centre(v.z), scale, b),
                       normalized(act, centre(v.w), scale, b)));
  }
};

// The end of both gradient-sum kernels: block_sum (shared memory: 32 per-warp slots) of each sum,
// and thread 0 writes the block's pair to the partials.
__device__ __forceinline__ void write_block_sums(float sum_dy, float sum_dy_xhat, float* partials) {
  sum_dy = block_sum(sum_dy);
  sum_dy_xhat = block_sum(sum_dy_xhat);
  if (threadIdx.x == 0) {
    float* out = partials + (int64_t{blockIdx.x} * gridDim.y + blockIdx.y) * 2;
    out[0] = sum_dy;
    out[1] = sum_dy_xhat;
  }
}

__global__ void gradient_sums_kernel(ChannelSlice cs, int slice, ChannelStats stats, GradientIn dy,
                                     const float* x, float* partials) {
  const int c = static_cast<int>(blockIdx.x);
  const float invstd = stats.invstd(c);
  const Centre centre = stats.centre(c);
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  for (int j = cs.begin(slice) + static_cast<int>(threadIdx.x); j < cs.end(slice);
       j += static_cast<int>(blockDim.x)) {
    const int64_t at = cs.address(c, j);
    const float g = dy[at];
    sum_dy += g;
    sum_dy_xhat += g * (centre(x[at]) * invstd);
  }
  write_block_sums(sum_dy, sum_dy_xhat, partials);
}

// Adds one quad's dy and dy * xhat to the two sums.
__device__ __forceinline__ void add_quad(const Centre& centre, float invstd, float4 g, float4 v,
                                         float& sum_dy, float& sum_dy_xhat) {
  sum_dy += (g.x + g.y) + (g.z + g.w);
  sum_dy_xhat += (g.x * (centre(v.x) * invstd) + g.y * (centre(v.y) * invstd)) +
                 (g.z * (centre(v.z) * invstd) + g.w * (centre(v.w) * invstd));
}

// gradient_sums_kernel by quads (cs over quads): thread t takes quads q = begin + t, + T, ... two
// at a time (their dy, x and, with an activation, y quads loaded before either is added), one
// address per quad. Then write_block_sums.
__global__ void __launch_bounds__(kBlockThreads)
    gradient_sums_quads_kernel(ChannelSlice cs, int slice, ChannelStats stats, GradientIn dy,
                               const float* x, float* partials) {
  const int c = static_cast<int>(blockIdx.x);
  const float invstd = stats.invstd(c);
  const Centre centre = stats.centre(c);
  const int step = static_cast<int>(blockDim.x), end = cs.end(slice);
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  int q = cs.begin(slice) + static_cast<int>(threadIdx.x);
  for (; q + step < end; q += 2 * step) {
    const int64_t a = cs.address(c, q), b = cs.address(c, q + step);
    const float4 ga = dy.quad(a), gb = dy.quad(b), va = load4(x, a), vb = load4(x, b);
    add_quad(centre, invstd, ga, va, sum_dy, sum_dy_xhat);
    add_quad(centre, invstd, gb, vb, sum_dy, sum_dy_xhat);
  }
  if (q < end) {
    const int64_t a = cs.address(c, q);
    add_quad(centre, invstd, dy.quad(a), load4(x, a), sum_dy, sum_dy_xhat);
  }
  write_block_sums(sum_dy, sum_dy_xhat, partials);
}

// Channel c's two sums from its `splits` block partials, added in order in double.
// Called by the 32 lanes of a warp together, as merge_splits: lane l adds pairs l, l + 32, ...
// in order, warp_sum adds the lanes (a fixed butterfly); every lane gets the sums.
__device__ void split_sums(int64_t c, int splits, const float* partials, double* sum_dy,
                           double* sum_dy_xhat) {
  double a = 0.0, b = 0.0;
  for (int s = static_cast<int>(threadIdx.x) % kWarpSize; s < splits; s += kWarpSize) {
    a += partials[(c * splits + s) * 2];
    b += partials[(c * splits + s) * 2 + 1];
  }
  *sum_dy = warp_sum(a);
  *sum_dy_xhat = warp_sum(b);
}

// coefficients[2c] = mean(dy), coefficients[2c + 1] = mean(dy * xhat) over channel c.
__global__ void finish_gradient_sums_kernel(int channels, int64_t values_per_channel, int splits,
                                            const float* partials, float* dgamma, float* dbeta,
                                            float* coefficients) {
  for_each_channel_by_warps(channels, [&](int64_t c, int lane) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    split_sums(c, splits, partials, &sum_dy, &sum_dy_xhat);
    if (lane != 0) return;
    if (dbeta != nullptr) dbeta[c] = static_cast<float>(sum_dy);
    if (dgamma != nullptr) dgamma[c] = static_cast<float>(sum_dy_xhat);
    const double m = values_per_channel > 0 ? static_cast<double>(values_per_channel) : 1.0;
    coefficients[2 * c] = static_cast<float>(sum_dy / m);
    coefficients[2 * c + 1] = static_cast<float>(sum_dy_xhat / m);
  });
}

// Synchronised: this rank's sums to dgamma, dbeta and sums [2 C + 1] (the count last).
__global__ void rank_gradient_sums_kernel(int channels, int64_t values_per_channel, int splits,
                                          const float* partials, float* dgamma, float* dbeta,
                                          double* sums) {
  for_each_channel_by_warps(channels, [&](int64_t c, int lane) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    split_sums(c, splits, partials, &sum_dy, &sum_dy_xhat);
    if (lane != 0) return;
    sums[2 * c] = sum_dy;
    sums[2 * c + 1] = sum_dy_xhat;
    if (dbeta != nullptr) dbeta[c] = static_cast<float>(sum_dy);
    if (dgamma != nullptr) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (c == 0) sums[2 * int64_t{channels}] = static_cast<double>(values_per_channel);
  });
}

// Synchronised, after the exchange: the means over all ranks' values.
__global__ void rank_coefficients_kernel(int channels, const double* sums, float* coefficients) {
  for (int64_t c = grid_thread_index(); c < channels; c += grid_thread_count()) {
    const double total = sums[2 * int64_t{channels}];
    const double m = total > 0.0 ? total : 1.0;
    coefficients[2 * c] = static_cast<float>(sums[2 * c] / m);
    coefficients[2 * c + 1] = static_cast<float>(sums[2 * c + 1] / m);
  }
}

// dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) with xhat = (x - mean) *
// invstd; for the eval backward (coefficients null: constant statistics) dx = dy * gamma * invstd.
struct InputGradientOp {
  ChannelStats stats;
  const float* coefficients;
  GradientIn dy;
  const float* x;
  const float* gamma;
  float* dx;
  bool vectorisable() const {
    return aligned16(dy.dy) && (!dy.act.active() || aligned16(dy.y)) &&
           (coefficients == nullptr || aligned16(x)) && aligned16(dx);
  }
  __device__ __forceinline__ void operator()(int64_t i, int64_t c) const {
    const float invstd = stats.invstd(c), g = dy[i];
    dx[i] = coefficients == nullptr
                ? g * (gamma[c] * invstd)
                : training_dx(gamma[c], invstd, g, stats.centre(c)(x[i]) * invstd,
                              coefficients[2 * c], coefficients[2 * c + 1]);
  }
  // The channel's factors are read once, before the quad's store.
  __device__ __forceinline__ void quad(int64_t q, int64_t c) const {
    const float invstd = stats.invstd(c), gamma_c = gamma[c];
    const float4 g = dy.quad(q);
    if (coefficients == nullptr) {
      const float k = gamma_c * invstd;
      store4(dx, q, make_float4(g.x * k, g.y * k, g.z * k, g.w * k));
      return;
    }
    const Centre centre = stats.centre(c);
    const float a = coefficients[2 * c], b = coefficients[2 * c + 1];
    const float4 v = load4(x, q);
    store4(dx, q,
           make_float4(training_dx(gamma_c, invstd, g.x, centre(v.x) * invstd, a, b),
                       training_dx(gamma_c, invstd, g.y, centre(v.y) * invstd, a, b),
                       training_dx(gamma_c, invstd, g.z, centre(v.z) * invstd, a, b),
                       training_dx(gamma_c, invstd, g.w, centre(v.w) * invstd, a, b)));
  }
};

int64_t element_count(const BatchNormParams& p) {
  return int64_t{p.batch} * p.channels * p.spatial;
}

// Over the values, or with `quads` (S % 4 == 0) over the quads.
ChannelSlice channel_slice(const BatchNormParams& p, bool quads = false) {
  const int per = quads ? 4 : 1;
  const int spatial = std::max(p.spatial, 0) / per;
  return ChannelSlice{p.channels, spatial, std::max(p.batch, 0) * spatial,
                      FastDivmod(static_cast<uint32_t>(std::max(spatial, 1)))};
}

// Floats at the start of the workspace that hold a synchronised batch norm's exchange (doubles):
// the forward's [ranks, C, 3] moments or the backward's [2 C + 1] sums. 0 without p.sync.
int64_t sync_floats(const BatchNormParams& p) {
  if (p.sync == nullptr) return 0;
  return 2 *
         std::max<int64_t>(int64_t{p.sync->ranks} * p.channels * 3, 2 * int64_t{p.channels} + 1);
}

void exchange(const BatchNormSync& sync, double* data, int64_t count, cudaStream_t stream) {
  sync.exchange(sync.context, data, count, static_cast<void*>(stream));
}

// The gradient sums of every channel: dgamma, dbeta (each may be null) and, in the workspace
// after the partials, the coefficients the input-gradient pass needs. Returns those. With p.sync
// the coefficients are the means over every rank's values (dgamma and dbeta stay this rank's).
const float* gradient_sums(const BatchNormParams& p, ChannelStats stats, GradientIn dy,
                           const float* x, float* dgamma, float* dbeta, float* workspace,
                           cudaStream_t stream) {
  const bool quads = p.spatial % 4 == 0 && aligned16(x) && aligned16(dy.dy) &&
                     (!dy.act.active() || aligned16(dy.y));
  const ReductionPlan plan = plan_reduction(p, quads);
  double* sums = reinterpret_cast<double*>(workspace);
  float* partials = workspace + sync_floats(p);
  float* coefficients = partials + int64_t{p.channels} * plan.splits * 2;
  const dim3 grid(static_cast<unsigned>(p.channels), static_cast<unsigned>(plan.splits));
  if (quads) {
    WEFT_LAUNCH(gradient_sums_quads_kernel, grid, plan.threads, 0, stream, channel_slice(p, true),
                plan.slice, stats, dy, x, partials);
  } else {
    WEFT_LAUNCH(gradient_sums_kernel, grid, plan.threads, 0, stream, channel_slice(p), plan.slice,
                stats, dy, x, partials);
  }
  if (p.sync == nullptr) {
    WEFT_LAUNCH(finish_gradient_sums_kernel, warp_grid_blocks(p.channels), kBlockThreads, 0,
                stream, p.channels, int64_t{p.batch} * p.spatial, plan.splits,
                static_cast<const float*>(partials), dgamma, dbeta, coefficients);
    return coefficients;
  }
  WEFT_LAUNCH(rank_gradient_sums_kernel, warp_grid_blocks(p.channels), kBlockThreads, 0,
              stream, p.channels, int64_t{p.batch} * p.spatial, plan.splits,
              static_cast<const float*>(partials), dgamma, dbeta, sums);
  exchange(*p.sync, sums, 2 * int64_t{p.channels} + 1, stream);
  WEFT_LAUNCH(rank_coefficients_kernel, grid_blocks(p.channels), kBlockThreads, 0, stream,
              p.channels, static_cast<const double*>(sums), coefficients);
  return coefficients;
}

// The whole backward by resident_backward_kernel where plan_resident allows; false otherwise.
bool resident_backward(const BatchNormParams& p, const ChannelStats& stats, const GradientIn& dy,
                       const float* x, const float* gamma, bool training, float* dx, float* dgamma,
                       float* dbeta, cudaStream_t stream) {
  const ResidentPlan resident = plan_resident(p);
  if (resident.values == 0) return false;
  const bool quads = p.spatial % 4 == 0 && aligned16(x) && aligned16(dy.dy) &&
                     (!dy.act.active() || aligned16(dy.y)) && aligned16(dx);
  with_resident_shape(resident, quads, [&](auto values, auto width) {
    WEFT_LAUNCH((resident_backward_kernel<decltype(values)::value, decltype(width)::value>),
                static_cast<unsigned>(p.channels), resident.threads, 0, stream,
                channel_slice(p, quads), stats, dy, x, gamma, training, dx, dgamma, dbeta);
  });
  return true;
}

}  // namespace

// The split path's layout: the sync exchange, then the partials (3 floats per block: the
// forward's), then C floats (the forward's mean_low, the backward's 2 C coefficients after its
// 2 per block). The resident path puts only mean_low at the start.
int64_t batch_norm_workspace_floats(const BatchNormParams& p) {
  if (p.channels <= 0) return 0;
  const int splits = std::max(plan_reduction(p, false).splits, plan_reduction(p, true).splits);
  return sync_floats(p) + int64_t{p.channels} * (3 * splits + 2);
}

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var, float* workspace,
                              cudaStream_t stream) {
  if (p.channels <= 0) return;
  const ResidentPlan resident = plan_resident(p);
  if (resident.values > 0) {
    const MomentOutputs out{save_mean, save_invstd, workspace, running_mean, running_var};
    const bool quads = p.spatial % 4 == 0 && aligned16(x) && aligned16(y);
    with_resident_shape(resident, quads, [&](auto values, auto width) {
      WEFT_LAUNCH((resident_forward_kernel<decltype(values)::value, decltype(width)::value>),
                  static_cast<unsigned>(p.channels), resident.threads, 0, stream, p,
                  channel_slice(p, quads), x, gamma, beta, y, out);
    });
    return;
  }
  const bool quads = p.spatial % 4 == 0 && aligned16(x);
  const ReductionPlan plan = quads ? plan_moment_quads(p) : plan_reduction(p, false);
  double* parts = reinterpret_cast<double*>(workspace);
  float* partials = workspace + sync_floats(p);
  float* mean_low = partials + int64_t{p.channels} * plan.splits * 3;
  const MomentOutputs out{save_mean, save_invstd, mean_low, running_mean, running_var};
  const dim3 grid(static_cast<unsigned>(p.channels), static_cast<unsigned>(plan.splits));
  if (quads) {
    WEFT_LAUNCH(channel_moments_quads_kernel, grid, plan.threads, 0, stream, channel_slice(p, true),
                plan.slice, x, partials);
  } else {
    WEFT_LAUNCH(channel_moments_kernel, grid, plan.threads, 0, stream, channel_slice(p), plan.slice,
                x, partials);
  }
  if (p.sync == nullptr) {
    WEFT_LAUNCH(finish_moments_kernel, warp_grid_blocks(p.channels), kBlockThreads, 0, stream,
                p, plan.splits, static_cast<const float*>(partials), x, out);
  } else {
    const BatchNormSync& sync = *p.sync;
    WEFT_LAUNCH(rank_moments_kernel, warp_grid_blocks(p.channels), kBlockThreads, 0, stream,
                p, plan.splits, static_cast<const float*>(partials), x, sync.rank, sync.ranks,
                parts);
    exchange(sync, parts, int64_t{sync.ranks} * p.channels * 3, stream);
    WEFT_LAUNCH(merge_ranks_kernel, grid_blocks(p.channels), kBlockThreads, 0, stream, p,
                sync.ranks, static_cast<const double*>(parts), out);
  }
  const int64_t count = element_count(p);
  if (count <= 0) return;
  const ChannelStats stats{save_mean, mean_low, save_invstd, false, p.eps};
  per_element_pass(p, count, NormalizeOp{stats, x, gamma, beta, p.activation, y}, stream);
}

void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y, cudaStream_t stream) {
  const int64_t count = element_count(p);
  if (count <= 0) return;
  const ChannelStats stats{running_mean, nullptr, running_var, true, p.eps};
  per_element_pass(p, count, NormalizeOp{stats, x, gamma, beta, p.activation, y}, stream);
}

void batch_norm_backward(const BatchNormParams& p, const float* dy_in, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                         float* workspace, cudaStream_t stream) {
  if (p.channels <= 0) return;
  const ChannelStats stats{save_mean, nullptr, save_invstd, false, p.eps};
  const GradientIn dy{dy_in, y, p.activation};
  if (resident_backward(p, stats, dy, x, gamma, true, dx, dgamma, dbeta, stream)) return;
  const float* coefficients = gradient_sums(p, stats, dy, x, dgamma, dbeta, workspace, stream);
  const int64_t count = element_count(p);
  if (count <= 0) return;
  per_element_pass(p, count, InputGradientOp{stats, coefficients, dy, x, gamma, dx}, stream);
}

void batch_norm_backward_eval(const BatchNormParams& p, const float* dy_in, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta,
                              float* workspace, cudaStream_t stream) {
  if (p.channels <= 0) return;
  const ChannelStats stats{running_mean, nullptr, running_var, true, p.eps};
  const GradientIn dy{dy_in, y, p.activation};
  if (dgamma != nullptr || dbeta != nullptr) {
    if (resident_backward(p, stats, dy, x, gamma, false, dx, dgamma, dbeta, stream)) return;
    gradient_sums(p, stats, dy, x, dgamma, dbeta, workspace, stream);
  }
  const int64_t count = element_count(p);
  if (count <= 0) return;
  per_element_pass(p, count, InputGradientOp{stats, nullptr, dy, x, gamma, dx}, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
