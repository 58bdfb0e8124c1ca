// Tests of the CPU convolution kernels (kernels/cpu/conv.h): small cases worked out by hand,
// then every function against its definition (kernels/reference/conv.h: direct loops, double
// accumulation) over a table of shapes, plus the adjoint identities that tie forward,
// backward-data and backward-filter together. The table takes every algorithm the hand kernels
// choose among (kernels/cpu/conv_direct.h: im2col, full window, direct) for every pass; a test
// below holds it to that.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/op_text.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/reference/conv.h"
#include "tests/kernel_test_util.h"

using weft::Conv2dParams;
using weft::ConvTranspose2dParams;
using weft::test::check_adjoint;
using weft::test::check_close;
using weft::test::dot;
using weft::test::nan_floats;
using weft::test::random_floats;

namespace {

// ---- shapes ---------------------------------------------------------------------------------

Conv2dParams conv_params(int n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int ph,
                         int pw, int dh, int dw) {
  Conv2dParams p;
  p.batch = n;
  p.in_channels = c;
  p.in_h = h;
  p.in_w = w;
  p.out_channels = o;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  return p;
}

ConvTranspose2dParams conv_transpose_params(int n, int c, int h, int w, int o, int kh, int kw,
                                            int sh, int sw, int ph, int pw, int oph, int opw,
                                            int dh, int dw) {
  ConvTranspose2dParams p;
  p.batch = n;
  p.in_channels = c;
  p.in_h = h;
  p.in_w = w;
  p.out_channels = o;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.output_pad_h = oph;
  p.output_pad_w = opw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  return p;
}

// ---- the definitions ----------------------------------------------------------------------------

// The four results of a convolution-like op by its definition (kernels/reference/conv.h): y with
// the given bias (none when null), dx, dw and dbias for the output gradient dy.
struct Reference {
  std::vector<double> y, dx, dw, dbias;
};

Reference reference(const Conv2dParams& p, const std::vector<float>& x,
                    const std::vector<float>& w, const float* bias, const std::vector<float>& dy) {
  Reference r;
  r.y.resize(dy.size());
  r.dx.resize(x.size());
  r.dw.resize(w.size());
  r.dbias.resize(static_cast<size_t>(p.out_channels));
  weft::reference::conv2d_forward(p, x.data(), w.data(), bias, r.y.data());
  weft::reference::conv2d_backward_data(p, dy.data(), w.data(), r.dx.data());
  weft::reference::conv2d_backward_filter(p, x.data(), dy.data(), r.dw.data(), r.dbias.data());
  return r;
}

Reference reference(const ConvTranspose2dParams& p, const std::vector<float>& x,
                    const std::vector<float>& w, const float* bias, const std::vector<float>& dy) {
  Reference r;
  r.y.resize(dy.size());
  r.dx.resize(x.size());
  r.dw.resize(w.size());
  r.dbias.resize(static_cast<size_t>(p.out_channels));
  weft::reference::conv_transpose2d_forward(p, x.data(), w.data(), bias, r.y.data());
  weft::reference::conv_transpose2d_backward_data(p, dy.data(), w.data(), r.dx.data());
  weft::reference::conv_transpose2d_backward_filter(p, x.data(), dy.data(), r.dw.data(),
                                                    r.dbias.data());
  return r;
}

}  // namespace

// ---- hand-computed cases ----------------------------------------------------------------------

TEST_CASE("conv2d: 3x3 input, 2x2 kernel, stride 1, by hand", "[kernels][conv]") {
  // x = 1 2 3     w = 1 2     bias = 0.5
  //     4 5 6         3 4
  //     7 8 9
  // y[0][0] = 1*1 + 2*2 + 4*3 + 5*4 = 37      y[0][1] = 2*1 + 3*2 + 5*3 + 6*4 = 47
  // y[1][0] = 4*1 + 5*2 + 7*3 + 8*4 = 67      y[1][1] = 5*1 + 6*2 + 8*3 + 9*4 = 77
  const Conv2dParams p = conv_params(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> w = {1, 2, 3, 4};
  const float bias = 0.5f;
  REQUIRE(p.out_h() == 2);
  REQUIRE(p.out_w() == 2);
  std::vector<float> y = nan_floats(4);
  weft::cpu::conv2d_forward(p, x.data(), w.data(), &bias, y.data());
  check_close("y", y, std::vector<float>{37.5f, 47.5f, 67.5f, 77.5f});

  // dy = 1 0    dx is w placed at the top-left window only:  dx = 1 2 0
  //      0 0                                                      3 4 0
  //                                                               0 0 0
  // dw = the top-left window of x = 1 2 / 4 5, dbias = 1.
  const std::vector<float> dy = {1, 0, 0, 0};
  std::vector<float> dx = nan_floats(9);
  weft::cpu::conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  check_close("dx", dx, std::vector<float>{1, 2, 0, 3, 4, 0, 0, 0, 0});
  std::vector<float> dw = nan_floats(4), dbias = nan_floats(1);
  weft::cpu::conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  check_close("dw", dw, std::vector<float>{1, 2, 4, 5});
  check_close("dbias", dbias, std::vector<float>{1});
}

TEST_CASE("conv2d: 3x3 input, 2x2 kernel, stride 2, padding 1, by hand", "[kernels][conv]") {
  // Same x and w, padded by one zero on every side; out = (3 + 2 - 2) / 2 + 1 = 2.
  // Window (oh, ow) covers rows 2*oh-1 .. 2*oh and columns 2*ow-1 .. 2*ow:
  //   y[0][0]: only x[0][0] = 1 under w[1][1] = 4                  -> 4
  //   y[0][1]: x[0][1] = 2 under w[1][0], x[0][2] = 3 under w[1][1]   -> 2*3 + 3*4 = 18
  //   y[1][0]: x[1][0] = 4 under w[0][1], x[2][0] = 7 under w[1][1]   -> 4*2 + 7*4 = 36
  //   y[1][1]: x[1..2][1..2] = 5 6 / 8 9 under all of w            -> 5 + 12 + 24 + 36 = 77
  const Conv2dParams p = conv_params(1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> w = {1, 2, 3, 4};
  REQUIRE(p.out_h() == 2);
  REQUIRE(p.out_w() == 2);
  std::vector<float> y = nan_floats(4);
  weft::cpu::conv2d_forward(p, x.data(), w.data(), nullptr, y.data());
  check_close("y", y, std::vector<float>{4, 18, 36, 77});

  // dy = all ones: every input cell is read by exactly one tap (the windows tile the padded
  // input), so dx[i][j] is the weight that reads it:  dx = 4 3 4
  //                                                         2 1 2
  //                                                         4 3 4
  // dw[kh][kw] = sum of the x cells that tap reads:  w[0][0] reads 5 only              -> 5
  //   w[0][1] reads 4 and 6 -> 10,   w[1][0] reads 2 and 8 -> 10,   w[1][1] reads 1, 3, 7, 9 -> 20
  // dbias = 4 outputs * 1 = 4.
  const std::vector<float> dy = {1, 1, 1, 1};
  std::vector<float> dx = nan_floats(9);
  weft::cpu::conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  check_close("dx", dx, std::vector<float>{4, 3, 4, 2, 1, 2, 4, 3, 4});
  std::vector<float> dw = nan_floats(4), dbias = nan_floats(1);
  weft::cpu::conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  check_close("dw", dw, std::vector<float>{5, 10, 10, 20});
  check_close("dbias", dbias, std::vector<float>{4});
}

TEST_CASE("conv_transpose2d: 2x2 input, stride 2, by hand", "[kernels][conv]") {
  // x = 1 2   w = 1 2   kernel 2, stride 2: out = (2 - 1) * 2 + 1 * (2 - 1) + 1 = 4.
  //     3 4       3 4   Each input cell paints x * w onto its own 2x2 block, no overlap:
  //   y = 1*w | 2*w   =   1  2  2  4      then + bias (-1) everywhere
  //       3*w | 4*w       3  4  6  8
  //                       3  6  4  8
  //                       9 12 12 16
  const ConvTranspose2dParams p =
      conv_transpose_params(1, 1, 2, 2, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w = {1, 2, 3, 4};
  const float bias = -1.0f;
  REQUIRE(p.out_h() == 4);
  REQUIRE(p.out_w() == 4);
  std::vector<float> y = nan_floats(16);
  weft::cpu::conv_transpose2d_forward(p, x.data(), w.data(), &bias, y.data());
  check_close("y", y, std::vector<float>{0, 1, 1, 3, 2, 3, 5, 7, 2, 5, 3, 7, 8, 11, 11, 15});

  // dy = the 4x4 plane 0..15. dx[i][j] = <w, the 2x2 block of dy that x[i][j] painted>:
  //   dx[0][0] = 1*0 + 2*1 + 3*4 + 4*5 = 34       dx[0][1] = 1*2 + 2*3 + 3*6 + 4*7 = 54
  //   dx[1][0] = 1*8 + 2*9 + 3*12 + 4*13 = 114    dx[1][1] = 1*10 + 2*11 + 3*14 + 4*15 = 134
  // dw[kh][kw] = sum over the four blocks of x[i][j] * dy[2i + kh][2j + kw]:
  //   dw[0][0] = 1*0 + 2*2 + 3*8 + 4*10 = 68      dw[0][1] = 1*1 + 2*3 + 3*9 + 4*11 = 78
  //   dw[1][0] = 1*4 + 2*6 + 3*12 + 4*14 = 108    dw[1][1] = 1*5 + 2*7 + 3*13 + 4*15 = 118
  // dbias = 0 + 1 + ... + 15 = 120.
  std::vector<float> dy(16);
  for (int i = 0; i < 16; ++i) dy[i] = static_cast<float>(i);
  std::vector<float> dx = nan_floats(4);
  weft::cpu::conv_transpose2d_backward_data(p, dy.data(), w.data(), dx.data());
  check_close("dx", dx, std::vector<float>{34, 54, 114, 134});
  std::vector<float> dw = nan_floats(4), dbias = nan_floats(1);
  weft::cpu::conv_transpose2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  check_close("dw", dw, std::vector<float>{68, 78, 108, 118});
  check_close("dbias", dbias, std::vector<float>{120});
}

TEST_CASE("conv_transpose2d: overlapping 3x3 kernel, stride 2, by hand", "[kernels][conv]") {
  // x = 1 2, w = all ones 3x3, stride 2: out = 1 * 2 + 2 + 1 = 5. Cell (i, j) adds x[i][j] to
  //     3 4  rows 2i .. 2i+2 and columns 2j .. 2j+2, so row and column 2 are painted twice:
  //   y = 1 1  3 2 2        (row 2 = row 0 + row 4: 1+3, 1+3, 1+2+3+4 = 10, 2+4, 2+4)
  //       1 1  3 2 2
  //       4 4 10 6 6
  //       3 3  7 4 4
  //       3 3  7 4 4
  const ConvTranspose2dParams p =
      conv_transpose_params(1, 1, 2, 2, 1, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w(9, 1.0f);
  REQUIRE(p.out_h() == 5);
  std::vector<float> y = nan_floats(25);
  weft::cpu::conv_transpose2d_forward(p, x.data(), w.data(), nullptr, y.data());
  check_close("y", y, std::vector<float>{1, 1, 3, 2, 2, 1, 1, 3, 2, 2, 4, 4, 10,
                                         6, 6, 3, 3, 7, 4, 4, 3, 3, 7, 4, 4});
}

// ---- comparisons with the definitions ---------------------------------------------------------

namespace {

// Runs all three convolution kernels on random data and compares them with the definitions, then
// checks the adjoint identities <conv(x), dy> = <x, conv_backward_data(dy)> and
// <conv(x; w), dy> = <w, conv_backward_filter(x, dy)>.
void check_conv_against_reference(const Conv2dParams& p, uint32_t seed) {
  INFO(describe(p));
  const std::vector<float> x = random_floats(p.input_count(), seed);
  const std::vector<float> w = random_floats(p.weight_count(), seed + 1);
  const std::vector<float> bias = random_floats(p.out_channels, seed + 2);
  const std::vector<float> dy = random_floats(p.output_count(), seed + 3);
  const Reference ref = reference(p, x, w, bias.data(), dy);

  std::vector<float> y = nan_floats(p.output_count());
  weft::cpu::conv2d_forward(p, x.data(), w.data(), bias.data(), y.data());
  check_close("forward with bias", y, ref.y);

  std::vector<float> y_plain = nan_floats(p.output_count());
  weft::cpu::conv2d_forward(p, x.data(), w.data(), nullptr, y_plain.data());
  const Reference ref_plain = reference(p, x, w, nullptr, dy);
  check_close("forward without bias", y_plain, ref_plain.y);

  std::vector<float> dx = nan_floats(p.input_count());
  weft::cpu::conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  check_close("backward data", dx, ref.dx);

  std::vector<float> dw = nan_floats(p.weight_count()), dbias = nan_floats(p.out_channels);
  weft::cpu::conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  check_close("backward filter dw", dw, ref.dw);
  check_close("backward filter dbias", dbias, ref.dbias);
  std::vector<float> dw_only = nan_floats(p.weight_count());
  weft::cpu::conv2d_backward_filter(p, x.data(), dy.data(), dw_only.data(), nullptr);
  check_close("backward filter without dbias", dw_only, ref.dw);

  check_adjoint("<conv(x), dy> = <x, backward_data(dy)>", dot(y_plain, dy), dot(x, dx));
  check_adjoint("<conv(x; w), dy> = <w, backward_filter(x, dy)>", dot(y_plain, dy), dot(w, dw));
}

void check_conv_transpose_against_reference(const ConvTranspose2dParams& p, uint32_t seed) {
  INFO(describe(p));
  const std::vector<float> x = random_floats(p.input_count(), seed);
  const std::vector<float> w = random_floats(p.weight_count(), seed + 1);
  const std::vector<float> bias = random_floats(p.out_channels, seed + 2);
  const std::vector<float> dy = random_floats(p.output_count(), seed + 3);
  const Reference ref = reference(p, x, w, bias.data(), dy);

  std::vector<float> y = nan_floats(p.output_count());
  weft::cpu::conv_transpose2d_forward(p, x.data(), w.data(), bias.data(), y.data());
  check_close("forward with bias", y, ref.y);

  std::vector<float> y_plain = nan_floats(p.output_count());
  weft::cpu::conv_transpose2d_forward(p, x.data(), w.data(), nullptr, y_plain.data());
  const Reference ref_plain = reference(p, x, w, nullptr, dy);
  check_close("forward without bias", y_plain, ref_plain.y);

  std::vector<float> dx = nan_floats(p.input_count());
  weft::cpu::conv_transpose2d_backward_data(p, dy.data(), w.data(), dx.data());
  check_close("backward data", dx, ref.dx);

  std::vector<float> dw = nan_floats(p.weight_count()), dbias = nan_floats(p.out_channels);
  weft::cpu::conv_transpose2d_backward_filter(p, x.data(), dy.data(), dw.data(), dbias.data());
  check_close("backward filter dw", dw, ref.dw);
  check_close("backward filter dbias", dbias, ref.dbias);
  std::vector<float> dw_only = nan_floats(p.weight_count());
  weft::cpu::conv_transpose2d_backward_filter(p, x.data(), dy.data(), dw_only.data(), nullptr);
  check_close("backward filter without dbias", dw_only, ref.dw);

  check_adjoint("<convT(x), dy> = <x, backward_data(dy)>", dot(y_plain, dy), dot(x, dx));
  check_adjoint("<convT(x; w), dy> = <w, backward_filter(x, dy)>", dot(y_plain, dy), dot(w, dw));
}

}  // namespace

namespace {

// The shapes the table below checks. Fields: N, C, H, W, O, KH, KW, stride h/w, pad h/w,
// dilation h/w.
const std::vector<Conv2dParams>& conv_shapes() {
  static const std::vector<Conv2dParams> shapes = {
      conv_params(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1, 1),       // the hand case, random data
      conv_params(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1),       // odd sizes, same padding
      conv_params(1, 5, 9, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1),       // stride 2
      conv_params(3, 7, 11, 8, 5, 3, 2, 1, 2, 0, 1, 2, 1),      // non-square kernel and stride
      conv_params(2, 3, 10, 10, 2, 3, 3, 1, 1, 2, 2, 2, 2),     // dilation 2
      conv_params(2, 5, 6, 7, 3, 5, 5, 2, 3, 2, 1, 1, 1),       // kernel nearly the input size
      conv_params(1, 3, 5, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1),       // 1x1 convolution
      conv_params(1, 2, 9, 9, 2, 2, 2, 3, 3, 0, 0, 1, 1),       // stride > kernel: unread pixels
      conv_params(1, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2, 1, 1),       // rows made only of padding
      conv_params(2, 3, 8, 9, 4, 3, 1, 2, 1, 1, 0, 3, 1),       // 3x1 kernel, dilation 3
      conv_params(4, 1, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1),    // seed model: first conv
      conv_params(2, 64, 14, 14, 128, 3, 3, 1, 1, 1, 1, 1, 1),  // seed model: second conv
      // 200*9 + 9 = 1809 buffer rows of 40*40 columns per image: two images per 32 MiB chunk,
      // so the batch of 3 runs as chunks of 2 and 1 (backward-filter accumulates across them).
      conv_params(3, 200, 40, 40, 9, 3, 3, 1, 1, 1, 1, 1, 1),
      // The direct loops: two 16-column blocks and a tail of 5, 4 + 3 output channels, stride
      // 2 down the rows (backward-data then takes im2col); the shoe-pair CNN's 5x5 layers.
      conv_params(2, 5, 13, 37, 7, 3, 3, 2, 1, 1, 1, 1, 1),
      conv_params(2, 6, 20, 21, 4, 5, 5, 1, 1, 2, 2, 1, 1),
      conv_params(1, 4, 12, 40, 8, 5, 5, 1, 1, 2, 2, 1, 1),
      // 6 output channels: backward-filter's groups of 4 (5x5, AVX-512) leave 2 alone.
      conv_params(2, 3, 11, 19, 6, 5, 5, 1, 1, 2, 2, 1, 1),
      // Full window: the DCGAN discriminator's last layer (512 -> 1 on 4x4), scaled, and one
      // with a non-square input and several outputs.
      conv_params(3, 16, 4, 4, 1, 4, 4, 1, 1, 0, 0, 1, 1),
      conv_params(2, 3, 5, 3, 6, 5, 3, 2, 1, 0, 0, 1, 1),
      // Winograd F(2x2, 3x3): odd output sizes (a last row and column of half tiles), no
      // padding with odd and with even output sizes (then the last patch column reaches the
      // input's last column), padding 2, and a batch of 4 that runs as chunks of 3 and 1 (16 x 64 x
      // 2500 transformed floats per image against a 32 MiB budget).
      conv_params(2, 16, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1),
      conv_params(1, 17, 6, 5, 19, 3, 3, 1, 1, 0, 0, 1, 1),
      conv_params(2, 16, 8, 10, 16, 3, 3, 1, 1, 0, 0, 1, 1),
      conv_params(2, 16, 5, 6, 24, 3, 3, 1, 1, 2, 2, 1, 1),
      conv_params(4, 32, 100, 100, 32, 3, 3, 1, 1, 1, 1, 1, 1),
  };
  return shapes;
}

}  // namespace

TEST_CASE("conv2d: forward and backward match direct loops over a table of shapes",
          "[kernels][conv]") {
  uint32_t seed = 100;
  for (const Conv2dParams& p : conv_shapes()) {
    check_conv_against_reference(p, seed);
    seed += 10;
  }
}

// Which algorithm the hand kernels take per pass (kernels/cpu/conv_direct.h), on the seed
// layers, and that the table above takes each one for each pass it serves.
TEST_CASE("conv2d: the hand kernels choose im2col, full window or direct per shape and pass",
          "[kernels][conv]") {
  using weft::cpu::ConvAlgorithm;
  using weft::cpu::ConvPass;
  const auto algorithm = [](const Conv2dParams& p, ConvPass pass) {
    return weft::cpu::conv_algorithm(p, pass);
  };
  // The DCGAN discriminator's 512 -> 1 layer on 4x4: a linear layer, every pass.
  const Conv2dParams dcgan_last = conv_params(128, 512, 4, 4, 1, 4, 4, 1, 1, 0, 0, 1, 1);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    CHECK(algorithm(dcgan_last, pass) == ConvAlgorithm::full_window);
  }
  // The stacked shoe-pair CNN's second layer, 4 -> 8, 5x5, stride 1: direct, every pass.
  const Conv2dParams pair_conv2 = conv_params(42, 4, 224, 112, 8, 5, 5, 1, 1, 2, 2, 1, 1);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    CHECK(algorithm(pair_conv2, pass) == ConvAlgorithm::direct);
  }
  // The Fashion CNN's first layer, 1 -> 64: direct forward (one input channel) and filter,
  // im2col backward-data (an adjoint with 64 input channels).
  const Conv2dParams fashion_conv1 = conv_params(512, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0, 1, 1);
  CHECK(algorithm(fashion_conv1, ConvPass::forward) == ConvAlgorithm::direct);
  CHECK(algorithm(fashion_conv1, ConvPass::backward_data) == ConvAlgorithm::im2col);
  CHECK(algorithm(fashion_conv1, ConvPass::backward_filter) == ConvAlgorithm::direct);
  // A residual 3x3 layer, 64 -> 64: Winograd everywhere; its stride-2 sibling and the stem
  // (stride 2 along the rows: never direct) take im2col.
  const Conv2dParams residual = conv_params(32, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1);
  const Conv2dParams strided = conv_params(32, 64, 56, 56, 128, 3, 3, 2, 2, 1, 1, 1, 1);
  const Conv2dParams stem = conv_params(32, 3, 224, 224, 4, 7, 7, 2, 2, 3, 3, 1, 1);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    CHECK(algorithm(residual, pass) == ConvAlgorithm::winograd);
    CHECK(algorithm(strided, pass) == ConvAlgorithm::im2col);
    CHECK(algorithm(stem, pass) == ConvAlgorithm::im2col);
  }
  // A 16 -> 16 3x3 layer: direct forward (16 input channels), Winograd backwards; 32 -> 64:
  // Winograd forward.
  const Conv2dParams c16 = conv_params(32, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1);
  CHECK(algorithm(c16, ConvPass::forward) == ConvAlgorithm::direct);
  CHECK(algorithm(c16, ConvPass::backward_filter) == ConvAlgorithm::winograd);
  const Conv2dParams c32 = conv_params(64, 32, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1);
  CHECK(algorithm(c32, ConvPass::forward) == ConvAlgorithm::winograd);
  // An empty batch stays with im2col, whose edge cases define what it writes.
  CHECK(algorithm(conv_params(0, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1), ConvPass::forward) ==
        ConvAlgorithm::im2col);

  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    for (ConvAlgorithm a : {ConvAlgorithm::im2col, ConvAlgorithm::full_window,
                            ConvAlgorithm::direct, ConvAlgorithm::winograd}) {
      int shapes = 0;
      for (const Conv2dParams& p : conv_shapes()) shapes += algorithm(p, pass) == a ? 1 : 0;
      INFO("pass " << static_cast<int>(pass) << ", " << weft::cpu::conv_algorithm_name(a));
      CHECK(shapes > 0);
    }
  }
}

// WEFT_CPU_CONV's overrides (set_conv_choice): im2col everywhere, or Winograd wherever it
// applies, even on the thin layers `auto` leaves to im2col; both still match the reference.
TEST_CASE("conv2d: set_conv_choice forces im2col or Winograd", "[kernels][conv]") {
  using weft::cpu::ConvAlgorithm;
  using weft::cpu::ConvChoice;
  using weft::cpu::ConvPass;
  struct Restore {
    ~Restore() { weft::cpu::set_conv_choice(ConvChoice::automatic); }
  } restore;
  const Conv2dParams residual = conv_params(2, 16, 9, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1);
  const Conv2dParams thin = conv_params(3, 1, 12, 11, 6, 3, 3, 1, 1, 0, 0, 1, 1);
  const Conv2dParams strided = conv_params(2, 16, 9, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1);

  weft::cpu::set_conv_choice(ConvChoice::im2col);
  CHECK(weft::cpu::conv_choice() == ConvChoice::im2col);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    CHECK(weft::cpu::conv_algorithm(residual, pass) == ConvAlgorithm::im2col);
  }
  check_conv_against_reference(residual, 900);

  weft::cpu::set_conv_choice(ConvChoice::winograd);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter}) {
    CHECK(weft::cpu::conv_algorithm(thin, pass) == ConvAlgorithm::winograd);
    CHECK(weft::cpu::conv_algorithm(strided, pass) != ConvAlgorithm::winograd);
  }
  check_conv_against_reference(thin, 910);
}

TEST_CASE("conv_transpose2d: forward and backward match direct loops over a table of shapes",
          "[kernels][conv]") {
  // Fields: N, C, H, W, O, KH, KW, stride h/w, pad h/w, output pad h/w, dilation h/w.
  const std::vector<ConvTranspose2dParams> shapes = {
      conv_transpose_params(1, 1, 2, 2, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1),    // the hand case
      conv_transpose_params(2, 16, 7, 7, 8, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1),   // seed: 7x7 -> 14x14
      conv_transpose_params(1, 3, 5, 4, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),    // output padding
      conv_transpose_params(2, 5, 4, 6, 3, 3, 2, 1, 2, 0, 1, 0, 1, 2, 1),    // dilation, non-square
      conv_transpose_params(1, 7, 3, 3, 2, 3, 3, 3, 3, 0, 0, 2, 1, 1, 1),    // stride 3, op 2 and 1
      conv_transpose_params(1, 2, 6, 6, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1),    // 1x1
      conv_transpose_params(3, 3, 5, 5, 2, 5, 3, 2, 1, 2, 1, 1, 0, 1, 2),    // mixed everything
      conv_transpose_params(2, 16, 6, 7, 20, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1),  // Winograd, 3x3
  };
  uint32_t seed = 500;
  for (const ConvTranspose2dParams& p : shapes) {
    check_conv_transpose_against_reference(p, seed);
    seed += 10;
  }
}
