// Tests of the backward-data of few input channels (kernels/cuda/conv_data_few_channels.h) under
// the host emulation. The op table's convolution cases reach it through the hand backend; here
// the two kernels are held to each other: where the whole filter fits in shared memory, the phase
// kernel (one thread per pixel, its pixels numbered by stride phase) must give the per-element
// direct kernel's dx bit for bit (same fmaf chains in the same order), on layers with strides,
// dilation, padding, a bias (conv_transpose2d's forward) and odd sizes whose phases have unequal
// rows. A filter too large for one copy is taken in chunks of output channels (checked against
// the double-precision definition), and the launch trace says which kernel ran. The operands are
// followed by NaN, so a read past the end of one shows in dx. Last, the hand backend's route at
// fp32: a strided image layer on the phase kernel, a stride-1 one as its adjoint on the narrow
// forward.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/conv_data_few_channels.h"
#include "kernels/reference/conv.h"
#include "kernels/runtime_counters.h"
#include "tests/kernel_test_util.h"
#include "tests/params_test_util.h"

namespace {

using weft::Conv2dParams;
using weft::cuda::FewChannelsKernel;

Conv2dParams layer(int n, int c, int h, int w, int o, int k, int stride, int pad, int dilation) {
  Conv2dParams p = weft::test::square_conv(n, c, h, w, o, k, pad, stride);
  p.dilation_h = p.dilation_w = dilation;
  return p;
}

struct Run {
  std::vector<float> dx;
  std::vector<std::string> kernels;
};

// `values` followed by NaN: a kernel that reads past the end of an operand gets NaN in dx.
std::vector<float> fenced(const std::vector<float>& values) {
  std::vector<float> out = weft::test::nan_floats(static_cast<int64_t>(values.size()) + 8192);
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

Run backward_data(const Conv2dParams& p, const std::vector<float>& dy, const std::vector<float>& w,
                  const float* bias, FewChannelsKernel kernel) {
  Run run{weft::test::nan_floats(int64_t{p.batch} * p.in_channels * p.in_h * p.in_w), {}};
  const std::vector<float> dy_fenced = fenced(dy), w_fenced = fenced(w);
  weft::count::trace_launches(&run.kernels);
  weft::cuda::conv2d_backward_data_few_channels(p, dy_fenced.data(), w_fenced.data(), bias,
                                                run.dx.data(), nullptr,
                                                weft::cuda::OperandRounding::none, kernel);
  weft::count::trace_launches(nullptr);
  return run;
}

bool ran(const Run& run, const char* name) {
  return run.kernels.size() == 1 && run.kernels[0].find(name) != std::string::npos;
}

}  // namespace

TEST_CASE("conv backward-data of few channels (emu): the phase kernel equals the direct kernel",
          "[emu]") {
  // The DCGAN's disc1 and gen5 shape (4 x 4, stride 2, 3 channels) scaled, a pair CNN's 5 x 5
  // stride-1 layer, stride 3 with dilation 2 and odd sizes, 1 and 2 channels, stride 2 with a
  // kernel smaller than the stride (phases no tap reaches).
  const Conv2dParams layers[] = {
      layer(2, 3, 16, 16, 8, 4, 2, 1, 1),  layer(1, 4, 13, 11, 8, 5, 1, 2, 1),
      layer(2, 2, 17, 10, 5, 3, 3, 2, 2),  layer(1, 1, 9, 7, 6, 3, 2, 0, 1),
      layer(3, 3, 7, 9, 4, 1, 2, 0, 1),
  };
  uint32_t seed = 1;
  for (const Conv2dParams& p : layers) {
    INFO("layer " << p.in_channels << " -> " << p.out_channels << ", " << p.in_h << " x " << p.in_w
                  << ", k" << p.kernel_h << " s" << p.stride_h << " p" << p.pad_h << " d"
                  << p.dilation_h);
    const auto dy = weft::test::random_floats(
        int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w(), seed++);
    const auto w = weft::test::random_floats(
        int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, seed++);
    const auto bias = weft::test::random_floats(p.in_channels, seed++);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      const Run phases = backward_data(p, dy, w, b, FewChannelsKernel::phases);
      const Run direct = backward_data(p, dy, w, b, FewChannelsKernel::direct);
      CHECK(ran(phases, "conv2d_backward_data_phases_kernel"));
      CHECK(ran(direct, "conv2d_backward_data_direct_kernel"));
      REQUIRE(phases.dx.size() == direct.dx.size());
      int64_t differ = 0;
      for (size_t i = 0; i < phases.dx.size(); ++i) {
        if (!(phases.dx[i] == direct.dx[i])) ++differ;  // NaN (an element not written) differs
      }
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("conv backward-data of few channels (emu): a filter in chunks of output channels",
          "[emu]") {
  // 7 x 7 taps by 64 output channels (ResNet's stem, scaled) is 3,136 filter quads, more than the
  // 2,048 shared memory holds: 41 output channels, then 23. A 1 x 2049 kernel does not fit even
  // one channel's taps and takes the direct kernel.
  const Conv2dParams chunked = layer(1, 3, 12, 10, 64, 7, 2, 3, 1);
  Conv2dParams long_row = layer(1, 1, 1, 2060, 2, 1, 1, 0, 1);
  long_row.kernel_w = 2049;
  for (const Conv2dParams& p : {chunked, long_row}) {
    const auto dy = weft::test::random_floats(
        int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w(), 7);
    const auto w = weft::test::random_floats(
        int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, 8);
    const Run run = backward_data(p, dy, w, nullptr, FewChannelsKernel::phases);
    std::vector<double> want(run.dx.size());
    weft::reference::conv2d_backward_data(p, dy.data(), w.data(), want.data());
    weft::test::check_close("dx", run.dx, want, 1e-5, 1e-4);
    CHECK(ran(run, p.kernel_w == 2049 ? "conv2d_backward_data_direct_kernel"
                                      : "conv2d_backward_data_phases_kernel"));
  }
  // At tf32 the direct kernel (FP32 products) may not take that row: the backend leaves it to
  // the tensor-core kernels.
  weft::Backend& emu = weft::emu_backend();
  const weft::test::PrecisionScope tf32(weft::MathPrecision::tf32);
  const auto dy = weft::test::random_floats(long_row.out_channels * long_row.out_w(), 9);
  const auto w = weft::test::random_floats(long_row.out_channels * long_row.kernel_w, 10);
  std::vector<float> dx = weft::test::nan_floats(long_row.in_w);
  std::vector<std::string> kernels;
  weft::count::trace_launches(&kernels);
  emu.conv2d_backward_data(long_row, dy.data(), w.data(), dx.data());
  weft::count::trace_launches(nullptr);
  std::vector<double> want(dx.size());
  const auto dy_tf32 = weft::test::rounded(dy, weft::MathPrecision::tf32);
  const auto w_tf32 = weft::test::rounded(w, weft::MathPrecision::tf32);
  weft::reference::conv2d_backward_data(long_row, dy_tf32.data(), w_tf32.data(), want.data());
  weft::test::check_close("dx at tf32", dx, want, 1e-4, 1e-3);
  for (const std::string& k : kernels) CHECK(k.find("conv2d_backward_data_") == std::string::npos);
}

TEST_CASE("conv backward-data of few channels (emu): the hand backend's route at fp32", "[emu]") {
  weft::Backend& emu = weft::emu_backend();
  const Conv2dParams strided = layer(2, 3, 12, 12, 8, 4, 2, 1, 1);  // the DCGAN's disc1, scaled
  const Conv2dParams pair = layer(2, 4, 10, 9, 8, 5, 1, 2, 1);      // the pair CNNs' conv2
  for (const Conv2dParams& p : {strided, pair}) {
    const auto dy = weft::test::random_floats(
        int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w(), 11);
    const auto w = weft::test::random_floats(
        int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, 12);
    std::vector<float> dx =
        weft::test::nan_floats(int64_t{p.batch} * p.in_channels * p.in_h * p.in_w);
    std::vector<std::string> kernels;
    weft::count::trace_launches(&kernels);
    emu.conv2d_backward_data(p, dy.data(), w.data(), dx.data());
    weft::count::trace_launches(nullptr);
    std::vector<double> want(dx.size());
    weft::reference::conv2d_backward_data(p, dy.data(), w.data(), want.data());
    weft::test::check_close("dx", dx, want, 1e-5, 1e-4);
    REQUIRE_FALSE(kernels.empty());
    if (p.stride_h == 2) {
      CHECK(kernels.size() == 1);
      CHECK(kernels[0].find("conv2d_backward_data_phases_kernel") != std::string::npos);
    } else {
      CHECK(kernels.back().find("narrow_forward_kernel") != std::string::npos);
    }
  }
}
