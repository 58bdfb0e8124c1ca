// GEMM and the linear layer through oneDNN (onednn.h): GEMM is dnnl_sgemm (row-major, like
// GemmParams); the linear layer is the inner-product primitive on weft's plain layouts
// (x [n, in], w [out, in], y [n, out]: oneDNN's nc / oi / nc, so nothing is reordered). The
// forward's fused activation is an eltwise post-op of the inner product (context.h
// activation_attr), part of the plan's key; the backward takes dy already multiplied by the
// activation's derivative (the engine does that from y).
//
// Shapes with a zero dimension have nothing to multiply; the hand kernels (kernels/cpu/gemm.h)
// handle them, since oneDNN rejects zero-sized primitives for some passes.
#include "kernels/cpu/gemm.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu_vendor/context.h"
#include "kernels/cpu_vendor/onednn.h"
#include "kernels/error.h"

namespace weft::onednn {
namespace {

PlanKey linear_key(Pass pass, int n, int in_features, int out_features, bool bias,
                   const FusedActivation& act = {}) {
  return {static_cast<int64_t>(pass), n, in_features, out_features, bias ? 1 : 0,
          activation_key(act)};
}

struct LinearDescs {
  dnnl::memory::desc src, weights, bias, dst;
};

LinearDescs linear_descs(int n, int in_features, int out_features) {
  return {plain_matrix(n, in_features), plain_matrix(out_features, in_features),
          plain_vector(out_features), plain_matrix(n, out_features)};
}

dnnl::inner_product_forward::primitive_desc forward_pd(const dnnl::engine& engine,
                                                       const LinearDescs& d, bool bias,
                                                       const FusedActivation& act = {}) {
  const dnnl::primitive_attr attr = activation_attr(act);
  if (bias) {
    return {{dnnl::prop_kind::forward_training, d.src, d.weights, d.bias, d.dst}, attr, engine};
  }
  return {{dnnl::prop_kind::forward_training, d.src, d.weights, d.dst}, attr, engine};
}

void add_arg(Plan& plan, int id, bool output, const dnnl::memory::desc& plain,
             const dnnl::memory::desc& wanted) {
  plan.args.push_back(plan_arg(id, output, plain, wanted));
}

Plan forward_plan(const dnnl::engine& engine, int n, int in_features, int out_features, bool bias,
                  const FusedActivation& act) {
  const LinearDescs d = linear_descs(n, in_features, out_features);
  const auto pd = forward_pd(engine, d, bias, act);
  Plan plan;
  plan.primitive = dnnl::inner_product_forward(pd);
  add_arg(plan, DNNL_ARG_SRC, false, d.src, pd.src_desc());
  add_arg(plan, DNNL_ARG_WEIGHTS, false, d.weights, pd.weights_desc());
  if (bias) add_arg(plan, DNNL_ARG_BIAS, false, d.bias, pd.bias_desc());
  add_arg(plan, DNNL_ARG_DST, true, d.dst, pd.dst_desc());
  return plan;
}

Plan backward_data_plan(const dnnl::engine& engine, int n, int in_features, int out_features) {
  const LinearDescs d = linear_descs(n, in_features, out_features);
  const auto hint = forward_pd(engine, d, false);
  const dnnl::inner_product_backward_data::primitive_desc pd({d.src, d.weights, d.dst}, engine,
                                                             hint);
  Plan plan;
  plan.primitive = dnnl::inner_product_backward_data(pd);
  add_arg(plan, DNNL_ARG_DIFF_DST, false, d.dst, pd.diff_dst_desc());
  add_arg(plan, DNNL_ARG_WEIGHTS, false, d.weights, pd.weights_desc());
  add_arg(plan, DNNL_ARG_DIFF_SRC, true, d.src, pd.diff_src_desc());
  return plan;
}

Plan backward_weights_plan(const dnnl::engine& engine, int n, int in_features, int out_features,
                           bool bias) {
  const LinearDescs d = linear_descs(n, in_features, out_features);
  const auto hint = forward_pd(engine, d, bias);
  using BackwardWeights = dnnl::inner_product_backward_weights;
  const BackwardWeights::primitive_desc pd =
      bias ? BackwardWeights::primitive_desc({d.src, d.weights, d.bias, d.dst}, engine, hint)
           : BackwardWeights::primitive_desc({d.src, d.weights, d.dst}, engine, hint);
  Plan plan;
  plan.primitive = BackwardWeights(pd);
  add_arg(plan, DNNL_ARG_SRC, false, d.src, pd.src_desc());
  add_arg(plan, DNNL_ARG_DIFF_DST, false, d.dst, pd.diff_dst_desc());
  add_arg(plan, DNNL_ARG_DIFF_WEIGHTS, true, d.weights, pd.diff_weights_desc());
  if (bias) add_arg(plan, DNNL_ARG_DIFF_BIAS, true, d.bias, pd.diff_bias_desc());
  return plan;
}

}  // namespace

void gemm(const GemmParams& p, const float* a, const float* b, float* c) {
  if (p.m == 0 || p.n == 0 || p.k == 0) {
    cpu::gemm(p, a, b, c);
    return;
  }
  const dnnl::status status =
      dnnl::sgemm(p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', p.m, p.n, p.k, p.alpha, a,
                  p.trans_a ? p.m : p.k, b, p.trans_b ? p.k : p.n, p.beta, c, p.n);
  WEFT_CHECK(status == dnnl::status::success, "dnnl_sgemm failed (status ",
             static_cast<int>(status), ")");
}

void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, float* y, const FusedActivation& act) {
  if (n == 0 || in_features == 0 || out_features == 0) {
    cpu::linear_forward(n, in_features, out_features, x, w, bias, y, act);
    return;
  }
  Context& ctx = context();
  const bool has_bias = bias != nullptr;
  Plan& plan = ctx.plan(
      linear_key(Pass::linear_forward, n, in_features, out_features, has_bias, act),
      [&] { return forward_plan(ctx.engine(), n, in_features, out_features, has_bias, act); });
  if (has_bias) {
    ctx.run(plan, {x, w, bias, y});
  } else {
    ctx.run(plan, {x, w, y});
  }
}

void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias) {
  if (n == 0 || in_features == 0 || out_features == 0) {
    cpu::linear_backward(n, in_features, out_features, x, w, dy, dx, dw, dbias);
    return;
  }
  Context& ctx = context();
  if (dx != nullptr) {
    Plan& plan =
        ctx.plan(linear_key(Pass::linear_backward_data, n, in_features, out_features, false),
                 [&] { return backward_data_plan(ctx.engine(), n, in_features, out_features); });
    ctx.run(plan, {dy, w, dx});
  }
  if (dw == nullptr && dbias == nullptr) return;
  // oneDNN computes the bias gradient with the weights' only; a caller that wants the bias's
  // alone gets the weights' in scratch.
  const bool has_bias = dbias != nullptr;
  std::vector<float> scratch(dw == nullptr ? int64_t{out_features} * in_features : 0);
  Plan& plan = ctx.plan(
      linear_key(Pass::linear_backward_weights, n, in_features, out_features, has_bias),
      [&] { return backward_weights_plan(ctx.engine(), n, in_features, out_features, has_bias); });
  float* weights_gradient = dw != nullptr ? dw : scratch.data();
  if (has_bias) {
    ctx.run(plan, {x, dy, weights_gradient, dbias});
  } else {
    ctx.run(plan, {x, dy, weights_gradient});
  }
}

}  // namespace weft::onednn
