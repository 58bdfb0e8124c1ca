// Tests of the CPU elementwise, softmax and dropout kernels (kernels/cpu/elementwise.h,
// softmax.h, dropout.h): known values worked out by hand, every backward against central
// differences of its forward, broadcasting against a naive index walk written here, and the
// dropout mask's reproducibility and statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/dropout.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/softmax.h"
#include "kernels/philox.h"

using weft::Activation;
using weft::BinaryOp;
using weft::BroadcastParams;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// |got - ref| <= abs + rel * |ref|, false for NaN.
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

// Central-difference gradient of L(x) = sum_i dy_i * forward(x)_i, with L evaluated in double.
// The step is taken as the difference of the two perturbed float inputs actually passed, not
// the nominal h, so rounding of x +- h does not bias the quotient.
std::vector<double> numeric_gradient(
    const std::function<std::vector<float>(const std::vector<float>&)>& forward,
    const std::vector<float>& x, const std::vector<float>& dy, float h = 1e-3f) {
  auto loss = [&](const std::vector<float>& input) {
    const std::vector<float> y = forward(input);
    double total = 0.0;
    for (size_t i = 0; i < y.size(); ++i) total += static_cast<double>(dy[i]) * y[i];
    return total;
  };
  std::vector<double> grad(x.size());
  std::vector<float> probe = x;
  for (size_t j = 0; j < x.size(); ++j) {
    const float plus = x[j] + h, minus = x[j] - h;
    probe[j] = plus;
    const double l_plus = loss(probe);
    probe[j] = minus;
    const double l_minus = loss(probe);
    probe[j] = x[j];
    grad[j] = (l_plus - l_minus) / (static_cast<double>(plus) - static_cast<double>(minus));
  }
  return grad;
}

// ---- broadcasting helpers, written independently of the kernel ------------------------------

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Contiguous strides of `shape`, with 0 where the dimension is 1 and `out` is larger.
void broadcast_strides(const Shape& shape, const Shape& out, int64_t* strides) {
  int64_t step = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = (shape[d] == 1 && out[d] != 1) ? 0 : step;
    step *= shape[d];
  }
}

BroadcastParams make_params(const Shape& a, const Shape& b) {
  BroadcastParams p;
  p.ndim = static_cast<int>(a.size());
  Shape out(a.size());
  for (size_t d = 0; d < a.size(); ++d) out[d] = std::max(a[d], b[d]);
  for (int d = 0; d < p.ndim; ++d) p.out_shape[d] = out[d];
  broadcast_strides(a, out, p.a_strides);
  broadcast_strides(b, out, p.b_strides);
  return p;
}

// Index into an input of shape `in` for output element i of shape `out`: coordinates along
// size-1 input dimensions are dropped.
int64_t source_index(int64_t i, const Shape& out, const Shape& in) {
  int64_t index = 0, step = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    const int64_t coord = i % out[d];
    i /= out[d];
    if (in[d] != 1) index += coord * step;
    step *= in[d];
  }
  return index;
}

double apply(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0.0;
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
  }
  return "?";
}

const BinaryOp kAllOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};

// Values in +-[0.5, 1.5]: far enough from 0 to divide by.
std::vector<float> nonzero_vector(size_t n, uint32_t seed) {
  std::vector<float> v = random_vector(n, 0.5f, 1.5f, seed);
  for (size_t i = 0; i < n; i += 2) v[i] = -v[i];
  return v;
}

}  // namespace

// ---- activations -------------------------------------------------------------------------------

TEST_CASE("cpu elementwise: activations at hand-computed points", "[kernels][elementwise][cpu]") {
  struct Case {
    Activation f;
    float alpha, x, y;
  };
  // elu(-1)     = exp(-1) - 1                      = -0.6321205588
  // elu(-2)     = 0.5 (exp(-2) - 1) with alpha 0.5 = -0.4323323584
  // sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75, sigmoid(-ln 3) = 1 / (1 + 3) = 0.25
  // tanh(ln 2)  = (2 - 1/2) / (2 + 1/2) = 0.6
  const Case cases[] = {
      {Activation::relu, 0.0f, -1.0f, 0.0f},
      {Activation::relu, 0.0f, 2.5f, 2.5f},
      {Activation::relu, 0.0f, 0.0f, 0.0f},
      {Activation::leaky_relu, 0.1f, -2.0f, -0.2f},
      {Activation::leaky_relu, 0.1f, 3.0f, 3.0f},
      {Activation::elu, 1.0f, -1.0f, -0.6321205588f},
      {Activation::elu, 0.5f, -2.0f, -0.4323323584f},
      {Activation::elu, 1.0f, 1.5f, 1.5f},
      {Activation::sigmoid, 0.0f, 0.0f, 0.5f},
      {Activation::sigmoid, 0.0f, std::log(3.0f), 0.75f},
      {Activation::sigmoid, 0.0f, -std::log(3.0f), 0.25f},
      {Activation::tanh, 0.0f, 0.0f, 0.0f},
      {Activation::tanh, 0.0f, std::log(2.0f), 0.6f},
      {Activation::tanh, 0.0f, -std::log(2.0f), -0.6f},
  };
  for (const Case& c : cases) {
    float y = kNaN;
    weft::cpu::activation_forward(c.f, c.alpha, 1, &c.x, &y);
    INFO("activation " << static_cast<int>(c.f) << " at x = " << c.x << ": got " << y
                       << ", expected " << c.y);
    CHECK(close(y, c.y, 1e-6, 1e-6));
  }
}

TEST_CASE("cpu elementwise: sigmoid and tanh saturate without overflow",
          "[kernels][elementwise][cpu]") {
  const std::vector<float> x = {-1000.0f, -100.0f, -88.8f, 88.8f, 100.0f, 1000.0f};
  std::vector<float> y(x.size(), kNaN);
  weft::cpu::activation_forward(Activation::sigmoid, 0.0f, 6, x.data(), y.data());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i, x[i], y[i]);
    CHECK(std::isfinite(y[i]));
    CHECK(y[i] >= 0.0f);
    CHECK(y[i] <= 1.0f);
  }
  CHECK(y[0] == 0.0f);
  CHECK(y[1] < 1e-40f);  // exp(-100) = 3.7e-44, a float subnormal
  CHECK(y[4] == 1.0f);
  CHECK(y[5] == 1.0f);
  // Backward from the saturated outputs is exactly zero, not NaN.
  std::vector<float> dx(x.size(), kNaN);
  const std::vector<float> dy(x.size(), 1.0f);
  weft::cpu::activation_backward(Activation::sigmoid, 0.0f, 6, x.data(), y.data(), dy.data(),
                                 dx.data());
  CHECK(dx[0] == 0.0f);
  CHECK(dx[5] == 0.0f);
  weft::cpu::activation_forward(Activation::tanh, 0.0f, 6, x.data(), y.data());
  CHECK(y[0] == -1.0f);
  CHECK(y[5] == 1.0f);
  weft::cpu::activation_forward(Activation::elu, 1.0f, 6, x.data(), y.data());
  CHECK(y[0] == -1.0f);
}

TEST_CASE("cpu elementwise: activation derivative at the kink follows PyTorch",
          "[kernels][elementwise][cpu]") {
  const float x = 0.0f, dy = 2.0f;
  float y = 0.0f, dx = kNaN;
  weft::cpu::activation_backward(Activation::relu, 0.0f, 1, &x, &y, &dy, &dx);
  CHECK(dx == 0.0f);
  weft::cpu::activation_backward(Activation::leaky_relu, 0.1f, 1, &x, &y, &dy, &dx);
  CHECK(dx == Approx(0.2f));
  weft::cpu::activation_backward(Activation::elu, 0.5f, 1, &x, &y, &dy, &dx);
  CHECK(dx == Approx(1.0f));  // negative branch: dy * alpha * exp(0)
}

TEST_CASE("cpu elementwise: activation backward matches central differences",
          "[kernels][elementwise][cpu]") {
  // Tolerance: perturbing x_j changes only y_j, whose float rounding (<= 2^-24 |y|, |y| < 4)
  // enters the quotient as 2 * 6e-8 * 4 / 2e-3 = 2.4e-4; truncation h^2/6 |f'''| < 4e-7 for
  // these smooth functions. abs 5e-4 + rel 1e-3 covers both; a wrong derivative is off by O(1).
  const size_t n = 64;
  std::vector<float> x = random_vector(n, -3.0f, 3.0f, 11);
  // Keep every point at least 0.05 from the kinks of relu, leaky_relu and elu at 0.
  for (float& v : x)
    if (std::abs(v) < 0.05f) v = v < 0.0f ? -0.05f : 0.05f;
  const std::vector<float> dy = random_vector(n, -1.0f, 1.0f, 12);

  struct Case {
    Activation f;
    float alpha;
    const char* name;
  };
  const Case cases[] = {{Activation::relu, 0.0f, "relu"},
                        {Activation::leaky_relu, 0.2f, "leaky_relu"},
                        {Activation::elu, 1.0f, "elu alpha 1"},
                        {Activation::elu, 0.7f, "elu alpha 0.7"},
                        {Activation::sigmoid, 0.0f, "sigmoid"},
                        {Activation::tanh, 0.0f, "tanh"}};
  for (const Case& c : cases) {
    INFO(c.name);
    auto forward = [&](const std::vector<float>& in) {
      std::vector<float> out(in.size());
      weft::cpu::activation_forward(c.f, c.alpha, static_cast<int64_t>(in.size()), in.data(),
                                    out.data());
      return out;
    };
    const std::vector<float> y = forward(x);
    std::vector<float> dx(n, kNaN);
    weft::cpu::activation_backward(c.f, c.alpha, static_cast<int64_t>(n), x.data(), y.data(),
                                   dy.data(), dx.data());
    check_all_close(dx, numeric_gradient(forward, x, dy), 5e-4, 1e-3);
  }
}

TEST_CASE("cpu elementwise: large activations take the parallel path and agree with scalar",
          "[kernels][elementwise][cpu]") {
  const size_t n = 200000;
  const std::vector<float> x = random_vector(n, -5.0f, 5.0f, 13);
  std::vector<float> y(n, kNaN);
  weft::cpu::activation_forward(Activation::tanh, 0.0f, static_cast<int64_t>(n), x.data(),
                                y.data());
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i)
    if (y[i] != std::tanh(x[i])) ++bad;
  CHECK(bad == 0);
}

// ---- broadcasting binary ops ------------------------------------------------------------------

TEST_CASE("cpu elementwise: binary_forward matches a naive broadcast walk",
          "[kernels][elementwise][cpu]") {
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {
      {{4, 3, 2, 2}, {1, 3, 1, 1}},     // per-channel
      {{4, 3}, {1, 3}},                 // row vector
      {{2, 1, 5}, {1, 4, 1}},           // both sides broadcast
      {{3, 5}, {3, 5}},                 // same shape: flat fast path
      {{3, 5}, {1, 1}},                 // scalar b
      {{1, 1}, {3, 5}},                 // scalar a
      {{4, 1}, {4, 6}},                 // column vector
      {{2, 3, 1, 4, 1}, {1, 3, 5, 1, 2}},
      {{1}, {1}},                       // single element
      {{64, 3, 32, 32}, {1, 3, 1, 1}},  // large: parallel rows
      {{300, 257}, {1, 257}},           // large row vector
      {{300, 257}, {300, 257}},         // large same shape
  };
  for (const Case& c : cases) {
    const BroadcastParams p = make_params(c.a, c.b);
    Shape out(c.a.size());
    for (size_t d = 0; d < out.size(); ++d) out[d] = p.out_shape[d];
    const std::vector<float> a = nonzero_vector(static_cast<size_t>(numel(c.a)), 21);
    const std::vector<float> b = nonzero_vector(static_cast<size_t>(numel(c.b)), 22);
    for (BinaryOp op : kAllOps) {
      std::vector<float> got(static_cast<size_t>(numel(out)), kNaN);
      weft::cpu::binary_forward(op, p, a.data(), b.data(), got.data());
      int64_t mismatches = 0, first = -1;
      for (int64_t i = 0; i < numel(out); ++i) {
        const float expected = static_cast<float>(
            apply(op, a[source_index(i, out, c.a)], b[source_index(i, out, c.b)]));
        if (!(got[i] == expected)) {
          if (first < 0) first = i;
          ++mismatches;
        }
      }
      INFO("op " << op_name(op) << ", a numel " << numel(c.a) << ", b numel " << numel(c.b)
                 << ", first mismatch at output index " << first);
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("cpu elementwise: binary_forward with zero dimensions is a scalar op",
          "[kernels][elementwise][cpu]") {
  BroadcastParams p;  // ndim 0
  const float a = 6.0f, b = 4.0f;
  float out = kNaN;
  weft::cpu::binary_forward(BinaryOp::div, p, &a, &b, &out);
  CHECK(out == 1.5f);
}

TEST_CASE("cpu elementwise: reduce_broadcast sums over broadcast dimensions and overwrites",
          "[kernels][elementwise][cpu]") {
  struct Case {
    Shape out, in;
  };
  const Case cases[] = {
      {{4, 3, 2, 2}, {1, 3, 1, 1}}, {{4, 3}, {1, 3}},       {{2, 4, 5}, {2, 1, 5}},
      {{2, 4, 5}, {1, 4, 1}},       {{3, 5}, {3, 5}},       {{3, 5}, {1, 1}},
      {{4, 6}, {4, 1}},             {{2, 3, 5, 4, 2}, {1, 3, 1, 4, 1}},
      {{64, 3, 32, 32}, {1, 3, 1, 1}},  // large, few kept elements
      {{512, 300}, {1, 300}},           // large bias gradient
      {{300, 512}, {300, 1}},
      {{64, 8, 16, 16}, {64, 8, 16, 16}},  // large identity
      {{64, 3, 32, 32}, {1, 1, 1, 1}},     // large reduction to a scalar
  };
  for (const Case& c : cases) {
    BroadcastParams p;
    p.ndim = static_cast<int>(c.out.size());
    for (int d = 0; d < p.ndim; ++d) p.out_shape[d] = c.out[d];
    int64_t strides[weft::kMaxDims] = {};
    broadcast_strides(c.in, c.out, strides);

    const std::vector<float> grad = random_vector(static_cast<size_t>(numel(c.out)), -1, 1, 31);
    std::vector<double> expected(static_cast<size_t>(numel(c.in)), 0.0);
    for (int64_t i = 0; i < numel(c.out); ++i) expected[source_index(i, c.out, c.in)] += grad[i];

    std::vector<float> got(expected.size(), 12345.0f);  // garbage that must be overwritten
    weft::cpu::reduce_broadcast(p, strides, grad.data(), numel(c.in), got.data());
    // Each element sums up to 64 * 1024 values in [-1, 1] in double and rounds once to float.
    INFO("out numel " << numel(c.out) << ", in numel " << numel(c.in));
    check_all_close(got, expected, 1e-5, 1e-6);
  }
}

TEST_CASE("cpu elementwise: broadcasting binary gradients match central differences",
          "[kernels][elementwise][cpu]") {
  // The engine's backward of out = a op b is reduce_broadcast(dy * d out/d a, a_strides) and
  // likewise for b; the local derivatives are formed here with the naive index walk.
  //
  // Tolerance: perturbing one input element changes the M outputs it broadcasts to (M <= 16
  // here), each rounded to float with error <= 2^-24 |out| (|out| <= 3 since |a|, |b| in
  // [0.5, 1.5]) and weighted by |dy| <= 1, so the quotient carries at most
  // 2 * 16 * 6e-8 * 3 / 2e-3 = 2.9e-3 of rounding noise (far less in practice, as the errors do
  // not align). Truncation h^2/6 * |d^3(a/b)/db^3| <= 1e-6/6 * 6 * 1.5 / 0.5^4 = 2.4e-5 per
  // output. abs 3e-3 + rel 1e-3; a wrong local derivative or index errs by O(0.1) or more.
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {{{4, 3, 2, 2}, {1, 3, 1, 1}}, {{4, 3}, {1, 3}}, {{2, 1, 5}, {1, 4, 1}}};
  for (const Case& c : cases) {
    const BroadcastParams p = make_params(c.a, c.b);
    Shape out(c.a.size());
    for (size_t d = 0; d < out.size(); ++d) out[d] = p.out_shape[d];
    const size_t na = static_cast<size_t>(numel(c.a)), nb = static_cast<size_t>(numel(c.b)),
                 no = static_cast<size_t>(numel(out));
    const std::vector<float> a = nonzero_vector(na, 41);
    const std::vector<float> b = nonzero_vector(nb, 42);
    const std::vector<float> dy = random_vector(no, -1.0f, 1.0f, 43);

    for (BinaryOp op : kAllOps) {
      INFO("op " << op_name(op) << ", a numel " << na << ", b numel " << nb);
      std::vector<float> local_a(no), local_b(no);
      for (size_t i = 0; i < no; ++i) {
        const double av = a[source_index(static_cast<int64_t>(i), out, c.a)];
        const double bv = b[source_index(static_cast<int64_t>(i), out, c.b)];
        double da = 1.0, db = 1.0;
        switch (op) {
          case BinaryOp::add: break;
          case BinaryOp::sub: db = -1.0; break;
          case BinaryOp::mul: da = bv; db = av; break;
          case BinaryOp::div: da = 1.0 / bv; db = -av / (bv * bv); break;
        }
        local_a[i] = static_cast<float>(dy[i] * da);
        local_b[i] = static_cast<float>(dy[i] * db);
      }
      std::vector<float> grad_a(na, kNaN), grad_b(nb, kNaN);
      weft::cpu::reduce_broadcast(p, p.a_strides, local_a.data(), static_cast<int64_t>(na),
                                  grad_a.data());
      weft::cpu::reduce_broadcast(p, p.b_strides, local_b.data(), static_cast<int64_t>(nb),
                                  grad_b.data());

      auto forward_in_a = [&](const std::vector<float>& in) {
        std::vector<float> o(no);
        weft::cpu::binary_forward(op, p, in.data(), b.data(), o.data());
        return o;
      };
      auto forward_in_b = [&](const std::vector<float>& in) {
        std::vector<float> o(no);
        weft::cpu::binary_forward(op, p, a.data(), in.data(), o.data());
        return o;
      };
      {
        INFO("gradient with respect to a");
        check_all_close(grad_a, numeric_gradient(forward_in_a, a, dy), 3e-3, 1e-3);
      }
      {
        INFO("gradient with respect to b");
        check_all_close(grad_b, numeric_gradient(forward_in_b, b, dy), 3e-3, 1e-3);
      }
    }
  }
}

// ---- scalar helpers ---------------------------------------------------------------------------

TEST_CASE("cpu elementwise: affine, axpy_accumulate, fill", "[kernels][elementwise][cpu]") {
  for (size_t n : {size_t{5}, size_t{100000}}) {
    CAPTURE(n);
    const std::vector<float> x = random_vector(n, -2.0f, 2.0f, 51);
    std::vector<float> y(n, kNaN);
    weft::cpu::affine(static_cast<int64_t>(n), 3.0f, -0.5f, x.data(), y.data());
    std::vector<double> expected(n);
    for (size_t i = 0; i < n; ++i) expected[i] = 3.0 * x[i] - 0.5;
    check_all_close(y, expected, 1e-6, 1e-6);

    std::vector<float> acc(n, 1.0f);
    weft::cpu::axpy_accumulate(static_cast<int64_t>(n), -2.0f, x.data(), acc.data());
    for (size_t i = 0; i < n; ++i) expected[i] = 1.0 - 2.0 * x[i];
    check_all_close(acc, expected, 1e-6, 1e-6);

    weft::cpu::fill(static_cast<int64_t>(n), 7.25f, y.data());
    int64_t wrong = 0;
    for (float v : y) wrong += v != 7.25f;
    CHECK(wrong == 0);
  }
}

TEST_CASE("cpu elementwise: sum accumulates in double", "[kernels][elementwise][cpu]") {
  // 2^24 + 1000 ones: a float accumulator stalls at 2^24 (adding 1 rounds back down), a double
  // one gets 16778216 exactly.
  std::vector<float> x(1001, 1.0f);
  x[0] = 16777216.0f;
  CHECK(weft::cpu::sum(static_cast<int64_t>(x.size()), x.data()) == 16778216.0);
  CHECK(weft::cpu::sum(0, x.data()) == 0.0);

  // A large sum, spread over threads, against a serial double loop.
  const std::vector<float> y = random_vector(1000003, -1.0f, 1.0f, 52);
  double expected = 0.0;
  for (float v : y) expected += v;
  const double got = weft::cpu::sum(static_cast<int64_t>(y.size()), y.data());
  CAPTURE(got, expected);
  CHECK(close(got, expected, 1e-9, 1e-12));
}

// ---- softmax ----------------------------------------------------------------------------------

TEST_CASE("cpu softmax: hand-computed rows, shifted rows and huge logits",
          "[kernels][softmax][cpu]") {
  // exp of [0, ln 2, ln 3] is [1, 2, 3], sum 6: softmax = [1/6, 2/6, 3/6].
  // Adding 1000 (or any constant) to a row leaves it unchanged; naive exp(1000) would overflow.
  // [-inf-like, 0]: a very negative logit gets probability ~0 without NaN.
  const float ln2 = std::log(2.0f), ln3 = std::log(3.0f);
  const std::vector<float> x = {0.0f,    ln2,           ln3,           1000.0f, 1000.0f + ln2,
                                1000.0f + ln3, -1000.0f, -1000.0f + ln2, -1000.0f + ln3};
  std::vector<float> y(9, kNaN);
  weft::cpu::softmax_forward(3, 3, x.data(), y.data());
  // 1000 + ln 2 rounds in float (ulp(1000) = 6.1e-5), so those rows are only that accurate.
  const std::vector<double> expected = {1.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 6, 2.0 / 6,
                                        3.0 / 6, 1.0 / 6, 2.0 / 6, 3.0 / 6};
  check_all_close(y, expected, 1e-4, 1e-4);
  for (int j = 0; j < 3; ++j) CHECK(close(y[j], expected[j], 1e-7, 1e-6));

  // log_softmax = log of the above: [ln(1/6), ln(1/3), ln(1/2)] = [-1.7918, -1.0986, -0.6931].
  weft::cpu::log_softmax_forward(3, 3, x.data(), y.data());
  const std::vector<double> log_expected = {
      -1.791759469228055, -1.0986122886681098, -0.6931471805599453,
      -1.791759469228055, -1.0986122886681098, -0.6931471805599453,
      -1.791759469228055, -1.0986122886681098, -0.6931471805599453};
  check_all_close(y, log_expected, 2e-4, 1e-4);
  for (int j = 0; j < 3; ++j) CHECK(close(y[j], log_expected[j], 1e-6, 1e-6));

  // One dominant logit: [0, -200] -> [1, ~1e-87 (0 in float)]; log_softmax is exactly [0, -200].
  const std::vector<float> z = {0.0f, -200.0f};
  std::vector<float> s(2, kNaN);
  weft::cpu::softmax_forward(1, 2, z.data(), s.data());
  CHECK(s[0] == 1.0f);
  CHECK(s[1] == 0.0f);
  weft::cpu::log_softmax_forward(1, 2, z.data(), s.data());
  CHECK(s[0] == 0.0f);
  CHECK(s[1] == -200.0f);
}

TEST_CASE("cpu softmax: rows of a large matrix sum to one", "[kernels][softmax][cpu]") {
  const int rows = 1000, cols = 100;
  const std::vector<float> x = random_vector(static_cast<size_t>(rows) * cols, -20, 20, 61);
  std::vector<float> y(x.size(), kNaN);
  weft::cpu::softmax_forward(rows, cols, x.data(), y.data());
  for (int r = 0; r < rows; ++r) {
    double total = 0.0;
    for (int j = 0; j < cols; ++j) total += y[static_cast<size_t>(r) * cols + j];
    if (!close(total, 1.0, 1e-5, 0.0)) {
      INFO("row " << r << " sums to " << total);
      CHECK(false);
    }
  }
}

TEST_CASE("cpu softmax: backward matches central differences", "[kernels][softmax][cpu]") {
  // Tolerance: perturbing x_j changes the whole row (5 outputs), each rounded to float:
  // softmax |y| <= 1 gives 2 * 5 * 6e-8 / 2e-3 = 3e-4; log_softmax |y| <= ~7 gives 2.1e-3 as
  // a worst case. Truncation h^2/6 |f'''| is below 1e-6. abs 2e-3 (log) / 5e-4 + rel 1e-3.
  const int rows = 4, cols = 5;
  const std::vector<float> x = random_vector(rows * cols, -3.0f, 3.0f, 71);
  const std::vector<float> dy = random_vector(rows * cols, -1.0f, 1.0f, 72);
  std::vector<float> y(x.size()), dx(x.size(), kNaN);

  auto softmax = [&](const std::vector<float>& in) {
    std::vector<float> out(in.size());
    weft::cpu::softmax_forward(rows, cols, in.data(), out.data());
    return out;
  };
  y = softmax(x);
  weft::cpu::softmax_backward(rows, cols, y.data(), dy.data(), dx.data());
  {
    INFO("softmax");
    check_all_close(dx, numeric_gradient(softmax, x, dy), 5e-4, 1e-3);
  }

  auto log_softmax = [&](const std::vector<float>& in) {
    std::vector<float> out(in.size());
    weft::cpu::log_softmax_forward(rows, cols, in.data(), out.data());
    return out;
  };
  y = log_softmax(x);
  std::fill(dx.begin(), dx.end(), kNaN);
  weft::cpu::log_softmax_backward(rows, cols, y.data(), dy.data(), dx.data());
  {
    INFO("log_softmax");
    check_all_close(dx, numeric_gradient(log_softmax, x, dy), 2e-3, 1e-3);
  }
}

// ---- dropout ----------------------------------------------------------------------------------

namespace {

std::vector<float> run_dropout(int64_t count, float p, uint64_t seed, uint64_t offset,
                               const std::vector<float>& x) {
  weft::DropoutParams params;
  params.count = count;
  params.p = p;
  params.seed = seed;
  params.offset = offset;
  std::vector<float> y(static_cast<size_t>(count), kNaN);
  weft::cpu::dropout_forward(params, x.data(), y.data());
  return y;
}

}  // namespace

TEST_CASE("cpu dropout: mask follows philox_uniform_at and scales kept values by 1/(1-p)",
          "[kernels][dropout][cpu]") {
  const int64_t n = 100000;
  const float p = 0.3f;
  const std::vector<float> x = random_vector(static_cast<size_t>(n), 0.5f, 1.5f, 81);
  const float scale = 1.0f / (1.0f - p);
  // The second seed has both 32-bit halves of the Philox key non-zero.
  for (const uint64_t seed : {uint64_t{1234}, uint64_t{0x9E3779B97F4A7C15}}) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{6}, uint64_t{1u << 20}}) {
      CAPTURE(seed, offset);
      const std::vector<float> y = run_dropout(n, p, seed, offset, x);
      int64_t kept = 0, wrong = 0, first_wrong = -1;
      for (int64_t i = 0; i < n; ++i) {
        const bool keep = weft::philox_uniform_at(seed, offset, static_cast<uint64_t>(i)) >= p;
        const float expected = keep ? x[i] * scale : 0.0f;
        kept += keep;
        if (!close(y[i], expected, 0.0, 1e-6)) {
          if (first_wrong < 0) first_wrong = i;
          ++wrong;
        }
      }
      INFO("first wrong element " << first_wrong);
      CHECK(wrong == 0);
      // Kept count ~ Binomial(n, 1 - p): mean 70000, sigma sqrt(n p (1 - p)) = 144.9.
      const double mean = n * (1.0 - p), sigma = std::sqrt(n * p * (1.0 - p));
      CAPTURE(kept, mean, sigma);
      CHECK(std::abs(static_cast<double>(kept) - mean) <= 5.0 * sigma);
    }
  }
}

TEST_CASE("cpu dropout: same seed and offset reproduce the mask, others change it",
          "[kernels][dropout][cpu]") {
  const int64_t n = 4099;  // not a multiple of 4: partial Philox blocks at the end
  const std::vector<float> x(static_cast<size_t>(n), 1.0f);
  const std::vector<float> a = run_dropout(n, 0.5f, 7, 0, x);
  const std::vector<float> b = run_dropout(n, 0.5f, 7, 0, x);
  const std::vector<float> other_seed = run_dropout(n, 0.5f, 8, 0, x);
  CHECK(a == b);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += (a[i] == 0.0f) != (other_seed[i] == 0.0f);
  // Independent masks with p = 0.5 disagree on half the elements (sigma 32).
  CAPTURE(differ);
  CHECK(differ > n / 2 - 5 * 32);
  CHECK(differ < n / 2 + 5 * 32);

  // The stream is shared: offset 3 element i is offset 0 element i + 3.
  const std::vector<float> shifted = run_dropout(n - 3, 0.5f, 7, 3, x);
  int64_t mismatched = 0;
  for (int64_t i = 0; i < n - 3; ++i) mismatched += shifted[i] != a[i + 3];
  CHECK(mismatched == 0);
}

TEST_CASE("cpu dropout: backward uses the forward's mask", "[kernels][dropout][cpu]") {
  const int64_t n = 50001;
  weft::DropoutParams params;
  params.count = n;
  params.p = 0.25f;
  params.seed = 99;
  params.offset = 5;
  const std::vector<float> ones(static_cast<size_t>(n), 1.0f);
  std::vector<float> y(static_cast<size_t>(n), kNaN);
  weft::cpu::dropout_forward(params, ones.data(), y.data());

  const std::vector<float> dy = random_vector(static_cast<size_t>(n), -1.0f, 1.0f, 91);
  std::vector<float> dx(static_cast<size_t>(n), kNaN);
  weft::cpu::dropout_backward(params, dy.data(), dx.data());
  const float scale = 1.0f / 0.75f;
  int64_t wrong = 0, first_wrong = -1, kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    // y = mask / (1 - p), so dx must be dy * y exactly where kept and 0 where dropped.
    const bool keep = y[i] != 0.0f;
    kept += keep;
    if (keep && y[i] != scale) ++wrong;
    const float expected = keep ? dy[i] * scale : 0.0f;
    if (!close(dx[i], expected, 0.0, 1e-6)) {
      if (first_wrong < 0) first_wrong = i;
      ++wrong;
    }
  }
  INFO("first wrong element " << first_wrong);
  CHECK(wrong == 0);
  CHECK(kept > 0);
  CHECK(kept < n);
}

TEST_CASE("cpu dropout: p = 0 copies, p = 1 zeroes without dividing by zero",
          "[kernels][dropout][cpu]") {
  const int64_t n = 1000;
  const std::vector<float> x = random_vector(static_cast<size_t>(n), -1.0f, 1.0f, 101);
  CHECK(run_dropout(n, 0.0f, 3, 0, x) == x);
  const std::vector<float> y = run_dropout(n, 1.0f, 3, 0, x);
  int64_t nonzero = 0;
  for (float v : y) nonzero += !(v == 0.0f);  // NaN or inf would count too
  CHECK(nonzero == 0);
}
