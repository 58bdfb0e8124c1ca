// The dispatch (engine/dispatch.h) applying the kernel choice, tested without a GPU: a Dispatch
// over two recording fake backends (tests/dispatch_test_util.h) standing in for a GPU's hand
// kernels and vendor libraries. What `auto` measures is in test_autotune.cpp; when it takes
// the fused convolution + max pool, at the end. Label: cpu.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "kernels/error.h"
#include "tests/dispatch_test_util.h"
#include "tests/params_test_util.h"

namespace {

using weft::KernelChoice;
using weft::KernelFamily;
using weft::KernelPath;
using weft::testing::FakeGpu;
using weft::testing::RecordingBackend;
using weft::testing::host_device;
using weft::testing::SelectionFixture;


// A transposed convolution the hand kernel does not support (output padding == stride).
weft::ConvTranspose2dParams unsupported_conv_transpose() {
  weft::ConvTranspose2dParams p;
  p.stride_h = p.stride_w = 2;
  p.output_pad_h = 2;
  return p;
}

void run_conv_transpose(weft::Backend& backend, const weft::ConvTranspose2dParams& p) {
  backend.conv_transpose2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  backend.conv_transpose2d_backward_data(p, nullptr, nullptr, nullptr);
  backend.conv_transpose2d_backward_filter(p, nullptr, nullptr, nullptr, nullptr);
}

const std::vector<std::string> kConvTransposeCalls = {"conv_transpose2d_forward",
                                                      "conv_transpose2d_backward_data",
                                                      "conv_transpose2d_backward_filter"};

}  // namespace

TEST_CASE("dispatch: a device with one implementation calls it, whatever the choice") {
  SelectionFixture fixture;
  RecordingBackend only("only", 1.0, nullptr);
  weft::Dispatch dispatch(host_device(), {{&only, KernelPath::hand, true}});
  CHECK(std::string(dispatch.name()) == "fake");
  for (KernelChoice choice : {KernelChoice::hand, KernelChoice::vendor, KernelChoice::automatic}) {
    weft::set_kernel_choice(choice);
    dispatch.conv2d_forward(weft::Conv2dParams{}, nullptr, nullptr, nullptr, nullptr);
  }
  CHECK(only.calls == std::vector<std::string>(3, "conv2d_forward"));
  CHECK(fixture.log.empty());
}

TEST_CASE("dispatch: a dispatch needs exactly one hand implementation") {
  RecordingBackend a("a", 1.0, nullptr), b("b", 1.0, nullptr);
  CHECK_THROWS_AS(weft::Dispatch(host_device(), {{&a, KernelPath::vendor, true}}), weft::Error);
  CHECK_THROWS_AS(
      weft::Dispatch(host_device(), {{&a, KernelPath::hand, true}, {&b, KernelPath::hand, true}}),
      weft::Error);
}

TEST_CASE("dispatch: routes each family as the kernel choice says") {
  SelectionFixture fixture;
  FakeGpu gpu(1.0, 1.0);
  double& clock = gpu.clock;
  RecordingBackend& hand = gpu.hand;
  RecordingBackend& vendor = gpu.vendor;
  weft::Dispatch& dispatch = gpu.dispatch;
  const weft::Conv2dParams conv;
  const weft::BatchNormParams bn;

  SECTION("hand runs every family on the hand backend, without measuring") {
    weft::set_kernel_choice(KernelChoice::hand);
    dispatch.conv2d_forward(conv, nullptr, nullptr, nullptr, nullptr);
    dispatch.linear_forward(2, 3, 4, {}, nullptr, nullptr, nullptr, nullptr);
    dispatch.batch_norm_forward_train(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                      nullptr, nullptr);
    dispatch.max_pool2d_forward(weft::Pool2dParams{}, nullptr, nullptr, nullptr);
    CHECK(hand.calls == std::vector<std::string>{"conv2d_forward", "linear_forward",
                                                 "batch_norm_forward_train",
                                                 "max_pool2d_forward"});
    CHECK(vendor.calls.empty());
    CHECK(fixture.log.empty());
  }
  SECTION("vendor sends the whole family, forward and backward, to the vendor backend") {
    weft::set_kernel_choices("conv=vendor,batchnorm=vendor,gemm=hand");
    dispatch.conv2d_forward(conv, nullptr, nullptr, nullptr, nullptr);
    dispatch.conv2d_backward_data(conv, nullptr, nullptr, nullptr);
    dispatch.conv2d_backward_filter(conv, nullptr, nullptr, nullptr, nullptr);
    dispatch.batch_norm_forward_train(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                      nullptr, nullptr);
    dispatch.batch_norm_backward(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                 nullptr, nullptr, nullptr);
    dispatch.gemm(weft::GemmParams{}, nullptr, nullptr, nullptr);
    CHECK(vendor.calls == std::vector<std::string>{
                              "conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter",
                              "batch_norm_forward_train", "batch_norm_backward"});
    CHECK(hand.calls == std::vector<std::string>{"gemm"});
  }
  SECTION("hand forced on an unsupported call throws NotImplemented with the reason") {
    weft::set_kernel_choice(KernelFamily::conv_transpose, KernelChoice::hand);
    const auto forward = [&] {
      dispatch.conv_transpose2d_forward(unsupported_conv_transpose(), nullptr, nullptr, nullptr,
                                        nullptr);
    };
    CHECK_THROWS_AS(forward(), weft::NotImplemented);
    CHECK_THROWS_WITH(forward(), Catch::Contains("output padding"));
    CHECK(hand.calls.empty());
    CHECK(vendor.calls.empty());
  }
  SECTION("vendor for a family without a vendor path runs the hand kernel and says so once") {
    weft::set_kernel_choice(KernelChoice::vendor);
    const weft::DropoutParams dp;
    dispatch.dropout_forward(dp, nullptr, nullptr);
    dispatch.dropout_backward(dp, nullptr, nullptr);
    dispatch.max_pool2d_forward(weft::Pool2dParams{}, nullptr, nullptr, nullptr);
    dispatch.linear_backward(2, 3, 4, {}, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    CHECK(hand.calls ==
          std::vector<std::string>{"dropout_forward", "dropout_backward", "max_pool2d_forward"});
    CHECK(vendor.calls == std::vector<std::string>{"linear_backward"});
    REQUIRE(fixture.log.size() == 2);
    CHECK_THAT(fixture.log[0], Catch::Contains("dropout has no vendor path on fake; hand runs"));
    CHECK_THAT(fixture.log[1], Catch::Contains("pool has no vendor path"));
  }
  SECTION("auto with one eligible implementation calls it without measuring") {
    dispatch.dropout_forward(weft::DropoutParams{}, nullptr, nullptr);
    dispatch.softmax_forward(2, 3, nullptr, nullptr);
    CHECK(hand.calls == std::vector<std::string>{"dropout_forward", "softmax_forward"});
    CHECK(vendor.calls.empty());
    CHECK(clock == 2.0);  // two calls, no trials
  }
  SECTION("auto falls back for an unsupported call, forward and backward alike, logging once") {
    run_conv_transpose(dispatch, unsupported_conv_transpose());
    run_conv_transpose(dispatch, unsupported_conv_transpose());
    CHECK(hand.calls.empty());
    std::vector<std::string> twice = kConvTransposeCalls;
    twice.insert(twice.end(), kConvTransposeCalls.begin(), kConvTransposeCalls.end());
    CHECK(vendor.calls == twice);
    REQUIRE(fixture.log.size() == 1);
    CHECK_THAT(fixture.log[0], Catch::Contains("conv_transpose") &&
                                   Catch::Contains("output padding") &&
                                   Catch::Contains("using vendor"));
  }
}

TEST_CASE("dispatch: the CPU's dispatch runs the cpu backend") {
  weft::Dispatch& cpu = weft::dispatch(weft::Device::cpu());
  CHECK(std::string(cpu.name()) == "cpu");
  float x[3] = {-1.0f, 0.5f, 2.0f}, y[3] = {};
  cpu.activation_forward(weft::Activation::relu, 0.0f, 3, x, y);
  CHECK(y[0] == 0.0f);
  CHECK(y[2] == 2.0f);
  CHECK(cpu.autotune_table().empty());
  CHECK_THAT(weft::kernel_report(), Catch::Contains("kernels on cpu"));
}

TEST_CASE("dispatch: the fused convolution + max pool is taken where it pays") {
  SelectionFixture fixture;
  FakeGpu gpu(1.0, 1.0);
  RecordingBackend& hand = gpu.hand;
  RecordingBackend& vendor = gpu.vendor;
  weft::Dispatch& dispatch = gpu.dispatch;
  hand.fuses = true;
  weft::Conv2dParams conv = weft::test::square_conv(2, 3, 8, 8, 4, 3, 0);
  weft::Pool2dParams pool = weft::test::pool_over(conv, 2);
  const auto count = [](const RecordingBackend& b, const std::string& op) {
    return std::count(b.calls.begin(), b.calls.end(), op);
  };

  SECTION("never under the vendor's convolutions, always under the hand ones") {
    weft::set_kernel_choice(KernelFamily::conv, KernelChoice::vendor);
    CHECK_FALSE(dispatch.fuses_conv_max_pool(conv, pool));
    CHECK_FALSE(dispatch.fuses_conv_max_pool_filter(conv, pool));
    weft::set_kernel_choice(KernelFamily::conv, KernelChoice::hand);
    CHECK(dispatch.fuses_conv_max_pool(conv, pool));
    CHECK(dispatch.fuses_conv_max_pool_filter(conv, pool));
    CHECK(gpu.clock == 0.0);  // nothing measured
    hand.fuses = false;       // no fused kernel for the layer: never
    CHECK_FALSE(dispatch.fuses_conv_max_pool(conv, pool));
  }
  SECTION("auto: the hand convolution measured faster, so fused without timing the fusion") {
    vendor.op_costs["conv2d_forward"] = 3.0;
    CHECK(dispatch.fuses_conv_max_pool(conv, pool));
    CHECK(count(hand, "conv2d_forward") > 0);  // the convolution's own pick was measured
    CHECK(count(hand, "conv2d_max_pool2d_forward") == 0);
  }
  SECTION("auto: the vendor's convolution and the pool faster than the fused op: composed") {
    hand.op_costs["conv2d_forward"] = 5.0;
    hand.op_costs["conv2d_max_pool2d_forward"] = 10.0;  // against 1 (vendor) + 1 (pool)
    CHECK_FALSE(dispatch.fuses_conv_max_pool(conv, pool));
    const auto trials = hand.calls.size() + vendor.calls.size();
    CHECK(count(hand, "conv2d_max_pool2d_forward") > 0);
    CHECK_FALSE(dispatch.fuses_conv_max_pool(conv, pool));  // kept: no second measurement
    CHECK(hand.calls.size() + vendor.calls.size() == trials);
  }
  SECTION("auto: the fused op faster than the vendor's convolution and the pool: fused") {
    hand.op_costs["conv2d_forward"] = 5.0;
    hand.op_costs["max_pool2d_forward"] = 2.0;
    hand.op_costs["conv2d_max_pool2d_forward"] = 1.5;  // against 1 (vendor) + 2 (pool)
    CHECK(dispatch.fuses_conv_max_pool(conv, pool));
  }
  SECTION("auto, backward-filter: measured against the pool's backward and the vendor's pass") {
    hand.op_costs["conv2d_backward_filter"] = 5.0;
    hand.op_costs["conv2d_max_pool2d_backward_filter"] = 10.0;
    CHECK_FALSE(dispatch.fuses_conv_max_pool_filter(conv, pool));
    CHECK(count(hand, "conv2d_max_pool2d_backward_filter") > 0);
    CHECK(count(vendor, "conv2d_backward_filter") > 0);
    hand.op_costs["conv2d_max_pool2d_backward_filter"] = 0.5;  // a new layer: measured anew
    conv.batch = 4;
    pool = weft::test::pool_over(conv, 2);
    CHECK(dispatch.fuses_conv_max_pool_filter(conv, pool));
  }
}
