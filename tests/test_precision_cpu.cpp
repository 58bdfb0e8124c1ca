// The CPU backends at the math precisions tf32 and bf16 (kernels/cpu/rounded_operand.h): the
// reference's convolutions multiply the factors rounded as a tensor core rounds them, exactly
// the FP32 result of the rounded tensors, while its bias gradients stay sums of the unrounded
// dy; oneDNN (cpu-vendor) rounds the same way. These are what let the op table compare the hand
// tensor-core convolutions with the reference at those precisions, and what a CPU training run
// at bf16 computes.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/conv.h"
#include "kernels/reduced_precision.h"
#include "tests/kernel_test_util.h"

#ifdef WEFT_HAVE_ONEDNN
#include "kernels/cpu_vendor/backend.h"
#endif

using weft::Conv2dParams;
using weft::ConvTranspose2dParams;
using weft::MathPrecision;
using weft::test::PrecisionScope;
using weft::test::random_floats;
using weft::test::rounded;

namespace {

// How many elements of a and b differ at all.
int differences(const std::vector<float>& a, const std::vector<float>& b) {
  int count = 0;
  for (size_t i = 0; i < a.size(); ++i) count += a[i] != b[i] ? 1 : 0;
  return count;
}

Conv2dParams conv_shape() {
  Conv2dParams p;
  p.batch = 2;
  p.in_channels = 5;
  p.in_h = 9;
  p.in_w = 8;
  p.out_channels = 7;
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 1;
  p.stride_h = 2;
  return p;
}

}  // namespace

TEST_CASE("precision: the CPU reference convolution multiplies rounded factors",
          "[kernels][conv][precision]") {
  const Conv2dParams p = conv_shape();
  const std::vector<float> x = random_floats(p.input_count(), 1);
  const std::vector<float> w = random_floats(p.weight_count(), 2);
  const std::vector<float> dy = random_floats(p.output_count(), 3);
  const std::vector<float> bias = random_floats(p.out_channels, 4);
  weft::Backend& cpu = weft::cpu_backend();
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    INFO("precision " << weft::precision_name(precision));
    const std::vector<float> xr = rounded(x, precision), wr = rounded(w, precision);
    const std::vector<float> dyr = rounded(dy, precision);

    // Expected: the FP32 passes of the rounded tensors.
    std::vector<float> y_want(p.output_count()), dx_want(p.input_count());
    std::vector<float> dw_want(p.weight_count()), dbias_want(p.out_channels);
    std::vector<float> y_fp32(p.output_count());
    cpu.conv2d_forward(p, xr.data(), wr.data(), bias.data(), y_want.data());
    cpu.conv2d_forward(p, x.data(), w.data(), bias.data(), y_fp32.data());
    cpu.conv2d_backward_data(p, dyr.data(), wr.data(), dx_want.data());
    // The bias gradient is a sum, not a product: of the unrounded dy, in double per channel
    // (channel_sums; at fp32 the direct loop may sum it its own way, in the same pass as dw).
    weft::cpu::channel_sums(dy.data(), p.batch, p.out_channels,
                            int64_t{p.out_h()} * p.out_w(), dbias_want.data());
    cpu.conv2d_backward_filter(p, xr.data(), dyr.data(), dw_want.data(), nullptr);

    std::vector<float> y(p.output_count()), dx(p.input_count()), dw(p.weight_count());
    std::vector<float> dbias(p.out_channels);
    {
      const PrecisionScope scope(precision);
      cpu.conv2d_forward(p, x.data(), w.data(), bias.data(), y.data());
      cpu.conv2d_backward_data(p, dy.data(), w.data(), dx.data());
      cpu.conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
    }
    CHECK(differences(y, y_want) == 0);
    CHECK(differences(y, y_fp32) > 0);  // the rounding did something
    CHECK(differences(dx, dx_want) == 0);
    CHECK(differences(dw, dw_want) == 0);
    CHECK(differences(dbias, dbias_want) == 0);  // summed from the unrounded dy
  }
}

TEST_CASE("precision: the CPU reference transposed convolution multiplies rounded factors",
          "[kernels][conv][precision]") {
  ConvTranspose2dParams p;
  p.batch = 2;
  p.in_channels = 6;
  p.in_h = p.in_w = 4;
  p.out_channels = 3;
  p.kernel_h = p.kernel_w = 4;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  const std::vector<float> x = random_floats(p.input_count(), 5);
  const std::vector<float> w = random_floats(p.weight_count(), 6);
  const std::vector<float> dy = random_floats(p.output_count(), 7);
  weft::Backend& cpu = weft::cpu_backend();
  const MathPrecision precision = MathPrecision::bf16;
  const std::vector<float> xr = rounded(x, precision), wr = rounded(w, precision);
  const std::vector<float> dyr = rounded(dy, precision);

  std::vector<float> y_want(p.output_count()), dx_want(p.input_count());
  std::vector<float> dw_want(p.weight_count()), dbias_want(p.out_channels);
  cpu.conv_transpose2d_forward(p, xr.data(), wr.data(), nullptr, y_want.data());
  cpu.conv_transpose2d_backward_data(p, dyr.data(), wr.data(), dx_want.data());
  cpu.conv_transpose2d_backward_filter(p, x.data(), dy.data(), dw_want.data(), dbias_want.data());
  cpu.conv_transpose2d_backward_filter(p, xr.data(), dyr.data(), dw_want.data(), nullptr);

  std::vector<float> y(p.output_count()), dx(p.input_count()), dw(p.weight_count());
  std::vector<float> dbias(p.out_channels);
  {
    const PrecisionScope scope(precision);
    cpu.conv_transpose2d_forward(p, x.data(), w.data(), nullptr, y.data());
    cpu.conv_transpose2d_backward_data(p, dy.data(), w.data(), dx.data());
    cpu.conv_transpose2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  }
  CHECK(differences(y, y_want) == 0);
  CHECK(differences(dx, dx_want) == 0);
  CHECK(differences(dw, dw_want) == 0);
  CHECK(differences(dbias, dbias_want) == 0);
}

#ifdef WEFT_HAVE_ONEDNN
// oneDNN blocks its sums its own way, so it matches the reference to a float tolerance, not
// bit for bit; without the rounding it would sit as far from the bf16 reference as FP32 does
// (about 2^-9 of the terms), far outside that tolerance.
TEST_CASE("precision: oneDNN's convolution and linear layer get rounded factors at bf16",
          "[kernels][conv][precision]") {
  const Conv2dParams p = conv_shape();
  const std::vector<float> x = random_floats(p.input_count(), 8);
  const std::vector<float> w = random_floats(p.weight_count(), 9);
  const std::vector<float> dy = random_floats(p.output_count(), 10);
  const PrecisionScope scope(MathPrecision::bf16);
  weft::Backend& vendor = weft::cpu_vendor_backend();
  std::vector<float> y(p.output_count()), y_want(p.output_count());
  vendor.conv2d_forward(p, x.data(), w.data(), nullptr, y.data());
  weft::cpu_backend().conv2d_forward(p, x.data(), w.data(), nullptr, y_want.data());
  weft::test::check_close("y", y, y_want, 1e-5, 1e-5);

  std::vector<float> dw(p.weight_count()), dbias(p.out_channels);
  std::vector<float> dw_want(p.weight_count()), dbias_want(p.out_channels);
  vendor.conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  weft::cpu_backend().conv2d_backward_filter(p, x.data(), dy.data(), dw_want.data(),
                                             dbias_want.data());
  weft::test::check_close("dw", dw, dw_want, 1e-5, 1e-5);
  weft::test::check_close("dbias", dbias, dbias_want, 1e-5, 1e-5);

  const int n = 5, in = 40, out = 6;
  const std::vector<float> a = random_floats(int64_t{n} * in, 11);
  const std::vector<float> weights = random_floats(int64_t{out} * in, 12);
  const std::vector<float> grad = random_floats(int64_t{n} * out, 13);
  std::vector<float> lin(n * out), lin_want(n * out), lin_dbias(out), lin_dbias_want(out);
  vendor.linear_forward(n, in, out, {}, a.data(), weights.data(), nullptr, lin.data());
  weft::cpu_backend().linear_forward(n, in, out, {}, a.data(), weights.data(), nullptr,
                                     lin_want.data());
  weft::test::check_close("linear y", lin, lin_want, 1e-5, 1e-5);
  vendor.linear_backward(n, in, out, {}, a.data(), weights.data(), grad.data(), nullptr, nullptr,
                         lin_dbias.data());
  weft::cpu_backend().linear_backward(n, in, out, {}, a.data(), weights.data(), grad.data(),
                                      nullptr, nullptr, lin_dbias_want.data());
  weft::test::check_close("linear dbias", lin_dbias, lin_dbias_want, 1e-6, 1e-6);
}
#endif
