// What batchnorm.cu's two paths (split and resident) share about one channel: where its values
// are (ChannelSlice, ChannelWalk), the statistics a pass normalises with (ChannelStats, Centre),
// how the training forward's moments become those statistics (channel_statistics,
// write_channel), and the per-value formulas both paths use (normalized, GradientIn,
// training_dx). batchnorm.cu's opening comment describes the paths; included by it and by
// batchnorm_resident.h only.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace batchnorm {

// Thread t's items j = t, t + T, t + 2 T, ... of one channel (values, or quads), walked without
// a division per item: ChannelSlice::walk places the first by FastDivmod; each step adds T's
// whole images (T / S of them) and the rest (T % S), carrying into the next image when the
// position passes S (at most once a step, as T % S < S).
struct ChannelWalk {
  int64_t address;  // item j's index in x (floats, or float4s for quads)
  int position;     // j % S
  int spatial;      // S
  int rest;         // T % S
  int64_t jump;     // (T / S) * C * S + T % S: the address's move for one step
  int64_t carry;    // (C - 1) * S: from past the end of a plane to the next image's plane
  __device__ __forceinline__ void next() {
    position += rest;
    address += jump;
    if (position >= spatial) {
      position -= spatial;
      address += carry;
    }
  }
  // The step back: item j - T.
  __device__ __forceinline__ void previous() {
    position -= rest;
    address -= jump;
    if (position < 0) {
      position += spatial;
      address -= carry;
    }
  }
};

// Where the values of block (c, s) are: element j of channel c is x[(j / S * C + c) * S + j % S].
// The division j / S goes through FastDivmod (j < M < 2^31): one multiply-high, not a division.
// For quads (channel_slice(p, true)) spatial is S / 4 and count M / 4: the same formula then
// gives quad j's index in x viewed as float4, for load4.
struct ChannelSlice {
  int channels, spatial, count;  // count: M, the values of one channel
  FastDivmod by_spatial;
  __device__ __forceinline__ int64_t address(int c, int j) const {
    const int n = static_cast<int>(by_spatial.div(static_cast<uint32_t>(j)));
    return (int64_t{n} * channels + c) * spatial + (j - n * spatial);
  }
  __device__ __forceinline__ int begin(int slice) const {
    return static_cast<int>(blockIdx.y) * slice;
  }
  __device__ __forceinline__ int end(int slice) const {
    const int b = begin(slice);
    return count - b < slice ? count : b + slice;
  }
  // The walk over items first, first + step, ... of channel c (first, step >= 0).
  __device__ __forceinline__ ChannelWalk walk(int c, int first, int step) const {
    const int images = static_cast<int>(by_spatial.div(static_cast<uint32_t>(step)));
    const int rest = step - images * spatial;
    const int64_t plane = int64_t{channels} * spatial;
    const int n = static_cast<int>(by_spatial.div(static_cast<uint32_t>(first)));
    return ChannelWalk{address(c, first), first - n * spatial, spatial, rest,
                       images * plane + rest, plane - spatial};
  }
};

struct ChannelMoments {
  double count, mean, m2;
};

// What the training forward writes per channel.
struct MomentOutputs {
  float* save_mean;
  float* save_invstd;
  float* mean_low;
  float* running_mean;
  float* running_var;
};

// A channel's statistics from its moments: the mean as float plus the low part float cannot hold
// (see ChannelStats), and invstd = 1 / sqrt(biased variance + eps), the variance M2 / M.
struct ChannelStatistics {
  float mean_high, mean_low, invstd;
};

__device__ __forceinline__ ChannelStatistics channel_statistics(const BatchNormParams& p,
                                                                const ChannelMoments& m) {
  const double var = m.count > 0.0 ? m.m2 / m.count : 0.0;
  const float mean_high = static_cast<float>(m.mean);
  return ChannelStatistics{mean_high, static_cast<float>(m.mean - static_cast<double>(mean_high)),
                           static_cast<float>(1.0 / sqrt(var + p.eps))};
}

// Writes channel c's statistics (save_mean, mean_low, save_invstd) and moves its running
// statistics towards the batch's mean and unbiased variance M2 / (M - 1) with the momentum.
inline __device__ void write_channel(const BatchNormParams& p, int64_t c, const ChannelMoments& m,
                              const ChannelStatistics& s, const MomentOutputs& out) {
  out.save_mean[c] = s.mean_high;
  out.mean_low[c] = s.mean_low;
  out.save_invstd[c] = s.invstd;
  const double momentum = p.momentum;
  if (out.running_mean != nullptr) {
    out.running_mean[c] =
        static_cast<float>((1.0 - momentum) * out.running_mean[c] + momentum * m.mean);
  }
  if (out.running_var != nullptr) {
    // Unbiased for the population estimate; a single value has no spread (biased 0 is used).
    const double var = m.count > 0.0 ? m.m2 / m.count : 0.0;
    const double unbiased = m.count > 1.0 ? m.m2 / (m.count - 1.0) : var;
    out.running_var[c] =
        static_cast<float>((1.0 - momentum) * out.running_var[c] + momentum * unbiased);
  }
}

// The statistics a pass normalises with: the batch's (save_mean, save_invstd) or the running
// ones (running_mean, and invstd computed from running_var).
//
// mean_low (may be null) is what the float mean could not hold: mean - float(mean), from the
// double mean of finish_moments_kernel. x - mean is then computed as (x - mean) - mean_low,
// where the first subtraction is exact whenever x is within a factor of two of the mean
// (Sterbenz's lemma), which is exactly when it matters: with a mean of 100 and a spread of 1 the
// rounding of the float mean alone (up to 4e-6) would be most of y's error.
//
// Centre is one channel's centring with its statistics read once (per quad, or before a loop over
// the channel): low is mean_low[c], or 0 without mean_low ((x - mean) - 0 is x - mean exactly).
struct Centre {
  float mean;
  float low;
  __device__ __forceinline__ float operator()(float v) const { return (v - mean) - low; }
};

struct ChannelStats {
  const float* mean;
  const float* mean_low;
  const float* invstd_or_var;
  bool from_variance;
  float eps;
  __device__ __forceinline__ Centre centre(int64_t c) const {
    return Centre{mean[c], mean_low != nullptr ? mean_low[c] : 0.0f};
  }
  __device__ __forceinline__ float invstd(int64_t c) const {
    return from_variance ? 1.0f / sqrtf(invstd_or_var[c] + eps) : invstd_or_var[c];
  }
};

// y of one value from its centred value, as both forward paths write it.
__device__ __forceinline__ float normalized(FusedActivation act, float centred, float scale,
                                            float beta) {
  return act.apply(centred * scale + beta);
}

// The gradient that reaches the normalisation: dy, or, with a fused activation, dy times the
// activation's slope at the forward's output y (read in the same pass as dy).
struct GradientIn {
  const float* dy;
  const float* y;
  FusedActivation act;
  __device__ __forceinline__ float operator[](int64_t i) const {
    const float g = dy[i];
    return act.active() ? g * act.slope_at_output(y[i]) : g;
  }
  // Elements 4q .. 4q + 3 (dy and, with an activation, y 16-byte aligned).
  __device__ __forceinline__ float4 quad(int64_t q) const {
    float4 g = load4(dy, q);
    if (act.active()) {
      const float4 out = load4(y, q);
      g = make_float4(g.x * act.slope_at_output(out.x), g.y * act.slope_at_output(out.y),
                      g.z * act.slope_at_output(out.z), g.w * act.slope_at_output(out.w));
    }
    return g;
  }
};

// dx of one value in training, as both backward paths write it.
__device__ __forceinline__ float training_dx(float gamma, float invstd, float g, float xhat,
                                             float mean_dy, float mean_dy_xhat) {
  return gamma * invstd * (g - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace batchnorm
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
