// Every op's backward in engine/ops.h (and Tensor's reshape, flatten, slice, concat and to)
// checked against central differences of its forward, through the gradient checker in
// tests/gradcheck.h: broadcasting arithmetic, scalar arithmetic and reductions, activations,
// softmax, convolutions, pooling, batch norm, dropout, linear algebra, losses and the shape
// ops. Shapes are small so the whole file runs in well under a second.
#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/runtime.h"
#include "tests/gradcheck.h"

namespace {

using weft::Generator;
using weft::Shape;
using weft::Tensor;
using weft::test::check_gradients;
using weft::test::compute_gradcheck;
using weft::test::GradcheckOptions;
using weft::test::GradcheckReport;

// A CPU float tensor of uniform values in [low, high), drawn from a generator seeded by `seed`.
Tensor uniform(const Shape& shape, uint64_t seed, float low = -1.0f, float high = 1.0f) {
  Generator rng(seed);
  return Tensor::from_vector(rng.uniform(weft::shape_numel(shape), low, high), shape);
}

// The same, marked as an input whose gradient the checker compares.
Tensor input(const Shape& shape, uint64_t seed, float low = -1.0f, float high = 1.0f) {
  Tensor t = uniform(shape, seed, low, high);
  t.set_requires_grad(true);
  return t;
}

// Values with magnitude in [0.5, 1.5) and a random sign: safe denominators for div.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Generator rng(seed);
  std::vector<float> values = rng.uniform(weft::shape_numel(shape), 0.5f, 1.5f);
  for (float& v : values) {
    if (rng.uniform() < 0.5f) v = -v;
  }
  Tensor t = Tensor::from_vector(values, shape);
  t.set_requires_grad(true);
  return t;
}

// All values distinct and at least `spacing` apart (a shuffled ramp), so max pooling has no ties
// that a perturbation of +-h could break when spacing > 2h.
Tensor tie_free(const Shape& shape, uint64_t seed, float spacing = 0.05f) {
  const int64_t count = weft::shape_numel(shape);
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  Generator rng(seed);
  rng.shuffle(order);
  std::vector<float> values(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    values[i] = static_cast<float>(order[i] - count / 2) * spacing;
  }
  Tensor t = Tensor::from_vector(values, shape);
  t.set_requires_grad(true);
  return t;
}

// Random values with a few planted right at a kink at 0 (0 and +-h/2), which the checker must
// skip. Returns the number planted.
Tensor with_values_at_zero(const Shape& shape, uint64_t seed, double step, int* planted) {
  Tensor t = uniform(shape, seed);
  float* values = t.data<float>();
  values[0] = 0.0f;
  values[1] = static_cast<float>(step / 2);
  values[2] = static_cast<float>(-step / 2);
  *planted = 3;
  t.set_requires_grad(true);
  return t;
}

// Options that skip elements within 2h of 0 (so x +- h never crosses the kink).
GradcheckOptions kink_at_zero() {
  GradcheckOptions options;
  options.has_kink = true;
  options.kink = 0.0;
  options.kink_range = 2 * options.step;
  return options;
}

}  // namespace

TEST_CASE("gradcheck: the checker catches a wrong backward", "[gradcheck]") {
  // y = 3x recorded with the backward of y = 2x: every element must be reported.
  auto wrong_triple = [](const std::vector<Tensor>& in, Generator&) {
    const Tensor& x = in[0];
    Tensor y = Tensor::empty_like(x);
    const std::vector<float> xs = x.to_vector<float>();
    for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = 3.0f * xs[i];
    weft::record(y, "wrong_triple", {x},
                 [](const Tensor& g) { return std::vector<Tensor>{weft::mul(g, 2.0f)}; });
    return y;
  };
  const GradcheckReport report = compute_gradcheck(wrong_triple, {input({2, 3}, 1)});
  INFO(report.describe());
  CHECK(report.checked == 6);
  CHECK(report.mismatch_count == 6);
  CHECK(report.first_mismatches.size() == 6);
}

TEST_CASE("gradcheck: the checker reports an input that backward never reached", "[gradcheck]") {
  // The second input requires a gradient but the op ignores it.
  auto first_only = [](const std::vector<Tensor>& in, Generator&) {
    return weft::mul(in[0], 2.0f);
  };
  const GradcheckReport report = compute_gradcheck(first_only, {input({3}, 1), input({3}, 2)});
  REQUIRE(report.inputs_without_gradient.size() == 1);
  CHECK(report.inputs_without_gradient[0] == 1);
}

TEST_CASE("gradcheck: add, sub, mul, div with broadcasting", "[gradcheck]") {
  using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, BinaryFn>> ops = {
      {"add", weft::add}, {"sub", weft::sub}, {"mul", weft::mul}, {"div", weft::div}};
  // Pairs of shapes: channel-wise (an NCHW tensor with a per-channel one), a matrix with a row
  // vector, a scalar with a matrix, the matrix with the scalar, and equal shapes.
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4, 4}, {1, 3, 1, 1}}, {{4, 3}, {3}}, {{}, {2, 3}}, {{2, 3}, {}}, {{2, 3}, {2, 3}}};
  for (const auto& [name, op] : ops) {
    for (const auto& [shape_a, shape_b] : shapes) {
      const std::string label =
          name + " " + weft::shape_str(shape_a) + " with " + weft::shape_str(shape_b);
      SECTION(label) {
        auto f = [op](const std::vector<Tensor>& in, Generator&) { return op(in[0], in[1]); };
        check_gradients(label, f, {input(shape_a, 11), away_from_zero(shape_b, 12)});
      }
    }
  }
}

TEST_CASE("gradcheck: scalar arithmetic, sum and mean", "[gradcheck]") {
  SECTION("add scalar") {
    check_gradients(
        "add scalar",
        [](const std::vector<Tensor>& in, Generator&) { return weft::add(in[0], 0.75f); },
        {input({3, 4}, 21)});
  }
  SECTION("mul scalar") {
    check_gradients(
        "mul scalar",
        [](const std::vector<Tensor>& in, Generator&) { return weft::mul(in[0], -1.5f); },
        {input({3, 4}, 22)});
  }
  SECTION("sum") {
    check_gradients("sum",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::sum(in[0]); },
                    {input({3, 4}, 23)});
  }
  SECTION("mean") {
    check_gradients("mean",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::mean(in[0]); },
                    {input({2, 3, 2}, 24)});
  }
}

TEST_CASE("gradcheck: activations, skipping the kink at 0", "[gradcheck]") {
  const GradcheckOptions options = kink_at_zero();
  int planted = 0;
  SECTION("relu") {
    const Tensor x = with_values_at_zero({4, 5}, 31, options.step, &planted);
    const GradcheckReport report = check_gradients(
        "relu", [](const std::vector<Tensor>& in, Generator&) { return weft::relu(in[0]); }, {x},
        options);
    CHECK(report.skipped >= planted);
  }
  SECTION("leaky_relu") {
    const Tensor x = with_values_at_zero({4, 5}, 32, options.step, &planted);
    const GradcheckReport report = check_gradients(
        "leaky_relu",
        [](const std::vector<Tensor>& in, Generator&) { return weft::leaky_relu(in[0], 0.2f); },
        {x}, options);
    CHECK(report.skipped >= planted);
  }
  SECTION("elu (alpha 0.7, so the slope jumps at 0)") {
    const Tensor x = with_values_at_zero({4, 5}, 33, options.step, &planted);
    const GradcheckReport report = check_gradients(
        "elu", [](const std::vector<Tensor>& in, Generator&) { return weft::elu(in[0], 0.7f); },
        {x}, options);
    CHECK(report.skipped >= planted);
  }
}

TEST_CASE("gradcheck: smooth activations and softmax", "[gradcheck]") {
  SECTION("sigmoid") {
    check_gradients("sigmoid",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::sigmoid(in[0]); },
                    {input({4, 5}, 41, -3.0f, 3.0f)});
  }
  SECTION("tanh") {
    check_gradients("tanh",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::tanh(in[0]); },
                    {input({4, 5}, 42, -2.0f, 2.0f)});
  }
  SECTION("softmax") {
    check_gradients("softmax",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::softmax(in[0]); },
                    {input({3, 5}, 43, -2.0f, 2.0f)});
  }
  SECTION("log_softmax") {
    check_gradients(
        "log_softmax",
        [](const std::vector<Tensor>& in, Generator&) { return weft::log_softmax(in[0]); },
        {input({3, 5}, 44, -2.0f, 2.0f)});
  }
}

TEST_CASE("gradcheck: conv2d with stride 2, padding 1, dilation 2, a 3x2 kernel", "[gradcheck]") {
  weft::Conv2dOptions options;
  options.stride_h = options.stride_w = 2;
  options.pad_h = options.pad_w = 1;
  options.dilation_h = options.dilation_w = 2;
  // x [2, 3, 7, 6], weight [4, 3, 3, 2]: output [2, 4, 3, 3].
  SECTION("with bias") {
    check_gradients("conv2d with bias",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv2d(in[0], in[1], in[2], options);
                    },
                    {input({2, 3, 7, 6}, 51), input({4, 3, 3, 2}, 52), input({4}, 53)});
  }
  SECTION("without bias") {
    check_gradients("conv2d without bias",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv2d(in[0], in[1], Tensor(), options);
                    },
                    {input({2, 3, 7, 6}, 54), input({4, 3, 3, 2}, 55)});
  }
  SECTION("different stride, padding and dilation along h and w (catches h/w mix-ups)") {
    weft::Conv2dOptions asymmetric;
    asymmetric.stride_h = 2;
    asymmetric.pad_h = 1;
    asymmetric.dilation_w = 2;
    // x [1, 2, 7, 6], weight [3, 2, 3, 2]: output [1, 3, 4, 4].
    check_gradients("conv2d asymmetric",
                    [asymmetric](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv2d(in[0], in[1], in[2], asymmetric);
                    },
                    {input({1, 2, 7, 6}, 58), input({3, 2, 3, 2}, 59), input({3}, 60)});
  }
  SECTION("frozen weights: only the input's gradient is computed") {
    const Tensor weight = uniform({4, 3, 3, 2}, 56);
    check_gradients("conv2d frozen",
                    [options, weight](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv2d(in[0], weight, Tensor(), options);
                    },
                    {input({2, 3, 7, 6}, 57)});
  }
}

TEST_CASE("gradcheck: conv_transpose2d with stride 2, padding 1, output padding 1", "[gradcheck]") {
  weft::ConvTranspose2dOptions options;
  options.stride_h = options.stride_w = 2;
  options.pad_h = options.pad_w = 1;
  options.output_pad_h = options.output_pad_w = 1;
  // x [2, 3, 3, 3], weight [3, 2, 3, 2] (in, out, kh, kw): output [2, 2, 6, 5].
  SECTION("with bias") {
    check_gradients("conv_transpose2d with bias",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv_transpose2d(in[0], in[1], in[2], options);
                    },
                    {input({2, 3, 3, 3}, 61), input({3, 2, 3, 2}, 62), input({2}, 63)});
  }
  SECTION("different stride, padding and dilation along h and w") {
    weft::ConvTranspose2dOptions asymmetric;
    asymmetric.stride_h = 2;
    asymmetric.pad_h = 1;
    asymmetric.output_pad_h = 1;
    asymmetric.dilation_w = 2;
    // x [1, 2, 3, 4], weight [2, 3, 3, 2]: output [1, 3, 6, 6].
    check_gradients("conv_transpose2d asymmetric",
                    [asymmetric](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv_transpose2d(in[0], in[1], in[2], asymmetric);
                    },
                    {input({1, 2, 3, 4}, 66), input({2, 3, 3, 2}, 67), input({3}, 68)});
  }
  SECTION("without bias") {
    check_gradients("conv_transpose2d without bias",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::conv_transpose2d(in[0], in[1], Tensor(), options);
                    },
                    {input({2, 3, 3, 3}, 64), input({3, 2, 3, 2}, 65)});
  }
}

TEST_CASE("gradcheck: pooling", "[gradcheck]") {
  SECTION("max_pool2d 2x2, stride 2, on tie-free input") {
    weft::Pool2dOptions options;  // the defaults: kernel 2, stride 2
    check_gradients("max_pool2d",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::max_pool2d(in[0], options);
                    },
                    {tie_free({2, 2, 4, 4}, 71)});
  }
  SECTION("max_pool2d 3x3, stride 2, padding 1 (overlapping windows)") {
    weft::Pool2dOptions options;
    options.kernel_h = options.kernel_w = 3;
    options.pad_h = options.pad_w = 1;
    check_gradients("max_pool2d overlapping",
                    [options](const std::vector<Tensor>& in, Generator&) {
                      return weft::max_pool2d(in[0], options);
                    },
                    {tie_free({2, 2, 5, 5}, 72)});
  }
  for (const bool include_pad : {true, false}) {
    const std::string label =
        std::string("avg_pool2d 3x3, stride 2, padding 1, count_include_pad ") +
        (include_pad ? "true" : "false");
    SECTION(label) {
      weft::Pool2dOptions options;
      options.kernel_h = options.kernel_w = 3;
      options.pad_h = options.pad_w = 1;
      options.count_include_pad = include_pad;
      check_gradients(label,
                      [options](const std::vector<Tensor>& in, Generator&) {
                        return weft::avg_pool2d(in[0], options);
                      },
                      {input({2, 2, 5, 5}, 73)});
    }
  }
  SECTION("global_avg_pool2d") {
    check_gradients(
        "global_avg_pool2d",
        [](const std::vector<Tensor>& in, Generator&) { return weft::global_avg_pool2d(in[0]); },
        {input({2, 3, 3, 4}, 74)});
  }
}

TEST_CASE("gradcheck: batch_norm", "[gradcheck]") {
  SECTION("training, 4-d input: gradients through the batch mean and variance") {
    const Tensor running_mean = Tensor::zeros({2}), running_var = Tensor::ones({2});
    check_gradients("batch_norm train 4-d",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::batch_norm(in[0], in[1], in[2], running_mean, running_var, true);
                    },
                    {input({3, 2, 3, 2}, 81), input({2}, 82, 0.5f, 1.5f), input({2}, 83)});
  }
  SECTION("training, 2-d input") {
    check_gradients("batch_norm train 2-d",
                    [](const std::vector<Tensor>& in, Generator&) {
                      return weft::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true);
                    },
                    {input({6, 3}, 84), input({3}, 85, 0.5f, 1.5f), input({3}, 86)});
  }
  SECTION("eval: the running statistics are constants") {
    const Tensor running_mean = uniform({2}, 87, -0.5f, 0.5f);
    const Tensor running_var = uniform({2}, 88, 0.5f, 2.0f);
    check_gradients("batch_norm eval",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::batch_norm(in[0], in[1], in[2], running_mean, running_var,
                                              false);
                    },
                    {input({3, 2, 2, 2}, 89), input({2}, 90, 0.5f, 1.5f), input({2}, 91)});
  }
}

TEST_CASE("gradcheck: dropout with the generator reseeded before every forward", "[gradcheck]") {
  SECTION("training") {
    check_gradients("dropout train",
                    [](const std::vector<Tensor>& in, Generator& rng) {
                      return weft::dropout(in[0], 0.4f, true, &rng);
                    },
                    {input({4, 5}, 101)});
  }
  SECTION("eval (the identity)") {
    check_gradients("dropout eval",
                    [](const std::vector<Tensor>& in, Generator& rng) {
                      return weft::dropout(in[0], 0.4f, false, &rng);
                    },
                    {input({4, 5}, 102)});
  }
}

TEST_CASE("gradcheck: linear and matmul", "[gradcheck]") {
  SECTION("linear with bias") {
    check_gradients(
        "linear with bias",
        [](const std::vector<Tensor>& in, Generator&) { return weft::linear(in[0], in[1], in[2]); },
        {input({3, 4}, 111), input({5, 4}, 112), input({5}, 113)});
  }
  SECTION("linear without bias") {
    check_gradients("linear without bias",
                    [](const std::vector<Tensor>& in, Generator&) {
                      return weft::linear(in[0], in[1], Tensor());
                    },
                    {input({3, 4}, 114), input({5, 4}, 115)});
  }
  SECTION("linear with frozen weight and bias: only the input's gradient") {
    const Tensor weight = uniform({5, 4}, 116), bias = uniform({5}, 117);
    check_gradients("linear frozen",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::linear(in[0], weight, bias);
                    },
                    {input({3, 4}, 118)});
  }
  SECTION("linear with a constant input: only the weight's and bias's gradients") {
    const Tensor x = uniform({3, 4}, 119);
    check_gradients(
        "linear constant input",
        [=](const std::vector<Tensor>& in, Generator&) { return weft::linear(x, in[0], in[1]); },
        {input({5, 4}, 120), input({5}, 121)});
  }
  SECTION("matmul") {
    check_gradients(
        "matmul",
        [](const std::vector<Tensor>& in, Generator&) { return weft::matmul(in[0], in[1]); },
        {input({3, 4}, 122), input({4, 2}, 123)});
  }
}

TEST_CASE("gradcheck: losses", "[gradcheck]") {
  const Tensor targets = Tensor::from_vector(std::vector<int32_t>{2, 0, 4, 2}, {4});
  SECTION("cross_entropy") {
    check_gradients("cross_entropy",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::cross_entropy(in[0], targets);
                    },
                    {input({4, 5}, 131, -2.0f, 2.0f)});
  }
  SECTION("cross_entropy with class weights and label smoothing") {
    const Tensor weights =
        Tensor::from_vector(std::vector<float>{1.0f, 0.5f, 2.0f, 1.5f, 0.25f}, {5});
    check_gradients("cross_entropy weighted, smoothed",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::cross_entropy(in[0], targets, weights, 0.1f);
                    },
                    {input({4, 5}, 132, -2.0f, 2.0f)});
  }
  SECTION("bce_with_logits") {
    const Tensor soft_targets = uniform({3, 4}, 133, 0.0f, 1.0f);
    check_gradients("bce_with_logits",
                    [=](const std::vector<Tensor>& in, Generator&) {
                      return weft::bce_with_logits(in[0], soft_targets);
                    },
                    {input({3, 4}, 134, -3.0f, 3.0f)});
  }
  SECTION("bce on probabilities away from 0 and 1") {
    // Kept in [0.25, 0.75]: -log p has third derivative 2 / p^3, which near 0 would make the
    // central difference's truncation error larger than the tolerance.
    const Tensor soft_targets = uniform({3, 4}, 135, 0.0f, 1.0f);
    check_gradients(
        "bce",
        [=](const std::vector<Tensor>& in, Generator&) { return weft::bce(in[0], soft_targets); },
        {input({3, 4}, 136, 0.25f, 0.75f)});
  }
  SECTION("mse") {
    const Tensor target = uniform({3, 4}, 137);
    check_gradients(
        "mse", [=](const std::vector<Tensor>& in, Generator&) { return weft::mse(in[0], target); },
        {input({3, 4}, 138)});
  }
}

TEST_CASE("gradcheck: reshape, flatten, slice, concat and to", "[gradcheck]") {
  SECTION("reshape with an inferred dimension") {
    check_gradients("reshape",
                    [](const std::vector<Tensor>& in, Generator&) {
                      return in[0].reshape({4, -1});
                    },
                    {input({2, 3, 4}, 141)});
  }
  SECTION("flatten") {
    check_gradients("flatten",
                    [](const std::vector<Tensor>& in, Generator&) { return in[0].flatten(1); },
                    {input({2, 3, 2, 2}, 142)});
  }
  SECTION("slice along a middle axis") {
    check_gradients("slice",
                    [](const std::vector<Tensor>& in, Generator&) { return in[0].slice(1, 1, 4); },
                    {input({3, 5, 2}, 143)});
  }
  SECTION("concat along axis 1") {
    check_gradients("concat axis 1",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::concat(in, 1); },
                    {input({2, 3}, 144), input({2, 1}, 145), input({2, 2}, 146)});
  }
  SECTION("concat along axis 0") {
    check_gradients("concat axis 0",
                    [](const std::vector<Tensor>& in, Generator&) { return weft::concat(in, 0); },
                    {input({1, 3}, 147), input({2, 3}, 148)});
  }
  SECTION("to(cpu) of a CPU tensor") {
    check_gradients(
        "to cpu",
        [](const std::vector<Tensor>& in, Generator&) { return in[0].to(weft::Device::cpu()); },
        {input({2, 3}, 149)});
  }
  SECTION("to(cuda) then to(cpu)") {
    std::string reason;
    if (!weft::cuda_available(&reason)) {
      WARN("skipped: " << reason);
    } else {
      check_gradients("to cuda and back",
                      [](const std::vector<Tensor>& in, Generator&) {
                        return in[0].to(weft::Device::cuda()).to(weft::Device::cpu());
                      },
                      {input({2, 3}, 150)});
    }
  }
}
