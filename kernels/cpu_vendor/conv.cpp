// Convolution and transposed convolution through oneDNN (onednn.h).
//
// Each pass is a oneDNN primitive with layouts left to oneDNN (format_tag::any) for the
// images and the weights; the plan (context.h) reorders from and to weft's NCHW / OIHW where
// the primitive picked a blocked layout, and counts the reorders. Backward passes are created
// with the forward primitive descriptor as their hint, as oneDNN requires.
//
// Shapes: oneDNN wants the right/bottom padding explicitly, and weft's output size
// (floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1) leaves it implied: it is
// (out - 1) stride + dil (k - 1) + 1 - in - pad, which can be negative when the last rows of the
// input fall outside every window (oneDNN accepts that). oneDNN counts dilation from 0.
//
// Transposed convolution is the convolution c = p.as_conv() with the roles exchanged
// (kernels/params.h), as in the hand CPU kernels and the cuDNN path: its forward is c's
// backward-data, its backward-data is c's forward, its backward-filter is c's backward-filter
// with input and output-gradient swapped; its IOHW weights are c's OIHW filter. Its bias is
// added, and its bias gradient summed, here (c's bias is over the other channels).
//
// The forward's fused activation (Conv2dParams::activation) is a oneDNN eltwise post-op of the
// convolution primitive, part of the plan's key.
//
// A shape with nothing in it (no image, no channel, an empty output) goes to the hand kernels
// (kernels/cpu/conv.h), which define what such a call writes; oneDNN rejects some of them.
#include "kernels/cpu/conv.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu_vendor/context.h"
#include "kernels/cpu_vendor/onednn.h"

namespace weft::onednn {
namespace {

using dnnl::memory;

struct ConvShape {
  memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
};

ConvShape conv_shape(const Conv2dParams& p) {
  const int out_h = p.out_h(), out_w = p.out_w();
  ConvShape s;
  s.src = {p.batch, p.in_channels, p.in_h, p.in_w};
  s.weights = {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
  s.bias = {p.out_channels};
  s.dst = {p.batch, p.out_channels, out_h, out_w};
  s.strides = {p.stride_h, p.stride_w};
  s.dilates = {p.dilation_h - 1, p.dilation_w - 1};
  s.pad_l = {p.pad_h, p.pad_w};
  s.pad_r = {(out_h - 1) * p.stride_h + p.dilation_h * (p.kernel_h - 1) + 1 - p.in_h - p.pad_h,
             (out_w - 1) * p.stride_w + p.dilation_w * (p.kernel_w - 1) + 1 - p.in_w - p.pad_w};
  return s;
}

PlanKey conv_key(Pass pass, const Conv2dParams& p, bool bias) {
  return {static_cast<int64_t>(pass),
          p.batch,
          p.in_channels,
          p.in_h,
          p.in_w,
          p.out_channels,
          p.kernel_h,
          p.kernel_w,
          p.stride_h,
          p.stride_w,
          p.pad_h,
          p.pad_w,
          p.dilation_h,
          p.dilation_w,
          bias ? 1 : 0,
          activation_key(p.activation)};
}

dnnl::convolution_forward::primitive_desc forward_pd(const dnnl::engine& engine, const ConvShape& s,
                                                     bool bias, const FusedActivation& act = {}) {
  const memory::desc src = any_layout(s.src), weights = any_layout(s.weights),
                     dst = any_layout(s.dst);
  const dnnl::primitive_attr attr = activation_attr(act);
  if (bias) {
    return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, weights,
             plain_vector(s.bias[0]), dst, s.strides, s.dilates, s.pad_l, s.pad_r},
            attr, engine};
  }
  return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, weights,
           dst, s.strides, s.dilates, s.pad_l, s.pad_r},
          attr, engine};
}

Plan forward_plan(const dnnl::engine& engine, const Conv2dParams& p, bool bias) {
  const ConvShape s = conv_shape(p);
  const auto pd = forward_pd(engine, s, bias, p.activation);
  Plan plan;
  plan.primitive = dnnl::convolution_forward(pd);
  plan.args.push_back(plan_arg(DNNL_ARG_SRC, false,
                               plain_nchw(s.src[0], s.src[1], s.src[2], s.src[3]), pd.src_desc()));
  plan.args.push_back(plan_arg(DNNL_ARG_WEIGHTS, false,
                               plain_oihw(s.weights[0], s.weights[1], s.weights[2], s.weights[3]),
                               pd.weights_desc()));
  if (bias) {
    plan.args.push_back(
        plan_arg(DNNL_ARG_BIAS, false, plain_vector(s.bias[0]), pd.bias_desc()));
  }
  plan.args.push_back(plan_arg(DNNL_ARG_DST, true,
                               plain_nchw(s.dst[0], s.dst[1], s.dst[2], s.dst[3]), pd.dst_desc()));
  return plan;
}

Plan backward_data_plan(const dnnl::engine& engine, const Conv2dParams& p) {
  const ConvShape s = conv_shape(p);
  const auto hint = forward_pd(engine, s, false);
  const dnnl::convolution_backward_data::primitive_desc pd(
      {dnnl::algorithm::convolution_direct, any_layout(s.src), any_layout(s.weights),
       any_layout(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r},
      engine, hint);
  Plan plan;
  plan.primitive = dnnl::convolution_backward_data(pd);
  plan.args.push_back(plan_arg(DNNL_ARG_DIFF_DST, false,
                               plain_nchw(s.dst[0], s.dst[1], s.dst[2], s.dst[3]),
                               pd.diff_dst_desc()));
  plan.args.push_back(plan_arg(DNNL_ARG_WEIGHTS, false,
                               plain_oihw(s.weights[0], s.weights[1], s.weights[2], s.weights[3]),
                               pd.weights_desc()));
  plan.args.push_back(plan_arg(DNNL_ARG_DIFF_SRC, true,
                               plain_nchw(s.src[0], s.src[1], s.src[2], s.src[3]),
                               pd.diff_src_desc()));
  return plan;
}

Plan backward_filter_plan(const dnnl::engine& engine, const Conv2dParams& p, bool bias) {
  const ConvShape s = conv_shape(p);
  const auto hint = forward_pd(engine, s, bias);
  const memory::desc src = any_layout(s.src), weights = any_layout(s.weights),
                     dst = any_layout(s.dst);
  using BackwardWeights = dnnl::convolution_backward_weights;
  const BackwardWeights::primitive_desc pd =
      bias ? BackwardWeights::primitive_desc(
                 {dnnl::algorithm::convolution_direct, src, weights, plain_vector(s.bias[0]), dst,
                  s.strides, s.dilates, s.pad_l, s.pad_r},
                 engine, hint)
           : BackwardWeights::primitive_desc({dnnl::algorithm::convolution_direct, src, weights,
                                              dst, s.strides, s.dilates, s.pad_l, s.pad_r},
                                             engine, hint);
  Plan plan;
  plan.primitive = BackwardWeights(pd);
  plan.args.push_back(plan_arg(DNNL_ARG_SRC, false,
                               plain_nchw(s.src[0], s.src[1], s.src[2], s.src[3]), pd.src_desc()));
  plan.args.push_back(plan_arg(DNNL_ARG_DIFF_DST, false,
                               plain_nchw(s.dst[0], s.dst[1], s.dst[2], s.dst[3]),
                               pd.diff_dst_desc()));
  plan.args.push_back(plan_arg(DNNL_ARG_DIFF_WEIGHTS, true,
                               plain_oihw(s.weights[0], s.weights[1], s.weights[2], s.weights[3]),
                               pd.diff_weights_desc()));
  if (bias) {
    plan.args.push_back(
        plan_arg(DNNL_ARG_DIFF_BIAS, true, plain_vector(s.bias[0]), pd.diff_bias_desc()));
  }
  return plan;
}

// y[n, c, :] += bias[c] over a [batch, channels, plane] tensor.
void add_bias(int batch, int channels, int64_t plane, const float* bias, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < int64_t{batch} * channels; ++nc) {
    const float b = bias[nc % channels];
    float* row = y + nc * plane;
    for (int64_t i = 0; i < plane; ++i) row[i] += b;
  }
}

// dbias[c] = sum of dy[n, c, :] over n and the plane.
void sum_bias(int batch, int channels, int64_t plane, const float* dy, float* dbias) {
#pragma omp parallel for schedule(static)
  for (int c = 0; c < channels; ++c) {
    double sum = 0;
    for (int n = 0; n < batch; ++n) {
      const float* row = dy + (int64_t{n} * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) sum += row[i];
    }
    dbias[c] = static_cast<float>(sum);
  }
}

bool empty(const Conv2dParams& p) {
  return p.batch <= 0 || p.in_channels <= 0 || p.out_channels <= 0 || p.out_h() <= 0 ||
         p.out_w() <= 0;
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y) {
  if (empty(p)) {
    cpu::conv2d_forward(p, x, w, bias, y);
    return;
  }
  Context& ctx = context();
  const bool has_bias = bias != nullptr;
  Plan& plan = ctx.plan(conv_key(Pass::conv_forward, p, has_bias),
                        [&] { return forward_plan(ctx.engine(), p, has_bias); });
  if (has_bias) {
    ctx.run(plan, {x, w, bias, y});
  } else {
    ctx.run(plan, {x, w, y});
  }
}

void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  if (empty(p)) {
    cpu::conv2d_backward_data(p, dy, w, dx);
    return;
  }
  Context& ctx = context();
  Plan& plan = ctx.plan(conv_key(Pass::conv_backward_data, p, false),
                        [&] { return backward_data_plan(ctx.engine(), p); });
  ctx.run(plan, {dy, w, dx});
}

void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias) {
  if (empty(p)) {
    cpu::conv2d_backward_filter(p, x, dy, dw, dbias);
    return;
  }
  Context& ctx = context();
  const bool has_bias = dbias != nullptr;
  Plan& plan = ctx.plan(conv_key(Pass::conv_backward_filter, p, has_bias),
                        [&] { return backward_filter_plan(ctx.engine(), p, has_bias); });
  if (has_bias) {
    ctx.run(plan, {x, dy, dw, dbias});
  } else {
    ctx.run(plan, {x, dy, dw});
  }
}

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y) {
  conv2d_backward_data(p.as_conv(), x, w, y);
  if (bias != nullptr) {
    add_bias(p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), bias, y);
  }
}

void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    float* dx) {
  conv2d_forward(p.as_conv(), dy, w, nullptr, dx);
}

void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias) {
  conv2d_backward_filter(p.as_conv(), dy, x, dw, nullptr);
  if (dbias != nullptr) {
    sum_bias(p.batch, p.out_channels, int64_t{p.out_h()} * p.out_w(), dy, dbias);
  }
}

}  // namespace weft::onednn
