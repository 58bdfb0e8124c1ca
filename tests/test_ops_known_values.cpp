// Engine-level ops (engine/ops.h, not the kernels) on inputs small enough to work out by hand,
// the arithmetic in the comments: conv2d and conv_transpose2d forward and backward, batch_norm's
// batch statistics, running-statistics update and eval mode, max and average pooling with and
// without padding, the losses; and shape errors that throw weft::Error naming what was
// expected.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/ops.h"
#include "tests/engine_test_util.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::Tensor;
using weft::test::check_close;
using weft::test::error_message;

Tensor leaf(const std::vector<float>& values, const weft::Shape& shape) {
  Tensor t = Tensor::from_vector(values, shape);
  t.set_requires_grad(true);
  return t;
}

Tensor constant(const std::vector<float>& values, const weft::Shape& shape) {
  return Tensor::from_vector(values, shape);
}

// Hand values are exact small integers or a few float operations away from the double
// reference: 1e-5 absolute plus 1e-5 relative is float rounding with room, while any wrong
// term moves a value by far more.
constexpr double kValueAbs = 1e-5, kValueRel = 1e-5;

}  // namespace

TEST_CASE("known values: conv2d, 1x1x3x3 input, 2x2 kernel, bias", "[ops][known]") {
  // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]], b = 0.5.
  const Tensor x = leaf({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor w = leaf({1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor b = leaf({0.5f}, {1});
  const Tensor y = weft::conv2d(x, w, b);
  REQUIRE(y.shape() == weft::Shape{1, 1, 2, 2});
  // y[0,0] = 1*1 + 2*2 + 3*4 + 4*5 = 37     y[0,1] = 1*2 + 2*3 + 3*5 + 4*6 = 47
  // y[1,0] = 1*4 + 2*5 + 3*7 + 4*8 = 67     y[1,1] = 1*5 + 2*6 + 3*8 + 4*9 = 77   (+ 0.5)
  check_close("y", y.to_vector<float>(), std::vector<float>{37.5f, 47.5f, 67.5f, 77.5f}, kValueAbs,
              kValueRel);

  weft::sum(y).backward();
  // dL/dx[i, j] = sum of the kernel taps that touch x[i, j] over the four windows:
  //   corners touch one tap (w00, w01, w10, w11), edge middles two, the centre all four.
  check_close("dx", x.grad().to_vector<float>(), std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4},
              kValueAbs, kValueRel);
  // dL/dw[a, b] = sum of the 2x2 block of x starting at (a, b):
  //   1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28.
  check_close("dw", w.grad().to_vector<float>(), std::vector<float>{12, 16, 24, 28}, kValueAbs,
              kValueRel);
  // dL/db = number of outputs = 4.
  check_close("db", b.grad().to_vector<float>(), std::vector<float>{4}, kValueAbs, kValueRel);
}

TEST_CASE("known values: conv_transpose2d, 1x1x2x2 input, 2x2 kernel, stride 2", "[ops][known]") {
  // With stride = kernel size the windows do not overlap: output block (i, j) is x[i, j] * w.
  const Tensor x = leaf({1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor w = leaf({1, 2, 3, 4}, {1, 1, 2, 2});
  weft::ConvTranspose2dOptions options;
  options.stride_h = options.stride_w = 2;
  const Tensor y = weft::conv_transpose2d(x, w, Tensor(), options);
  REQUIRE(y.shape() == weft::Shape{1, 1, 4, 4});
  check_close("y", y.to_vector<float>(),
              std::vector<float>{1, 2, 2, 4,      // 1*[1 2]  2*[1 2]
                                 3, 4, 6, 8,      // 1*[3 4]  2*[3 4]
                                 3, 6, 4, 8,      // 3*[1 2]  4*[1 2]
                                 9, 12, 12, 16},  // 3*[3 4]  4*[3 4]
              kValueAbs, kValueRel);
  weft::sum(y).backward();
  // Each x[i, j] reaches four outputs through w: dx = 1 + 2 + 3 + 4 = 10. Each tap sees every
  // input once: dw = 1 + 2 + 3 + 4 = 10.
  check_close("dx", x.grad().to_vector<float>(), std::vector<float>{10, 10, 10, 10}, kValueAbs,
              kValueRel);
  check_close("dw", w.grad().to_vector<float>(), std::vector<float>{10, 10, 10, 10}, kValueAbs,
              kValueRel);
}

TEST_CASE("known values: batch_norm statistics, running update and eval", "[ops][known]") {
  // x [N=2, C=2, 1, 2]:  channel 0 holds {1, 2 | 3, 6}, channel 1 holds {0, 0 | 4, 4}.
  //   channel 0: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14 / 3
  //   channel 1: mean 2, biased var (4 + 4 + 4 + 4) / 4 = 4,   unbiased 16 / 3
  const Tensor x = constant({1, 2, 0, 0, 3, 6, 4, 4}, {2, 2, 1, 2});
  const Tensor gamma = constant({2.0f, 0.5f}, {2}), beta = constant({0.5f, -1.0f}, {2});
  Tensor running_mean = Tensor::zeros({2}), running_var = Tensor::ones({2});
  const double eps = 1e-5;
  auto normalized = [&](double value, double mean, double var, double g, double b) {
    return static_cast<float>(g * (value - mean) / std::sqrt(var + eps) + b);
  };

  SECTION("training uses the batch statistics and moves the running ones") {
    const Tensor y = weft::batch_norm(x, gamma, beta, running_mean, running_var, true, 0.1f,
                                      static_cast<float>(eps));
    const std::vector<float> expected = {
        normalized(1, 3, 3.5, 2, 0.5), normalized(2, 3, 3.5, 2, 0.5),  // sample 0, channel 0
        normalized(0, 2, 4, 0.5, -1),  normalized(0, 2, 4, 0.5, -1),   // sample 0, channel 1
        normalized(3, 3, 3.5, 2, 0.5), normalized(6, 3, 3.5, 2, 0.5),  // sample 1, channel 0
        normalized(4, 2, 4, 0.5, -1),  normalized(4, 2, 4, 0.5, -1)};  // sample 1, channel 1
    check_close("y", y.to_vector<float>(), expected, kValueAbs, kValueRel);
    // running = 0.9 * running + 0.1 * batch statistic, the variance unbiased:
    //   mean [0.9*0 + 0.1*3, 0.9*0 + 0.1*2] = [0.3, 0.2]
    //   var  [0.9*1 + 0.1*14/3, 0.9*1 + 0.1*16/3] = [1.3666667, 1.4333333]
    check_close("running_mean", running_mean.to_vector<float>(), std::vector<float>{0.3f, 0.2f},
                kValueAbs, kValueRel);
    check_close("running_var", running_var.to_vector<float>(),
                std::vector<double>{0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 16.0 / 3.0}, kValueAbs,
                kValueRel);
  }

  SECTION("eval uses the running statistics and leaves them alone") {
    running_mean.copy_(constant({0.3f, 0.2f}, {2}));
    running_var.copy_(constant({1.5f, 0.25f}, {2}));
    const Tensor y = weft::batch_norm(x, gamma, beta, running_mean, running_var, false, 0.1f,
                                      static_cast<float>(eps));
    const std::vector<float> expected = {
        normalized(1, 0.3, 1.5, 2, 0.5),   normalized(2, 0.3, 1.5, 2, 0.5),
        normalized(0, 0.2, 0.25, 0.5, -1), normalized(0, 0.2, 0.25, 0.5, -1),
        normalized(3, 0.3, 1.5, 2, 0.5),   normalized(6, 0.3, 1.5, 2, 0.5),
        normalized(4, 0.2, 0.25, 0.5, -1), normalized(4, 0.2, 0.25, 0.5, -1)};
    check_close("y", y.to_vector<float>(), expected, kValueAbs, kValueRel);
    check_close("running_mean", running_mean.to_vector<float>(), std::vector<float>{0.3f, 0.2f}, 0,
                0);
    check_close("running_var", running_var.to_vector<float>(), std::vector<float>{1.5f, 0.25f}, 0,
                0);
  }
}

TEST_CASE("known values: max and average pooling on a 4x4 plane", "[ops][known]") {
  //   1 5 | 2 0
  //   3 4 | 8 7
  //   ----+----
  //   9 6 | 1 2
  //   0 3 | 5 4
  const std::vector<float> plane = {1, 5, 2, 0, 3, 4, 8, 7, 9, 6, 1, 2, 0, 3, 5, 4};
  weft::Pool2dOptions two_by_two;  // kernel 2, stride 2

  SECTION("max_pool2d 2x2 routes each gradient to its window's maximum") {
    const Tensor x = leaf(plane, {1, 1, 4, 4});
    const Tensor y = weft::max_pool2d(x, two_by_two);
    check_close("y", y.to_vector<float>(), std::vector<float>{5, 8, 9, 5}, kValueAbs, kValueRel);
    // L = sum(y * [1, 2, 3, 4]): 1 to the 5 at (0,1), 2 to the 8 at (1,2), 3 to the 9 at (2,0),
    // 4 to the 5 at (3,2).
    y.backward(constant({1, 2, 3, 4}, {1, 1, 2, 2}));
    check_close("dx", x.grad().to_vector<float>(),
                std::vector<float>{0, 1, 0, 0,   // the 5 of window (0, 0)
                                   0, 0, 2, 0,   // the 8 of window (0, 1)
                                   3, 0, 0, 0,   // the 9 of window (1, 0)
                                   0, 0, 4, 0},  // the 5 of window (1, 1)
                kValueAbs, kValueRel);
  }
  SECTION("avg_pool2d 2x2") {
    const Tensor y = weft::avg_pool2d(constant(plane, {1, 1, 4, 4}), two_by_two);
    // (1+5+3+4)/4, (2+0+8+7)/4, (9+6+0+3)/4, (1+2+5+4)/4
    check_close("y", y.to_vector<float>(), std::vector<float>{3.25f, 4.25f, 4.5f, 3.0f}, kValueAbs,
                kValueRel);
  }
  SECTION("avg_pool2d 3x3, stride 2, padding 1, with and without the padding counted") {
    // Real cells in each window: (0,0) rows 0-1 x cols 0-1: 1+5+3+4 = 13 over 4 cells;
    // (0,1) rows 0-1 x cols 1-3: 5+2+0+4+8+7 = 26 over 6; (1,0) rows 1-3 x cols 0-1:
    // 3+4+9+6+0+3 = 25 over 6; (1,1) rows 1-3 x cols 1-3: 4+8+7+6+1+2+3+5+4 = 40 over 9.
    weft::Pool2dOptions options;
    options.kernel_h = options.kernel_w = 3;
    options.pad_h = options.pad_w = 1;
    options.count_include_pad = true;
    const Tensor with_pad = weft::avg_pool2d(constant(plane, {1, 1, 4, 4}), options);
    check_close("count_include_pad", with_pad.to_vector<float>(),
                std::vector<double>{13.0 / 9, 26.0 / 9, 25.0 / 9, 40.0 / 9}, kValueAbs, kValueRel);
    options.count_include_pad = false;
    const Tensor without_pad = weft::avg_pool2d(constant(plane, {1, 1, 4, 4}), options);
    check_close("real cells only", without_pad.to_vector<float>(),
                std::vector<double>{13.0 / 4, 26.0 / 6, 25.0 / 6, 40.0 / 9}, kValueAbs, kValueRel);
  }
  SECTION("global_avg_pool2d") {
    // (1+5+2+0+3+4+8+7+9+6+1+2+0+3+5+4) / 16 = 60 / 16
    const Tensor y = weft::global_avg_pool2d(constant(plane, {1, 1, 4, 4}));
    check_close("y", y.to_vector<float>(), std::vector<float>{3.75f}, kValueAbs, kValueRel);
  }
}

TEST_CASE("known values: losses on tiny inputs", "[ops][known]") {
  // The kernels sum in double and round the mean once to float: 1e-6 absolute on losses near 1
  // is a few float ulps, while any wrong term moves a loss by 1e-2 or more.
  // logits [[1, 2, 3], [1, 1, 1]], targets [2, 0].
  //   row 0: logsumexp = 3 + ln(e^-2 + e^-1 + 1) = 3.4076060; -log p[2] = 0.4076060
  //   row 1: logsumexp = 1 + ln 3;                          -log p[0] = ln 3 = 1.0986123
  const Tensor logits = constant({1, 2, 3, 1, 1, 1}, {2, 3});
  const Tensor targets = Tensor::from_vector(std::vector<int32_t>{2, 0}, {2});
  const double nll0 = 0.40760596444438, nll1 = std::log(3.0);

  SECTION("cross_entropy: the mean of -log p[target]") {
    CHECK_THAT(weft::cross_entropy(logits, targets).item(),
               Catch::Matchers::WithinAbs((nll0 + nll1) / 2, 1e-6));  // 0.7531091
  }
  SECTION("cross_entropy with class weights [2, 1, 0.5]") {
    // (w[2] * nll0 + w[0] * nll1) / (w[2] + w[0]) = (0.5 * 0.4076060 + 2 * 1.0986123) / 2.5
    const Tensor weights = constant({2.0f, 1.0f, 0.5f}, {3});
    CHECK_THAT(weft::cross_entropy(logits, targets, weights).item(),
               Catch::Matchers::WithinAbs((0.5 * nll0 + 2 * nll1) / 2.5, 1e-6));  // 0.9604110
  }
  SECTION("cross_entropy with label smoothing 0.1") {
    // loss_i = 0.9 * nll_i + 0.1 / 3 * sum_c -log p_i[c]
    //   row 0: -log p = [nll0 + 2, nll0 + 1, nll0] = [2.4076060, 1.4076060, 0.4076060],
    //          sum 3 * (nll0 + 1) = 4.2228179
    //   row 1: every -log p is ln 3, so loss_1 = ln 3
    const double smooth0 = 0.9 * nll0 + 0.1 / 3 * (3 * (nll0 + 1));
    CHECK_THAT(weft::cross_entropy(logits, targets, Tensor(), 0.1f).item(),
               Catch::Matchers::WithinAbs((smooth0 + nll1) / 2, 1e-6));  // 0.8031091
  }
  SECTION("bce: -(ln 0.5 + ln 0.2) / 2") {
    // p = [0.5, 0.8], t = [1, 0]: -ln 0.5 = 0.6931472, -ln(1 - 0.8) = 1.6094379
    const Tensor loss = weft::bce(constant({0.5f, 0.8f}, {2}), constant({1, 0}, {2}));
    CHECK_THAT(loss.item(), Catch::Matchers::WithinAbs((std::log(2.0) + std::log(5.0)) / 2, 1e-6));
  }
  SECTION("bce_with_logits: the same through a sigmoid") {
    // x = [0, ln 3], t = [1, 0]: sigmoid = [0.5, 0.75]; -ln 0.5 = ln 2, -ln 0.25 = ln 4.
    const Tensor loss = weft::bce_with_logits(
        constant({0.0f, static_cast<float>(std::log(3.0))}, {2}), constant({1, 0}, {2}));
    CHECK_THAT(loss.item(), Catch::Matchers::WithinAbs((std::log(2.0) + std::log(4.0)) / 2, 1e-6));
  }
  SECTION("mse: ((1-1)^2 + (2-0)^2 + (3-5)^2) / 3 = 8 / 3") {
    const Tensor loss = weft::mse(constant({1, 2, 3}, {3}), constant({1, 0, 5}, {3}));
    CHECK_THAT(loss.item(), Catch::Matchers::WithinAbs(8.0 / 3.0, 1e-6));
  }
}

TEST_CASE("known values: bad shapes throw weft::Error naming what was expected", "[ops][errors]") {
  using Catch::Matchers::Contains;
  const Tensor image = Tensor::zeros({1, 2, 4, 4});
  SECTION("conv2d: input channels differ from the weight's") {
    const std::string message = error_message([&] {
      weft::conv2d(image, Tensor::zeros({3, 3, 3, 3}), Tensor());
    });
    CHECK_THAT(message, Contains("conv2d") && Contains("2 channels") && Contains("expects 3"));
  }
  SECTION("conv2d: a kernel larger than the padded input") {
    CHECK_THAT(error_message([&] {
                 weft::conv2d(image, Tensor::zeros({1, 2, 5, 5}), Tensor());
               }),
               Contains("does not fit"));
  }
  SECTION("conv2d: a bias of the wrong length") {
    CHECK_THAT(error_message([&] {
                 weft::conv2d(image, Tensor::zeros({3, 2, 3, 3}), Tensor::zeros({2}));
               }),
               Contains("bias should have shape [3]"));
  }
  SECTION("conv_transpose2d: input channels differ from the weight's") {
    CHECK_THAT(error_message([&] {
                 weft::conv_transpose2d(image, Tensor::zeros({3, 1, 2, 2}), Tensor());
               }),
               Contains("conv_transpose2d") && Contains("channels"));
  }
  SECTION("linear: input features differ from the weight's") {
    CHECK_THAT(error_message([] {
                 weft::linear(Tensor::zeros({2, 5}), Tensor::zeros({3, 4}), Tensor());
               }),
               Contains("5 features") && Contains("expects 4"));
  }
  SECTION("matmul: inner dimensions differ") {
    CHECK_THAT(error_message([] {
                 weft::matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 2}));
               }),
               Contains("cannot multiply"));
  }
  SECTION("add: shapes that cannot broadcast") {
    CHECK_THAT(error_message([] {
                 weft::add(Tensor::zeros({2, 3}), Tensor::zeros({2}));
               }),
               Contains("[2, 3]") && Contains("[2]") && Contains("cannot be broadcast"));
  }
  SECTION("batch_norm: weight of the wrong length") {
    CHECK_THAT(error_message([&] {
                 weft::batch_norm(image, Tensor::ones({3}), Tensor::zeros({2}), Tensor(), Tensor(),
                                  true);
               }),
               Contains("weight should have shape [2]"));
  }
  SECTION("batch_norm: eval without running statistics") {
    CHECK_THAT(error_message([&] {
                 weft::batch_norm(image, Tensor::ones({2}), Tensor::zeros({2}), Tensor(), Tensor(),
                                  false);
               }),
               Contains("running statistics"));
  }
  SECTION("cross_entropy: float targets, and targets of the wrong length") {
    const Tensor logits = Tensor::zeros({2, 3});
    CHECK_THAT(error_message([&] { weft::cross_entropy(logits, Tensor::zeros({2})); }),
               Contains("int32"));
    CHECK_THAT(
        error_message([&] { weft::cross_entropy(logits, Tensor::zeros({3}, weft::DType::i32)); }),
        Contains("targets should have shape [2]"));
  }
  SECTION("cross_entropy: a target outside [0, classes) names the sample") {
    // The CPU kernel throws std::out_of_range here, not weft::Error; the message is checked.
    const Tensor targets = Tensor::from_vector(std::vector<int32_t>{1, 7}, {2});
    CHECK_THROWS_WITH(weft::cross_entropy(Tensor::zeros({2, 3}), targets),
                      Contains("target 7 of sample 1"));
  }
  SECTION("mse: input and target shapes differ") {
    CHECK_THAT(error_message([] {
                 weft::mse(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}));
               }),
               Contains("must have the same shape"));
  }
  SECTION("max_pool2d on a 3-d tensor") {
    CHECK_THAT(error_message([] {
                 weft::max_pool2d(Tensor::zeros({2, 4, 4}), {});
               }),
               Contains("[N, C, H, W]"));
  }
  SECTION("softmax on a 3-d tensor") {
    CHECK_THAT(error_message([] { weft::softmax(Tensor::zeros({2, 3, 4})); }), Contains("2-d"));
  }
  SECTION("reshape to a different number of elements") {
    CHECK_THAT(error_message([&] { image.reshape({3, -1}); }), Contains("do not divide"));
    CHECK_THAT(error_message([&] { image.reshape({5, 5}); }), Contains("32 elements do not fit"));
  }
  SECTION("slice past the end, concat of mismatched shapes") {
    CHECK_THAT(error_message([&] { image.slice(1, 1, 3); }), Contains("out of range"));
    CHECK_THAT(error_message([&] {
                 weft::concat({Tensor::zeros({2, 3}), Tensor::zeros({3, 3})}, 1);
               }),
               Contains("does not match"));
  }
  SECTION("dropout with a probability above 1") {
    CHECK_THAT(error_message([] { weft::dropout(Tensor::zeros({3}), 1.5f, true); }),
               Contains("probability must be in [0, 1]"));
  }
}
