// batch_norm, dropout and activation_dropout.
//
// batch_norm in training normalises with the batch's statistics and saves mean and 1/std per
// channel for backward; in eval it uses the running statistics, which are then constants. In a
// data-parallel run with the synchronised option (engine/distributed/sync_batchnorm.h) the
// training statistics are those of every rank's batch together: the params carry the exchange,
// which the kernels call between their partial sums and their finishing step. A fused activation
// (engine/ops.h) goes to the kernels in the params: the forward applies it, the backward reads
// the saved output beside the gradient to take its derivative.
// dropout reserves `count` numbers from a Generator and passes (seed, offset) to the kernel;
// backward redraws the same mask from them, so no mask tensor is kept (activation_dropout, relu
// or leaky_relu and then dropout in one kernel, does the same and keeps x for the derivative).
// In a data-parallel run each rank reserves the numbers of the whole global batch and draws the
// slice at its samples' global position, so ranks draw different masks and together the masks
// of one process.
#include "engine/distributed/communicator.h"
#include "engine/distributed/sync_batchnorm.h"
#include "engine/graph.h"
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  float momentum, float eps, const FusedActivation& activation) {
  const char* op = "batch_norm";
  if (activation.active() && !fuse(activation, op)) {
    return activate(batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps),
                    activation);
  }
  check_float(x, op, "input");
  check_float(gamma, op, "weight");
  check_float(beta, op, "bias");
  check_same_device({x, gamma, beta, running_mean, running_var}, op);
  WEFT_CHECK(x.ndim() >= 2, op, ": input must be [N, C] or [N, C, ...], got ", x.str());
  const int64_t channels = x.dim(1);
  check_shape(gamma, {channels}, op, "weight");
  check_shape(beta, {channels}, op, "bias");
  if (running_mean.defined()) check_shape(running_mean, {channels}, op, "running_mean");
  if (running_var.defined()) check_shape(running_var, {channels}, op, "running_var");
  WEFT_CHECK(training || (running_mean.defined() && running_var.defined()), op,
             ": eval mode needs running statistics");

  BatchNormParams p;
  p.batch = to_int(x.dim(0), op);
  p.channels = to_int(channels, op);
  p.spatial = to_int(x.numel() / std::max<int64_t>(1, x.dim(0) * channels), op);
  p.eps = eps;
  p.momentum = momentum;
  p.activation = activation;
  if (training) p.sync = dist::batch_norm_sync(x.device());
  WEFT_CHECK(!training || static_cast<int64_t>(p.batch) * p.spatial > 1, op,
             ": training needs more than one value per channel, got ", x.str());

  Backend& backend = dispatch(x.device());
  Tensor y = Tensor::empty_like(x);
  const Tensor x_saved = x.detach(), gamma_saved = gamma.detach();
  const Tensor y_saved = activation.active() ? y.detach() : Tensor();
  if (training) {
    Tensor save_mean = Tensor::empty({channels}, DType::f32, x.device());
    Tensor save_invstd = Tensor::empty({channels}, DType::f32, x.device());
    backend.batch_norm_forward_train(p, x.data<float>(), gamma.data<float>(),
                                     beta.data<float>(), y.data<float>(),
                                     save_mean.data<float>(), save_invstd.data<float>(),
                                     optional_data(running_mean), optional_data(running_var));
    record(y, op, {x, gamma, beta}, [=](const Tensor& g) {
      Tensor gx = Tensor::empty_like(x_saved);
      Tensor ggamma = Tensor::empty_like(gamma_saved);
      Tensor gbeta = Tensor::empty_like(gamma_saved);
      dispatch(g.device())
          .batch_norm_backward(p, g.data<float>(), x_saved.data<float>(), optional_data(y_saved),
                               gamma_saved.data<float>(), save_mean.data<float>(),
                               save_invstd.data<float>(), gx.data<float>(), ggamma.data<float>(),
                               gbeta.data<float>());
      return std::vector<Tensor>{gx, ggamma, gbeta};
    });
  } else {
    backend.batch_norm_forward_eval(p, x.data<float>(), gamma.data<float>(), beta.data<float>(),
                                    running_mean.data<float>(), running_var.data<float>(),
                                    y.data<float>());
    const Tensor mean_saved = running_mean.detach(), var_saved = running_var.detach();
    record(y, op, {x, gamma, beta}, [=](const Tensor& g) {
      Tensor gx = Tensor::empty_like(x_saved);
      Tensor ggamma = Tensor::empty_like(gamma_saved);
      Tensor gbeta = Tensor::empty_like(gamma_saved);
      dispatch(g.device())
          .batch_norm_backward_eval(p, g.data<float>(), x_saved.data<float>(),
                                    optional_data(y_saved), gamma_saved.data<float>(),
                                    mean_saved.data<float>(), var_saved.data<float>(),
                                    gx.data<float>(), ggamma.data<float>(), gbeta.data<float>());
      return std::vector<Tensor>{gx, ggamma, gbeta};
    });
  }
  return y;
}

namespace {

// The kernel's params for dropping out x's elements: reserves x.numel() numbers (per rank) from
// the generator.
DropoutParams dropout_params(const Tensor& x, float p, Generator* generator) {
  Generator& rng = generator != nullptr ? *generator : default_generator();
  DropoutParams params;
  params.count = x.numel();
  params.p = p;
  params.seed = rng.seed();
  params.offset_shift = graph::random_shift(rng);  // before the draw: see engine/graph.h
  // Rank r's tensor is the r-th slice (along dim 0) of the global batch's, so its elements sit
  // at r * count in the global batch's numbering (one rank: the whole reservation).
  const data::Shard shard = dist::shard();
  const auto count = static_cast<uint64_t>(x.numel());
  params.offset = rng.reserve(count * static_cast<uint64_t>(shard.count)) +
                  count * static_cast<uint64_t>(shard.rank);
  return params;
}

void check_dropout(const Tensor& x, float p, const char* op) {
  check_float(x, op, "input");
  WEFT_CHECK(p >= 0.0f && p <= 1.0f, op, ": probability must be in [0, 1], got ", p);
}

}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator* generator) {
  check_dropout(x, p, "dropout");
  if (!training || p == 0.0f) return x;
  const DropoutParams params = dropout_params(x, p, generator);
  Tensor y = Tensor::empty_like(x);
  dispatch(x.device()).dropout_forward(params, x.data<float>(), y.data<float>());
  record(y, "dropout", {x}, [params](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device()).dropout_backward(params, g.data<float>(), gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

Tensor activation_dropout(const Tensor& x, const FusedActivation& activation, float p,
                          bool training, Generator* generator) {
  const char* op = "activation_dropout";
  check_dropout(x, p, op);
  if (!training || p == 0.0f || !fuse(activation, op)) {
    return dropout(activate(x, activation), p, training, generator);
  }
  // The numbers are reserved as dropout() reserves them after the activation, which draws none.
  const DropoutParams params = dropout_params(x, p, generator);
  Tensor y = Tensor::empty_like(x);
  dispatch(x.device())
      .activation_dropout_forward(params, activation, x.data<float>(), y.data<float>());
  const Tensor x_saved = x.detach();
  record(y, op, {x}, [params, activation, x_saved](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device())
        .activation_dropout_backward(params, activation, x_saved.data<float>(), g.data<float>(),
                                     gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace weft
