// Batch normalisation through oneDNN's batch-normalization primitives (onednn.h), on weft's
// plain layout: [N, C, spatial] is oneDNN's NCHW with H = spatial, W = 1.
//
// Training statistics are weft's, in double: oneDNN 2.6 sums them in float, and on values near
// a large mean (the op table's "mean 100" case: 100 +- 1) its mean is off by an ulp of the mean,
// which shows in y at 1.2e-5, beyond the 1e-5 the CPU reference's double sums are held to
// (kernels/cpu/batchnorm.h). So the training forward computes mean and biased variance per
// channel here (two passes, lane sums in double as the hand kernel does) and runs oneDNN's
// normalisation with them as global statistics; it derives save_invstd = 1 / sqrt(var + eps)
// and the running statistics (PyTorch's rule: the running variance moves towards the unbiased
// variance). The backward turns save_invstd back into var = 1 / invstd^2 - eps for oneDNN.
// Inference and the eval backward pass the running statistics with use_global_stats. Gamma and
// beta are oneDNN's separate scale and shift (use_scale | use_shift, oneDNN 2.3 and later).
//
// Fused activation (p.activation): applied to y here after the primitive, and the backward's dy
// taken through it first (oneDNN's fuse_norm_relu has no leaky slope and needs a workspace).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu_vendor/context.h"
#include "kernels/cpu_vendor/onednn.h"

namespace weft::onednn {
namespace {

using dnnl::normalization_flags;

dnnl::memory::desc data_desc(const BatchNormParams& p) {
  return plain_nchw(p.batch, p.channels, p.spatial, 1);
}

PlanKey bn_key(Pass pass, const BatchNormParams& p) {
  // eps is part of the primitive; its bits go into the key.
  uint32_t eps_bits = 0;
  static_assert(sizeof eps_bits == sizeof p.eps);
  std::memcpy(&eps_bits, &p.eps, sizeof eps_bits);
  return {static_cast<int64_t>(pass), p.batch, p.channels, p.spatial, eps_bits};
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const dnnl::engine& engine,
                                                             const BatchNormParams& p,
                                                             bool global_stats) {
  normalization_flags flags = normalization_flags::use_scale | normalization_flags::use_shift;
  if (global_stats) flags = flags | normalization_flags::use_global_stats;
  return {{global_stats ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training,
           data_desc(p), p.eps, flags},
          engine};
}

int64_t element_count(const BatchNormParams& p) {
  return int64_t{p.batch} * p.channels * p.spatial;
}

// y = act(y) in place.
void apply_activation(const BatchNormParams& p, float* y) {
  const FusedActivation act = p.activation;
  if (!act.active()) return;
  const int64_t count = element_count(p);
#pragma omp parallel for schedule(static) if (count > (int64_t{1} << 15))
  for (int64_t i = 0; i < count; ++i) y[i] = act.apply(y[i]);
}

// dy times the activation's slope at the forward's output y (dy itself without one).
std::vector<float> gradient_through_activation(const BatchNormParams& p, const float* y,
                                               const float* dy) {
  const FusedActivation act = p.activation;
  if (!act.active()) return {};
  const int64_t count = element_count(p);
  std::vector<float> through(static_cast<size_t>(count));
#pragma omp parallel for schedule(static) if (count > (int64_t{1} << 15))
  for (int64_t i = 0; i < count; ++i) through[i] = dy[i] * act.slope_at_output(y[i]);
  return through;
}

// Arguments in the order the plan's run() takes its pointers.
void add_args(Plan& plan, const std::vector<int>& ids, const std::vector<bool>& outputs,
              const std::vector<dnnl::memory::desc>& descs) {
  for (size_t i = 0; i < ids.size(); ++i) {
    plan.args.push_back(plan_arg(ids[i], outputs[i], descs[i], descs[i]));
  }
}

Plan forward_eval_plan(const dnnl::engine& engine, const BatchNormParams& p) {
  const auto pd = forward_pd(engine, p, true);
  Plan plan;
  plan.primitive = dnnl::batch_normalization_forward(pd);
  const dnnl::memory::desc data = data_desc(p), channel = plain_vector(p.channels);
  add_args(plan,
           {DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
            DNNL_ARG_DST},
           {false, false, false, false, false, true},
           {data, channel, channel, channel, channel, data});
  return plan;
}

// The backward of the training forward (global_stats false) or of the eval forward (true).
// oneDNN's backward_data (dx alone) does not accept the scale and shift flags of the forward it
// is the backward of, so dx, dgamma and dbeta are always computed; with use_shift the backward
// also takes the shift as an argument, which it does not read (a zero vector is passed).
Plan backward_plan(const dnnl::engine& engine, const BatchNormParams& p, bool global_stats) {
  const auto hint = forward_pd(engine, p, global_stats);
  normalization_flags flags = normalization_flags::use_scale | normalization_flags::use_shift;
  if (global_stats) flags = flags | normalization_flags::use_global_stats;
  const dnnl::memory::desc data = data_desc(p), channel = plain_vector(p.channels);
  const dnnl::batch_normalization_backward::primitive_desc pd(
      {dnnl::prop_kind::backward, data, data, p.eps, flags}, engine, hint);
  Plan plan;
  plan.primitive = dnnl::batch_normalization_backward(pd);
  add_args(plan,
           {DNNL_ARG_DIFF_DST, DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN,
            DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT},
           {false, false, false, false, false, false, true, true, true},
           {data, data, channel, channel, channel, channel, data, channel, channel});
  return plan;
}

void backward(const BatchNormParams& p, Pass pass, const float* dy, const float* x,
              const float* gamma, const float* mean, const float* variance, float* dx,
              float* dgamma, float* dbeta) {
  Context& ctx = context();
  const bool global_stats = pass == Pass::batch_norm_backward_eval;
  Plan& plan =
      ctx.plan(bn_key(pass, p), [&] { return backward_plan(ctx.engine(), p, global_stats); });
  // [0, C): the unread shift; [C, 2C) and [2C, 3C): the channel gradients nobody asked for.
  std::vector<float> scratch(3 * static_cast<size_t>(p.channels), 0.0f);
  float* unwanted_dgamma = scratch.data() + p.channels;
  float* unwanted_dbeta = scratch.data() + 2 * static_cast<size_t>(p.channels);
  ctx.run(plan, {dy, x, gamma, scratch.data(), mean, variance, dx,
                 dgamma != nullptr ? dgamma : unwanted_dgamma,
                 dbeta != nullptr ? dbeta : unwanted_dbeta});
}

}  // namespace

void batch_norm_forward_train(const BatchNormParams& p, const float* x, const float* gamma,
                              const float* beta, float* y, float* save_mean, float* save_invstd,
                              float* running_mean, float* running_var) {
  const int64_t count = static_cast<int64_t>(p.batch) * p.spatial;
  const double momentum = p.momentum;
  std::vector<float> variance(p.channels);
#pragma omp parallel for schedule(static) if (count * p.channels > (int64_t{1} << 15))
  for (int c = 0; c < p.channels; ++c) {
    double sum = 0.0;
    for (int n = 0; n < p.batch; ++n) {
      sum += cpu::sum_run(p.spatial, x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial);
    }
    const double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
    double squares = 0.0;
    for (int n = 0; n < p.batch; ++n) {
      const float* run = x + (static_cast<int64_t>(n) * p.channels + c) * p.spatial;
      squares +=
          cpu::sum_run(p.spatial, [&](int64_t i) { return (run[i] - mean) * (run[i] - mean); });
    }
    const double var = count > 0 ? squares / static_cast<double>(count) : 0.0;
    save_mean[c] = static_cast<float>(mean);
    variance[c] = static_cast<float>(var);
    save_invstd[c] = static_cast<float>(1.0 / std::sqrt(var + p.eps));
    if (running_mean != nullptr) {
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
    }
    if (running_var != nullptr) {
      // With a single value there is no spread to estimate: the biased 0, as the hand kernel.
      const double unbiased = count > 1 ? squares / static_cast<double>(count - 1) : var;
      running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
  Context& ctx = context();
  Plan& plan = ctx.plan(bn_key(Pass::batch_norm_forward_eval, p),
                        [&] { return forward_eval_plan(ctx.engine(), p); });
  ctx.run(plan, {x, gamma, beta, save_mean, variance.data(), y});
  apply_activation(p, y);
}

void batch_norm_forward_eval(const BatchNormParams& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean, const float* running_var,
                             float* y) {
  Context& ctx = context();
  Plan& plan = ctx.plan(bn_key(Pass::batch_norm_forward_eval, p),
                        [&] { return forward_eval_plan(ctx.engine(), p); });
  ctx.run(plan, {x, gamma, beta, running_mean, running_var, y});
  apply_activation(p, y);
}

void batch_norm_backward(const BatchNormParams& p, const float* dy_in, const float* x,
                         const float* y, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  const std::vector<float> through = gradient_through_activation(p, y, dy_in);
  const float* dy = through.empty() ? dy_in : through.data();
  std::vector<float> variance(p.channels);
  for (int c = 0; c < p.channels; ++c) {
    const double invstd = save_invstd[c];
    variance[c] = static_cast<float>(1.0 / (invstd * invstd) - p.eps);
  }
  backward(p, Pass::batch_norm_backward, dy, x, gamma, save_mean, variance.data(), dx, dgamma,
           dbeta);
}

void batch_norm_backward_eval(const BatchNormParams& p, const float* dy_in, const float* x,
                              const float* y, const float* gamma, const float* running_mean,
                              const float* running_var, float* dx, float* dgamma, float* dbeta) {
  const std::vector<float> through = gradient_through_activation(p, y, dy_in);
  const float* dy = through.empty() ? dy_in : through.data();
  backward(p, Pass::batch_norm_backward_eval, dy, x, gamma, running_mean, running_var, dx, dgamma,
           dbeta);
}

}  // namespace weft::onednn
