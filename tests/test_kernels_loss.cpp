// Tests of the CPU loss kernels (kernels/cpu/loss.h): values worked out by hand (arithmetic in
// the comments, checked with python3's math module), agreement with an independent
// soft-target formulation of PyTorch's cross-entropy, stability at extreme inputs, and every
// backward against central differences of its forward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/loss.h"

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

bool close(double got, double ref, double abs_tol, double rel_tol) {
  return std::abs(got - ref) <= abs_tol + rel_tol * std::abs(ref);
}

void check_all_close(const std::vector<float>& got, const std::vector<double>& ref,
                     double abs_tol, double rel_tol) {
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (!close(got[i], ref[i], abs_tol, rel_tol)) {
      INFO("index " << i << ": got " << got[i] << ", expected " << ref[i]);
      CHECK(false);
    }
  }
}

std::vector<float> random_vector(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Central-difference gradient of grad_scale * loss(x). The step is the difference of the two
// float inputs actually evaluated.
//
// Tolerance used with it: the loss comes back as a float, so each evaluation carries up to half
// an ulp of rounding (6e-8 for a loss below 1, 1.2e-7 below 2). Two evaluations, times
// grad_scale 1.7, over the 2e-3 step: <= 1.2e-7 * 2 * 1.7 / 2e-3 = 2e-4 for losses below 2.
// Truncation h^2/6 |loss'''| is below 1e-5 for these inputs. Hence abs 3e-4 + rel 2e-3; the
// gradients checked are O(0.05 .. 1), and a missing term (e.g. the smoothing part, eps / C * w
// over the weight sum) is off by >= 5e-3.
constexpr float kGradScale = 1.7f;

std::vector<double> numeric_gradient(const std::function<float(const std::vector<float>&)>& loss,
                                     const std::vector<float>& x, float h = 1e-3f) {
  std::vector<double> grad(x.size());
  std::vector<float> probe = x;
  for (size_t j = 0; j < x.size(); ++j) {
    const float plus = x[j] + h, minus = x[j] - h;
    probe[j] = plus;
    const double l_plus = loss(probe);
    probe[j] = minus;
    const double l_minus = loss(probe);
    probe[j] = x[j];
    grad[j] = kGradScale * (l_plus - l_minus) /
              (static_cast<double>(plus) - static_cast<double>(minus));
  }
  return grad;
}

// Cross-entropy as a soft-target loss, written independently of the kernel: the target
// distribution is q = (1 - eps) one_hot(t) + eps / C, each class's term is weighted by w[c],
// and the mean divides by sum_i w[t_i]. Expanding sum_c w[c] q_c (-log p_c) gives PyTorch's
// (1 - eps) w[t] (-log p_t) + eps / C sum_c w[c] (-log p_c).
double reference_cross_entropy(int n, int c, const std::vector<float>& logits,
                               const std::vector<int32_t>& targets, const float* weights,
                               double eps) {
  double total = 0.0, weight_sum = 0.0;
  for (int i = 0; i < n; ++i) {
    double z = 0.0;
    for (int k = 0; k < c; ++k) z += std::exp(static_cast<double>(logits[i * c + k]));
    for (int k = 0; k < c; ++k) {
      const double q = (k == targets[i] ? 1.0 - eps : 0.0) + eps / c;
      const double w = weights ? weights[k] : 1.0;
      total += w * q * (std::log(z) - logits[i * c + k]);
    }
    weight_sum += weights ? weights[targets[i]] : 1.0;
  }
  return total / weight_sum;
}

}  // namespace

// ---- cross-entropy ------------------------------------------------------------------------------

TEST_CASE("cpu loss: cross-entropy on a hand-computed 2x3 batch", "[kernels][loss][cpu]") {
  // Row 0 = [0, ln 2, ln 3]: exp = [1, 2, 3], p = [1/6, 1/3, 1/2], -log p = [ln 6, ln 3, ln 2].
  // Row 1 = [ln 4, 0, 0]:    exp = [4, 1, 1], p = [2/3, 1/6, 1/6], -log p = [ln 1.5, ln 6, ln 6].
  // Targets [2, 0]: -log p_t = [ln 2, ln 1.5].
  const float ln2 = std::log(2.0f), ln3 = std::log(3.0f), ln4 = std::log(4.0f);
  const std::vector<float> logits = {0.0f, ln2, ln3, ln4, 0.0f, 0.0f};
  const std::vector<int32_t> targets = {2, 0};
  const std::vector<float> w = {1.0f, 2.0f, 3.0f};

  struct Case {
    const float* weights;
    float eps;
    double expected;
    const char* name;
  };
  const Case cases[] = {
      // (ln 2 + ln 1.5) / 2 = ln 3 / 2
      {nullptr, 0.0f, 0.5493061443340549, "plain"},
      // (w[2] ln 2 + w[0] ln 1.5) / (w[2] + w[0]) = (3 ln 2 + ln 1.5) / 4
      {w.data(), 0.0f, 0.6212266624470001, "weighted"},
      // [0.9 (ln 2 + ln 1.5) + 0.1/3 (ln 6 + ln 3 + ln 2 + ln 1.5 + ln 6 + ln 6)] / 2
      //   = [0.9 ln 3 + 0.1/3 (ln 36 + ln 54)] / 2
      {nullptr, 0.1f, 0.6205839129843225, "smoothed"},
      // [0.9 (3 ln 2 + 1 ln 1.5)
      //  + 0.1/3 ((1 ln 6 + 2 ln 3 + 3 ln 2) + (1 ln 1.5 + 2 ln 6 + 3 ln 6))] / (3 + 1)
      {w.data(), 0.1f, 0.6877097298897381, "weighted and smoothed"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const float loss =
        weft::cpu::cross_entropy_forward(2, 3, logits.data(), targets.data(), c.weights, c.eps);
    CAPTURE(loss, c.expected);
    // The float logits ln 2, ln 3, ln 4 carry rounding of ~3e-8, which moves the loss by less.
    CHECK(close(loss, c.expected, 1e-6, 1e-6));
    CHECK(close(loss, reference_cross_entropy(2, 3, logits, targets, c.weights, c.eps), 1e-6,
                1e-6));
  }
}

TEST_CASE("cpu loss: cross-entropy agrees with the soft-target formulation",
          "[kernels][loss][cpu]") {
  const int n = 37, c = 7;
  const std::vector<float> logits = random_vector(static_cast<size_t>(n) * c, -4, 4, 201);
  std::vector<int32_t> targets(n);
  for (int i = 0; i < n; ++i) targets[i] = (i * 5 + 3) % c;
  const std::vector<float> w = random_vector(c, 0.2f, 3.0f, 202);
  for (float eps : {0.0f, 0.05f, 0.3f, 1.0f}) {
    for (const float* weights : {static_cast<const float*>(nullptr), w.data()}) {
      CAPTURE(eps, weights != nullptr);
      const double expected = reference_cross_entropy(n, c, logits, targets, weights, eps);
      const float got =
          weft::cpu::cross_entropy_forward(n, c, logits.data(), targets.data(), weights, eps);
      CAPTURE(got, expected);
      CHECK(close(got, expected, 1e-6, 1e-6));
    }
  }
}

TEST_CASE("cpu loss: cross-entropy is stable for huge logits", "[kernels][loss][cpu]") {
  // Row [1000, 0, -1000]: log-sum-exp = 1000 + log(1 + e^-1000 + e^-2000) = 1000 (in double),
  // so -log p = [0, 1000, 2000]. exp(1000) itself would overflow.
  const std::vector<float> logits = {1000.0f, 0.0f, -1000.0f};
  int32_t t = 0;
  CHECK(weft::cpu::cross_entropy_forward(1, 3, logits.data(), &t, nullptr, 0.0f) == 0.0f);
  t = 1;
  CHECK(weft::cpu::cross_entropy_forward(1, 3, logits.data(), &t, nullptr, 0.0f) == 1000.0f);
  std::vector<float> grad(3, kNaN);
  weft::cpu::cross_entropy_backward(1, 3, logits.data(), &t, nullptr, 0.0f, 1.0f, grad.data());
  // p = [1, 0, 0], target 1: grad = p - one_hot = [1, -1, 0].
  check_all_close(grad, {1.0, -1.0, 0.0}, 1e-7, 0.0);
}

TEST_CASE("cpu loss: cross-entropy rejects out-of-range targets naming the sample",
          "[kernels][loss][cpu]") {
  const std::vector<float> logits(6, 0.0f);
  std::vector<float> grad(6);
  for (int32_t bad : {3, -1}) {
    const std::vector<int32_t> targets = {0, bad};
    CAPTURE(bad);
    CHECK_THROWS_AS(
        weft::cpu::cross_entropy_forward(2, 3, logits.data(), targets.data(), nullptr, 0.0f),
        std::out_of_range);
    CHECK_THROWS_WITH(
        weft::cpu::cross_entropy_forward(2, 3, logits.data(), targets.data(), nullptr, 0.0f),
        Catch::Contains("sample 1") && Catch::Contains("target " + std::to_string(bad)) &&
            Catch::Contains("[0, 3)"));
    CHECK_THROWS_AS(weft::cpu::cross_entropy_backward(2, 3, logits.data(), targets.data(),
                                                      nullptr, 0.0f, 1.0f, grad.data()),
                    std::out_of_range);
  }
}

TEST_CASE("cpu loss: cross-entropy backward matches central differences",
          "[kernels][loss][cpu]") {
  const int n = 3, c = 4;
  const std::vector<float> logits = random_vector(static_cast<size_t>(n) * c, -2, 2, 211);
  const std::vector<int32_t> targets = {1, 3, 0};
  const std::vector<float> w = {0.5f, 2.0f, 1.0f, 3.0f};
  for (float eps : {0.0f, 0.2f}) {
    for (const float* weights : {static_cast<const float*>(nullptr), w.data()}) {
      CAPTURE(eps, weights != nullptr);
      std::vector<float> grad(logits.size(), kNaN);
      weft::cpu::cross_entropy_backward(n, c, logits.data(), targets.data(), weights, eps,
                                        kGradScale, grad.data());
      auto loss = [&](const std::vector<float>& x) {
        return weft::cpu::cross_entropy_forward(n, c, x.data(), targets.data(), weights, eps);
      };
      check_all_close(grad, numeric_gradient(loss, logits), 3e-4, 2e-3);
    }
  }
}

// ---- binary cross-entropy with logits -----------------------------------------------------------

TEST_CASE("cpu loss: bce_with_logits at hand-computed points", "[kernels][loss][cpu]") {
  struct Case {
    float x, t;
    double expected;
  };
  // x = 0: max(0, 0) - 0 + log(1 + e^0) = ln 2 for every target.
  // x = 2, t = 0.3: 2 - 0.6 + log(1 + e^-2) = 1.4 + 0.126928011 = 1.526928011.
  // |x| = 1000 (exp(1000) overflows): the loss is max(x, 0) - x t + log1p(e^-1000) exactly.
  const Case cases[] = {
      {0.0f, 0.0f, 0.6931471805599453}, {0.0f, 1.0f, 0.6931471805599453},
      {0.0f, 0.3f, 0.6931471805599453}, {2.0f, 0.3f, 1.5269280110429724},
      {1000.0f, 1.0f, 0.0},             {1000.0f, 0.0f, 1000.0},
      {-1000.0f, 0.0f, 0.0},            {-1000.0f, 1.0f, 1000.0},
  };
  for (const Case& c : cases) {
    const float loss = weft::cpu::bce_with_logits_forward(1, &c.x, &c.t);
    CAPTURE(c.x, c.t, loss, c.expected);
    CHECK(close(loss, c.expected, 1e-7, 1e-6));
  }
  // The mean of the four x = 0 / x = 2 cases above.
  const std::vector<float> x = {0.0f, 0.0f, 0.0f, 2.0f}, t = {0.0f, 1.0f, 0.3f, 0.3f};
  CHECK(close(weft::cpu::bce_with_logits_forward(4, x.data(), t.data()),
              (3 * 0.6931471805599453 + 1.5269280110429724) / 4, 1e-7, 1e-6));

  // Gradient at the extremes: sigmoid(+-1000) - t is exactly +-1 or 0, no NaN.
  const std::vector<float> big = {1000.0f, -1000.0f, 1000.0f, -1000.0f};
  const std::vector<float> big_t = {0.0f, 1.0f, 1.0f, 0.0f};
  std::vector<float> grad(4, kNaN);
  weft::cpu::bce_with_logits_backward(4, big.data(), big_t.data(), 4.0f, grad.data());
  check_all_close(grad, {1.0, -1.0, 0.0, 0.0}, 1e-7, 0.0);
}

TEST_CASE("cpu loss: bce_with_logits backward matches central differences",
          "[kernels][loss][cpu]") {
  const std::vector<float> x = random_vector(8, -4, 4, 221);
  const std::vector<float> t = random_vector(8, 0, 1, 222);
  std::vector<float> grad(x.size(), kNaN);
  weft::cpu::bce_with_logits_backward(8, x.data(), t.data(), kGradScale, grad.data());
  auto loss = [&](const std::vector<float>& in) {
    return weft::cpu::bce_with_logits_forward(8, in.data(), t.data());
  };
  check_all_close(grad, numeric_gradient(loss, x), 3e-4, 2e-3);
}

// ---- binary cross-entropy on probabilities ------------------------------------------------------

TEST_CASE("cpu loss: bce at hand-computed points and the -100 clamp", "[kernels][loss][cpu]") {
  // p = 0.25: t = 1 gives -ln 0.25 = ln 4 = 1.386294361, t = 0 gives -ln 0.75 = 0.287682072;
  // their mean is 0.836988217.
  const std::vector<float> p = {0.25f, 0.25f}, t = {1.0f, 0.0f};
  CHECK(close(weft::cpu::bce_forward(2, p.data(), t.data()), 0.8369882167858357, 1e-7, 1e-6));
  // p = 0.5: ln 2 for any target.
  const float half = 0.5f, t_soft = 0.7f;
  CHECK(close(weft::cpu::bce_forward(1, &half, &t_soft), 0.6931471805599453, 1e-7, 1e-6));
  // log 0 = -inf is clamped to -100: p = 0 with t = 1 (and p = 1 with t = 0) cost exactly 100.
  // With the matching target the other term is 0 * (-100) = 0, and log(1) = 0.
  const std::vector<float> edge_p = {0.0f, 1.0f, 0.0f, 1.0f}, edge_t = {1.0f, 0.0f, 0.0f, 1.0f};
  for (int i = 0; i < 4; ++i) {
    const float loss = weft::cpu::bce_forward(1, &edge_p[i], &edge_t[i]);
    CAPTURE(i, loss);
    CHECK(loss == (i < 2 ? 100.0f : 0.0f));
  }
  // The gradient stays finite at p = 0 and 1 (PyTorch's 1e-12 floor on p (1 - p)).
  std::vector<float> grad(4, kNaN);
  weft::cpu::bce_backward(4, edge_p.data(), edge_t.data(), 1.0f, grad.data());
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i, grad[i]);
    CHECK(std::isfinite(grad[i]));
  }
}

TEST_CASE("cpu loss: bce rejects probabilities outside [0, 1]", "[kernels][loss][cpu]") {
  const std::vector<float> p = {0.5f, 1.5f}, t = {1.0f, 1.0f};
  CHECK_THROWS_AS(weft::cpu::bce_forward(2, p.data(), t.data()), std::out_of_range);
  CHECK_THROWS_WITH(weft::cpu::bce_forward(2, p.data(), t.data()),
                    Catch::Contains("element 1") && Catch::Contains("[0, 1]"));
}

TEST_CASE("cpu loss: bce backward matches central differences", "[kernels][loss][cpu]") {
  // Probabilities kept in [0.2, 0.8], away from the clamps and the 1e-12 floor.
  const std::vector<float> p = random_vector(8, 0.2f, 0.8f, 231);
  const std::vector<float> t = random_vector(8, 0, 1, 232);
  std::vector<float> grad(p.size(), kNaN);
  weft::cpu::bce_backward(8, p.data(), t.data(), kGradScale, grad.data());
  auto loss = [&](const std::vector<float>& in) {
    return weft::cpu::bce_forward(8, in.data(), t.data());
  };
  check_all_close(grad, numeric_gradient(loss, p), 3e-4, 2e-3);
}

// ---- mean squared error ------------------------------------------------------------------------

TEST_CASE("cpu loss: mse by hand and its backward", "[kernels][loss][cpu]") {
  // ((1-1)^2 + (2-0)^2 + (3-5)^2) / 3 = 8/3; gradient 2 (x - t) / 3 * grad_scale.
  const std::vector<float> x = {1.0f, 2.0f, 3.0f}, t = {1.0f, 0.0f, 5.0f};
  CHECK(close(weft::cpu::mse_forward(3, x.data(), t.data()), 8.0 / 3.0, 1e-7, 1e-6));
  std::vector<float> grad(3, kNaN);
  weft::cpu::mse_backward(3, x.data(), t.data(), 1.5f, grad.data());
  check_all_close(grad, {0.0, 2.0, -2.0}, 1e-7, 1e-6);  // 2 * (0, 2, -2) / 3 * 1.5

  const std::vector<float> y = random_vector(10, -2, 2, 241);
  const std::vector<float> target = random_vector(10, -2, 2, 242);
  std::vector<float> dy(10, kNaN);
  weft::cpu::mse_backward(10, y.data(), target.data(), kGradScale, dy.data());
  auto loss = [&](const std::vector<float>& in) {
    return weft::cpu::mse_forward(10, in.data(), target.data());
  };
  check_all_close(dy, numeric_gradient(loss, y), 3e-4, 2e-3);
}

TEST_CASE("cpu loss: large batches sum deterministically across threads", "[kernels][loss][cpu]") {
  // 300k elements take the parallel path; the value must match a serial double loop.
  const size_t n = 300000;
  const std::vector<float> x = random_vector(n, -3, 3, 251);
  const std::vector<float> t = random_vector(n, 0, 1, 252);
  double expected = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double xi = x[i];
    expected += std::max(xi, 0.0) - xi * t[i] + std::log1p(std::exp(-std::abs(xi)));
  }
  expected /= static_cast<double>(n);
  const float got = weft::cpu::bce_with_logits_forward(static_cast<int64_t>(n), x.data(), t.data());
  CAPTURE(got, expected);
  CHECK(close(got, expected, 0.0, 1e-6));
  CHECK(got == weft::cpu::bce_with_logits_forward(static_cast<int64_t>(n), x.data(), t.data()));
}
