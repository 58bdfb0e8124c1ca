// The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian
// (mean and covariance): how the DCGAN app (apps/dcgan) measures how close generated images
// are to real ones, instead of judging sample grids by eye.
//
// For Gaussians N(m1, S1) and N(m2, S2) the Fréchet (2-Wasserstein) distance squared is
//
//   d^2 = |m1 - m2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).
//
// S1 S2 is not symmetric, but it is similar to the symmetric positive semi-definite matrix
// S1^(1/2) S2 S1^(1/2) (conjugate by S1^(1/2)), so both have the same eigenvalues and
//   Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)).
// Each square root here is of a symmetric matrix: eigendecompose A = V diag(l) V^T (Jacobi
// rotations, below) and take V diag(sqrt(l)) V^T, with eigenvalues that rounding made slightly
// negative clipped to 0. Everything is computed in double.
//
// This is the formula of the FID (Heusel et al., 2017), but what the number means depends on the
// feature space. The apps use the penultimate layer of weft's own Fashion-MNIST classifier, not
// Inception-v3's pool features: a "Fréchet distance in judge features" is comparable only with
// other numbers from the same judge checkpoint, never with published FID scores.
//
// The app reports d^2, as the FID does (the name says "distance"; the number is its square).
#pragma once

#include <cstdint>
#include <vector>

namespace weft::report {

// Mean and covariance of `count` feature vectors of `dim` numbers.
struct GaussianStats {
  int64_t dim = 0;
  int64_t count = 0;
  std::vector<double> mean;        // [dim]
  std::vector<double> covariance;  // [dim * dim], row-major, unbiased (divides by count - 1)
};

// rows: count * dim values, one feature vector after another. count must be at least 2.
GaussianStats gaussian_stats(const std::vector<float>& rows, int64_t count, int64_t dim);

// A = V diag(values) V^T for a symmetric n x n matrix A (row-major). Eigenvectors are the
// columns of `vectors` (row-major n x n). Values are sorted in decreasing order.
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<double> vectors;
  int sweeps = 0;  // Jacobi sweeps it took
};

// Cyclic Jacobi: sweep over every off-diagonal pair (p, q), rotating it to zero, until the
// off-diagonal part is negligible against the whole matrix. Quadratic convergence; a few sweeps
// for the sizes used here (dim 32 to a few hundred). The input must be symmetric (checked).
SymmetricEigen symmetric_eigen(const std::vector<double>& matrix, int64_t n);

// The symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues,
// which only rounding produces in a covariance, count as 0).
std::vector<double> symmetric_sqrt(const std::vector<double>& matrix, int64_t n);

struct FrechetDistance {
  double value = 0;            // d^2 = mean_term + covariance_term
  double mean_term = 0;        // |m1 - m2|^2
  double covariance_term = 0;  // Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), >= 0 up to rounding
};

FrechetDistance frechet_distance(const GaussianStats& a, const GaussianStats& b);

}  // namespace weft::report
