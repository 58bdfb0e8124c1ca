// The definitions of batch normalisation (batchnorm.h), one channel at a time.
#include "kernels/reference/batchnorm.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace weft::reference {

namespace {

// Flat index of x[n, c, s].
int64_t index(const BatchNormParams& p, int n, int c, int s) {
  return (int64_t{n} * p.channels + c) * p.spatial + s;
}

// Calls visit(i) for the flat index of every value of channel c.
template <typename Visit>
void for_each_in_channel(const BatchNormParams& p, int c, Visit visit) {
  for (int n = 0; n < p.batch; ++n)
    for (int s = 0; s < p.spatial; ++s) visit(index(p, n, c, s));
}

double values_per_channel(const BatchNormParams& p) {
  return static_cast<double>(p.batch) * p.spatial;
}

struct Statistics {
  double mean = 0.0, var = 0.0;  // var is the biased variance
};

// Two passes: the mean, then the mean of the squared deviations from it.
Statistics channel_statistics(const BatchNormParams& p, const float* x, int c) {
  const double m = values_per_channel(p);
  Statistics st;
  for_each_in_channel(p, c, [&](int64_t i) { st.mean += x[i]; });
  st.mean /= m;
  for_each_in_channel(p, c, [&](int64_t i) {
    const double d = x[i] - st.mean;
    st.var += d * d;
  });
  st.var /= m;
  return st;
}

// p.activation applied to a normalised value.
double activate(const BatchNormParams& p, double v) {
  if (!p.activation.active()) return v;
  const double slope = p.activation.kind == FusedActivation::Kind::relu ? 0.0 : p.activation.alpha;
  return v > 0.0 ? v : slope * v;
}

// dy * slope(y): the gradient that reaches the normalisation through the fused activation (dy
// itself without one).
std::vector<float> through_activation(const BatchNormParams& p, const float* dy, const float* y) {
  const auto count = static_cast<size_t>(int64_t{p.batch} * p.channels * p.spatial);
  std::vector<float> out(dy, dy + count);
  if (p.activation.active()) {
    for (size_t i = 0; i < count; ++i) out[i] = dy[i] * p.activation.slope_at_output(y[i]);
  }
  return out;
}

}  // namespace

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, double* y, double* mean, double* invstd,
                              const float* running_mean, const float* running_var,
                              double* new_running_mean, double* new_running_var) {
  const double m = values_per_channel(p);
  const double momentum = p.momentum;
  for (int c = 0; c < p.channels; ++c) {
    const Statistics st = channel_statistics(p, x, c);
    const double channel_invstd = 1.0 / std::sqrt(st.var + p.eps);
    for_each_in_channel(
        p, c, [&](int64_t i) {
          y[i] = activate(p, gamma[c] * (x[i] - st.mean) * channel_invstd + beta[c]);
        });
    mean[c] = st.mean;
    invstd[c] = channel_invstd;
    if (running_mean != nullptr && running_var != nullptr) {
      const double unbiased = m > 1 ? st.var * m / (m - 1) : st.var;
      new_running_mean[c] = (1 - momentum) * running_mean[c] + momentum * st.mean;
      new_running_var[c] = (1 - momentum) * running_var[c] + momentum * unbiased;
    }
  }
}

void batch_norm_backward(const BatchNormParams& p, const float* dy_in, const float* x,
                         const float* y, const float* gamma, double* dx, double* dgamma,
                         double* dbeta) {
  const std::vector<float> dy_through = through_activation(p, dy_in, y);
  const float* dy = dy_through.data();
  const double m = values_per_channel(p);
  for (int c = 0; c < p.channels; ++c) {
    const Statistics st = channel_statistics(p, x, c);
    const double invstd = 1.0 / std::sqrt(st.var + p.eps);
    double sum_dxhat = 0.0, sum_dxhat_centred = 0.0, sum_centred = 0.0;
    double sum_dy_xhat = 0.0, sum_dy = 0.0;
    for_each_in_channel(p, c, [&](int64_t i) {
      const double centred = x[i] - st.mean;
      const double dxhat = double{dy[i]} * gamma[c];
      sum_dxhat += dxhat;
      sum_dxhat_centred += dxhat * centred;
      sum_centred += centred;
      sum_dy_xhat += dy[i] * centred * invstd;
      sum_dy += dy[i];
    });
    const double dvar = sum_dxhat_centred * -0.5 * std::pow(st.var + p.eps, -1.5);
    const double dmean = -sum_dxhat * invstd + dvar * -2.0 * sum_centred / m;
    for_each_in_channel(p, c, [&](int64_t i) {
      dx[i] = double{dy[i]} * gamma[c] * invstd + dvar * 2.0 * (x[i] - st.mean) / m + dmean / m;
    });
    if (dgamma != nullptr) dgamma[c] = sum_dy_xhat;
    if (dbeta != nullptr) dbeta[c] = sum_dy;
  }
}

void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             double* y) {
  for (int c = 0; c < p.channels; ++c) {
    const double invstd = 1.0 / std::sqrt(double{running_var[c]} + p.eps);
    for_each_in_channel(p, c, [&](int64_t i) {
      y[i] = activate(p, gamma[c] * (x[i] - double{running_mean[c]}) * invstd + beta[c]);
    });
  }
}

void batch_norm_backward_eval(const BatchNormParams& p, const float* dy_in, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, double* dx, double* dgamma, double* dbeta) {
  const std::vector<float> dy_through = through_activation(p, dy_in, y);
  const float* dy = dy_through.data();
  for (int c = 0; c < p.channels; ++c) {
    const double invstd = 1.0 / std::sqrt(double{running_var[c]} + p.eps);
    double sum_dy_xhat = 0.0, sum_dy = 0.0;
    for_each_in_channel(p, c, [&](int64_t i) {
      const double xhat = (x[i] - double{running_mean[c]}) * invstd;
      dx[i] = double{dy[i]} * gamma[c] * invstd;
      sum_dy_xhat += dy[i] * xhat;
      sum_dy += dy[i];
    });
    if (dgamma != nullptr) dgamma[c] = sum_dy_xhat;
    if (dbeta != nullptr) dbeta[c] = sum_dy;
  }
}

}  // namespace weft::reference
