// Gaussian statistics of feature vectors, Jacobi eigendecomposition and the Fréchet distance
// (see frechet.h).
#include "engine/report/frechet.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/error.h"

namespace weft::report {
namespace {

using Matrix = std::vector<double>;  // n x n, row-major

Matrix multiply(const Matrix& a, const Matrix& b, int64_t n) {
  Matrix c(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < n; ++k) {
      const double a_ik = a[i * n + k];
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += a_ik * b[k * n + j];
    }
  }
  return c;
}

// (A + A^T) / 2: removes the asymmetry that rounding leaves in a product like S^½ T S^½.
Matrix symmetrized(const Matrix& a, int64_t n) {
  Matrix s(a.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) s[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  }
  return s;
}

double trace(const Matrix& a, int64_t n) {
  double t = 0.0;
  for (int64_t i = 0; i < n; ++i) t += a[i * n + i];
  return t;
}

void check_square(const Matrix& a, int64_t n, const char* what) {
  WEFT_CHECK(n >= 1 && static_cast<int64_t>(a.size()) == n * n, what, ": expected ", n * n,
             " numbers for a ", n, " x ", n, " matrix, got ", a.size());
}

}  // namespace

GaussianStats gaussian_stats(const std::vector<float>& rows, int64_t count, int64_t dim) {
  WEFT_CHECK(count >= 2 && dim >= 1, "gaussian_stats needs at least 2 vectors of at least 1 "
             "number, got ", count, " x ", dim);
  WEFT_CHECK(static_cast<int64_t>(rows.size()) == count * dim, "gaussian_stats: ", count,
             " vectors of ", dim, " numbers are ", count * dim, " values, got ", rows.size());
  GaussianStats stats;
  stats.dim = dim;
  stats.count = count;
  stats.mean.assign(static_cast<size_t>(dim), 0.0);
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t d = 0; d < dim; ++d) stats.mean[d] += rows[r * dim + d];
  }
  for (double& m : stats.mean) m /= static_cast<double>(count);

  // Covariance from the centred rows, upper triangle accumulated and mirrored.
  stats.covariance.assign(static_cast<size_t>(dim * dim), 0.0);
  std::vector<double> centred(static_cast<size_t>(dim));
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t d = 0; d < dim; ++d) centred[d] = rows[r * dim + d] - stats.mean[d];
    for (int64_t i = 0; i < dim; ++i) {
      for (int64_t j = i; j < dim; ++j) stats.covariance[i * dim + j] += centred[i] * centred[j];
    }
  }
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t j = i; j < dim; ++j) {
      const double c = stats.covariance[i * dim + j] / static_cast<double>(count - 1);
      stats.covariance[i * dim + j] = c;
      stats.covariance[j * dim + i] = c;
    }
  }
  return stats;
}

SymmetricEigen symmetric_eigen(const std::vector<double>& matrix, int64_t n) {
  check_square(matrix, n, "symmetric_eigen");
  double largest = 0.0;
  for (double v : matrix) largest = std::max(largest, std::fabs(v));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      WEFT_CHECK(std::fabs(matrix[i * n + j] - matrix[j * n + i]) <= 1e-9 * largest,
                 "symmetric_eigen: the matrix is not symmetric at (", i, ", ", j, "): ",
                 matrix[i * n + j], " vs ", matrix[j * n + i]);
    }
  }

  Matrix a = matrix;
  Matrix v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  double total = 0.0;
  for (double x : a) total += x * x;

  SymmetricEigen result;
  constexpr int kMaxSweeps = 100;
  for (; result.sweeps < kMaxSweeps; ++result.sweeps) {
    double off_diagonal = 0.0;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) off_diagonal += 2.0 * a[p * n + q] * a[p * n + q];
    }
    if (off_diagonal <= 1e-30 * total) break;

    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double a_pq = a[p * n + q];
        if (a_pq == 0.0) continue;
        // The rotation J (c at (p,p) and (q,q), s at (p,q), -s at (q,p)) that zeroes a_pq in
        // J^T A J: t = tan(angle) is the smaller root of t^2 + 2 theta t - 1 = 0.
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a_pq);
        const double t = std::isinf(theta * theta)
                             ? 0.5 / theta
                             : std::copysign(1.0, theta) /
                                   (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p and q)
          const double kp = a[k * n + p], kq = a[k * n + q];
          a[k * n + p] = c * kp - s * kq;
          a[k * n + q] = s * kp + c * kq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- J^T A (rows p and q)
          const double pk = a[p * n + k], qk = a[q * n + k];
          a[p * n + k] = c * pk - s * qk;
          a[q * n + k] = s * pk + c * qk;
        }
        for (int64_t k = 0; k < n; ++k) {  // V <- V J: the columns collect the eigenvectors
          const double kp = v[k * n + p], kq = v[k * n + q];
          v[k * n + p] = c * kp - s * kq;
          v[k * n + q] = s * kp + c * kq;
        }
      }
    }
  }
  WEFT_CHECK(result.sweeps < kMaxSweeps, "symmetric_eigen: no convergence after ", kMaxSweeps,
             " Jacobi sweeps (a matrix with NaN or infinite entries?)");

  // Sort by decreasing eigenvalue, moving the eigenvector columns along.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return a[x * n + x] > a[y * n + y]; });
  result.values.resize(static_cast<size_t>(n));
  result.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    const int64_t from = order[j];
    result.values[j] = a[from * n + from];
    for (int64_t k = 0; k < n; ++k) result.vectors[k * n + j] = v[k * n + from];
  }
  return result;
}

std::vector<double> symmetric_sqrt(const std::vector<double>& matrix, int64_t n) {
  const SymmetricEigen eigen = symmetric_eigen(matrix, n);
  // V diag(sqrt(l)) V^T, one rank-one term per eigenvalue.
  Matrix root(static_cast<size_t>(n * n), 0.0);
  for (int64_t e = 0; e < n; ++e) {
    const double r = std::sqrt(std::max(0.0, eigen.values[e]));
    if (r == 0.0) continue;
    for (int64_t i = 0; i < n; ++i) {
      const double vi = r * eigen.vectors[i * n + e];
      for (int64_t j = 0; j < n; ++j) root[i * n + j] += vi * eigen.vectors[j * n + e];
    }
  }
  return root;
}

FrechetDistance frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  WEFT_CHECK(a.dim == b.dim && a.dim >= 1, "frechet_distance: feature sizes differ (", a.dim,
             " vs ", b.dim, ")");
  const int64_t n = a.dim;
  check_square(a.covariance, n, "frechet_distance (first covariance)");
  check_square(b.covariance, n, "frechet_distance (second covariance)");

  FrechetDistance d;
  for (int64_t i = 0; i < n; ++i) {
    const double diff = a.mean[i] - b.mean[i];
    d.mean_term += diff * diff;
  }
  const Matrix root_a = symmetric_sqrt(symmetrized(a.covariance, n), n);
  const Matrix middle = symmetrized(multiply(multiply(root_a, b.covariance, n), root_a, n), n);
  double trace_root = 0.0;
  for (double l : symmetric_eigen(middle, n).values) trace_root += std::sqrt(std::max(0.0, l));
  d.covariance_term = trace(a.covariance, n) + trace(b.covariance, n) - 2.0 * trace_root;
  d.value = d.mean_term + d.covariance_term;
  return d;
}

}  // namespace weft::report
