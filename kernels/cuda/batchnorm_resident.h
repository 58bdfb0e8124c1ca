// Batch norm's register-resident path (see batchnorm.cu's opening comment): for channels of at
// most 8192 values, the training forward and the backward each in one launch, one block per
// channel holding the channel's values in registers. Included by batchnorm.cu only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/batchnorm_channel.h"
#include "kernels/cuda/common.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace batchnorm {

// ---- register-resident single-kernel paths for small channels -----------------------------------
// Used when a channel's M = N * S values fit one block's registers: M <= kBlockThreads * V with
// V = 8 or, above 256 * 8 = 2048, V = 32 (so M <= 8192), and no p.sync. Grid: one block per
// channel, T = M / V rounded up to a multiple of 32 (at least 32, at most 256) threads. A thread
// holds V values in a register array, read once, as V / W items of W consecutive values: W = 4
// (quads: S % 4 == 0 and every per-element array 16-byte aligned; float4 loads and stores) or
// W = 1. Thread t's items are j = k * T + t for k < V / W (consecutive threads on consecutive
// items: coalesced), found by a ChannelWalk (additions, no division per item) when the thread
// loads them and again when it writes y or dx. Up to 8192 the split path would have used one or
// two blocks per channel anyway; one launch replaces three and x is read once, not twice. Above
// it a block would hold more than 32 values (64 registers for the backward's dy and x) per
// thread, and the split path's parallelism pays for its launches.

// Sizes the resident path (values 0: not resident).
struct ResidentPlan {
  int values;        // V
  unsigned threads;  // T
};

constexpr int kResidentFew = 8, kResidentMany = 32;

inline ResidentPlan plan_resident(const BatchNormParams& p) {
  if (p.sync != nullptr) return ResidentPlan{0, 0};
  const int64_t m = int64_t{std::max(p.batch, 0)} * std::max(p.spatial, 0);
  const int64_t few = int64_t{kBlockThreads} * kResidentFew;
  const int64_t many = int64_t{kBlockThreads} * kResidentMany;
  const int values = m <= few ? kResidentFew : (m <= many ? kResidentMany : 0);
  if (values == 0) return ResidentPlan{0, 0};
  const int64_t rounded = ((m + values - 1) / values + kWarpSize - 1) / kWarpSize * kWarpSize;
  return ResidentPlan{
      values, static_cast<unsigned>(std::clamp<int64_t>(rounded, kWarpSize, kBlockThreads))};
}

// The blocks per SM the resident kernels are compiled for (__launch_bounds__' minimum): the
// register budget that lets 4 blocks of 8 values a thread, or 2 of 32, share an SM.
constexpr int resident_blocks_per_sm(int values) {
  return values == kResidentFew ? 4 : 2;
}

// q's four values into v[0, 4).
__device__ __forceinline__ void unpack(float4 q, float* v) {
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
}

// Item `at` of `base` (W = 4: the float4 numbered `at`; W = 1: the float) into v[0, W), or
// zeros when the item is not one of the channel's (`in` false).
template <int W>
__device__ __forceinline__ void load_item(const float* base, int64_t at, bool in, float* v) {
  if constexpr (W == 4) {
    unpack(in ? load4(base, at) : make_float4(0.0f, 0.0f, 0.0f, 0.0f), v);
  } else {
    v[0] = in ? base[at] : 0.0f;
  }
}

// The gradient reaching the normalisation (GradientIn) at item `at`, as load_item.
template <int W>
__device__ __forceinline__ void load_gradient(const GradientIn& dy, int64_t at, bool in,
                                              float* g) {
  if constexpr (W == 4) {
    unpack(in ? dy.quad(at) : make_float4(0.0f, 0.0f, 0.0f, 0.0f), g);
  } else {
    g[0] = in ? dy[at] : 0.0f;
  }
}

// v[0, W) to item `at` of `base`.
template <int W>
__device__ __forceinline__ void store_item(float* base, int64_t at, const float* v) {
  if constexpr (W == 4) {
    store4(base, at, make_float4(v[0], v[1], v[2], v[3]));
  } else {
    base[at] = v[0];
  }
}

// out at this thread's items (thread t of T: items j = k * T + t of channel c) from its register
// values: value i = k * W + w of the thread's V is f(i). The items are walked back from the last:
// walking forward again, as the loads did, let the compiler keep all the load pass's addresses
// alive (170 registers for the forward of 32 single values, one block per SM).
template <int V, int W, class F>
__device__ __forceinline__ void store_values(const ChannelSlice& cs, int c, float* out,
                                             const F& f) {
  constexpr int kItems = V / W;
  const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  ChannelWalk at = cs.walk(c, (kItems - 1) * threads + t, threads);
  WEFT_UNROLL
  for (int k = kItems - 1; k >= 0; --k, at.previous()) {
    if (k * threads + t >= cs.count) continue;
    float values[W];
    WEFT_UNROLL
    for (int w = 0; w < W; ++w) values[w] = f(k * W + w);
    store_item<W>(out, at.address, values);
  }
}

// The block's sums of a and of b over its threads, returned to every thread: block_sum's tree
// (warp_sum, 32 per-warp slots in shared memory, warp_sum again) for both at once, so one pair of
// barriers where two block_sums would take two.
__device__ __forceinline__ void block_sum_pair(double& a, double& b) {
  __shared__ double warp_sums[2][kWarpSize];
  WEFT_SHARED_UNDEFINED(warp_sums);
  const unsigned lane = threadIdx.x % kWarpSize;
  const unsigned warp = threadIdx.x / kWarpSize;
  const unsigned warps = blockDim.x / kWarpSize;
  a = warp_sum(a);
  b = warp_sum(b);
  if (lane == 0) {
    warp_sums[0][warp] = a;
    warp_sums[1][warp] = b;
  }
  __syncthreads();
  a = warp_sum(lane < warps ? warp_sums[0][lane] : 0.0);
  b = warp_sum(lane < warps ? warp_sums[1][lane] : 0.0);
  __syncthreads();
}

// The training forward in one launch. Block c, thread t: reads gamma[c] and beta[c] and loads its
// values of channel c; the sum of their shifts by K (the channel's first value) in float,
// block_sum in double (shared memory: its 32 per-warp slots; the same fixed tree every run) gives
// every thread the float mean of the shifted values; then each thread's sum and sum of squares of
// the deviations from that float mean, block_sum_pair'ed in double; the deviations' sum corrects
// both the mean and M2 (minus (sum d)^2 / M), so the float mean's rounding costs nothing. Thread
// 0 computes the channel's statistics (channel_statistics) and puts the mean, its low part and
// invstd in shared memory (`factors`); after a barrier every thread writes y for its values as
// NormalizeOp does, while thread 0 also writes save_mean, save_invstd, mean_low and the running
// statistics (write_channel), off the path the other threads wait on.
template <int V, int W>
__global__ void __launch_bounds__(kBlockThreads, resident_blocks_per_sm(V))
    resident_forward_kernel(BatchNormParams p, ChannelSlice cs, const float* x, const float* gamma,
                            const float* beta, float* y, MomentOutputs out) {
  constexpr int kItems = V / W;
  __shared__ float factors[3];  // mean_high, mean_low, invstd of channel c
  WEFT_SHARED_UNDEFINED(factors);
  const int c = static_cast<int>(blockIdx.x);
  const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const float shift = cs.count > 0 ? x[int64_t{c} * p.spatial] : 0.0f;  // K: element (0, c, 0)
  const float gamma_c = gamma[c], beta_c = beta[c];
  float v[V];
  float sum = 0.0f;
  ChannelWalk at = cs.walk(c, t, threads);
  WEFT_UNROLL
  for (int k = 0; k < kItems; ++k, at.next()) {
    const bool in = k * threads + t < cs.count;
    load_item<W>(x, at.address, in, &v[k * W]);
    WEFT_UNROLL
    for (int i = 0; i < W; ++i) sum += in ? v[k * W + i] - shift : 0.0f;
  }
  const double count = static_cast<double>(cs.count) * W;
  const double total = block_sum(static_cast<double>(sum));
  const float mean = count > 0.0 ? static_cast<float>(total / count) : 0.0f;  // of v - K
  float dev = 0.0f, squares = 0.0f;
  WEFT_UNROLL
  for (int k = 0; k < kItems; ++k) {
    const bool in = k * threads + t < cs.count;
    WEFT_UNROLL
    for (int i = 0; i < W; ++i) {
      const float d = in ? (v[k * W + i] - shift) - mean : 0.0f;
      dev += d;
      squares += d * d;
    }
  }
  double dev_total = dev, squares_total = squares;
  block_sum_pair(dev_total, squares_total);
  ChannelMoments m{count, 0.0, 0.0};
  ChannelStatistics s{};
  if (t == 0) {
    if (count > 0.0) {
      m.mean = static_cast<double>(mean) + dev_total / count + shift;
      const double m2 = squares_total - dev_total * dev_total / count;
      m.m2 = m2 > 0.0 ? m2 : 0.0;
    }
    s = channel_statistics(p, m);
    factors[0] = s.mean_high;
    factors[1] = s.mean_low;
    factors[2] = s.invstd;
  }
  __syncthreads();
  if (t == 0) write_channel(p, c, m, s, out);
  const Centre centre{factors[0], factors[1]};
  const float scale = gamma_c * factors[2];
  store_values<V, W>(cs, c, y, [&](int i) {
    return normalized(p.activation, centre(v[i]), scale, beta_c);
  });
}

// The backward in one launch (training, or the eval backward when dgamma or dbeta is wanted).
// Block c, thread t: loads its dy (through GradientIn) and x into registers; its sums of dy and
// dy * xhat in float, block_sum_pair'ed in double (shared memory: 32 per-warp pairs), which hands
// the totals to every thread, so each computes the two means itself, in the same arithmetic, with
// no broadcast of its own; thread 0 writes dbeta and dgamma (each may be null); every thread
// writes dx for its values: training_dx as InputGradientOp does, or, for the eval backward
// (training false), dy * gamma * invstd.
template <int V, int W>
__global__ void __launch_bounds__(kBlockThreads, resident_blocks_per_sm(V))
    resident_backward_kernel(ChannelSlice cs, ChannelStats stats, GradientIn dy, const float* x,
                             const float* gamma, bool training, float* dx, float* dgamma,
                             float* dbeta) {
  constexpr int kItems = V / W;
  const int c = static_cast<int>(blockIdx.x);
  const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const float invstd = stats.invstd(c), gamma_c = gamma[c];
  const Centre centre = stats.centre(c);
  float g[V], xhat[V];
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  // The loads' addresses by a ChannelWalk, but for 32 single values a thread: there the walk
  // took the kernel to 147 registers (one block per SM), an address per value (FastDivmod) to
  // 100 (two), for 1,400 more instructions (the static table, docs/kernels.md).
  constexpr bool kWalkLoads = !(V == kResidentMany && W == 1);
  ChannelWalk walk = cs.walk(c, t, threads);
  WEFT_UNROLL
  for (int k = 0; k < kItems; ++k, walk.next()) {
    const bool in = k * threads + t < cs.count;
    const int64_t a = kWalkLoads ? walk.address : cs.address(c, in ? k * threads + t : 0);
    load_gradient<W>(dy, a, in, &g[k * W]);
    load_item<W>(x, a, in, &xhat[k * W]);
    WEFT_UNROLL
    for (int i = 0; i < W; ++i) {
      const int v = k * W + i;
      xhat[v] = in ? centre(xhat[v]) * invstd : 0.0f;
      sum_dy += g[v];
      sum_dy_xhat += g[v] * xhat[v];
    }
  }
  double total_dy = sum_dy, total_dy_xhat = sum_dy_xhat;
  block_sum_pair(total_dy, total_dy_xhat);
  if (t == 0 && dbeta != nullptr) dbeta[c] = static_cast<float>(total_dy);
  if (t == 0 && dgamma != nullptr) dgamma[c] = static_cast<float>(total_dy_xhat);
  const double m = cs.count > 0 ? static_cast<double>(cs.count) * W : 1.0;
  const float mean_dy = static_cast<float>(total_dy / m);
  const float mean_dy_xhat = static_cast<float>(total_dy_xhat / m);
  store_values<V, W>(cs, c, dx, [&](int i) {
    return training ? training_dx(gamma_c, invstd, g[i], xhat[i], mean_dy, mean_dy_xhat)
                    : g[i] * (gamma_c * invstd);
  });
}

// Calls f with std::integral_constant<int, V> and std::integral_constant<int, W> for the plan's V
// and W = 4 (quads) or 1.
template <class F>
void with_resident_shape(const ResidentPlan& plan, bool quads, F&& f) {
  const auto with_width = [&](auto values) {
    if (quads) {
      f(values, std::integral_constant<int, 4>{});
    } else {
      f(values, std::integral_constant<int, 1>{});
    }
  };
  if (plan.values == kResidentFew) {
    with_width(std::integral_constant<int, kResidentFew>{});
  } else {
    with_width(std::integral_constant<int, kResidentMany>{});
  }
}

}  // namespace batchnorm
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
