// Tests of the conv forward kernel lab (kernels/cuda/conv_lab.h) under the host emulation of
// CUDA: every version against the CPU reference (kernels/reference/conv.h: direct loops, double
// accumulation) on shapes with odd sizes, stride 2, padding, dilation, a fused activation, and
// channel / position counts that leave partial tiles of every block tile; and versions 2-5 and
// the normal dispatch (conv2d_forward, which picks the tile per shape) bit for bit equal, since
// each output is the same fmaf chain over the taps in all of them - except where the dispatch
// takes the narrow forward (few output channels), whose order differs: there versions 2-5 are
// held to each other.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/conv.h"
#include "kernels/cuda/conv_forward_narrow.h"
#include "kernels/cuda/conv_lab.h"
#include "kernels/reference/conv.h"
#include "tests/kernel_test_util.h"

using weft::Conv2dParams;
using weft::cuda::ConvLabVersion;
using weft::test::check_close;
using weft::test::nan_floats;
using weft::test::random_floats;

namespace {

struct LabShape {
  int n, c, h, w, o, kh, kw, stride, pad, dilation;
  bool bias;
  weft::FusedActivation::Kind activation;
};

Conv2dParams lab_params(const LabShape& s) {
  Conv2dParams p;
  p.batch = s.n;
  p.in_channels = s.c;
  p.in_h = s.h;
  p.in_w = s.w;
  p.out_channels = s.o;
  p.kernel_h = s.kh;
  p.kernel_w = s.kw;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  p.dilation_h = p.dilation_w = s.dilation;
  p.activation.kind = s.activation;
  p.activation.alpha = 0.2f;
  return p;
}

std::string shape_name(const Conv2dParams& p) {
  std::ostringstream name;
  name << "conv " << p.batch << "x" << p.in_channels << "x" << p.in_h << "x" << p.in_w << " -> "
       << p.out_channels << " k" << p.kernel_h << "x" << p.kernel_w << " s" << p.stride_h << " p"
       << p.pad_h << " d" << p.dilation_h;
  return name.str();
}

constexpr LabShape kShapes[] = {
    {2, 3, 9, 11, 5, 3, 3, 1, 1, 1, true, weft::FusedActivation::Kind::none},
    {1, 6, 13, 12, 70, 3, 3, 2, 1, 1, true, weft::FusedActivation::Kind::relu},
    {2, 17, 10, 9, 131, 3, 2, 1, 2, 1, false, weft::FusedActivation::Kind::none},
    {1, 4, 12, 12, 9, 3, 3, 1, 2, 2, true, weft::FusedActivation::Kind::leaky_relu},
    {2, 33, 9, 9, 140, 1, 1, 2, 0, 1, true, weft::FusedActivation::Kind::none},
    {2, 9, 15, 13, 129, 5, 5, 2, 2, 1, false, weft::FusedActivation::Kind::leaky_relu},
};

}  // namespace

TEST_CASE("conv lab: every version matches the reference, versions 2-5 bit for bit",
          "[emu][conv][lab]") {
  uint32_t seed = 1400;
  for (const LabShape& shape : kShapes) {
    const Conv2dParams p = lab_params(shape);
    INFO(shape_name(p));
    const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
    const int64_t w_count = int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w;
    const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
    const std::vector<float> x = random_floats(x_count, ++seed);
    const std::vector<float> w = random_floats(w_count, ++seed);
    const std::vector<float> bias = random_floats(p.out_channels, ++seed);
    const float* bias_or_null = shape.bias ? bias.data() : nullptr;
    std::vector<double> want(static_cast<size_t>(y_count));
    weft::reference::conv2d_forward(p, x.data(), w.data(), bias_or_null, want.data());
    // 4 u per term (tests/backend_op_table.cpp, product_tolerance), plus the bias.
    const int64_t terms = int64_t{p.in_channels} * p.kernel_h * p.kernel_w + 1;
    const double abs_tol = 1e-6 + 4.0 * 5.9604644775390625e-8 * static_cast<double>(terms);

    std::vector<float> dispatched = nan_floats(y_count);
    weft::cuda::conv2d_forward(p, x.data(), w.data(), bias_or_null, dispatched.data(), nullptr,
                               nullptr);
    check_close("conv2d_forward", dispatched, want, abs_tol, 1e-5);
    // Versions 2-5 share the tiled kernel's summation order. For a shape the narrow forward
    // takes (conv_forward_narrow.cu, another order) the dispatch is not that kernel, so those
    // versions are held to version 2's result instead.
    const bool narrow = weft::cuda::narrow_forward_applies(p);
    std::vector<float> tiled_order;
    for (int v = 1; v <= weft::cuda::kConvLabVersions; ++v) {
      const auto version = static_cast<ConvLabVersion>(v);
      const char* name = weft::cuda::conv_lab_name(version);
      INFO(name);
      std::vector<float> y = nan_floats(y_count);
      weft::cuda::conv2d_forward_lab(version, p, x.data(), w.data(), bias_or_null, y.data(),
                                     nullptr);
      check_close(name, y, want, abs_tol, 1e-5);
      if (version == ConvLabVersion::naive) continue;
      if (narrow && tiled_order.empty()) {
        tiled_order = y;
        continue;
      }
      const std::vector<float>& same = narrow ? tiled_order : dispatched;
      CHECK(std::memcmp(y.data(), same.data(), y.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("conv lab: every version has a name", "[conv][lab]") {
  for (int v = 1; v <= weft::cuda::kConvLabVersions; ++v) {
    const std::string name = weft::cuda::conv_lab_name(static_cast<ConvLabVersion>(v));
    std::ostringstream prefix;
    prefix << "v" << v << " ";
    CHECK(name.rfind(prefix.str(), 0) == 0);
  }
}
