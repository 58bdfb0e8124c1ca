// The optimizers (engine/optim/optimizer.h) against their update rules written out by hand in
// each test: SGD plain, with momentum over two steps, Nesterov and weight decay; Adam's first
// and second steps with bias correction; AdamW's decoupled decay versus Adam's L2 decay;
// parameters without a gradient left alone; and a save/restore of the optimizer state in the
// middle of a run that continues exactly as the uninterrupted run.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::Tensor;
using weft::test::check_close;

Tensor parameter(const std::vector<float>& values) {
  Tensor t = Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
  t.set_requires_grad(true);
  return t;
}

void set_grad(Tensor& p, const std::vector<float>& values) {
  p.mutable_grad() = Tensor::from_vector(values, p.shape());
}

// The expected values are the same few float operations done in double: 1e-6 absolute plus
// 1e-6 relative is float rounding, far below the size of any wrong term (lr * g ~ 1e-2).
constexpr double kStepAbs = 1e-6, kStepRel = 1e-6;

const std::vector<double> kStart = {1.0, -2.0};
const std::vector<double> kGrad1 = {0.5, 0.25};
const std::vector<double> kGrad2 = {-0.3, 0.75};

std::vector<float> as_float(const std::vector<double>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("optim: SGD without momentum: p -= lr * g", "[optim]") {
  Tensor p = parameter(as_float(kStart));
  weft::optim::SGD sgd({p}, {.lr = 0.1f});
  set_grad(p, as_float(kGrad1));
  sgd.step();
  // [1 - 0.1 * 0.5, -2 - 0.1 * 0.25]
  check_close("p", p.to_vector<float>(), std::vector<double>{0.95, -2.025}, kStepAbs, kStepRel);
  CHECK(sgd.step_count() == 1);
}

TEST_CASE("optim: SGD with momentum over two steps", "[optim]") {
  const double lr = 0.1, mu = 0.9;
  Tensor p = parameter(as_float(kStart));
  weft::optim::SGD sgd({p}, {.lr = 0.1f, .momentum = 0.9f});
  std::vector<double> expected = kStart, buffer(2);
  set_grad(p, as_float(kGrad1));
  sgd.step();
  for (int i = 0; i < 2; ++i) {
    buffer[i] = kGrad1[i];  // the first step starts the buffer at the gradient
    expected[i] -= lr * buffer[i];
  }
  check_close("p after step 1", p.to_vector<float>(), expected, kStepAbs, kStepRel);
  set_grad(p, as_float(kGrad2));
  sgd.step();
  for (int i = 0; i < 2; ++i) {
    buffer[i] = mu * buffer[i] + kGrad2[i];
    expected[i] -= lr * buffer[i];
  }
  check_close("p after step 2", p.to_vector<float>(), expected, kStepAbs, kStepRel);
}

TEST_CASE("optim: SGD with Nesterov momentum over two steps", "[optim]") {
  const double lr = 0.1, mu = 0.9;
  Tensor p = parameter(as_float(kStart));
  weft::optim::SGD sgd({p}, {.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
  std::vector<double> expected = kStart, buffer(2);
  for (const std::vector<double>* grad : {&kGrad1, &kGrad2}) {
    const bool first = grad == &kGrad1;
    set_grad(p, as_float(*grad));
    sgd.step();
    for (int i = 0; i < 2; ++i) {
      const double g = (*grad)[i];
      buffer[i] = first ? g : mu * buffer[i] + g;
      expected[i] -= lr * (g + mu * buffer[i]);  // look ahead along the buffer
    }
    check_close(first ? "p after step 1" : "p after step 2", p.to_vector<float>(), expected,
                kStepAbs, kStepRel);
  }
}

TEST_CASE("optim: SGD weight decay adds wd * p to the gradient", "[optim]") {
  Tensor p = parameter(as_float(kStart));
  weft::optim::SGD sgd({p}, {.lr = 0.1f, .weight_decay = 0.01f});
  set_grad(p, as_float(kGrad1));
  sgd.step();
  // p - 0.1 * (g + 0.01 * p): [1 - 0.1 * (0.5 + 0.01), -2 - 0.1 * (0.25 - 0.02)]
  check_close("p", p.to_vector<float>(), std::vector<double>{0.949, -2.023}, kStepAbs, kStepRel);
}

namespace {
// Adam by hand, in double, for one parameter vector over a list of gradients.
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p * (1 - lr * wd_decoupled) - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// with g = grad + wd_l2 * p (Adam's L2 decay).
std::vector<double> adam_by_hand(std::vector<double> p,
                                 const std::vector<std::vector<double>>& grads, double lr,
                                 double wd_l2, double wd_decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<double> m(p.size(), 0.0), v(p.size(), 0.0);
  for (size_t t = 1; t <= grads.size(); ++t) {
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = grads[t - 1][i] + wd_l2 * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(b1, t));
      const double v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] = p[i] * (1 - lr * wd_decoupled) - lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  return p;
}
}  // namespace

TEST_CASE("optim: Adam's first and second steps with bias correction", "[optim]") {
  Tensor p = parameter(as_float(kStart));
  weft::optim::Adam adam({p}, {.lr = 0.01f});
  set_grad(p, as_float(kGrad1));
  adam.step();
  // After one step m_hat = g and v_hat = g^2, so each element moves by lr * sign(g):
  // [1 - 0.01, -2 - 0.01] (up to eps).
  check_close("p after step 1", p.to_vector<float>(), std::vector<double>{0.99, -2.01}, 1e-6, 1e-6);
  set_grad(p, as_float(kGrad2));
  adam.step();
  check_close("p after step 2", p.to_vector<float>(),
              adam_by_hand(kStart, {kGrad1, kGrad2}, 0.01, 0.0, 0.0), kStepAbs, kStepRel);
}

TEST_CASE("optim: AdamW decays the weights apart from the gradient, Adam through it", "[optim]") {
  const float lr = 0.01f, wd = 0.1f;
  Tensor p_adamw = parameter(as_float(kStart)), p_adam = parameter(as_float(kStart));
  weft::optim::AdamW adamw({p_adamw}, {.lr = lr, .weight_decay = wd});
  weft::optim::Adam adam({p_adam}, {.lr = lr, .weight_decay = wd});
  for (const auto& grad : {kGrad1, kGrad2}) {
    set_grad(p_adamw, as_float(grad));
    set_grad(p_adam, as_float(grad));
    adamw.step();
    adam.step();
  }
  check_close("AdamW", p_adamw.to_vector<float>(),
              adam_by_hand(kStart, {kGrad1, kGrad2}, lr, 0.0, wd), kStepAbs, kStepRel);
  check_close("Adam with L2 decay", p_adam.to_vector<float>(),
              adam_by_hand(kStart, {kGrad1, kGrad2}, lr, wd, 0.0), kStepAbs, kStepRel);
  CHECK(adamw.name() == "AdamW");
  CHECK(adam.name() == "Adam");
}

TEST_CASE("optim: parameters without a gradient are skipped and get no state", "[optim]") {
  Tensor with_grad = parameter({1.0f, 2.0f}), without_grad = parameter({3.0f, 4.0f});
  weft::optim::Adam adam({with_grad, without_grad}, {.lr = 0.01f});
  set_grad(with_grad, {0.5f, -0.5f});
  adam.step();
  check_close("untouched", without_grad.to_vector<float>(), std::vector<float>{3.0f, 4.0f}, 0, 0);
  check_close("updated", with_grad.to_vector<float>(), std::vector<double>{0.99, 2.01}, kStepAbs,
              kStepRel);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : adam.state_tensors()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq"});
}

namespace {
// A few steps on L = sum((p - c)^2 * w) through autograd, so each gradient depends on where
// the previous steps left p: a restored optimizer must continue from the same state to match.
void train_steps(weft::optim::Optimizer& optimizer, std::vector<Tensor>& params, int steps) {
  const Tensor centre = Tensor::from_vector(std::vector<float>{0.3f, -0.7f, 1.1f}, {3});
  const Tensor weights = Tensor::from_vector(std::vector<float>{1.0f, 3.0f, 0.5f}, {3});
  for (int s = 0; s < steps; ++s) {
    optimizer.zero_grad();
    Tensor loss = Tensor::scalar(0.0f);
    for (const Tensor& p : params) {
      const Tensor d = p - centre;
      loss = loss + weft::sum(d * d * weights);
    }
    loss.backward();
    optimizer.step();
  }
}

std::vector<Tensor> fresh_params() {
  return {parameter({1.0f, 2.0f, -1.0f}), parameter({-0.5f, 0.25f, 2.0f})};
}

// Checkpoint the state as a training run would: copies of the tensors and the metadata.
template <typename MakeOptimizer>
void check_resume_matches_uninterrupted(MakeOptimizer make_optimizer) {
  std::vector<Tensor> straight = fresh_params();
  auto uninterrupted = make_optimizer(straight);
  train_steps(*uninterrupted, straight, 5);

  std::vector<Tensor> first_half = fresh_params();
  auto before = make_optimizer(first_half);
  train_steps(*before, first_half, 3);
  std::map<std::string, Tensor> saved;
  for (const auto& [name, tensor] : before->state_tensors()) saved[name] = tensor.clone();
  const std::map<std::string, std::string> metadata = before->state_metadata();
  REQUIRE_FALSE(saved.empty());

  std::vector<Tensor> resumed_params;
  for (const Tensor& p : first_half) {
    Tensor copy = p.clone();
    copy.set_requires_grad(true);
    resumed_params.push_back(copy);
  }
  auto resumed = make_optimizer(resumed_params);
  resumed->load_state(saved, metadata);
  CHECK(resumed->step_count() == 3);
  train_steps(*resumed, resumed_params, 2);

  // The same float operations in the same order: the results must be bit-identical.
  for (size_t i = 0; i < straight.size(); ++i) {
    INFO("parameter " << i);
    check_close("resumed vs uninterrupted", resumed_params[i].to_vector<float>(),
                straight[i].to_vector<float>(), 0, 0);
  }
}
}  // namespace

TEST_CASE("optim: 3 steps, save, restore into a fresh optimizer, 2 steps equals 5 steps",
          "[optim]") {
  SECTION("Adam") {
    check_resume_matches_uninterrupted([](const std::vector<Tensor>& params) {
      return std::make_unique<weft::optim::Adam>(params, weft::optim::AdamOptions{.lr = 0.05f});
    });
  }
  SECTION("SGD with momentum") {
    check_resume_matches_uninterrupted([](const std::vector<Tensor>& params) {
      return std::make_unique<weft::optim::SGD>(
          params, weft::optim::SgdOptions{.lr = 0.05f, .momentum = 0.9f});
    });
  }
}

TEST_CASE("optim: a resumed SGD without its momentum buffers diverges (the check has teeth)",
          "[optim]") {
  // Restoring only the metadata, not the buffers, restarts the momentum from the gradient: the
  // trajectories must then differ, which shows the comparison above can fail.
  std::vector<Tensor> straight = fresh_params();
  weft::optim::SGD uninterrupted(straight, {.lr = 0.05f, .momentum = 0.9f});
  train_steps(uninterrupted, straight, 5);

  std::vector<Tensor> params = fresh_params();
  weft::optim::SGD before(params, {.lr = 0.05f, .momentum = 0.9f});
  train_steps(before, params, 3);
  weft::optim::SGD resumed(params, {.lr = 0.05f, .momentum = 0.9f});
  resumed.load_state({}, before.state_metadata());
  train_steps(resumed, params, 2);
  CHECK(params[0].to_vector<float>() != straight[0].to_vector<float>());
}
