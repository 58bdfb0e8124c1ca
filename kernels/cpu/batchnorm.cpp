// CPU reference for batch normalisation, training and eval, forward and backward.
//
// x is viewed as [N, C, S] (S = spatial size, 1 for BatchNorm1d); channel c owns the M = N * S
// values x[n, c, s] for all n and s. Channels are independent, so they are shared out across
// OpenMP threads and each thread walks its channel's N runs of S contiguous values; the
// forwards (training and eval) and the training backward of short runs walk the samples instead
// (small_plane_forward, small_plane_backward).
//
// Statistics are accumulated in double and in two passes (mean first, then the squared
// deviations from it): the one-pass E[x^2] - E[x]^2 cancels catastrophically when the mean is
// large compared with the spread. Each run of S values is summed in vector lanes (omp simd).
//
// Backward of the training forward uses the fused formula, with xhat = (x - mean) * invstd:
//   dbeta  = sum(dy)          dgamma = sum(dy * xhat)
//   dx     = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
// which is the chain rule through y = gamma * xhat + beta, xhat's dependence on the batch mean
// and on the batch variance included.
//
// Synchronised batch norm (p.sync, kernels/params.h BatchNormSync): the forward computes every
// channel's moments (count, mean, M2) first, exchanges them, merges the ranks' moments in rank
// order and finishes from them (the same finish_channel as the unsynchronised path); the
// backward computes every channel's two sums first, exchanges them with the count, and takes
// dx from the sums over all ranks (input_gradient, again shared).
//
// Fused activation (p.activation): the forwards apply it to y as they write it; the backwards
// read dy through it (GradientIn: dy times the activation's slope at the forward's output y)
// wherever they read dy, so it costs no pass of its own.
//
// Write rule: outputs are overwritten; running_mean and running_var are updated in place.
#include "kernels/cpu/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/cpu_support.h"

namespace weft::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a parallel region costs more
// than the work saves.
constexpr int64_t kParallelThreshold = 1 << 15;

int64_t element_count(const BatchNormParams& p) {
  return static_cast<int64_t>(p.batch) * p.channels * p.spatial;
}

// y = gamma * (x - mean) * invstd + beta on channel c. The subtraction is done in double: when
// the mean is large next to the spread, float would lose most of the digits of x - mean.
// This function and the other per-channel loops below are built for each vector width
// (WEFT_CPU_CLONES): in double, the baseline's two lanes made batch norm compute-bound.
WEFT_CPU_CLONES
void normalize_channel(const BatchNormParams& p, const float* x, int c, double mean, double invstd,
                       float gamma, float beta, float* y) {
  const double scale = gamma * invstd;
  const FusedActivation act = p.activation;
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    // One loop per activation kind, so that none switches on the kind per element.
    if (act.kind == FusedActivation::Kind::relu) {
      for (int s = 0; s < p.spatial; ++s) {
        const float v = static_cast<float>((x[offset + s] - mean) * scale + beta);
        y[offset + s] = v > 0.0f ? v : 0.0f;
      }
    } else if (act.kind == FusedActivation::Kind::leaky_relu) {
      for (int s = 0; s < p.spatial; ++s) {
        const float v = static_cast<float>((x[offset + s] - mean) * scale + beta);
        y[offset + s] = v > 0.0f ? v : act.alpha * v;
      }
    } else {
      for (int s = 0; s < p.spatial; ++s) {
        y[offset + s] = static_cast<float>((x[offset + s] - mean) * scale + beta);
      }
    }
  }
}

// The gradient that reaches the normalisation: dy, or dy times the fused activation's slope at
// the forward's output y (1 where y > 0, else 0 for relu and alpha for leaky_relu).
struct GradientIn {
  const float* dy;
  const float* y;  // null: no activation
  // The slope where y <= 0 (0 for relu, alpha for leaky_relu), so the loops select between two
  // numbers instead of switching on the activation's kind per element, which kept them scalar.
  // The loops copy it into a local: read through the reference it is a load under the
  // condition y <= 0, which GCC will not move out of the condition (it cannot tell the load is
  // safe), so the loop kept a branch and stayed scalar. The other half is -fno-trapping-math
  // (CMakeLists.txt): together they took the backward with a fused ReLU from 20.4 ms to 3.0 ms
  // (128 x 32 x 784, AMD EPYC, 2 cores).
  float negative_slope;

  GradientIn(const BatchNormParams& p, const float* dy_in, const float* y_in)
      : dy(dy_in),
        y(p.activation.active() ? y_in : nullptr),
        negative_slope(p.activation.slope_at_output(-1.0f)) {}
};

// sum(g) and sum(g * (x - mean) * invstd) over channel c, g being dy read through the activation
// (kAct: GradientIn's y is set); the branch is taken once per call, not per element.
template <bool kAct>
[[gnu::always_inline]] inline void gradient_sums_of(const BatchNormParams& p, const GradientIn& dy,
                                                    const float* x, int c, double mean,
                                                    double invstd, double* sum_dy,
                                                    double* sum_dy_xhat) {
  double a = 0.0, b = 0.0;
  const float negative_slope = dy.negative_slope;  // a local: see GradientIn
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    const float* x_run = x + offset;
    const float* dy_run = dy.dy + offset;
    const float* y_run = kAct ? dy.y + offset : nullptr;
    // The lanes' sums as in lane_sum.h, written out here so that the loop is compiled inside
    // this function's clones (sum_run's template, not inlined, stayed at the baseline's SSE2).
    double run_a = 0.0, run_b = 0.0;
#pragma omp simd reduction(+ : run_a, run_b)
    for (int64_t s = 0; s < p.spatial; ++s) {
      const float g = kAct ? dy_run[s] * (y_run[s] > 0.0f ? 1.0f : negative_slope) : dy_run[s];
      run_a += static_cast<double>(g);
      run_b += g * (x_run[s] - mean);
    }
    a += run_a;
    b += run_b;
  }
  *sum_dy = a;
  *sum_dy_xhat = b * invstd;
}

WEFT_CPU_CLONES
void gradient_sums(const BatchNormParams& p, const GradientIn& dy, const float* x, int c,
                   double mean, double invstd, double* sum_dy, double* sum_dy_xhat) {
  if (dy.y != nullptr) {
    gradient_sums_of<true>(p, dy, x, c, mean, invstd, sum_dy, sum_dy_xhat);
  } else {
    gradient_sums_of<false>(p, dy, x, c, mean, invstd, sum_dy, sum_dy_xhat);
  }
}

// Channel c's moments over this batch: count, mean and M2 (the sum of squared deviations from
// the mean), in two passes in double.
void channel_moments(const BatchNormParams& p, const float* x, int c, double* moments) {
  const int64_t m = static_cast<int64_t>(p.batch) * p.spatial;
  double sum = 0.0;
  for (int n = 0; n < p.batch; ++n) {
    const float* run = x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
#pragma omp simd reduction(+ : sum)
    for (int64_t s = 0; s < p.spatial; ++s) sum += static_cast<double>(run[s]);
  }
  const double mean = m > 0 ? sum / static_cast<double>(m) : 0.0;
  double squares = 0.0;
  for (int n = 0; n < p.batch; ++n) {
    const float* run = x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
#pragma omp simd reduction(+ : squares)
    for (int64_t s = 0; s < p.spatial; ++s) squares += (run[s] - mean) * (run[s] - mean);
  }
  moments[0] = static_cast<double>(m);
  moments[1] = mean;
  moments[2] = squares;
}

// Merges the moments `part` into `total` (Chan et al.'s pairwise formula; exact when either
// side is empty).
void merge_moments(const double* part, double* total) {
  const double count = total[0] + part[0];
  if (count == 0.0) return;
  const double delta = part[1] - total[1];
  const double part_share = part[0] / count;
  total[1] += delta * part_share;
  total[2] += part[2] + delta * delta * total[0] * part_share;
  total[0] = count;
}

// What the training forward writes.
struct Outputs {
  const float* gamma;
  const float* beta;
  float* y;
  float* save_mean;
  float* save_invstd;
  float* running_mean;
  float* running_var;
};

// Channel c's statistics from the moments (count, mean, M2): saved for backward, moving the
// running statistics. Returns invstd.
double finish_statistics(const BatchNormParams& p, int c, const double* moments,
                         const Outputs& out) {
  const double count = moments[0], mean = moments[1], squares = moments[2];
  const double var = count > 0.0 ? squares / count : 0.0;  // biased: normalises
  const double invstd = 1.0 / std::sqrt(var + p.eps);

  out.save_mean[c] = static_cast<float>(mean);
  out.save_invstd[c] = static_cast<float>(invstd);

  const double momentum = p.momentum;
  if (out.running_mean) {
    out.running_mean[c] =
        static_cast<float>((1.0 - momentum) * out.running_mean[c] + momentum * mean);
  }
  if (out.running_var) {
    // The running variance estimates the population, hence the unbiased M - 1 divisor
    // (with a single value there is no spread to estimate and the biased 0 is used).
    const double unbiased = count > 1.0 ? squares / (count - 1.0) : var;
    out.running_var[c] =
        static_cast<float>((1.0 - momentum) * out.running_var[c] + momentum * unbiased);
  }
  return invstd;
}

// Channel c normalised with the moments, which finish_statistics saves.
void finish_channel(const BatchNormParams& p, const float* x, int c, const double* moments,
                    const Outputs& out) {
  const double invstd = finish_statistics(p, c, moments, out);
  normalize_channel(p, x, c, moments[1], invstd, out.gamma[c], out.beta[c], out.y);
}

// dx on channel c: gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)), g being dy read
// through the activation. In float: dx = scale * g + slope * d + shift, with d = x - mean taken
// as (x - mean_hi) - mean_lo, mean split into a float and the float remainder, which keeps d's
// digits when the mean is large next to the spread (x - mean_hi is exact near the mean). The
// coefficients of one channel, shared by the channel path (input_gradient) and the sample path
// (small_plane_backward).
struct GradientCoefficients {
  float scale, slope, shift, mean_hi, mean_lo;
};

GradientCoefficients gradient_coefficients(double mean, double invstd, float gamma,
                                           double mean_dy, double mean_dy_xhat) {
  const double scale = gamma * invstd;
  const float mean_hi = static_cast<float>(mean);
  return GradientCoefficients{static_cast<float>(scale),
                              static_cast<float>(-scale * invstd * mean_dy_xhat),
                              static_cast<float>(-scale * mean_dy), mean_hi,
                              static_cast<float>(mean - mean_hi)};
}

// dx on channel c by those coefficients (kAct: dy read through the activation).
template <bool kAct>
[[gnu::always_inline]] inline void input_gradient_of(const BatchNormParams& p, const GradientIn& dy,
                                                     const float* x, int c, double mean,
                                                     double invstd, float gamma, double mean_dy,
                                                     double mean_dy_xhat, float* dx) {
  const GradientCoefficients k = gradient_coefficients(mean, invstd, gamma, mean_dy, mean_dy_xhat);
  const float scale_f = k.scale, slope = k.slope, shift = k.shift;
  const float mean_hi = k.mean_hi, mean_lo = k.mean_lo;
  const float negative_slope = dy.negative_slope;  // a local: see GradientIn
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    const float* x_run = x + offset;
    const float* dy_run = dy.dy + offset;
    const float* y_run = kAct ? dy.y + offset : nullptr;
    float* dx_run = dx + offset;
    for (int s = 0; s < p.spatial; ++s) {
      const float g = kAct ? dy_run[s] * (y_run[s] > 0.0f ? 1.0f : negative_slope) : dy_run[s];
      const float d = (x_run[s] - mean_hi) - mean_lo;
      dx_run[s] = scale_f * g + slope * d + shift;
    }
  }
}

WEFT_CPU_CLONES
void input_gradient(const BatchNormParams& p, const GradientIn& dy, const float* x, int c,
                    double mean, double invstd, float gamma, double mean_dy, double mean_dy_xhat,
                    float* dx) {
  if (dy.y != nullptr) {
    input_gradient_of<true>(p, dy, x, c, mean, invstd, gamma, mean_dy, mean_dy_xhat, dx);
  } else {
    input_gradient_of<false>(p, dy, x, c, mean, invstd, gamma, mean_dy, mean_dy_xhat, dx);
  }
}

// dx on channel c for the eval backward: y is an affine map of x with slope gamma * invstd.
WEFT_CPU_CLONES
void eval_input_gradient(const BatchNormParams& p, const GradientIn& dy, int c, float scale,
                         float* dx) {
  const float negative_slope = dy.negative_slope;  // a local: see GradientIn
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    const float* dy_run = dy.dy + offset;
    float* dx_run = dx + offset;
    if (dy.y != nullptr) {
      const float* y_run = dy.y + offset;
      for (int s = 0; s < p.spatial; ++s) {
        dx_run[s] = dy_run[s] * (y_run[s] > 0.0f ? 1.0f : negative_slope) * scale;
      }
    } else {
      for (int s = 0; s < p.spatial; ++s) dx_run[s] = dy_run[s] * scale;
    }
  }
}

// The training forward and backward where a channel's runs are short (the 3 x 3 to 6 x 6 maps
// of deep layers, and S = 1 for BatchNorm1d; which exactly: forward_by_samples,
// backward_by_samples), whose per-run loops were mostly overhead (backward, N 512, C 256, S 9:
// 10.7 ns per value against 2 at S 169, Intel Xeon, 2026-12-07). Every pass walks the samples
// instead, a sample's C * S values (index j = c S + s) as one contiguous vector loop, with the
// channel's constants copied out per value:
//   sums  the samples in fixed chunks of kChunkSamples; chunk k adds its samples' values into
//         its own rows of doubles (chunks and blocks of kRowBlock values of the row in
//         parallel, so that a batch of one chunk still uses every thread); then channel c's sum
//         is its values of every chunk's rows, chunk by chunk, s by s (channel_total). The
//         order depends on neither the thread count nor the schedule, as the channel path's
//         does not. The forward sums x, then (x - mean)^2 (two passes in double, as
//         channel_moments); the backward g and g (x - mean).
//   y     each sample in parallel, y = (x - mean) * gamma invstd + beta in double, as
//         normalize_channel computes it (small_plane_forward; the eval forward the same with
//         the running statistics).
//   dx    each sample in parallel, dx = scale g + slope d + shift with d = (x - mean_hi) -
//         mean_lo, the coefficients computed from the sums exactly as input_gradient does.
constexpr int kChunkSamples = 16;
constexpr int64_t kRowBlock = 2048;

// Which planes the sample paths take. The per-value constants cost bytes the channel path does
// not move (the forward's three doubles, 24 bytes a value of the row, the backward's five floats,
// 20, read once per sample, beside the doubles of the chunks' sums), so the sample paths pay
// where a channel's runs are too short for its vector loops and the row of constants stays in
// cache. Measured (2 threads, Intel Xeon family 6 model 207, 2026-12-07, ns per value, channel
// path -> sample path, three runs each): forward S 1 (C 1024) 8.0 -> 3.2, S 9 (C 256) 1.3 -> 0.8,
// (C 2048) 1.4 -> 0.8, S 16 (C 512) 1.2 -> 0.8, level at S 25 and 36, slower at S 49 (C 2048:
// 0.7 -> 1.0) and at S 16 with C 4096 (0.8 -> 1.0); backward S 9 (C 256) 1.7-2.2 -> 0.8-0.9,
// S 16 (C 512) 1.1-1.4 -> 0.8-1.0, S 36 (C 128) 0.9-1.0 -> 0.8, (C 256) 1.0-1.3 -> 0.8-0.9,
// level at S 25 and at S 36 with C 1024, slower at S 49 (C 64: 0.6 -> 0.9; C 128: 0.6-0.7 ->
// 0.9-1.0; C 2048: 0.5-0.7 -> 1.1-1.3) and at S 16 with C 4096 (0.7-1.1 -> 1.0-1.2): a run of
// 49 floats is three AVX-512 vectors and one more value, 36 two and four more, 9 none.
constexpr int kSmallForwardPlane = 16;
constexpr int kSmallBackwardPlane = 36;
constexpr int64_t kLargestRow = 32768;

// Whether p's planes (of at most `largest_plane` values) and row take a sample path.
bool by_samples(const BatchNormParams& p, int largest_plane) {
  return p.sync == nullptr && p.batch > 0 && p.spatial > 0 && p.spatial <= largest_plane &&
         int64_t{p.channels} * p.spatial <= kLargestRow;
}

bool forward_by_samples(const BatchNormParams& p) {
  return by_samples(p, kSmallForwardPlane);
}

bool backward_by_samples(const BatchNormParams& p) {
  return by_samples(p, kSmallBackwardPlane);
}

// The chunks of kChunkSamples samples p's batch makes (the last may be partial).
int chunk_count(const BatchNormParams& p) {
  return (p.batch + kChunkSamples - 1) / kChunkSamples;
}

// f(k, n0, n1, j0, j1) for chunk k (samples [n0, n1)) and each block [j0, j1) of a sample's row,
// in parallel over both.
template <class F>
void for_chunks_and_blocks(const BatchNormParams& p, const F& f) {
  const int64_t row = int64_t{p.channels} * p.spatial;
  const int chunks = chunk_count(p);
  const int64_t blocks = (row + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for collapse(2) schedule(static) if (element_count(p) > kParallelThreshold)
  for (int k = 0; k < chunks; ++k) {
    for (int64_t block = 0; block < blocks; ++block) {
      f(k, k * kChunkSamples, std::min(p.batch, (k + 1) * kChunkSamples), block * kRowBlock,
        std::min(row, (block + 1) * kRowBlock));
    }
  }
}

// Channel c's total of the chunks' per-value sums (chunk k's row `stride` after chunk k - 1's):
// chunk by chunk, s by s.
double channel_total(const double* rows, int chunks, int64_t stride, int c, int spatial) {
  double total = 0.0;
  for (int k = 0; k < chunks; ++k) {
    const double* r = rows + k * stride + int64_t{c} * spatial;
    for (int s = 0; s < spatial; ++s) total += r[s];
  }
  return total;
}

// Chunk [n0, n1)'s sums per value j in [j0, j1): sum[j] = the sum of x, or with kSquares the
// sum of (x - mean_of[j])^2, in double.
template <bool kSquares>
[[gnu::always_inline]] inline void chunk_moment_sums_of(const BatchNormParams& p, const float* x,
                                                        int n0, int n1, int64_t j0, int64_t j1,
                                                        const double* mean_of, double* sum) {
  const int64_t row = int64_t{p.channels} * p.spatial;
  for (int64_t j = j0; j < j1; ++j) sum[j] = 0.0;
  for (int n = n0; n < n1; ++n) {
    const float* x_row = x + n * row;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      if constexpr (kSquares) {
        sum[j] += (x_row[j] - mean_of[j]) * (x_row[j] - mean_of[j]);
      } else {
        sum[j] += static_cast<double>(x_row[j]);
      }
    }
  }
}

// mean_of null: the sums of x; otherwise of (x - mean_of)^2.
WEFT_CPU_CLONES
void chunk_moment_sums(const BatchNormParams& p, const float* x, int n0, int n1, int64_t j0,
                       int64_t j1, const double* mean_of, double* sum) {
  if (mean_of != nullptr) {
    chunk_moment_sums_of<true>(p, x, n0, n1, j0, j1, mean_of, sum);
  } else {
    chunk_moment_sums_of<false>(p, x, n0, n1, j0, j1, nullptr, sum);
  }
}

// The forward's per-value constants: its channel's mean, gamma * invstd and beta.
struct RowStatistics {
  std::vector<double> mean, scale, beta;
  int spatial;
  RowStatistics(int64_t row, int plane) : mean(row), scale(row), beta(row), spatial(plane) {}
  // Channel c's values: gamma * invstd as normalize_channel computes it.
  void set_channel(int c, double channel_mean, float gamma, double invstd, float channel_beta) {
    const int64_t at = int64_t{c} * spatial;
    std::fill_n(mean.begin() + at, spatial, channel_mean);
    std::fill_n(scale.begin() + at, spatial, gamma * invstd);
    std::fill_n(beta.begin() + at, spatial, static_cast<double>(channel_beta));
  }
};

// y of sample n (normalize_channel's arithmetic, one loop per activation kind).
WEFT_CPU_CLONES
void sample_normalize(const BatchNormParams& p, const float* x, int n, const RowStatistics& k,
                      float* y) {
  const int64_t row = int64_t{p.channels} * p.spatial;
  const float* x_row = x + n * row;
  float* y_row = y + n * row;
  const double *mean = k.mean.data(), *scale = k.scale.data(), *beta = k.beta.data();
  const FusedActivation act = p.activation;
  if (act.kind == FusedActivation::Kind::relu) {
    for (int64_t j = 0; j < row; ++j) {
      const float v = static_cast<float>((x_row[j] - mean[j]) * scale[j] + beta[j]);
      y_row[j] = v > 0.0f ? v : 0.0f;
    }
  } else if (act.kind == FusedActivation::Kind::leaky_relu) {
    const float alpha = act.alpha;
    for (int64_t j = 0; j < row; ++j) {
      const float v = static_cast<float>((x_row[j] - mean[j]) * scale[j] + beta[j]);
      y_row[j] = v > 0.0f ? v : alpha * v;
    }
  } else {
    for (int64_t j = 0; j < row; ++j) {
      y_row[j] = static_cast<float>((x_row[j] - mean[j]) * scale[j] + beta[j]);
    }
  }
}

void small_plane_forward(const BatchNormParams& p, const float* x, const Outputs& out) {
  const int spatial = p.spatial;
  const int64_t row = int64_t{p.channels} * spatial;
  const int chunks = chunk_count(p);
  const double m = static_cast<double>(p.batch) * spatial;
  // Every element is written by its chunk before it is read: no zeroing pass first.
  const auto partial = std::make_unique_for_overwrite<double[]>(static_cast<size_t>(chunks * row));
  const auto sums_of = [&](const double* mean_of) {
    for_chunks_and_blocks(p, [&](int k, int n0, int n1, int64_t j0, int64_t j1) {
      chunk_moment_sums(p, x, n0, n1, j0, j1, mean_of, partial.get() + k * row);
    });
  };
  RowStatistics statistics(row, spatial);
  sums_of(nullptr);
  for (int c = 0; c < p.channels; ++c) {
    const double mean = channel_total(partial.get(), chunks, row, c, spatial) / m;
    std::fill_n(statistics.mean.begin() + int64_t{c} * spatial, spatial, mean);
  }
  sums_of(statistics.mean.data());
  for (int c = 0; c < p.channels; ++c) {
    const double mean = statistics.mean[int64_t{c} * spatial];
    const double moments[3] = {m, mean, channel_total(partial.get(), chunks, row, c, spatial)};
    const double invstd = finish_statistics(p, c, moments, out);
    statistics.set_channel(c, mean, out.gamma[c], invstd, out.beta[c]);
  }
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int n = 0; n < p.batch; ++n) sample_normalize(p, x, n, statistics, out.y);
}

// Chunk [n0, n1)'s sums per value j in [j0, j1): a[j] = sum of g, b[j] = sum of g (x - mean of
// j's channel).
template <bool kAct>
[[gnu::always_inline]] inline void chunk_sums_of(const BatchNormParams& p, const GradientIn& dy,
                                                 const float* x, int n0, int n1, int64_t j0,
                                                 int64_t j1, const double* mean_of, double* a,
                                                 double* b) {
  const int64_t row = int64_t{p.channels} * p.spatial;
  const float negative_slope = dy.negative_slope;  // a local: see GradientIn
  for (int64_t j = j0; j < j1; ++j) a[j] = b[j] = 0.0;
  for (int n = n0; n < n1; ++n) {
    const float* x_row = x + n * row;
    const float* dy_row = dy.dy + n * row;
    const float* y_row = kAct ? dy.y + n * row : nullptr;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const float g = kAct ? dy_row[j] * (y_row[j] > 0.0f ? 1.0f : negative_slope) : dy_row[j];
      a[j] += static_cast<double>(g);
      b[j] += g * (x_row[j] - mean_of[j]);
    }
  }
}

WEFT_CPU_CLONES
void chunk_sums(const BatchNormParams& p, const GradientIn& dy, const float* x, int n0, int n1,
                int64_t j0, int64_t j1, const double* mean_of, double* a, double* b) {
  if (dy.y != nullptr) {
    chunk_sums_of<true>(p, dy, x, n0, n1, j0, j1, mean_of, a, b);
  } else {
    chunk_sums_of<false>(p, dy, x, n0, n1, j0, j1, mean_of, a, b);
  }
}

// GradientCoefficients, one per value of a sample (so the row loop reads them as vectors).
struct RowCoefficients {
  std::vector<float> scale, slope, shift, mean_hi, mean_lo;
  explicit RowCoefficients(int64_t row)
      : scale(row), slope(row), shift(row), mean_hi(row), mean_lo(row) {}
};

template <bool kAct>
[[gnu::always_inline]] inline void sample_input_gradient_of(const BatchNormParams& p,
                                                            const GradientIn& dy, const float* x,
                                                            int n, const RowCoefficients& k,
                                                            float* dx) {
  const int64_t row = int64_t{p.channels} * p.spatial;
  const float negative_slope = dy.negative_slope;  // a local: see GradientIn
  const float* x_row = x + n * row;
  const float* dy_row = dy.dy + n * row;
  const float* y_row = kAct ? dy.y + n * row : nullptr;
  float* dx_row = dx + n * row;
  const float *scale = k.scale.data(), *slope = k.slope.data(), *shift = k.shift.data();
  const float *mean_hi = k.mean_hi.data(), *mean_lo = k.mean_lo.data();
  for (int64_t j = 0; j < row; ++j) {
    const float g = kAct ? dy_row[j] * (y_row[j] > 0.0f ? 1.0f : negative_slope) : dy_row[j];
    const float d = (x_row[j] - mean_hi[j]) - mean_lo[j];
    dx_row[j] = scale[j] * g + slope[j] * d + shift[j];
  }
}

WEFT_CPU_CLONES
void sample_input_gradient(const BatchNormParams& p, const GradientIn& dy, const float* x, int n,
                           const RowCoefficients& k, float* dx) {
  if (dy.y != nullptr) {
    sample_input_gradient_of<true>(p, dy, x, n, k, dx);
  } else {
    sample_input_gradient_of<false>(p, dy, x, n, k, dx);
  }
}

void small_plane_backward(const BatchNormParams& p, const GradientIn& dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          float* dx, float* dgamma, float* dbeta) {
  const int spatial = p.spatial;
  const int64_t row = int64_t{p.channels} * spatial;
  const int chunks = chunk_count(p);
  std::vector<double> mean_of(static_cast<size_t>(row));
  for (int64_t j = 0; j < row; ++j) mean_of[j] = save_mean[j / spatial];
  const auto partial =
      std::make_unique_for_overwrite<double[]>(static_cast<size_t>(2 * chunks * row));
  for_chunks_and_blocks(p, [&](int k, int n0, int n1, int64_t j0, int64_t j1) {
    chunk_sums(p, dy, x, n0, n1, j0, j1, mean_of.data(), partial.get() + 2 * k * row,
               partial.get() + (2 * k + 1) * row);
  });
  const double m = static_cast<double>(p.batch) * spatial;
  RowCoefficients coefficients(row);
  for (int c = 0; c < p.channels; ++c) {
    const double sum_dy = channel_total(partial.get(), chunks, 2 * row, c, spatial);
    const double sum_b = channel_total(partial.get() + row, chunks, 2 * row, c, spatial);
    const double invstd = save_invstd[c];
    const double sum_dy_xhat = sum_b * invstd;
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    const GradientCoefficients k =
        gradient_coefficients(save_mean[c], invstd, gamma[c], sum_dy / m, sum_dy_xhat / m);
    for (int s = 0; s < spatial; ++s) {
      const int64_t j = int64_t{c} * spatial + s;
      coefficients.scale[j] = k.scale;
      coefficients.slope[j] = k.slope;
      coefficients.shift[j] = k.shift;
      coefficients.mean_hi[j] = k.mean_hi;
      coefficients.mean_lo[j] = k.mean_lo;
    }
  }
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int n = 0; n < p.batch; ++n) sample_input_gradient(p, dy, x, n, coefficients, dx);
}

}  // namespace

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var) {
  const Outputs out{gamma, beta, y, save_mean, save_invstd, running_mean, running_var};
  if (forward_by_samples(p)) {
    small_plane_forward(p, x, out);
    return;
  }
  if (p.sync == nullptr) {
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
    for (int c = 0; c < p.channels; ++c) {
      double moments[3];
      channel_moments(p, x, c, moments);
      finish_channel(p, x, c, moments, out);
    }
    return;
  }
  // Synchronised: this rank's moments into its slot, the exchange fills the others' slots,
  // then every rank merges the same slots in the same order.
  const BatchNormSync& sync = *p.sync;
  const int64_t slot = int64_t{p.channels} * 3;
  std::vector<double> parts(static_cast<size_t>(sync.ranks * slot), 0.0);
  double* mine = parts.data() + sync.rank * slot;
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) channel_moments(p, x, c, mine + int64_t{c} * 3);
  sync.exchange(sync.context, parts.data(), static_cast<int64_t>(parts.size()), nullptr);
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    double moments[3] = {0.0, 0.0, 0.0};
    for (int r = 0; r < sync.ranks; ++r) {
      merge_moments(parts.data() + r * slot + int64_t{c} * 3, moments);
    }
    finish_channel(p, x, c, moments, out);
  }
}

void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y) {
  if (forward_by_samples(p)) {
    // Short runs: by samples, as the training forward's normalisation (small_plane_forward).
    RowStatistics statistics(int64_t{p.channels} * p.spatial, p.spatial);
    for (int c = 0; c < p.channels; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + p.eps);
      statistics.set_channel(c, running_mean[c], gamma[c], invstd, beta[c]);
    }
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
    for (int n = 0; n < p.batch; ++n) sample_normalize(p, x, n, statistics, y);
    return;
  }
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + p.eps);
    normalize_channel(p, x, c, running_mean[c], invstd, gamma[c], beta[c], y);
  }
}

void batch_norm_backward(const BatchNormParams& p, const float* dy_in, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  const GradientIn dy(p, dy_in, y);
  const int64_t m = static_cast<int64_t>(p.batch) * p.spatial;
  if (backward_by_samples(p)) {
    small_plane_backward(p, dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
    return;
  }
  if (p.sync == nullptr) {
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
    for (int c = 0; c < p.channels; ++c) {
      const double mean = save_mean[c];
      const double invstd = save_invstd[c];
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      gradient_sums(p, dy, x, c, mean, invstd, &sum_dy, &sum_dy_xhat);
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
      if (m == 0) continue;
      input_gradient(p, dy, x, c, mean, invstd, gamma[c], sum_dy / static_cast<double>(m),
                     sum_dy_xhat / static_cast<double>(m), dx);
    }
    return;
  }
  // Synchronised: this rank's sums (kept for dgamma and dbeta) and its count, summed over the
  // ranks for the means dx needs.
  const BatchNormSync& sync = *p.sync;
  std::vector<double> sums(static_cast<size_t>(2 * p.channels + 1), 0.0);
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    gradient_sums(p, dy, x, c, save_mean[c], save_invstd[c], &sums[2 * c], &sums[2 * c + 1]);
    if (dgamma) dgamma[c] = static_cast<float>(sums[2 * c + 1]);
    if (dbeta) dbeta[c] = static_cast<float>(sums[2 * c]);
  }
  sums[2 * static_cast<size_t>(p.channels)] = static_cast<double>(m);
  sync.exchange(sync.context, sums.data(), static_cast<int64_t>(sums.size()), nullptr);
  const double total = sums[2 * static_cast<size_t>(p.channels)];
  if (total == 0.0) return;
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    input_gradient(p, dy, x, c, save_mean[c], save_invstd[c], gamma[c], sums[2 * c] / total,
                   sums[2 * c + 1] / total, dx);
  }
}

void batch_norm_backward_eval(const BatchNormParams& p, const float* dy_in, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta) {
  const GradientIn dy(p, dy_in, y);
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    const double mean = running_mean[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + p.eps);
    if (dgamma || dbeta) {
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      gradient_sums(p, dy, x, c, mean, invstd, &sum_dy, &sum_dy_xhat);
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    }
    // The statistics are constants here, so y is an affine map of x with slope gamma * invstd.
    eval_input_gradient(p, dy, c, static_cast<float>(gamma[c] * invstd), dx);
  }
}

}  // namespace weft::cpu
