// A central-difference gradient checker for weft's ops, after Caffe's GradientChecker
// (include/caffe/test/test_gradient_check_util.hpp). Used by tests/test_gradcheck.cpp.
//
// For an op y = f(x_1, ..., x_k) the checker compares two numbers for every element x of every
// input that requires a gradient:
//   analytic  dL/dx from the engine's backward(), where L = sum(r * y) for a fixed random
//             projection r of y's shape (passing r as the seed of backward() gives exactly
//             the gradient of that L, so the check involves no op other than the one tested);
//   numeric   (L(x + h) - L(x - h)) / (2h), with L summed in double from float forwards.
// They must agree within threshold * max(|analytic|, |numeric|, 1).
//
// Why h = 1e-2 (float32). The numeric derivative has two errors:
//   truncation  about h^2 / 6 * |L'''|: 2e-5 for h = 1e-2 when L''' is of order 1, 2e-7 for 1e-3;
//   rounding    the float forward rounds each output with relative error about 6e-8, so L+ and
//               L- are each off by about 6e-8 * sum|r * y| (only the outputs that depend on x
//               differ between the two forwards); divided by 2h that is 3e-6 * sum|r * y| for
//               h = 1e-2 but 3e-5 * sum|r * y| for h = 1e-3.
// With outputs of order 1 and tens of them depending on one input, h = 1e-3 leaves rounding
// noise near 1e-3, the size of the threshold, while h = 1e-2 keeps both errors near 1e-5, two
// orders below it. Caffe makes the same choice (step 1e-2, threshold 1e-3) for float. The
// denominator is the difference of the two perturbed float values as stored, not 2h, since
// x + h is itself rounded to float.
//
// Kinks. Where f is not differentiable (ReLU at 0) the two sides disagree and the central
// difference is meaningless. As in Caffe, an element whose value lies within `kink_range` of
// `kink` is skipped and counted (options.kink_range > h, so a perturbation of a checked element
// never crosses the kink). Max pooling's kinks are ties inside a window; its tests build inputs
// whose values in a window differ by more than 2h, so no perturbation can change the winner.
//
// Randomness. The op is called with a Generator that is reset to the same (seed, offset)
// before every forward, so dropout draws the same mask in the analytic pass and in all the
// perturbed forwards.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace weft::test {

// The op under test: its inputs (the tensors to differentiate, in order) and a generator that
// the checker reseeds before every call. Non-differentiable inputs (class labels, options) are
// captured by the closure.
using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>& inputs, Generator& rng)>;

struct GradcheckOptions {
  double step = 1e-2;       // h (see the comment at the top)
  double threshold = 1e-3;  // relative to max(|analytic|, |numeric|, 1)
  // Elements of a checked input with |x - kink| <= kink_range are skipped (when has_kink).
  bool has_kink = false;
  double kink = 0.0;
  double kink_range = 0.0;
  uint64_t projection_seed = 2024;  // for r
  uint64_t forward_seed = 77;       // the generator handed to the op
};

struct GradcheckMismatch {
  size_t input = 0;
  int64_t element = 0;
  std::string index;  // "[n, c, h, w]"
  double analytic = 0.0, numeric = 0.0;
};

struct GradcheckReport {
  int64_t checked = 0;  // elements compared
  int64_t skipped = 0;  // elements skipped at a kink
  int64_t mismatch_count = 0;
  std::vector<GradcheckMismatch> first_mismatches;  // the first ten
  std::vector<size_t> inputs_without_gradient;      // checked inputs backward never reached
  double worst_ratio = 0.0;  // max over elements of |a - n| / (threshold * scale): < 1 passes

  std::string describe() const {
    std::ostringstream out;
    out << checked << " elements checked, " << skipped << " skipped at kinks, " << mismatch_count
        << " mismatches, worst error " << worst_ratio << " of the tolerance";
    for (size_t input : inputs_without_gradient) out << "\n  input " << input << ": no gradient";
    for (const GradcheckMismatch& m : first_mismatches) {
      out << "\n  input " << m.input << " element " << m.index << " (flat " << m.element
          << "): analytic " << m.analytic << ", numeric " << m.numeric;
    }
    return out.str();
  }
};

namespace gradcheck_detail {

inline std::string index_string(const Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(index);
}

// L = sum(r * y), in double.
inline double projected(const Tensor& y, const std::vector<float>& r) {
  const std::vector<float> values = y.to_vector<float>();
  double total = 0.0;
  for (size_t i = 0; i < values.size(); ++i) total += static_cast<double>(r[i]) * values[i];
  return total;
}

}  // namespace gradcheck_detail

// Runs the comparison and returns what it found; asserts nothing (check_gradients asserts), so
// a test can also show that a wrong backward is caught. Inputs must be CPU float tensors; the
// ones with requires_grad are checked, and their values are restored afterwards.
inline GradcheckReport compute_gradcheck(const GradcheckFunction& f, std::vector<Tensor> inputs,
                                         const GradcheckOptions& options = {}) {
  using gradcheck_detail::projected;
  GradcheckReport report;
  Generator rng(options.forward_seed);
  auto forward = [&]() {
    rng.set_state(options.forward_seed, 0);
    return f(inputs, rng);
  };

  // Analytic pass: backward() seeded with r is the gradient of L = sum(r * y).
  for (Tensor& x : inputs) x.zero_grad();
  const Tensor y = forward();
  Generator projection_rng(options.projection_seed);
  const std::vector<float> r = projection_rng.uniform(y.numel(), -1.0f, 1.0f);
  y.backward(Tensor::from_vector(r, y.shape()));

  // Numeric pass: two forwards per element, without recording a tape.
  NoGradGuard no_tape;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    if (!x.grad().defined()) {
      report.inputs_without_gradient.push_back(i);
      continue;
    }
    const std::vector<float> analytic = x.grad().to_vector<float>();
    float* values = x.data<float>();
    for (int64_t e = 0; e < x.numel(); ++e) {
      const float original = values[e];
      if (options.has_kink && std::fabs(original - options.kink) <= options.kink_range) {
        ++report.skipped;
        continue;
      }
      const float plus = static_cast<float>(original + options.step);
      const float minus = static_cast<float>(original - options.step);
      values[e] = plus;
      const double loss_plus = projected(forward(), r);
      values[e] = minus;
      const double loss_minus = projected(forward(), r);
      values[e] = original;

      const double numeric = (loss_plus - loss_minus) / (static_cast<double>(plus) - minus);
      const double a = analytic[static_cast<size_t>(e)];
      const double scale = std::max({std::fabs(a), std::fabs(numeric), 1.0});
      const double ratio = std::fabs(a - numeric) / (options.threshold * scale);
      ++report.checked;
      // Written so that a NaN on either side counts as a mismatch.
      if (!(ratio <= 1.0)) {
        if (report.first_mismatches.size() < 10) {
          report.first_mismatches.push_back(
              {i, e, gradcheck_detail::index_string(x.shape(), e), a, numeric});
        }
        ++report.mismatch_count;
      }
      if (!(ratio <= report.worst_ratio)) report.worst_ratio = ratio;
    }
  }
  return report;
}

// compute_gradcheck, then assert that every checked input got a gradient, that some elements
// were compared, and that none disagreed. Returns the report for further assertions (skips).
inline GradcheckReport check_gradients(const std::string& name, const GradcheckFunction& f,
                                       std::vector<Tensor> inputs,
                                       const GradcheckOptions& options = {}) {
  const GradcheckReport report = compute_gradcheck(f, std::move(inputs), options);
  INFO(name << ": " << report.describe());
  CHECK(report.inputs_without_gradient.empty());
  CHECK(report.checked > 0);
  CHECK(report.mismatch_count == 0);
  return report;
}

}  // namespace weft::test
