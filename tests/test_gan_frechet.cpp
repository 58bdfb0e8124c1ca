// The Fréchet distance of engine/report/frechet.h on Gaussians whose answer is known by hand:
//   diagonal covariances: d^2 = |m1 - m2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
//   2 x 2 covariances that do not commute: Tr(sqrt(M)) = sqrt(Tr M + 2 sqrt(det M)) for a
//     2 x 2 matrix M with non-negative eigenvalues, applied to M = S1 S2
// plus 0 for identical samples, estimates from samples approaching the closed form, and the
// Jacobi eigendecomposition and matrix square root underneath.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "engine/random.h"
#include "engine/report/frechet.h"
#include "engine_test_util.h"

namespace {
using weft::report::GaussianStats;

GaussianStats known(std::vector<double> mean, std::vector<double> covariance) {
  GaussianStats s;
  s.dim = static_cast<int64_t>(mean.size());
  s.count = 1000;
  s.mean = std::move(mean);
  s.covariance = std::move(covariance);
  return s;
}

std::vector<double> diagonal(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<double> m(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) m[i * n + i] = values[i];
  return m;
}

// count samples of N(mean, diag(variance)), one row each.
std::vector<float> normal_rows(int64_t count, const std::vector<double>& mean,
                               const std::vector<double>& variance, uint64_t seed) {
  weft::Generator rng(seed);
  const size_t dim = mean.size();
  const std::vector<float> z = rng.normal(count * static_cast<int64_t>(dim), 0.0f, 1.0f);
  std::vector<float> rows(z.size());
  for (size_t i = 0; i < z.size(); ++i) {
    const size_t d = i % dim;
    rows[i] = static_cast<float>(mean[d] + std::sqrt(variance[d]) * z[i]);
  }
  return rows;
}
}  // namespace

TEST_CASE("frechet: diagonal Gaussians give the hand-computed value", "[gan][frechet]") {
  // m1 - m2 = (1, -2, 0): 5. Variances 4 vs 1, 9 vs 9, 1 vs 0.25:
  // (2 - 1)^2 + 0 + (1 - 0.5)^2 = 1.25. Total 6.25.
  const GaussianStats a = known({1, 0, 3}, diagonal({4, 9, 1}));
  const GaussianStats b = known({0, 2, 3}, diagonal({1, 9, 0.25}));
  const auto d = weft::report::frechet_distance(a, b);
  CHECK(d.mean_term == Approx(5.0).margin(1e-12));
  CHECK(d.covariance_term == Approx(1.25).margin(1e-10));
  CHECK(d.value == Approx(6.25).margin(1e-10));
  // Symmetric in its arguments.
  CHECK(weft::report::frechet_distance(b, a).value == Approx(6.25).margin(1e-10));
}

TEST_CASE("frechet: 2x2 covariances that do not commute", "[gan][frechet]") {
  const std::vector<double> s1 = {2.0, 1.0, 1.0, 2.0};   // eigenvalues 3 and 1
  const std::vector<double> s2 = {1.0, 0.0, 0.0, 4.0};   // S1 S2 != S2 S1
  // M = S1 S2 = [[2, 4], [1, 8]]: Tr 10, det 12, so Tr(sqrt(M)) = sqrt(10 + 2 sqrt(12)).
  const double trace_root = std::sqrt(10.0 + 2.0 * std::sqrt(12.0));
  const double expected = (2.0 + 2.0) + (1.0 + 4.0) - 2.0 * trace_root;
  const auto d = weft::report::frechet_distance(known({0, 0}, s1), known({0, 0}, s2));
  CHECK(d.mean_term == 0.0);
  CHECK(d.value == Approx(expected).margin(1e-10));
}

TEST_CASE("frechet: identical samples are at distance 0", "[gan][frechet]") {
  const std::vector<float> rows = normal_rows(400, {1, -2, 0.5, 3, 0, 0}, {1, 4, 0.1, 2, 9, 1}, 7);
  const GaussianStats s = weft::report::gaussian_stats(rows, 400, 6);
  const auto d = weft::report::frechet_distance(s, s);
  CHECK(std::fabs(d.value) < 1e-9);
  CHECK(d.mean_term == 0.0);
}

TEST_CASE("frechet: estimates from samples approach the closed form", "[gan][frechet]") {
  const std::vector<double> mean_a = {0, 0, 0, 0}, mean_b = {1, 0, -1, 0.5};
  const std::vector<double> var_a = {1, 1, 4, 0.25}, var_b = {4, 1, 1, 0.25};
  // |m|^2 = 1 + 1 + 0.25 = 2.25; (1-2)^2 + 0 + (2-1)^2 + 0 = 2.  Total 4.25.
  const int64_t n = 20000;
  const auto a = weft::report::gaussian_stats(normal_rows(n, mean_a, var_a, 1), n, 4);
  const auto b = weft::report::gaussian_stats(normal_rows(n, mean_b, var_b, 2), n, 4);
  CHECK(weft::report::frechet_distance(a, b).value == Approx(4.25).epsilon(0.05));
}

TEST_CASE("frechet: gaussian_stats computes the mean and the unbiased covariance",
          "[gan][frechet]") {
  // Rows (1, 2), (3, 4), (5, 0): mean (3, 2); deviations x (-2, 0, 2), y (0, 2, -2);
  // var x = 8 / 2 = 4, var y = 4, cov = -4 / 2 = -2.
  const auto s = weft::report::gaussian_stats({1, 2, 3, 4, 5, 0}, 3, 2);
  CHECK(s.mean == std::vector<double>{3, 2});
  CHECK(s.covariance == std::vector<double>{4, -2, -2, 4});
  CHECK_THAT(weft::test::error_message([] { weft::report::gaussian_stats({1, 2}, 1, 2); }),
             Catch::Contains("at least 2 vectors"));
}

TEST_CASE("frechet: Jacobi eigendecomposition and the symmetric square root", "[gan][frechet]") {
  const int64_t n = 5;
  // A symmetric positive definite matrix: B B^T + I for a fixed B.
  std::vector<double> b = {1, 2, 0, -1, 3, 0, 1, 4, 2, -2, 5, 1, 0, 1, 1,
                           -3, 0, 2, 2, 1, 1, 1, 1, 0, 2};
  std::vector<double> a(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < n; ++k) a[i * n + j] += b[i * n + k] * b[j * n + k];
    }
    a[i * n + i] += 1.0;
  }
  const auto eigen = weft::report::symmetric_eigen(a, n);
  for (int64_t i = 1; i < n; ++i) CHECK(eigen.values[i - 1] >= eigen.values[i]);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double rebuilt = 0.0, dot = 0.0;
      for (int64_t e = 0; e < n; ++e) {
        rebuilt += eigen.vectors[i * n + e] * eigen.values[e] * eigen.vectors[j * n + e];
        dot += eigen.vectors[e * n + i] * eigen.vectors[e * n + j];  // V^T V
      }
      CHECK(rebuilt == Approx(a[i * n + j]).margin(1e-9));
      CHECK(dot == Approx(i == j ? 1.0 : 0.0).margin(1e-12));
    }
  }
  const std::vector<double> root = weft::report::symmetric_sqrt(a, n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double square = 0.0;
      for (int64_t k = 0; k < n; ++k) square += root[i * n + k] * root[k * n + j];
      CHECK(square == Approx(a[i * n + j]).margin(1e-9));
      CHECK(root[i * n + j] == Approx(root[j * n + i]).margin(1e-12));
    }
  }
  CHECK_THAT(weft::test::error_message([] {
               weft::report::symmetric_eigen({1, 2, 3, 1}, 2);
             }),
             Catch::Contains("not symmetric"));
}
