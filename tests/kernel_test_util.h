// Helpers shared by the CPU kernel tests: seeded random data, NaN-filled output buffers (so a
// kernel that accumulates into, or forgets to write, an output fails) and an elementwise
// comparison that names the first mismatching indices; operands rounded to a reduced precision;
// a scope that sets the math precision.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/reduced_precision.h"
#include "kernels/selection.h"

namespace weft::test {

inline std::vector<float> random_floats(int64_t count, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& f : v) f = dist(gen);
  return v;
}

// Output buffers start as NaN: any element the kernel does not overwrite stays NaN and fails.
inline std::vector<float> nan_floats(int64_t count) {
  return std::vector<float>(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN());
}

// Checks |got[i] - want[i]| <= abs_tol + rel_tol * |want[i]| for every i. On failure the
// message gives the number of mismatches and the first few of them.
template <typename Want>
void check_close(const char* what, const std::vector<float>& got, const std::vector<Want>& want,
                 double abs_tol = 1e-4, double rel_tol = 1e-4) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  int64_t mismatches = 0;
  std::ostringstream first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double w = static_cast<double>(want[i]);
    const double diff = std::fabs(static_cast<double>(got[i]) - w);
    if (!(diff <= abs_tol + rel_tol * std::fabs(w))) {  // written so that NaN is a mismatch
      if (mismatches < 5) first << "  [" << i << "] got " << got[i] << ", want " << w << "\n";
      ++mismatches;
    }
  }
  INFO(mismatches << " of " << got.size() << " elements differ; first ones:\n" << first.str());
  CHECK(mismatches == 0);
}

// Sum of a[i] * b[i] in double, and of |a[i] * b[i]| for the tolerance of identity checks.
struct Dot {
  double value = 0.0, magnitude = 0.0;
};
inline Dot dot(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  Dot d;
  for (size_t i = 0; i < a.size(); ++i) {
    const double term = static_cast<double>(a[i]) * b[i];
    d.value += term;
    d.magnitude += std::fabs(term);
  }
  return d;
}

// <A u, v> == <u, A^T v> up to float rounding, relative to the size of the terms.
inline void check_adjoint(const char* what, Dot lhs, Dot rhs, double rel_tol = 1e-5) {
  INFO(what << ": lhs " << lhs.value << ", rhs " << rhs.value);
  CHECK(std::fabs(lhs.value - rhs.value) <= rel_tol * (lhs.magnitude + rhs.magnitude) + 1e-6);
}

// A copy of `values` with each rounded to the operand precision of `precision` (tf32 or bf16; fp32
// leaves them as they are), as the tensor-core paths round their operands.
inline std::vector<float> rounded(std::vector<float> values, MathPrecision precision) {
  for (float& v : values) {
    if (precision == MathPrecision::tf32) v = round_to_tf32(v);
    if (precision == MathPrecision::bf16) v = round_to_bf16(v);
  }
  return values;
}

// Sets the math precision (kernels/selection.h) for as long as it lives, then restores the
// previous one.
class PrecisionScope {
 public:
  explicit PrecisionScope(MathPrecision precision) : previous_(math_precision()) {
    set_math_precision(precision);
  }
  ~PrecisionScope() { set_math_precision(previous_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  MathPrecision previous_;
};

}  // namespace weft::test
