// CPU reference for softmax and log-softmax over the rows of a [rows, cols] matrix, forward and
// backward. Each row is independent, so rows are spread over threads.
//
// Stability: softmax(x) = softmax(x - m) for any constant m. Taking m = max(x) makes every
// exponent <= 0, so exp never overflows and the largest term is exactly 1 (the sum is >= 1 and
// its log is never -inf). Row sums are accumulated in double.
#include "kernels/cpu/softmax.h"

#include <cmath>
#include <cstdint>

namespace weft::cpu {
namespace {

constexpr int64_t kParallelThreshold = 1 << 15;

float row_max(int cols, const float* x) {
  float m = x[0];
  for (int j = 1; j < cols; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

}  // namespace

void softmax_forward(int rows, int cols, const float* x, float* y) {
  if (cols <= 0) return;
  const int64_t count = static_cast<int64_t>(rows) * cols;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * cols;
    float* yr = y + static_cast<int64_t>(r) * cols;
    const float m = row_max(cols, xr);
    double total = 0.0;
    for (int j = 0; j < cols; ++j) {
      yr[j] = std::exp(xr[j] - m);
      total += yr[j];
    }
    const float inv = static_cast<float>(1.0 / total);
    for (int j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx) {
  if (cols <= 0) return;
  const int64_t count = static_cast<int64_t>(rows) * cols;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int r = 0; r < rows; ++r) {
    const int64_t base = static_cast<int64_t>(r) * cols;
    double dot = 0.0;  // sum_j dy_j y_j
    for (int j = 0; j < cols; ++j) dot += static_cast<double>(dy[base + j]) * y[base + j];
    const float d = static_cast<float>(dot);
    for (int j = 0; j < cols; ++j) dx[base + j] = y[base + j] * (dy[base + j] - d);
  }
}

void log_softmax_forward(int rows, int cols, const float* x, float* y) {
  if (cols <= 0) return;
  const int64_t count = static_cast<int64_t>(rows) * cols;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * cols;
    float* yr = y + static_cast<int64_t>(r) * cols;
    const float m = row_max(cols, xr);
    double total = 0.0;
    for (int j = 0; j < cols; ++j) total += std::exp(static_cast<double>(xr[j] - m));
    // log_softmax(x)_j = x_j - m - log(sum_k exp(x_k - m))
    const double log_total = std::log(total);
    for (int j = 0; j < cols; ++j) yr[j] = static_cast<float>((xr[j] - m) - log_total);
  }
}

void log_softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx) {
  if (cols <= 0) return;
  const int64_t count = static_cast<int64_t>(rows) * cols;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int r = 0; r < rows; ++r) {
    const int64_t base = static_cast<int64_t>(r) * cols;
    double total = 0.0;  // sum_j dy_j
    for (int j = 0; j < cols; ++j) total += dy[base + j];
    const float s = static_cast<float>(total);
    // exp(y) is the softmax itself, recovered from the stored log-probabilities.
    for (int j = 0; j < cols; ++j) dx[base + j] = dy[base + j] - std::exp(y[base + j]) * s;
  }
}

}  // namespace weft::cpu
