// Double-precision sums of float runs at vector speed, for the CPU reference's reductions
// (batch-norm statistics, bias gradients, pooling, sums).
//
// A plain `double sum; for (...) sum += x[i];` is a chain of dependent additions that the
// compiler may not reorder, so it runs one element per addition latency. sum_run asks for
// `omp simd reduction(+ : sum)` instead: one double partial sum per vector lane, the lanes added
// at the end. The order is fixed for a given build (the same input gives the same bits on
// every run), only different from the serial chain's. Runs shorter than kVectorRun (a
// BatchNorm1d channel, S = 1) are summed plainly: setting up the lanes would cost more.
#pragma once

#include <cstdint>

namespace weft::cpu {

constexpr int64_t kVectorRun = 32;

// sum over i < length of term(i), in double.
// (An `if (simd : ...)` clause instead of the branch kept the lane set-up on short runs: a
// BatchNorm1d forward was 1.6x slower with it.)
template <class Term>
double sum_run(int64_t length, Term term) {
  double sum = 0.0;
  if (length >= kVectorRun) {
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < length; ++i) sum += term(i);
  } else {
    for (int64_t i = 0; i < length; ++i) sum += term(i);
  }
  return sum;
}

// The sums of two terms over the same run in one pass (when the pass is memory-bound, reading
// the inputs once matters more than the arithmetic).
template <class TermA, class TermB>
void sum_run(int64_t length, TermA term_a, TermB term_b, double* sum_a, double* sum_b) {
  double a = 0.0, b = 0.0;
  if (length >= kVectorRun) {
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < length; ++i) {
      a += term_a(i);
      b += term_b(i);
    }
  } else {
    for (int64_t i = 0; i < length; ++i) {
      a += term_a(i);
      b += term_b(i);
    }
  }
  *sum_a = a;
  *sum_b = b;
}

// The sum of x[0 .. length) in double.
inline double sum_run(int64_t length, const float* x) {
  return sum_run(length, [x](int64_t i) { return static_cast<double>(x[i]); });
}

}  // namespace weft::cpu
