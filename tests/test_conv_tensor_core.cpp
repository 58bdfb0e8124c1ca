// The hand tensor-core convolutions (kernels/cuda/conv_tensor_core.cu) under the host emulation,
// against a reference of their own: the direct-loop definitions (kernels/reference/conv.h,
// double accumulation) applied to operands rounded as the tensor cores round them (TF32 ties
// away from zero, BF16 ties to even; kernels/reduced_precision.h). What separates kernel and
// reference is then only the FP32 accumulation, bounded as in the op table (4 u per term of a
// sum of products of values in [-1, 1]). Forward (bias, fused activation, 16-byte and element
// filter copies), backward-data (stride 1, dilated, strided phases, strided and dilated, phases
// no tap reaches, a few channels), backward-filter (one slice and split-K), and the transposed
// convolution through as_conv(), at tf32 and bf16; the gather's two block tiles on one
// problem, with the emulator's count of what each executed; and the forward on channels-last
// copies against the NCHW kernel. The op table
// (tests/backend_op_table.cpp) checks the same paths against the CPU reference.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/emulation.h"
#include "kernels/reduced_precision.h"
#include "kernels/reference/conv.h"
#include "kernels/runtime_counters.h"
#include "kernels/selection.h"
#include "tests/kernel_test_util.h"

using weft::Conv2dParams;
using weft::ConvTranspose2dParams;
using weft::MathPrecision;
using weft::test::check_close;
using weft::test::nan_floats;
using weft::test::PrecisionScope;
using weft::test::random_floats;
using weft::test::rounded;

namespace {

double tolerance(int64_t terms) {
  return 1e-6 + 4.0 * 5.9604644775390625e-8 * terms;
}

Conv2dParams conv(int n, int c, int h, int w, int o, int kh, int kw, int s, int pad, int d) {
  Conv2dParams p;
  p.batch = n;
  p.in_channels = c;
  p.in_h = h;
  p.in_w = w;
  p.out_channels = o;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = d;
  return p;
}

std::string describe(const Conv2dParams& p, MathPrecision precision) {
  std::ostringstream s;
  s << p.batch << "x" << p.in_channels << "x" << p.in_h << "x" << p.in_w << " -> " << p.out_channels
    << " k" << p.kernel_h << "x" << p.kernel_w << " s" << p.stride_h << " p" << p.pad_h << " d"
    << p.dilation_h << " at " << weft::precision_name(precision);
  return s.str();
}

// p's backward-data on the emulated backend at `precision` from random dy and w (from `seed`),
// checked against the reference with the operands rounded at that precision; returns the
// kernels it launched, in order.
std::vector<std::string> traced_backward_data(const Conv2dParams& p, MathPrecision precision,
                                              uint32_t seed) {
  const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
  const std::vector<float> w =
      random_floats(int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, seed);
  const std::vector<float> dy =
      random_floats(int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w(), seed + 1);
  std::vector<double> want(static_cast<size_t>(x_count));
  weft::reference::conv2d_backward_data(p, rounded(dy, precision).data(),
                                        rounded(w, precision).data(), want.data());
  const PrecisionScope scope(precision);
  std::vector<std::string> kernels;
  weft::count::trace_launches(&kernels);
  std::vector<float> dx = nan_floats(x_count);
  weft::emu_backend().conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  weft::count::trace_launches(nullptr);
  check_close("backward-data", dx, want,
              tolerance(int64_t{p.out_channels} * p.kernel_h * p.kernel_w), 1e-5);
  return kernels;
}

void check_conv(const Conv2dParams& p, MathPrecision precision, uint32_t seed) {
  INFO(describe(p, precision));
  weft::Backend& emu = weft::emu_backend();
  const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
  const int64_t w_count = int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w;
  const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
  const std::vector<float> x = random_floats(x_count, seed);
  const std::vector<float> w = random_floats(w_count, seed + 1);
  const std::vector<float> dy = random_floats(y_count, seed + 2);
  const std::vector<float> bias = random_floats(p.out_channels, seed + 3);
  const std::vector<float> xr = rounded(x, precision), wr = rounded(w, precision);
  const std::vector<float> dyr = rounded(dy, precision);
  const PrecisionScope scope(precision);

  std::vector<float> y = nan_floats(y_count);
  emu.conv2d_forward(p, x.data(), w.data(), bias.data(), y.data());
  std::vector<double> want_y(static_cast<size_t>(y_count));
  weft::reference::conv2d_forward(p, xr.data(), wr.data(), bias.data(), want_y.data());
  check_close("forward", y, want_y, tolerance(w_count / p.out_channels), 1e-5);

  std::vector<float> dx = nan_floats(x_count);
  emu.conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  std::vector<double> want_dx(static_cast<size_t>(x_count));
  weft::reference::conv2d_backward_data(p, dyr.data(), wr.data(), want_dx.data());
  check_close("backward-data", dx, want_dx,
              tolerance(int64_t{p.out_channels} * p.kernel_h * p.kernel_w), 1e-5);

  std::vector<float> dw = nan_floats(w_count);
  emu.conv2d_backward_filter(p, x.data(), dy.data(), dw.data(), nullptr);
  std::vector<double> want_dw(static_cast<size_t>(w_count));
  weft::reference::conv2d_backward_filter(p, xr.data(), dyr.data(), want_dw.data(), nullptr);
  check_close("backward-filter", dw, want_dw, tolerance(y_count / p.out_channels), 1e-5);
}

// The output of one call of `pass` into `count` fresh floats (NaN until written), and what the
// emulator counted during it (weft::emu::op_counts).
template <class Pass>
std::pair<std::vector<float>, weft::emu::OpCounts> counted(int64_t count, Pass pass) {
  std::vector<float> out = nan_floats(count);
  const weft::emu::OpCounts before = weft::emu::op_counts();
  pass(out.data());
  return {out, weft::emu::op_counts() - before};
}

}  // namespace

TEST_CASE("conv tensor cores (emu): forward, backward-data, backward-filter at tf32 and bf16",
          "[conv][emu]") {
  uint32_t seed = 100;
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    // Channels above one 64-row tile and not multiples of 8 or 16; taps a multiple of 4 (the
    // forward's 16-byte filter copies) and not.
    check_conv(conv(2, 70, 5, 5, 67, 3, 3, 1, 1, 1), precision, seed += 4);
    check_conv(conv(1, 32, 9, 9, 12, 3, 3, 1, 1, 1), precision, seed += 4);
    // One input channel (backward-data's few-channel path at fp32), pad 0 on odd sizes.
    check_conv(conv(1, 1, 9, 11, 4, 3, 3, 1, 0, 1), precision, seed += 4);
    // Stride 2 (backward-data by phase), dilation 2, both, and stride 3 with a 2x2 kernel
    // (phases no tap reaches).
    check_conv(conv(1, 5, 9, 8, 3, 3, 2, 2, 1, 1), precision, seed += 4);
    check_conv(conv(2, 3, 11, 10, 6, 3, 3, 1, 2, 2), precision, seed += 4);
    check_conv(conv(1, 6, 11, 9, 5, 3, 3, 2, 2, 2), precision, seed += 4);
    check_conv(conv(2, 6, 10, 11, 5, 2, 2, 3, 1, 1), precision, seed += 4);
    // 1x1 stride 2 and 1x1 stride 1; backward-filter split over slices (R = 1024 and 2048).
    check_conv(conv(2, 16, 8, 8, 32, 1, 1, 2, 0, 1), precision, seed += 4);
    check_conv(conv(4, 3, 16, 16, 8, 3, 3, 1, 1, 1), precision, seed += 4);
    check_conv(conv(8, 9, 16, 16, 5, 1, 1, 1, 0, 1), precision, seed += 4);
  }
}

TEST_CASE("conv tensor cores (emu): fused activation and transposed convolution", "[conv][emu]") {
  weft::Backend& emu = weft::emu_backend();
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    INFO(weft::precision_name(precision));
    Conv2dParams p = conv(2, 7, 6, 7, 9, 3, 3, 1, 1, 1);
    p.activation = weft::FusedActivation{weft::FusedActivation::Kind::leaky_relu, 0.2f};
    const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
    const std::vector<float> x = random_floats(int64_t{p.batch} * p.in_channels * 42, 7);
    const std::vector<float> w = random_floats(int64_t{p.out_channels} * p.in_channels * 9, 8);
    const std::vector<float> bias = random_floats(p.out_channels, 9);
    std::vector<double> want(static_cast<size_t>(y_count));
    weft::reference::conv2d_forward(p, rounded(x, precision).data(), rounded(w, precision).data(),
                                    bias.data(), want.data());
    const PrecisionScope scope(precision);
    std::vector<float> y = nan_floats(y_count);
    emu.conv2d_forward(p, x.data(), w.data(), bias.data(), y.data());
    check_close("forward + leaky_relu", y, want, tolerance(63), 1e-5);

    // The DCGAN generator's 4x4 stride-2 pad-1 doubling layer.
    ConvTranspose2dParams t;
    t.batch = 2;
    t.in_channels = 16;
    t.in_h = t.in_w = 8;
    t.out_channels = 8;
    t.kernel_h = t.kernel_w = 4;
    t.stride_h = t.stride_w = 2;
    t.pad_h = t.pad_w = 1;
    const int64_t tx_count = int64_t{t.batch} * t.in_channels * 64;
    const int64_t ty_count = int64_t{t.batch} * t.out_channels * t.out_h() * t.out_w();
    const int64_t tw_count = int64_t{t.in_channels} * t.out_channels * 16;
    const std::vector<float> tx = random_floats(tx_count, 10), tw = random_floats(tw_count, 11);
    const std::vector<float> tdy = random_floats(ty_count, 12), tb = random_floats(8, 13);
    const std::vector<float> txr = rounded(tx, precision), twr = rounded(tw, precision);
    const std::vector<float> tdyr = rounded(tdy, precision);

    std::vector<float> ty = nan_floats(ty_count);
    emu.conv_transpose2d_forward(t, tx.data(), tw.data(), tb.data(), ty.data());
    std::vector<double> want_y(static_cast<size_t>(ty_count));
    weft::reference::conv_transpose2d_forward(t, txr.data(), twr.data(), tb.data(), want_y.data());
    check_close("transposed forward", ty, want_y, tolerance(16 * 16), 1e-5);

    std::vector<float> tdx = nan_floats(tx_count);
    emu.conv_transpose2d_backward_data(t, tdy.data(), tw.data(), tdx.data());
    std::vector<double> want_dx(static_cast<size_t>(tx_count));
    weft::reference::conv_transpose2d_backward_data(t, tdyr.data(), twr.data(), want_dx.data());
    check_close("transposed backward-data", tdx, want_dx, tolerance(8 * 16), 1e-5);

    std::vector<float> tdw = nan_floats(tw_count), tdb = nan_floats(8);
    emu.conv_transpose2d_backward_filter(t, tx.data(), tdy.data(), tdw.data(), tdb.data());
    std::vector<double> want_dw(static_cast<size_t>(tw_count)), want_db(8);
    weft::reference::conv_transpose2d_backward_filter(t, txr.data(), tdyr.data(), want_dw.data(),
                                                      want_db.data());
    check_close("transposed backward-filter", tdw, want_dw, tolerance(2 * 64), 1e-5);
    // The bias gradient is not a product: FP32 sums of the unrounded dy.
    std::vector<double> want_db_fp32(8);
    weft::reference::conv_transpose2d_backward_filter(t, tx.data(), tdy.data(), want_dw.data(),
                                                      want_db_fp32.data());
    check_close("transposed dbias", tdb, want_db_fp32, 1e-5, 1e-5);
  }
}

TEST_CASE("conv tensor cores (emu): the 128 x 64 gather tile, same sums, half the gathered copies",
          "[conv][emu]") {
  // 256 output channels (two tall tiles, four square ones), 32 channels 3x3 (288 taps: 18 slabs
  // of 16 with either tile, so neither pads the reduction), 2 images of 8 x 8 (two
  // column tiles of 64 positions). The k8 steps meet every accumulator in the same order in
  // both tiles, so the sums agree bit for bit; what changes is the work around the mma, counted
  // by the emulator (weft::emu::op_counts).
  const Conv2dParams p = conv(2, 32, 8, 8, 256, 3, 3, 1, 1, 1);
  const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
  const int64_t w_count = int64_t{p.out_channels} * p.in_channels * 9;
  const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
  const std::vector<float> x = random_floats(x_count, 31), w = random_floats(w_count, 32);
  const std::vector<float> bias = random_floats(p.out_channels, 33);
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    INFO(weft::precision_name(precision));
    const auto run = [&](weft::cuda::TensorCoreTile tile) {
      return counted(y_count, [&](float* y) {
        weft::cuda::conv2d_forward_tensor_core(p, precision, x.data(), w.data(), bias.data(), y,
                                               nullptr, tile);
      });
    };
    const auto [square_y, square] = run(weft::cuda::TensorCoreTile::square);
    const auto [tall_y, tall] = run(weft::cuda::TensorCoreTile::tall);
    CHECK(std::memcmp(square_y.data(), tall_y.data(), square_y.size() * sizeof(float)) == 0);

    // Blocks: square 4 row tiles x 2 column tiles, tall 2 x 2; 4 warps each.
    // mma per warp and slab: square 2 x 4 tiles x (16 / k), tall 4 x 4 x (16 / k), k = 8 (tf32)
    // or 16 (bf16): twice as many with the tall tile on half the blocks, the same total.
    const int64_t k = precision == MathPrecision::tf32 ? 8 : 16;
    const int64_t mma = 8 * 4 * 18 * (8 * 16 / k);
    CHECK(square.mma == mma);
    CHECK(tall.mma == 4 * 4 * 18 * (16 * 16 / k));
    CHECK(tall.mma == square.mma);
    // Copies per block and slab: the filter's rows in 16-byte pieces (rows x depth / 4), the
    // gathered positions one float each (64 x depth). The tall tile stages each filter piece as
    // often as the square one and half the gathered floats.
    const int64_t square_filter = 8 * 18 * (64 * 16 / 4), square_gathered = 8 * 18 * (64 * 16);
    const int64_t tall_filter = 4 * 18 * (128 * 16 / 4), tall_gathered = 4 * 18 * (64 * 16);
    CHECK(square.cp_async == square_filter + square_gathered);
    CHECK(tall.cp_async == tall_filter + tall_gathered);
    CHECK(tall_filter == square_filter);
    CHECK(2 * tall_gathered == square_gathered);
    CHECK(square.cp_async_bytes == 16 * square_filter + 4 * square_gathered);
    CHECK(tall.cp_async_bytes == 16 * tall_filter + 4 * tall_gathered);
    // ldmatrix per warp and k step (tf32: 8 deep; bf16: 16 deep, A loaded as two 8-deep halves):
    // square 2 (A) + 2 (B) for 8 mma, tall 4 + 2 for 16 (tf32); square 4 + 4, tall 8 + 4 (bf16).
    const int64_t square_steps = 8 * 4 * 18 * (16 / k), tall_steps = 4 * 4 * 18 * (16 / k);
    CHECK(square.ldmatrix == square_steps * (k == 8 ? 4 : 8));
    CHECK(tall.ldmatrix == tall_steps * (k == 8 ? 6 : 12));
    // Barriers per block: one after the first slab tables, one per slab (the multistage
    // pipeline of tensor_core_pipeline.h).
    CHECK(square.barriers == 8 * (1 + 18));
    CHECK(tall.barriers == 4 * (1 + 18));
    std::cout << "tensor-core gather at " << weft::precision_name(precision)
              << ", per 1000 mma: square copies " << 1000 * square.cp_async / square.mma
              << ", ldmatrix " << 1000 * square.ldmatrix / square.mma << ", barriers "
              << 1000.0 * static_cast<double>(square.barriers) / static_cast<double>(square.mma)
              << "; tall copies " << 1000 * tall.cp_async / tall.mma << ", ldmatrix "
              << 1000 * tall.ldmatrix / tall.mma << ", barriers "
              << 1000.0 * static_cast<double>(tall.barriers) / static_cast<double>(tall.mma)
              << std::endl;

    // Backward-filter on the same problem (rows = the 256 output channels, columns = the 288
    // taps, the reduction over the 128 positions): each tile plans its own split-K, so the sums
    // are grouped differently (close, not bit for bit); per mma, the tall tile stages fewer
    // copies (each block's 64 tap columns are gathered once for 128 rows instead of 64).
    // Backward-filter's dy moves in 16-byte pieces where its plane is whole pieces (here 8 x 8).
    const std::vector<float> dy = random_floats(y_count, 34);
    std::vector<float> workspace(static_cast<size_t>(
        weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(p)));
    const auto filter = [&](weft::cuda::TensorCoreTile tile) {
      return counted(w_count, [&](float* dw) {
        weft::cuda::conv2d_backward_filter_tensor_core(p, precision, x.data(), dy.data(), dw,
                                                       workspace.data(), nullptr, tile);
      });
    };
    const auto [square_dw, square_filter_counts] = filter(weft::cuda::TensorCoreTile::square);
    const auto [tall_dw, tall_filter_counts] = filter(weft::cuda::TensorCoreTile::tall);
    std::vector<double> want_dw(square_dw.begin(), square_dw.end());
    check_close("backward-filter, tall against square", tall_dw, want_dw, tolerance(y_count / 2),
                1e-5);
    CHECK(tall_filter_counts.mma == square_filter_counts.mma);
    // Copies per block and 16-deep slab: dy's rows in 16-byte pieces (the 8 x 8 plane is whole
    // pieces), rows x 4, and the gathered taps one float each, 64 x 16; 8 slabs of positions on
    // 5 tiles of taps and 4 (square) or 2 (tall) tiles of rows, whatever the split.
    const int64_t square_copies = 4 * 5 * 8 * (64 * 4 + 64 * 16);
    const int64_t tall_copies = 2 * 5 * 8 * (128 * 4 + 64 * 16);
    CHECK(square_filter_counts.cp_async == square_copies);
    CHECK(tall_filter_counts.cp_async == tall_copies);
    CHECK(square_filter_counts.cp_async_bytes == 4 * 5 * 8 * (64 * 4 * 16 + 64 * 16 * 4));
    CHECK(tall_filter_counts.cp_async_bytes == 2 * 5 * 8 * (128 * 4 * 16 + 64 * 16 * 4));
    std::cout << "tensor-core backward-filter at " << weft::precision_name(precision)
              << ", per 1000 mma: square copies "
              << 1000 * square_filter_counts.cp_async / square_filter_counts.mma << "; tall copies "
              << 1000 * tall_filter_counts.cp_async / tall_filter_counts.mma << std::endl;
  }
}

TEST_CASE("conv tensor cores (emu): the forward on channels-last copies, in 16-byte pieces",
          "[conv][emu]") {
  // With a workspace, the forward copies x and w channels-last (to_channels_last_kernel) and
  // gathers 4 channels of one tap per 16-byte copy; the k order (kh, kw, c) differs from the
  // NCHW kernel's (c, kh, kw), so the sums agree with the reference to the usual bound, not bit
  // for bit. Shapes: the tall test's layer (256 output channels); 4 channels (a slab spans four
  // taps), dilated and padded past the edge, 36 taps (a partial last slab); stride 2 with a 5 x 5
  // filter; a 1 x 1 layer of 98 positions (a partial column tile) and 70 rows; each on the
  // square, tall and wide tiles, with a bias and a fused leaky ReLU, the workspace one float off
  // 16-byte alignment (the copies align themselves within it) and NaN where nothing is copied.
  const Conv2dParams shapes[] = {conv(2, 32, 8, 8, 256, 3, 3, 1, 1, 1),
                                 conv(1, 4, 9, 11, 6, 3, 3, 1, 2, 2),
                                 conv(3, 8, 10, 9, 20, 5, 5, 2, 2, 1),
                                 conv(2, 12, 7, 7, 70, 1, 1, 1, 0, 1)};
  struct TileSize {
    weft::cuda::TensorCoreTile tile;
    int64_t rows, cols;
  };
  const TileSize tiles[] = {{weft::cuda::TensorCoreTile::square, 64, 64},
                            {weft::cuda::TensorCoreTile::tall, 128, 64},
                            {weft::cuda::TensorCoreTile::wide, 128, 128}};
  uint32_t seed = 300;
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    for (Conv2dParams p : shapes) {
      p.activation = weft::FusedActivation{weft::FusedActivation::Kind::leaky_relu, 0.2f};
      const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
      const int64_t taps = int64_t{p.in_channels} * p.kernel_h * p.kernel_w;
      const int64_t w_count = p.out_channels * taps;
      const int64_t positions = int64_t{p.batch} * p.out_h() * p.out_w();
      const int64_t y_count = p.out_channels * positions;
      const std::vector<float> x = random_floats(x_count, seed += 3);
      const std::vector<float> w = random_floats(w_count, seed + 1);
      const std::vector<float> bias = random_floats(p.out_channels, seed + 2);
      std::vector<double> want(static_cast<size_t>(y_count));
      weft::reference::conv2d_forward(p, rounded(x, precision).data(),
                                      rounded(w, precision).data(), bias.data(), want.data());
      const int64_t floats = weft::cuda::conv2d_forward_tensor_core_workspace_floats(p);
      REQUIRE(floats >= x_count + w_count);
      for (const TileSize& size : tiles) {
        INFO(describe(p, precision) << ", tile " << size.rows << " x " << size.cols);
        // NaN around the copies: a copy reading past the filter's last piece would show.
        std::vector<float> workspace = nan_floats(floats + 16);
        std::vector<std::string> kernels;
        weft::count::trace_launches(&kernels);
        const auto [y, counts] = counted(y_count, [&](float* out) {
          weft::cuda::conv2d_forward_tensor_core(p, precision, x.data(), w.data(), bias.data(),
                                                 out, nullptr, size.tile, workspace.data() + 1);
        });
        weft::count::trace_launches(nullptr);
        check_close("forward on channels-last copies", y, want, tolerance(taps), 1e-5);
        // x's and w's copies in one launch, then the gather.
        REQUIRE(kernels.size() == 2);
        CHECK(kernels[0].rfind("to_channels_last_kernel", 0) == 0);
        CHECK(kernels[1].find("conv_gather_channels_last_kernel") != std::string::npos);

        // Every copy is 16 bytes: per block and slab, the filter's rows x 4 pieces and the tile's
        // positions x 4 pieces. A slab is 16 k of FP32 copies, or at bf16 with channels in
        // eights 32 k of BF16 copies (8 to a piece), two 16-deep mma steps.
        const bool half = precision == MathPrecision::bf16 && p.in_channels % 8 == 0;
        const int64_t blocks = (positions + size.cols - 1) / size.cols *
                               ((p.out_channels + size.rows - 1) / size.rows);
        const int64_t slabs = half ? (taps + 31) / 32 : (taps + 15) / 16;
        CHECK(counts.cp_async == blocks * slabs * (size.rows * 4 + size.cols * 4));
        CHECK(counts.cp_async_bytes == 16 * counts.cp_async);

        if (size.tile == weft::cuda::TensorCoreTile::wide) continue;  // NCHW has no wide tile
        // Without a workspace: the NCHW kernel, the same sums to within the bound.
        const auto [nchw_y, nchw_counts] = counted(y_count, [&](float* out) {
          weft::cuda::conv2d_forward_tensor_core(p, precision, x.data(), w.data(), bias.data(),
                                                 out, nullptr, size.tile);
        });
        check_close("forward from NCHW", nchw_y, want, tolerance(taps), 1e-5);
        // The same mma per 16-deep step (the BF16 copies' last slab may hold one step more).
        const int64_t steps = (taps + 15) / 16, copy_steps = half ? 2 * slabs : steps;
        CHECK(nchw_counts.mma * copy_steps == counts.mma * steps);
        CHECK(nchw_counts.cp_async > counts.cp_async);
      }
    }
  }
  // Input channels not a multiple of 4: no copies, the NCHW kernel.
  const Conv2dParams six = conv(1, 6, 8, 8, 8, 3, 3, 1, 1, 1);
  CHECK(weft::cuda::conv2d_forward_tensor_core_workspace_floats(six) == 0);
}

TEST_CASE("conv tensor cores (emu): backward-filter's dy in 16-byte pieces where aligned",
          "[conv][emu]") {
  // dy's rows move in 16-byte pieces when the plane is whole pieces and dy is 16-byte aligned;
  // a dy one float off its alignment takes the one-float copies. Either way the same values
  // reach shared memory, so the two results agree bit for bit.
  const Conv2dParams p = conv(2, 8, 8, 8, 12, 3, 3, 1, 1, 1);
  const int64_t x_count = int64_t{p.batch} * p.in_channels * 64;
  const int64_t y_count = int64_t{p.batch} * p.out_channels * 64;
  const int64_t w_count = int64_t{p.out_channels} * p.in_channels * 9;
  const std::vector<float> x = random_floats(x_count, 41), dy = random_floats(y_count, 42);
  std::vector<float> moved(static_cast<size_t>(y_count + 1));
  std::copy(dy.begin(), dy.end(), moved.begin() + 1);
  std::vector<float> workspace(static_cast<size_t>(
      weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(p)));
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    INFO(weft::precision_name(precision));
    const auto run = [&](const float* from) {
      return counted(w_count, [&](float* dw) {
        weft::cuda::conv2d_backward_filter_tensor_core(p, precision, x.data(), from, dw,
                                                       workspace.data(), nullptr);
      });
    };
    const auto [pieces_dw, pieces] = run(dy.data());
    const auto [floats_dw, floats] = run(moved.data() + 1);
    CHECK(std::memcmp(pieces_dw.data(), floats_dw.data(), pieces_dw.size() * sizeof(float)) == 0);
    CHECK(floats.cp_async_bytes == 4 * floats.cp_async);
    // 64 x 16 dy floats per block and slab become 64 x 4 pieces; the gathered taps stay floats.
    CHECK(floats.cp_async - pieces.cp_async == (64 * 16 - 64 * 4) * (floats.cp_async / (2 * 1024)));
    CHECK(pieces.cp_async_bytes == floats.cp_async_bytes);
  }
}

TEST_CASE("conv tensor cores (emu): backward-filter on a channels-last x, in 16-byte pieces",
          "[conv][emu]") {
  // With channels_last and C a multiple of 4, x is copied to [N, H, W, C] in the workspace and
  // each copy of x is 4 channels of one tap (B staged k-major, the tap order (kh, kw, c) mapped
  // back to dW's in the epilogue). Shapes: 256 output
  // channels (the tall tile by default); 4 channels, dilated and padded past the edge (36 taps:
  // a partial column tile); stride 2 with a 5 x 5 filter (200 taps: four column tiles); a 1 x 1
  // layer of 70 output channels on 7 x 7 planes (dy not whole pieces: one-float dy copies);
  // 4096 positions (split over slices). Each on the square and the tall tile, the workspace one
  // float off alignment and NaN, against the reference and against the NCHW kernel. At bf16 the
  // shapes with channels and planes in eights (the first and the last) run on BF16 copies of x
  // and dy (32-deep slabs, 8 channels a copy, B by ldmatrix.trans).
  const Conv2dParams shapes[] = {conv(2, 32, 8, 8, 256, 3, 3, 1, 1, 1),
                                 conv(1, 4, 9, 11, 6, 3, 3, 1, 2, 2),
                                 conv(3, 8, 10, 9, 20, 5, 5, 2, 2, 1),
                                 conv(2, 12, 7, 7, 70, 1, 1, 1, 0, 1),
                                 conv(4, 8, 32, 32, 16, 3, 3, 1, 1, 1)};
  uint32_t seed = 500;
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    for (const Conv2dParams& p : shapes) {
      const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
      const int64_t taps = int64_t{p.in_channels} * p.kernel_h * p.kernel_w;
      const int64_t w_count = p.out_channels * taps;
      const int64_t positions = int64_t{p.batch} * p.out_h() * p.out_w();
      const std::vector<float> x = random_floats(x_count, seed += 3);
      const std::vector<float> dy = random_floats(p.out_channels * positions, seed + 1);
      std::vector<double> want(static_cast<size_t>(w_count));
      weft::reference::conv2d_backward_filter(p, rounded(x, precision).data(),
                                              rounded(dy, precision).data(), want.data(),
                                              nullptr);
      const int64_t floats =
          weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(p, true, precision);
      REQUIRE(floats >= x_count +
                            weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(p));
      const bool dy_pieces = p.out_h() * p.out_w() % 4 == 0;
      for (auto tile : {weft::cuda::TensorCoreTile::square, weft::cuda::TensorCoreTile::tall}) {
        const bool tall = tile == weft::cuda::TensorCoreTile::tall;
        INFO(describe(p, precision) << (tall ? ", tall tile" : ", square tile"));
        std::vector<float> workspace = nan_floats(floats + 1);
        std::vector<std::string> kernels;
        weft::count::trace_launches(&kernels);
        const auto [dw, counts] = counted(w_count, [&](float* out) {
          weft::cuda::conv2d_backward_filter_tensor_core(p, precision, x.data(), dy.data(), out,
                                                         workspace.data() + 1, nullptr, tile, true);
        });
        weft::count::trace_launches(nullptr);
        check_close("backward-filter on a channels-last x", dw, want, tolerance(positions), 1e-5);
        // x's copy; at bf16 with channels and planes in eights dy's BF16 copy too, in the same
        // launch, and the kernel reads both copies as BF16.
        REQUIRE(kernels.size() >= 2);
        CHECK(kernels[0].rfind("to_channels_last_kernel", 0) == 0);
        CHECK(kernels[1].find("conv_filter_channels_last_kernel") != std::string::npos);
        const bool half = precision == MathPrecision::bf16 && p.in_channels % 8 == 0 &&
                          p.out_h() * p.out_w() % 8 == 0;
        if (dy_pieces) CHECK(counts.cp_async_bytes == 16 * counts.cp_async);

        // The NCHW kernel on the same tile: the same products, four times the copies of x.
        std::vector<float> nchw_workspace = nan_floats(floats);
        const auto [nchw_dw, nchw_counts] = counted(w_count, [&](float* out) {
          weft::cuda::conv2d_backward_filter_tensor_core(p, precision, x.data(), dy.data(), out,
                                                         nchw_workspace.data(), nullptr, tile);
        });
        check_close("backward-filter from NCHW", nchw_dw, want, tolerance(positions), 1e-5);
        if (!half) CHECK(nchw_counts.mma == counts.mma);  // BF16 copies: 32-deep slices
        CHECK(nchw_counts.cp_async > counts.cp_async);
      }
    }
  }
  // Input channels not a multiple of 4: no copy of x, the NCHW kernel.
  const Conv2dParams six = conv(1, 6, 8, 8, 8, 3, 3, 1, 1, 1);
  CHECK(weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(
            six, true, MathPrecision::bf16) ==
        weft::cuda::conv2d_backward_filter_tensor_core_workspace_floats(six));
}

TEST_CASE("conv tensor cores (emu): at most 16 GEMM rows on the skinny tile, positions as rows",
          "[conv][emu]") {
  // With at most 16 GEMM rows and the tile left automatic, the channels-last gather runs
  // transposed on the 128 x 16 tile (conv_gather_skinny_kernel): 3 output channels (the DCGAN's
  // last layer), 16 rows over 120 positions (a partial position tile), 5 rows with stride 2 and
  // a 5 x 5 filter; bias and a fused leaky ReLU; against the reference and the square tile. At
  // bf16 the first shape's 8 channels run on BF16 copies (32-deep slabs). Then
  // the backward-data of image layers through the backend, and 17 rows on the square tile.
  const Conv2dParams shapes[] = {conv(2, 8, 9, 11, 3, 3, 3, 1, 1, 1),
                                 conv(1, 4, 12, 10, 16, 3, 3, 1, 1, 1),
                                 conv(3, 12, 10, 9, 5, 5, 5, 2, 2, 1)};
  uint32_t seed = 700;
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    for (Conv2dParams p : shapes) {
      INFO(describe(p, precision));
      p.activation = weft::FusedActivation{weft::FusedActivation::Kind::leaky_relu, 0.2f};
      const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
      const int64_t taps = int64_t{p.in_channels} * p.kernel_h * p.kernel_w;
      const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
      const std::vector<float> x = random_floats(x_count, seed += 3);
      const std::vector<float> w = random_floats(p.out_channels * taps, seed + 1);
      const std::vector<float> bias = random_floats(p.out_channels, seed + 2);
      std::vector<double> want(static_cast<size_t>(y_count));
      weft::reference::conv2d_forward(p, rounded(x, precision).data(),
                                      rounded(w, precision).data(), bias.data(), want.data());
      std::vector<float> workspace =
          nan_floats(weft::cuda::conv2d_forward_tensor_core_workspace_floats(p));
      const auto run = [&](weft::cuda::TensorCoreTile tile, std::vector<std::string>* kernels) {
        weft::count::trace_launches(kernels);
        std::vector<float> y = nan_floats(y_count);
        weft::cuda::conv2d_forward_tensor_core(p, precision, x.data(), w.data(), bias.data(),
                                               y.data(), nullptr, tile, workspace.data());
        weft::count::trace_launches(nullptr);
        return y;
      };
      std::vector<std::string> kernels;
      const std::vector<float> y = run(weft::cuda::TensorCoreTile::automatic, &kernels);
      check_close("skinny tile", y, want, tolerance(taps), 1e-5);
      REQUIRE(kernels.size() == 2);  // x's and w's copies in one launch, the gather
      CHECK(kernels[1].find("conv_gather_skinny_kernel") != std::string::npos);
      // At bf16 with channels in eights the copies hold BF16 (SkinnyHalfTile): they fill half
      // the floats of the FP32 copies' workspace.
      const int64_t copied = x_count + int64_t{p.out_channels} * taps;
      const int64_t written = std::count_if(workspace.begin(), workspace.end(),
                                            [](float v) { return !std::isnan(v); });
      const bool half = precision == MathPrecision::bf16 && p.in_channels % 8 == 0;
      CHECK(written <= (half ? copied / 2 + 8 : copied + 8));
      CHECK(written >= (half ? copied / 2 - 8 : copied - 8));
      std::vector<std::string> square_kernels;
      const std::vector<float> square = run(weft::cuda::TensorCoreTile::square, &square_kernels);
      check_close("square tile", square, want, tolerance(taps), 1e-5);
      CHECK(square_kernels.back().find("conv_gather_channels_last_kernel") != std::string::npos);
    }
  }
  // The backward-data of an image layer (3 input channels) at tf32 and bf16, which until the
  // skinny tile went to the NCHW gather with 3 of its 64 rows used: the DCGAN discriminator's
  // first layer (4 x 4, stride 2) now on the few-channel phase kernel with rounded operands (one
  // launch; it had gone by phases on the skinny tile, 4 of its 16 rows used), a 3 x 3 stride-1
  // one as a forward convolution (the narrow forward, for at most 8 output channels).
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    for (const Conv2dParams& p : {conv(2, 3, 12, 12, 8, 4, 4, 2, 1, 1),
                                  conv(2, 3, 9, 10, 16, 3, 3, 1, 1, 1)}) {
      INFO(describe(p, precision) << ", backward-data");
      const std::vector<std::string> kernels = traced_backward_data(p, precision, seed += 3);
      int phases = 0, narrow = 0;
      for (const std::string& k : kernels) {
        phases += k.find("conv2d_backward_data_phases_kernel") != std::string::npos;
        narrow += k.find("narrow_forward_kernel") != std::string::npos;
        CHECK(k.find("conv_gather_kernel") == std::string::npos);
      }
      if (p.stride_h == 2) {
        CHECK(phases == 1);
        CHECK(kernels.size() == 1);
      } else {
        CHECK(narrow == 1);
      }
    }
  }
  // 17 rows: the square tile.
  const Conv2dParams wider = conv(1, 4, 6, 6, 17, 3, 3, 1, 1, 1);
  const int64_t x_count = int64_t{wider.in_channels} * 36;
  const std::vector<float> x = random_floats(x_count, 9), w = random_floats(17 * 36, 10);
  std::vector<float> workspace =
      nan_floats(weft::cuda::conv2d_forward_tensor_core_workspace_floats(wider));
  std::vector<float> y = nan_floats(int64_t{17} * wider.out_h() * wider.out_w());
  std::vector<std::string> kernels;
  weft::count::trace_launches(&kernels);
  weft::cuda::conv2d_forward_tensor_core(wider, MathPrecision::tf32, x.data(), w.data(), nullptr,
                                         y.data(), nullptr, weft::cuda::TensorCoreTile::automatic,
                                         workspace.data());
  weft::count::trace_launches(nullptr);
  REQUIRE_FALSE(kernels.empty());
  CHECK(kernels.back().find("conv_gather_channels_last_kernel") != std::string::npos);
}

TEST_CASE("conv tensor cores (emu): backward-data on filters written channels-last",
          "[conv][emu]") {
  // At tf32 and bf16 with dy's channels in fours, backward-data's reordered filter is written
  // channels-last in the gather's format by the launch that copies dy (PhaseFilters in
  // to_channels_last_kernel's last layer of blocks), with no copy of it after. Strided: the
  // phases four to a launch of conv_gather_phases_kernel, 2 launches at stride 2 and 4 at stride
  // 3 (nine phases). Stride 1 (dilated too): the copies and the adjoint forward's gather, 2
  // launches. Against the reference with rounded operands.
  uint32_t seed = 900;
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    for (const Conv2dParams& p :
         {conv(2, 24, 12, 12, 16, 4, 4, 2, 1, 1), conv(2, 20, 10, 11, 8, 3, 3, 3, 1, 1),
          conv(2, 20, 9, 9, 16, 3, 3, 1, 1, 1), conv(2, 20, 11, 11, 8, 3, 3, 1, 2, 2)}) {
      INFO(describe(p, precision));
      const std::vector<std::string> kernels = traced_backward_data(p, precision, seed += 2);
      if (p.stride_h == 1) {
        REQUIRE(kernels.size() == 2);
        CHECK(kernels[0].find("to_channels_last_kernel") != std::string::npos);
        CHECK(kernels[1].find("conv_gather_channels_last_kernel") != std::string::npos);
        continue;
      }
      const size_t phase_launches = p.stride_h == 2 ? 1 : 3;
      REQUIRE(kernels.size() == 1 + phase_launches);
      CHECK(kernels[0].find("to_channels_last_kernel") != std::string::npos);
      for (size_t i = 1; i < kernels.size(); ++i) {
        CHECK(kernels[i].find("conv_gather_phases_kernel") != std::string::npos);
      }
    }
  }
}

TEST_CASE("conv backward-data (emu): a misaligned workspace of the stated size is enough",
          "[conv][emu]") {
  // The workspace conv2d_backward_data_workspace_floats states holds the filters and dy's copy
  // wherever it starts: here one float past a 16-byte boundary, the floats around it sentinels
  // that must stay as they were (at fp32: the phases' and the adjoint's filters alone).
  uint32_t seed = 950;
  for (MathPrecision precision : {MathPrecision::fp32, MathPrecision::tf32, MathPrecision::bf16}) {
    for (const Conv2dParams& p :
         {conv(2, 24, 12, 12, 16, 4, 4, 2, 1, 1), conv(2, 20, 10, 11, 8, 3, 3, 3, 1, 1),
          conv(2, 20, 9, 9, 16, 3, 3, 1, 1, 1), conv(1, 20, 7, 7, 12, 3, 3, 1, 1, 1)}) {
      INFO(describe(p, precision));
      const PrecisionScope scope(precision);
      const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
      const std::vector<float> w = random_floats(
          int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, seed += 2);
      const std::vector<float> dy =
          random_floats(int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w(), seed + 1);
      const int64_t floats = weft::cuda::conv2d_backward_data_workspace_floats(p);
      REQUIRE(floats > 0);
      constexpr float kSentinel = 12345.0f;
      // 5 floats before the workspace (the first at a 16-byte boundary) and 3 after it.
      std::vector<float> room(static_cast<size_t>(floats + 12), kSentinel);
      float* start = room.data();
      while (reinterpret_cast<uintptr_t>(start) % 16 != 0) ++start;
      float* workspace = start + 5;
      std::vector<float> dx = nan_floats(x_count);
      weft::cuda::conv2d_backward_data(p, dy.data(), w.data(), dx.data(), workspace, nullptr);
      for (int i = 0; i < 5; ++i) CHECK(start[i] == kSentinel);
      for (int i = 0; i < 3; ++i) CHECK(workspace[floats + i] == kSentinel);
      std::vector<double> want(static_cast<size_t>(x_count));
      weft::reference::conv2d_backward_data(p, rounded(dy, precision).data(),
                                            rounded(w, precision).data(), want.data());
      check_close("backward-data", dx, want,
                  tolerance(int64_t{p.out_channels} * p.kernel_h * p.kernel_w), 1e-5);
    }
  }
}

TEST_CASE("conv tensor cores (emu): BF16 channels-last copies, by phases too", "[conv][emu]") {
  // At bf16, a gather whose reduction channels come in eights and whose GEMM rows outnumber the
  // skinny tile's 16 runs on BF16 copies (32-deep slabs, ldmatrix fragments): the forward, a
  // strided backward-data by phases (dy copied once in BF16 for all four phases) and the
  // transposed forward that is one; against the reference with operands rounded to BF16.
  weft::Backend& emu = weft::emu_backend();
  const PrecisionScope scope(MathPrecision::bf16);
  const Conv2dParams p = conv(2, 24, 12, 12, 16, 4, 4, 2, 1, 1);
  const int64_t x_count = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
  const int64_t w_count = int64_t{p.out_channels} * p.in_channels * 16;
  const int64_t y_count = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
  const std::vector<float> x = random_floats(x_count, 801), w = random_floats(w_count, 802);
  const std::vector<float> dy = random_floats(y_count, 803);
  const MathPrecision bf16 = MathPrecision::bf16;

  std::vector<float> y = nan_floats(y_count);
  emu.conv2d_forward(p, x.data(), w.data(), nullptr, y.data());
  std::vector<double> want_y(static_cast<size_t>(y_count));
  weft::reference::conv2d_forward(p, rounded(x, bf16).data(), rounded(w, bf16).data(), nullptr,
                                  want_y.data());
  check_close("forward", y, want_y, tolerance(24 * 16), 1e-5);

  std::vector<float> dx = nan_floats(x_count);
  emu.conv2d_backward_data(p, dy.data(), w.data(), dx.data());
  std::vector<double> want_dx(static_cast<size_t>(x_count));
  weft::reference::conv2d_backward_data(p, rounded(dy, bf16).data(), rounded(w, bf16).data(),
                                        want_dx.data());
  check_close("backward-data by phases", dx, want_dx, tolerance(16 * 16), 1e-5);

  // The transposed layer whose forward is that backward-data: 16 channels in, 24 out.
  ConvTranspose2dParams t;
  t.batch = p.batch;
  t.in_channels = p.out_channels;
  t.in_h = p.out_h();
  t.in_w = p.out_w();
  t.out_channels = p.in_channels;
  t.kernel_h = t.kernel_w = 4;
  t.stride_h = t.stride_w = 2;
  t.pad_h = t.pad_w = 1;
  const std::vector<float> bias = random_floats(t.out_channels, 804);
  std::vector<float> ty = nan_floats(x_count);
  emu.conv_transpose2d_forward(t, dy.data(), w.data(), bias.data(), ty.data());
  std::vector<double> want_ty(static_cast<size_t>(x_count));
  weft::reference::conv_transpose2d_forward(t, rounded(dy, bf16).data(), rounded(w, bf16).data(),
                                            bias.data(), want_ty.data());
  check_close("transposed forward", ty, want_ty, tolerance(16 * 16), 1e-5);
}
