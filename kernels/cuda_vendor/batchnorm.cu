// Batch normalisation through cuDNN (vendor.h).
//
// API. cuDNN 9 has three ways to do batch norm: the legacy calls
// cudnnBatchNormalizationForwardTraining / ForwardInference / Backward (and their *Ex variants
// with fused activation and add), the cudnnNormalization* calls, and the graph API's norm
// operations. All the legacy ones are marked deprecated in the cuDNN 9 headers but still shipped
// in libcudnn_ops. weft uses the plain legacy calls:
//   - they are the documented one-call form of exactly weft's op (spatial mode, per-channel
//     gamma and beta, running statistics with a momentum), on NCHW FP32 data;
//   - the *Ex variants exist for fused activation/add and an NHWC fast path, neither of which
//     weft uses, and they add workspace and reserve-space bookkeeping;
//   - the graph API's batch-norm engines target fused NHWC and half-precision patterns; for a
//     lone FP32 NCHW batch norm it would be an operation graph, heuristics query and execution
//     plan per shape for the same result.
// If the legacy calls are removed, this file and BatchNormPlan (context.h) are what changes.
//
// Layout: weft's [N, C, spatial] is described to cuDNN as [N, C, spatial, 1], and the per-channel
// tensors as [1, C, 1, 1]; CUDNN_BATCHNORM_SPATIAL normalises each channel over N x H x W.
//
// How cuDNN's numbers map to weft's (kernels/params.h BatchNormParams):
//   exponentialAverageFactor = momentum: cuDNN's running = factor * batch + (1 - factor) *
//     running is PyTorch's and weft's rule;
//   the running variance is updated with the unbiased batch variance (divisor M - 1), as in the
//     CPU reference; with M = batch * spatial = 1 cuDNN would divide by zero (NaN running
//     variance, seen on an H200) where the CPU reference keeps the biased 0 (PyTorch refuses
//     that case in training), so there cuDNN normalises without running statistics and two
//     tensor calls move them: running_mean = m * x + (1 - m) * running_mean (x is the batch
//     mean when M = 1) and running_var = (1 - m) * running_var;
//   resultSaveInvVariance is 1 / sqrt(var + eps), i.e. weft's save_invstd, and the backward reads
//     it back unchanged, so statistics saved by either path are understood by the other.
//
// Optional outputs. cuDNN takes both running statistics or neither, and always writes dgamma and
// dbeta; where weft passes null for one of them, a scratch buffer stands in.
//
// Fused activation (p.activation): applied to y by weft's elementwise kernel after the cuDNN
// call, and the backward's dy taken through it into a scratch buffer first
// (fused_activation.h): the *Ex calls' fused ReLU needs NHWC and a reserve space.
#include "kernels/cuda_vendor/fused_activation.h"
#include "kernels/cuda_vendor/vendor.h"
#include "kernels/error.h"

namespace weft::vendor {
namespace {

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;
constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

BatchNormPlan& plan_for(Context& ctx, const BatchNormParams& p) {
  WEFT_CHECK(p.batch > 0 && p.channels > 0 && p.spatial > 0,
             "the cuDNN batch norm needs batch, channels and spatial >= 1, got ", p.batch, ", ",
             p.channels, ", ", p.spatial);
  return ctx.batch_norm_plan(p);
}

int64_t element_count(const BatchNormParams& p) {
  return int64_t{p.batch} * p.channels * p.spatial;
}
size_t element_bytes(const BatchNormParams& p) {
  return static_cast<size_t>(element_count(p)) * sizeof(float);
}

// `pointer` if it is not null, else the next `count` floats of `spare`.
float* or_spare(float* pointer, DeviceBuffer& spare, size_t& used, size_t count) {
  if (pointer != nullptr) return pointer;
  float* slot = spare.floats() + used;
  used += count;
  return slot;
}

}  // namespace

void batch_norm_forward_train(Context& ctx, const BatchNormParams& p, const float* x,
                              const float* gamma, const float* beta, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var) {
  BatchNormPlan& plan = plan_for(ctx, p);
  const size_t channels = static_cast<size_t>(p.channels);
  // Both running statistics, or neither: a lone null one gets a zeroed scratch stand-in.
  const bool one_missing = (running_mean == nullptr) != (running_var == nullptr);
  DeviceBuffer spare(ctx.device(), one_missing ? channels * sizeof(float) : 0);
  if (one_missing) {
    ctx.zero(spare.floats(), channels);
    if (running_mean == nullptr) running_mean = spare.floats();
    if (running_var == nullptr) running_var = spare.floats();
  }
  const bool single_value = static_cast<int64_t>(p.batch) * p.spatial == 1;
  WEFT_CUDNN_CALL(cudnnBatchNormalizationForwardTraining(
      ctx.cudnn(), kMode, &kOne, &kZero, plan.data.get(), x, plan.data.get(), y,
      plan.channels.get(), gamma, beta, static_cast<double>(p.momentum),
      single_value ? nullptr : running_mean, single_value ? nullptr : running_var,
      static_cast<double>(p.eps), save_mean, save_invstd));
  apply_fused_activation(ctx, p.activation, element_count(p), y);
  if (single_value && running_mean != nullptr) {
    // x is [1, C, 1, 1], the same shape as the per-channel tensors, and is the batch mean.
    const float momentum = p.momentum;
    const float keep = 1.0f - p.momentum;
    WEFT_CUDNN_CALL(cudnnAddTensor(ctx.cudnn(), &momentum, plan.channels.get(), x, &keep,
                                    plan.channels.get(), running_mean));
    WEFT_CUDNN_CALL(cudnnScaleTensor(ctx.cudnn(), plan.channels.get(), running_var, &keep));
  }
}

void batch_norm_forward_eval(Context& ctx, const BatchNormParams& p, const float* x,
                             const float* gamma, const float* beta, const float* running_mean,
                             const float* running_var, float* y) {
  BatchNormPlan& plan = plan_for(ctx, p);
  WEFT_CUDNN_CALL(cudnnBatchNormalizationForwardInference(
      ctx.cudnn(), kMode, &kOne, &kZero, plan.data.get(), x, plan.data.get(), y,
      plan.channels.get(), gamma, beta, running_mean, running_var, static_cast<double>(p.eps)));
  apply_fused_activation(ctx, p.activation, element_count(p), y);
}

void batch_norm_backward(Context& ctx, const BatchNormParams& p, const float* dy_in,
                         const float* x, const float* y, const float* gamma,
                         const float* save_mean, const float* save_invstd, float* dx,
                         float* dgamma, float* dbeta) {
  BatchNormPlan& plan = plan_for(ctx, p);
  DeviceBuffer through(ctx.device(), p.activation.active() ? element_bytes(p) : 0);
  const float* dy =
      gradient_through_activation(ctx, p.activation, element_count(p), y, dy_in, through);
  const size_t channels = static_cast<size_t>(p.channels);
  DeviceBuffer spare(ctx.device(), 2 * channels * sizeof(float));
  size_t used = 0;
  dgamma = or_spare(dgamma, spare, used, channels);
  dbeta = or_spare(dbeta, spare, used, channels);
  // alpha/beta pairs: (1, 0) for dx and (1, 0) for dgamma/dbeta, i.e. overwrite both.
  WEFT_CUDNN_CALL(cudnnBatchNormalizationBackward(
      ctx.cudnn(), kMode, &kOne, &kZero, &kOne, &kZero, plan.data.get(), x, plan.data.get(), dy,
      plan.data.get(), dx, plan.channels.get(), gamma, dgamma, dbeta, static_cast<double>(p.eps),
      save_mean, save_invstd));
}

// The backward of the eval-mode forward y = gamma * (x - mu) * s + beta, where mu and
// s = 1 / sqrt(var + eps) come from the running statistics and are constants:
//   dx = gamma * s * dy,   dbeta = sum(dy),   dgamma = s * sum(dy * (x - mu)).
// cuDNN has no call for it, so it is composed from three cuDNN calls, all on the stream:
//   1. cudnnBatchNormalizationBackward with saved mean = mu and saved inverse std = 1: its
//      parameter gradients are then sum(dy * (x - mu)) and sum(dy) (it uses the saved values as
//      given); its dx follows the training formula and is overwritten in step 3;
//   2. dgamma = that sum * s: the inference formula on the [1, C, 1, 1] sums with scale 1,
//      mean 0, bias 0 and variance var gives sum / sqrt(var + eps);
//   3. dx = gamma * dy / sqrt(var + eps): the inference formula on dy with scale gamma, mean 0,
//      bias 0 and variance var.
void batch_norm_backward_eval(Context& ctx, const BatchNormParams& p, const float* dy_in,
                              const float* x, const float* y, const float* gamma,
                              const float* running_mean, const float* running_var, float* dx,
                              float* dgamma, float* dbeta) {
  BatchNormPlan& plan = plan_for(ctx, p);
  DeviceBuffer through(ctx.device(), p.activation.active() ? element_bytes(p) : 0);
  const float* dy =
      gradient_through_activation(ctx, p.activation, element_count(p), y, dy_in, through);
  cudnnHandle_t handle = ctx.cudnn();
  const size_t channels = static_cast<size_t>(p.channels);
  const double eps = static_cast<double>(p.eps);
  // ones, zeros, the unscaled dgamma sums, and a stand-in for a null dbeta.
  DeviceBuffer scratch(ctx.device(), 4 * channels * sizeof(float));
  float* ones = scratch.floats();
  float* zeros = ones + channels;
  float* dgamma_sums = zeros + channels;
  float* dbeta_out = dbeta != nullptr ? dbeta : dgamma_sums + channels;
  WEFT_CUDNN_CHECK(cudnnSetTensor(handle, plan.channels.get(), ones, &kOne));
  ctx.zero(zeros, channels);

  if (dgamma != nullptr || dbeta != nullptr) {
    WEFT_CUDNN_CALL(cudnnBatchNormalizationBackward(
        handle, kMode, &kOne, &kZero, &kOne, &kZero, plan.data.get(), x, plan.data.get(), dy,
        plan.data.get(), dx, plan.channels.get(), gamma, dgamma_sums, dbeta_out, eps, running_mean,
        ones));
    if (dgamma != nullptr) {
      WEFT_CUDNN_CALL(cudnnBatchNormalizationForwardInference(
          handle, kMode, &kOne, &kZero, plan.channels.get(), dgamma_sums, plan.channels.get(),
          dgamma, plan.channels.get(), ones, zeros, zeros, running_var, eps));
    }
  }
  WEFT_CUDNN_CALL(cudnnBatchNormalizationForwardInference(
      handle, kMode, &kOne, &kZero, plan.data.get(), dy, plan.data.get(), dx, plan.channels.get(),
      gamma, zeros, zeros, running_var, eps));
}

}  // namespace weft::vendor
