// CPU reference for batch normalisation, training and eval, forward and backward.
//
// x is viewed as [N, C, S] (S = spatial size, 1 for BatchNorm1d); channel c owns the M = N * S
// values x[n, c, s] for all n and s. Channels are independent, so they are shared out across
// OpenMP threads and each thread walks its channel's N runs of S contiguous values.
//
// Statistics are accumulated in double and in two passes (mean first, then the squared
// deviations from it): the one-pass E[x^2] - E[x]^2 cancels catastrophically when the mean is
// large compared with the spread. Each run of S values is summed in vector lanes (lane_sum.h).
//
// Backward of the training forward uses the fused formula, with xhat = (x - mean) * invstd:
//   dbeta  = sum(dy)          dgamma = sum(dy * xhat)
//   dx     = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
// which is the chain rule through y = gamma * xhat + beta, xhat's dependence on the batch mean
// and on the batch variance included.
//
// Write rule: outputs are overwritten; running_mean and running_var are updated in place.
#include "kernels/cpu/batchnorm.h"

#include <cmath>
#include <cstdint>

#include "kernels/cpu/lane_sum.h"

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
void normalize_channel(const BatchNormParams& p, const float* x, int c, double mean, double invstd,
                       float gamma, float beta, float* y) {
  const double scale = gamma * invstd;
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    for (int s = 0; s < p.spatial; ++s) {
      y[offset + s] = static_cast<float>((x[offset + s] - mean) * scale + beta);
    }
  }
}

// sum(dy) and sum(dy * (x - mean) * invstd) over channel c.
void gradient_sums(const BatchNormParams& p, const float* dy, const float* x, int c, double mean,
                   double invstd, double* sum_dy, double* sum_dy_xhat) {
  double a = 0.0, b = 0.0;
  for (int n = 0; n < p.batch; ++n) {
    const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
    const float* dy_run = dy + offset;
    const float* x_run = x + offset;
    double run_a = 0.0, run_b = 0.0;
    sum_run(
        p.spatial, [&](int64_t s) { return static_cast<double>(dy_run[s]); },
        [&](int64_t s) { return dy_run[s] * ((x_run[s] - mean) * invstd); }, &run_a, &run_b);
    a += run_a;
    b += run_b;
  }
  *sum_dy = a;
  *sum_dy_xhat = b;
}

}  // namespace

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var) {
  const int64_t m = static_cast<int64_t>(p.batch) * p.spatial;
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    double sum = 0.0;
    for (int n = 0; n < p.batch; ++n) {
      const float* run = x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
      sum += sum_run(p.spatial, run);
    }
    const double mean = m > 0 ? sum / static_cast<double>(m) : 0.0;
    double squares = 0.0;
    for (int n = 0; n < p.batch; ++n) {
      const float* run = x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
      squares += sum_run(p.spatial, [&](int64_t s) { return (run[s] - mean) * (run[s] - mean); });
    }
    const double var = m > 0 ? squares / static_cast<double>(m) : 0.0;  // biased: normalises
    const double invstd = 1.0 / std::sqrt(var + p.eps);

    normalize_channel(p, x, c, mean, invstd, gamma[c], beta[c], y);
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);

    const double momentum = p.momentum;
    if (running_mean) {
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
    }
    if (running_var) {
      // The running variance estimates the population, hence the unbiased M - 1 divisor
      // (with a single value there is no spread to estimate and the biased 0 is used).
      const double unbiased = m > 1 ? squares / static_cast<double>(m - 1) : var;
      running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
}

void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y) {
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + p.eps);
    normalize_channel(p, x, c, running_mean[c], invstd, gamma[c], beta[c], y);
  }
}

void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x,
                         const float* gamma, const float* save_mean, const float* save_invstd,
                         float* dx, float* dgamma, float* dbeta) {
  const int64_t m = static_cast<int64_t>(p.batch) * p.spatial;
#pragma omp parallel for schedule(static) if (element_count(p) > kParallelThreshold)
  for (int c = 0; c < p.channels; ++c) {
    const double mean = save_mean[c];
    const double invstd = save_invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    gradient_sums(p, dy, x, c, mean, invstd, &sum_dy, &sum_dy_xhat);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    if (m == 0) continue;

    // gamma * invstd / M * (M * dy - sum_dy - xhat * sum_dy_xhat), with the 1/M moved inside.
    const double scale = gamma[c] * invstd;
    const double mean_dy = sum_dy / static_cast<double>(m);
    const double mean_dy_xhat = sum_dy_xhat / static_cast<double>(m);
    for (int n = 0; n < p.batch; ++n) {
      const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
      for (int s = 0; s < p.spatial; ++s) {
        const double xhat = (x[offset + s] - mean) * invstd;
        const double centred_dy = dy[offset + s] - mean_dy - xhat * mean_dy_xhat;
        dx[offset + s] = static_cast<float>(scale * centred_dy);
      }
    }
  }
}

void batch_norm_backward_eval(const BatchNormParams& p, const float* dy, const float* x,
                              const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta) {
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
    const float scale = static_cast<float>(gamma[c] * invstd);
    for (int n = 0; n < p.batch; ++n) {
      const int64_t offset = (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
      for (int s = 0; s < p.spatial; ++s) dx[offset + s] = dy[offset + s] * scale;
    }
  }
}

}  // namespace weft::cpu
