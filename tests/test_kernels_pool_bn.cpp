// Tests of the CPU pooling and batch-normalisation kernels (kernels/cpu/pool.h,
// kernels/cpu/batchnorm.h): small cases worked out by hand, then every function against its
// definition (kernels/reference/pool.h and batchnorm.h: direct loops, double accumulation) over
// tables of shapes.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/op_text.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/pool.h"
#include "kernels/reference/batchnorm.h"
#include "kernels/reference/pool.h"
#include "tests/kernel_test_util.h"

using weft::BatchNormParams;
using weft::Pool2dParams;
using weft::test::check_adjoint;
using weft::test::check_close;
using weft::test::dot;
using weft::test::nan_floats;
using weft::test::random_floats;

namespace {

Pool2dParams pool_params(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph,
                         int pw) {
  Pool2dParams p;
  p.batch = n;
  p.channels = c;
  p.in_h = h;
  p.in_w = w;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  return p;
}

int64_t pool_x_size(const Pool2dParams& p) {
  return int64_t{p.batch} * p.channels * p.in_h * p.in_w;
}
int64_t pool_y_size(const Pool2dParams& p) {
  return int64_t{p.batch} * p.channels * p.out_h() * p.out_w();
}

// ---- pooling by the definitions (kernels/reference/pool.h) -----------------------------------

struct MaxPoolReference {
  std::vector<double> y, dx;
  std::vector<int32_t> argmax;
};

MaxPoolReference max_pool_reference(const Pool2dParams& p, const std::vector<float>& x,
                                    const std::vector<float>& dy) {
  MaxPoolReference r;
  r.y.resize(dy.size());
  r.argmax.resize(dy.size());
  r.dx.resize(x.size());
  weft::reference::max_pool2d_forward(p, x.data(), r.y.data(), r.argmax.data());
  weft::reference::max_pool2d_backward(p, dy.data(), nullptr, r.argmax.data(), r.dx.data());
  return r;
}

struct AvgPoolReference {
  std::vector<double> y, dx;
};

AvgPoolReference avg_pool_reference(const Pool2dParams& p, const std::vector<float>& x,
                                    const std::vector<float>& dy) {
  AvgPoolReference r;
  r.y.resize(dy.size());
  r.dx.resize(x.size());
  weft::reference::avg_pool2d_forward(p, x.data(), r.y.data());
  weft::reference::avg_pool2d_backward(p, dy.data(), r.dx.data());
  return r;
}

}  // namespace

// ---- pooling: hand-computed cases -------------------------------------------------------------

TEST_CASE("max_pool2d: 4x4 plane, 2x2 windows, by hand", "[kernels][pool]") {
  // x =  1 3 | 2 0      window maxima: {1,3,5,4} -> 5 at (1,0) = index 4
  //      5 4 | 1 1                     {2,0,1,1} -> 2 at (0,2) = index 2
  //      ----+----                     {0,2,7,1} -> 7 at (3,0) = index 12
  //      0 2 | 9 9                     {9,9,9,8} -> 9, first one at (2,2) = index 10
  //      7 1 | 9 8
  const Pool2dParams p = pool_params(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  const std::vector<float> x = {1, 3, 2, 0, 5, 4, 1, 1, 0, 2, 9, 9, 7, 1, 9, 8};
  std::vector<float> y = nan_floats(4);
  std::vector<int32_t> argmax(4, -7);
  weft::cpu::max_pool2d_forward(p, x.data(), y.data(), argmax.data());
  check_close("y", y, std::vector<float>{5, 2, 7, 9});
  CHECK(argmax == std::vector<int32_t>{4, 2, 12, 10});

  // dy = 1 2 / 3 4 goes to the winning cells only.
  const std::vector<float> dy = {1, 2, 3, 4};
  std::vector<float> dx = nan_floats(16);
  weft::cpu::max_pool2d_backward(p, dy.data(), nullptr, argmax.data(), dx.data());
  check_close("dx", dx, std::vector<float>{0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0, 0});
}

TEST_CASE("max_pool2d: padding never wins and ties go to the first maximum", "[kernels][pool]") {
  // x = -1 -2 -3 -4   (all negative), 3x3 windows, stride 2, padding 1: out = (4+2-3)/2+1 = 2.
  //     -5 -6 -7 -8   Window (oh, ow) covers rows 2*oh-1 .. 2*oh+1, columns 2*ow-1 .. 2*ow+1.
  //     -9 ...  -12   A zero from the padding would win every window if it were counted; the
  //    -13 ...  -16   real maxima are the top-left real cells: -1 (0), -2 (1), -5 (4), -6 (5).
  Pool2dParams p = pool_params(1, 1, 4, 4, 3, 3, 2, 2, 1, 1);
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = -static_cast<float>(i + 1);
  std::vector<float> y = nan_floats(4);
  std::vector<int32_t> argmax(4, -7);
  weft::cpu::max_pool2d_forward(p, x.data(), y.data(), argmax.data());
  check_close("y", y, std::vector<float>{-1, -2, -5, -6});
  CHECK(argmax == std::vector<int32_t>{0, 1, 4, 5});

  // A constant 4x4 plane with 2x2 windows at stride 1: every cell ties, so each window's
  // top-left cell (index oh * 4 + ow) wins.
  p = pool_params(1, 1, 4, 4, 2, 2, 1, 1, 0, 0);
  const std::vector<float> flat(16, 7.0f);
  y = nan_floats(9);
  argmax.assign(9, -7);
  weft::cpu::max_pool2d_forward(p, flat.data(), y.data(), argmax.data());
  check_close("y", y, std::vector<float>(9, 7.0f));
  CHECK(argmax == std::vector<int32_t>{0, 1, 2, 4, 5, 6, 8, 9, 10});
}

TEST_CASE("avg_pool2d: 4x4 plane, by hand, with and without counting padding", "[kernels][pool]") {
  // Same x as the max-pool case. 2x2 windows, stride 2:
  //   (1+3+5+4)/4 = 3.25   (2+0+1+1)/4 = 1   (0+2+7+1)/4 = 2.5   (9+9+9+8)/4 = 8.75
  const std::vector<float> x = {1, 3, 2, 0, 5, 4, 1, 1, 0, 2, 9, 9, 7, 1, 9, 8};
  Pool2dParams p = pool_params(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  std::vector<float> y = nan_floats(4);
  weft::cpu::avg_pool2d_forward(p, x.data(), y.data());
  check_close("y 2x2", y, std::vector<float>{3.25f, 1, 2.5f, 8.75f});

  // 3x3 windows, stride 2, padding 1 (out 2x2). Real cells and their sums:
  //   (0,0): rows 0-1, cols 0-1: 1+3+5+4 = 13 over 4 cells
  //   (0,1): rows 0-1, cols 1-3: 3+2+0+4+1+1 = 11 over 6 cells
  //   (1,0): rows 1-3, cols 0-1: 5+4+0+2+7+1 = 19 over 6 cells
  //   (1,1): rows 1-3, cols 1-3: 4+1+1+2+9+9+1+9+8 = 44 over 9 cells
  // count_include_pad divides every sum by 9; otherwise by the number of real cells.
  p = pool_params(1, 1, 4, 4, 3, 3, 2, 2, 1, 1);
  p.count_include_pad = true;
  weft::cpu::avg_pool2d_forward(p, x.data(), y.data());
  check_close("y include pad", y, std::vector<double>{13.0 / 9, 11.0 / 9, 19.0 / 9, 44.0 / 9});
  p.count_include_pad = false;
  weft::cpu::avg_pool2d_forward(p, x.data(), y.data());
  check_close("y exclude pad", y, std::vector<double>{13.0 / 4, 11.0 / 6, 19.0 / 6, 44.0 / 9});

  // Backward without counting padding, dy = 1 at output (0,1) only: 1/6 to each of its 6 cells.
  const std::vector<float> dy = {0, 1, 0, 0};
  std::vector<float> dx = nan_floats(16);
  weft::cpu::avg_pool2d_backward(p, dy.data(), dx.data());
  const double s = 1.0 / 6;
  check_close("dx", dx, std::vector<double>{0, s, s, s, 0, s, s, s, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("global_avg_pool: by hand", "[kernels][pool]") {
  // Two planes of 3: mean(1, 2, 6) = 3 and mean(-1, 0, 4) = 1. Backward spreads dy / 3.
  const std::vector<float> x = {1, 2, 6, -1, 0, 4};
  std::vector<float> y = nan_floats(2);
  weft::cpu::global_avg_pool_forward(1, 2, 3, x.data(), y.data());
  check_close("y", y, std::vector<float>{3, 1});
  const std::vector<float> dy = {3, -6};
  std::vector<float> dx = nan_floats(6);
  weft::cpu::global_avg_pool_backward(1, 2, 3, dy.data(), dx.data());
  check_close("dx", dx, std::vector<float>{1, 1, 1, -2, -2, -2});
}

// ---- pooling: comparisons with the direct loops -----------------------------------------------

TEST_CASE("pooling: forward and backward match direct loops over a table of shapes",
          "[kernels][pool]") {
  // Fields: N, C, H, W, KH, KW, stride h/w, pad h/w (padding at most half the kernel).
  const std::vector<Pool2dParams> shapes = {
      pool_params(1, 1, 4, 4, 2, 2, 2, 2, 0, 0),
      pool_params(2, 3, 7, 7, 3, 3, 2, 2, 1, 1),     // odd size, padding
      pool_params(1, 5, 9, 8, 3, 2, 1, 2, 1, 1),     // non-square window and stride
      pool_params(3, 7, 6, 10, 2, 3, 3, 1, 0, 1),    // stride larger than the window
      pool_params(1, 2, 5, 5, 5, 5, 1, 1, 2, 2),     // window as large as the input
      pool_params(2, 3, 8, 8, 3, 3, 1, 1, 1, 1),     // overlapping windows
      pool_params(4, 64, 28, 28, 2, 2, 2, 2, 0, 0),  // seed model: 28x28 -> 14x14
      // 2 x 2 windows, 8 and 9 a row (the backward's vector path, its last group overlapping),
      // odd sizes: a last row and column that no window covers.
      pool_params(2, 3, 19, 17, 2, 2, 2, 2, 0, 0),
      pool_params(1, 2, 7, 19, 2, 2, 2, 2, 0, 0),
      pool_params(2, 5, 3, 3, 3, 3, 1, 1, 1, 1),     // 3x3 input, every window padded
  };
  uint32_t seed = 900;
  for (Pool2dParams p : shapes) {
    for (const bool include_pad : {true, false}) {
      p.count_include_pad = include_pad;
      INFO(describe(p));
      const std::vector<float> x = random_floats(pool_x_size(p), seed++);
      const std::vector<float> dy = random_floats(pool_y_size(p), seed++);

      const MaxPoolReference max_ref = max_pool_reference(p, x, dy);
      std::vector<float> y = nan_floats(pool_y_size(p));
      std::vector<int32_t> argmax(static_cast<size_t>(pool_y_size(p)), -7);
      weft::cpu::max_pool2d_forward(p, x.data(), y.data(), argmax.data());
      check_close("max forward", y, max_ref.y);
      CHECK(argmax == max_ref.argmax);
      std::vector<float> dx = nan_floats(pool_x_size(p));
      weft::cpu::max_pool2d_backward(p, dy.data(), nullptr, argmax.data(), dx.data());
      check_close("max backward", dx, max_ref.dx);
      check_adjoint("<maxpool(x), dy> = <x, max_backward(dy)>", dot(y, dy), dot(x, dx));

      // Values from {0, 1, 2, 3} make ties common, which checks the first-maximum rule.
      std::vector<float> ties = random_floats(pool_x_size(p), seed++, 0.0f, 4.0f);
      for (float& v : ties) v = std::floor(v);
      const MaxPoolReference tie_ref = max_pool_reference(p, ties, dy);
      weft::cpu::max_pool2d_forward(p, ties.data(), y.data(), argmax.data());
      CHECK(argmax == tie_ref.argmax);

      const AvgPoolReference avg_ref = avg_pool_reference(p, x, dy);
      std::vector<float> y_avg = nan_floats(pool_y_size(p));
      weft::cpu::avg_pool2d_forward(p, x.data(), y_avg.data());
      check_close("avg forward", y_avg, avg_ref.y);
      std::vector<float> dx_avg = nan_floats(pool_x_size(p));
      weft::cpu::avg_pool2d_backward(p, dy.data(), dx_avg.data());
      check_close("avg backward", dx_avg, avg_ref.dx);
      check_adjoint("<avgpool(x), dy> = <x, avg_backward(dy)>", dot(y_avg, dy), dot(x, dx_avg));
    }
  }
}

TEST_CASE("max_pool2d with a fused activation: the pool of act(x), its slope on the winners",
          "[kernels][pool]") {
  // Non-overlapping windows only (the fused form's condition): 2x2 on the seed CNN's maps, 3x3
  // stride 3 with padding and a tail, stride 3 over a 2-wide window (cells in no window).
  const std::vector<Pool2dParams> shapes = {
      pool_params(4, 64, 26, 26, 2, 2, 2, 2, 0, 0),
      pool_params(2, 3, 19, 17, 2, 2, 2, 2, 0, 0),
      pool_params(2, 3, 10, 11, 3, 3, 3, 3, 1, 1),
      pool_params(3, 7, 6, 10, 2, 2, 3, 3, 0, 0),
  };
  const weft::FusedActivation relu{weft::FusedActivation::Kind::relu, 0.0f};
  const weft::FusedActivation leaky{weft::FusedActivation::Kind::leaky_relu, 0.2f};
  uint32_t seed = 950;
  for (const Pool2dParams& shape : shapes) {
    for (const weft::FusedActivation& act : {relu, leaky}) {
      Pool2dParams p = shape;
      INFO(describe(p) << (act.kind == weft::FusedActivation::Kind::relu ? " relu" : " leaky"));
      // Values from {-2, -1, 0, 1}: ties among the activated cells, many at 0, and a few NaN.
      std::vector<float> x = random_floats(pool_x_size(p), seed++, -2.0f, 2.0f);
      for (float& v : x) v = std::floor(v);
      for (size_t i = 0; i < x.size(); i += 37) x[i] = NAN;
      const std::vector<float> dy = random_floats(pool_y_size(p), seed++);

      // The composition: act over the whole input, the plain pool, act's backward over the
      // whole unpooled gradient (read at the activated input).
      std::vector<float> activated(x.size());
      for (size_t i = 0; i < x.size(); ++i) activated[i] = act.apply(x[i]);
      std::vector<float> y_plain(static_cast<size_t>(pool_y_size(p)));
      std::vector<int32_t> argmax_plain(y_plain.size());
      weft::cpu::max_pool2d_forward(p, activated.data(), y_plain.data(), argmax_plain.data());
      std::vector<float> dx_plain(x.size());
      weft::cpu::max_pool2d_backward(p, dy.data(), nullptr, argmax_plain.data(), dx_plain.data());
      for (size_t i = 0; i < x.size(); ++i) {
        dx_plain[i] = act.gradient_at_input(activated[i], dx_plain[i]);
      }

      p.activation = act;
      std::vector<float> y = nan_floats(pool_y_size(p));
      std::vector<int32_t> argmax(y.size(), -7);
      weft::cpu::max_pool2d_forward(p, x.data(), y.data(), argmax.data());
      std::vector<float> dx = nan_floats(pool_x_size(p));
      weft::cpu::max_pool2d_backward(p, dy.data(), y.data(), argmax.data(), dx.data());
      // Bit for bit (NaN compared as NaN), the argmax too.
      CHECK(argmax == argmax_plain);
      for (size_t i = 0; i < y.size(); ++i) {
        INFO("y[" << i << "]");
        CHECK((std::isnan(y[i]) ? std::isnan(y_plain[i]) : y[i] == y_plain[i]));
      }
      for (size_t i = 0; i < dx.size(); ++i) {
        INFO("dx[" << i << "]");
        CHECK((std::isnan(dx[i]) ? std::isnan(dx_plain[i])
                                 : dx[i] == dx_plain[i] &&
                                       std::signbit(dx[i]) == std::signbit(dx_plain[i])));
      }
      // And the definition's fused form gives the same (ReLU only: the definition lets a NaN
      // win only as a window's first cell, the kernels let it win anywhere; ReLU maps NaN to 0).
      if (act.kind != weft::FusedActivation::Kind::relu) continue;
      std::vector<double> y_ref(y.size()), dx_ref(x.size());
      std::vector<int32_t> argmax_ref(y.size());
      weft::reference::max_pool2d_forward(p, x.data(), y_ref.data(), argmax_ref.data());
      weft::reference::max_pool2d_backward(p, dy.data(), y.data(), argmax_ref.data(),
                                           dx_ref.data());
      CHECK(argmax_ref == argmax);
      for (size_t i = 0; i < dx.size(); ++i) {
        if (!std::isnan(dx[i])) CHECK(dx[i] == static_cast<float>(dx_ref[i]));
      }
    }
  }
  // Overlapping windows would give a cell several slopes: refused with the reason.
  Pool2dParams overlapping = pool_params(1, 1, 5, 5, 3, 3, 2, 2, 1, 1);
  overlapping.activation = relu;
  std::vector<float> dy(static_cast<size_t>(pool_y_size(overlapping)), 1.0f);
  std::vector<float> y(dy.size(), 1.0f), dx(static_cast<size_t>(pool_x_size(overlapping)));
  std::vector<int32_t> argmax(dy.size(), 0);
  CHECK_THROWS_WITH(weft::cpu::max_pool2d_backward(overlapping, dy.data(), y.data(),
                                                   argmax.data(), dx.data()),
                    Catch::Contains("windows that do not overlap"));
}

TEST_CASE("global_avg_pool: matches direct loops", "[kernels][pool]") {
  struct Shape {
    int n, c, plane;
  };
  const std::vector<Shape> shapes = {{1, 1, 1}, {2, 3, 7}, {4, 64, 49}, {3, 5, 784}};
  uint32_t seed = 1300;
  for (const Shape& s : shapes) {
    INFO("N=" << s.n << " C=" << s.c << " plane=" << s.plane);
    const std::vector<float> x = random_floats(int64_t{s.n} * s.c * s.plane, seed++);
    const std::vector<float> dy = random_floats(int64_t{s.n} * s.c, seed++);
    std::vector<double> y_want(dy.size()), dx_want(x.size());
    weft::reference::global_avg_pool_forward(s.n, s.c, s.plane, x.data(), y_want.data());
    weft::reference::global_avg_pool_backward(s.n, s.c, s.plane, dy.data(), dx_want.data());
    std::vector<float> y = nan_floats(static_cast<int64_t>(dy.size()));
    weft::cpu::global_avg_pool_forward(s.n, s.c, s.plane, x.data(), y.data());
    check_close("forward", y, y_want);
    std::vector<float> dx = nan_floats(static_cast<int64_t>(x.size()));
    weft::cpu::global_avg_pool_backward(s.n, s.c, s.plane, dy.data(), dx.data());
    check_close("backward", dx, dx_want);
  }
}

// ---- batch normalisation ----------------------------------------------------------------------

namespace {

BatchNormParams bn_params(int n, int c, int spatial, float eps = 1e-5f, float momentum = 0.1f) {
  BatchNormParams p;
  p.batch = n;
  p.channels = c;
  p.spatial = spatial;
  p.eps = eps;
  p.momentum = momentum;
  return p;
}

int64_t bn_size(const BatchNormParams& p) { return int64_t{p.batch} * p.channels * p.spatial; }

struct BatchNormReference {
  std::vector<double> y, mean, invstd, running_mean, running_var;  // training forward
  std::vector<double> dx, dgamma, dbeta;                           // its backward
  std::vector<double> y_eval, dx_eval, dgamma_eval, dbeta_eval;    // eval forward and backward
};

// Every function by its definition (kernels/reference/batchnorm.h).
BatchNormReference batch_norm_reference(const BatchNormParams& p, const std::vector<float>& x,
                                        const std::vector<float>& gamma,
                                        const std::vector<float>& beta,
                                        const std::vector<float>& dy,
                                        const std::vector<float>& running_mean,
                                        const std::vector<float>& running_var) {
  const size_t c = static_cast<size_t>(p.channels);
  BatchNormReference r;
  for (std::vector<double>* v : {&r.y, &r.dx, &r.y_eval, &r.dx_eval}) v->resize(x.size());
  for (std::vector<double>* v : {&r.mean, &r.invstd, &r.running_mean, &r.running_var, &r.dgamma,
                                 &r.dbeta, &r.dgamma_eval, &r.dbeta_eval}) {
    v->resize(c);
  }
  weft::reference::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), r.y.data(),
                                            r.mean.data(), r.invstd.data(), running_mean.data(),
                                            running_var.data(), r.running_mean.data(),
                                            r.running_var.data());
  weft::reference::batch_norm_backward(p, dy.data(), x.data(), nullptr, gamma.data(), r.dx.data(),
                                       r.dgamma.data(), r.dbeta.data());
  weft::reference::batch_norm_forward_eval(p, x.data(), gamma.data(), beta.data(),
                                           running_mean.data(), running_var.data(),
                                           r.y_eval.data());
  weft::reference::batch_norm_backward_eval(
      p, dy.data(), x.data(), nullptr, gamma.data(), running_mean.data(), running_var.data(),
      r.dx_eval.data(), r.dgamma_eval.data(), r.dbeta_eval.data());
  return r;
}

}  // namespace

TEST_CASE("batch_norm: tiny batch by hand, with running statistics", "[kernels][batchnorm]") {
  // N = 2, C = 2, spatial = 2, eps = 0 so the numbers stay exact. x[n][c][s]:
  //   channel 0: 2, 6 (n=0) and 6, 2 (n=1): mean 4, deviations -2 2 2 -2, biased var 16/4 = 4,
  //              invstd 1/2, xhat -1 1 1 -1, unbiased var 16/3
  //   channel 1: 5, -3 and -3, 5: mean 1, deviations 4 -4 -4 4, biased var 64/4 = 16,
  //              invstd 1/4, xhat 1 -1 -1 1, unbiased var 64/3
  // gamma = 2, 0.5 and beta = 1, -1:
  //   y channel 0 = 2 * xhat + 1   = -1  3    3   -1
  //   y channel 1 = xhat / 2 - 1   = -0.5 -1.5 -1.5 -0.5
  // running_mean 0, 1 and running_var 1, 2 with momentum 0.1:
  //   running_mean = 0.9 * 0 + 0.1 * 4 = 0.4,      0.9 * 1 + 0.1 * 1 = 1
  //   running_var  = 0.9 * 1 + 0.1 * 16/3 = 1.4333, 0.9 * 2 + 0.1 * 64/3 = 3.9333
  const BatchNormParams p = bn_params(2, 2, 2, 0.0f, 0.1f);
  const std::vector<float> x = {2, 6, 5, -3, 6, 2, -3, 5};
  const std::vector<float> gamma = {2, 0.5f}, beta = {1, -1};
  std::vector<float> running_mean = {0, 1}, running_var = {1, 2};
  std::vector<float> y = nan_floats(8), save_mean = nan_floats(2), save_invstd = nan_floats(2);
  weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(),
                                      save_mean.data(), save_invstd.data(), running_mean.data(),
                                      running_var.data());
  check_close("y", y, std::vector<float>{-1, 3, -0.5f, -1.5f, 3, -1, -1.5f, -0.5f});
  check_close("save_mean", save_mean, std::vector<float>{4, 1});
  check_close("save_invstd", save_invstd, std::vector<float>{0.5f, 0.25f});
  check_close("running_mean", running_mean, std::vector<double>{0.4, 1.0});
  check_close("running_var", running_var, std::vector<double>{0.9 + 1.6 / 3, 1.8 + 6.4 / 3});

  // dy channel 0 = 1 0 0 0 (in the order n0s0 n0s1 n1s0 n1s1), channel 1 = 1 1 1 1.
  //   channel 0: sum(dy) = 1, sum(dy * xhat) = -1, M = 4, gamma * invstd / M = 2 * 0.5 / 4:
  //     dx = 0.25 * (4 * dy - 1 + xhat) = 0.25 * (4-1-1, 0-1+1, 0-1+1, 0-1-1) = 0.5 0 0 -0.5
  //   channel 1: a constant dy only shifts y, which normalisation removes: dx = 0;
  //     sum(dy) = 4, sum(dy * xhat) = 1 - 1 - 1 + 1 = 0
  const std::vector<float> dy = {1, 0, 1, 1, 0, 0, 1, 1};
  std::vector<float> dx = nan_floats(8), dgamma = nan_floats(2), dbeta = nan_floats(2);
  weft::cpu::batch_norm_backward(p, dy.data(), x.data(), nullptr, gamma.data(), save_mean.data(),
                                 save_invstd.data(), dx.data(), dgamma.data(), dbeta.data());
  check_close("dx", dx, std::vector<float>{0.5f, 0, 0, 0, 0, -0.5f, 0, 0});
  check_close("dgamma", dgamma, std::vector<float>{-1, 0});
  check_close("dbeta", dbeta, std::vector<float>{1, 4});

  // Eval with running statistics equal to this batch's (mean 4, 1; var 4, 16) gives the same
  // y; its backward is dy * gamma * invstd = dy * 1 on channel 0 and dy * 0.125 on channel 1.
  const std::vector<float> eval_mean = {4, 1}, eval_var = {4, 16};
  std::vector<float> y_eval = nan_floats(8);
  weft::cpu::batch_norm_forward_eval(p, x.data(), gamma.data(), beta.data(), eval_mean.data(),
                                     eval_var.data(), y_eval.data());
  check_close("y eval", y_eval, y);
  std::vector<float> dx_eval = nan_floats(8), dgamma_eval = nan_floats(2),
                     dbeta_eval = nan_floats(2);
  weft::cpu::batch_norm_backward_eval(p, dy.data(), x.data(), nullptr, gamma.data(),
                                      eval_mean.data(), eval_var.data(), dx_eval.data(),
                                      dgamma_eval.data(), dbeta_eval.data());
  check_close("dx eval", dx_eval, std::vector<float>{1, 0, 0.125f, 0.125f, 0, 0, 0.125f, 0.125f});
  check_close("dgamma eval", dgamma_eval, std::vector<float>{-1, 0});
  check_close("dbeta eval", dbeta_eval, std::vector<float>{1, 4});
}

TEST_CASE("batch_norm: every function matches direct loops over a table of shapes",
          "[kernels][batchnorm]") {
  const std::vector<BatchNormParams> shapes = {
      bn_params(2, 3, 1),                // BatchNorm1d, smallest batch with a variance
      bn_params(32, 10, 1),              // BatchNorm1d, seed MLP sized
      bn_params(1, 4, 9),                // batch 1, statistics over the plane only
      bn_params(4, 5, 7),                // odd sizes
      bn_params(3, 7, 16, 1e-3f, 0.3f),  // other eps and momentum
      bn_params(8, 16, 196),             // seed CNN sized: 16 channels of 14x14
      // The training backward by samples (S <= 36: small_plane_backward) and the forwards (S <=
      // 16: small_plane_forward), both for rows C * S of at most 32,768 values: chunks of 16
      // samples, the last one partial; the largest such planes; and the first planes and rows
      // the channel paths take again.
      bn_params(40, 6, 9),
      bn_params(20, 140, 36),  // a sample's 5,040 values in three blocks of the sums pass
      bn_params(20, 300, 9),   // the forward's sums: 2,700 values in two blocks
      bn_params(18, 5, 17),
      bn_params(17, 3, 37),
      bn_params(2, 2049, 16),  // a row of 32,784 values: both channel paths
  };
  uint32_t seed = 2000;
  for (const BatchNormParams& p : shapes) {
    INFO(describe(p));
    // Each channel gets an offset so the means differ: c mod 100, since the backward reads the
    // mean saved as float, whose rounding at a mean of 2,000 next to a spread of 2 would be most
    // of dgamma's error (the statistics test below covers large means).
    std::vector<float> x = random_floats(bn_size(p), seed++, -2.0f, 2.0f);
    for (int64_t i = 0; i < bn_size(p); ++i) {
      x[i] += static_cast<float>((i / p.spatial) % p.channels % 100);
    }
    const std::vector<float> gamma = random_floats(p.channels, seed++, 0.5f, 1.5f);
    const std::vector<float> beta = random_floats(p.channels, seed++);
    const std::vector<float> dy = random_floats(bn_size(p), seed++);
    const std::vector<float> running_mean = random_floats(p.channels, seed++);
    const std::vector<float> running_var = random_floats(p.channels, seed++, 0.5f, 2.0f);
    const BatchNormReference ref =
        batch_norm_reference(p, x, gamma, beta, dy, running_mean, running_var);

    std::vector<float> y = nan_floats(bn_size(p));
    std::vector<float> save_mean = nan_floats(p.channels), save_invstd = nan_floats(p.channels);
    std::vector<float> new_running_mean = running_mean, new_running_var = running_var;
    weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(),
                                        save_mean.data(), save_invstd.data(),
                                        new_running_mean.data(), new_running_var.data());
    check_close("train y", y, ref.y);
    check_close("save_mean", save_mean, ref.mean);
    check_close("save_invstd", save_invstd, ref.invstd);
    check_close("running_mean", new_running_mean, ref.running_mean);
    check_close("running_var", new_running_var, ref.running_var);

    // Running statistics are optional and must not change y.
    std::vector<float> y_no_running = nan_floats(bn_size(p));
    weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y_no_running.data(),
                                        save_mean.data(), save_invstd.data(), nullptr, nullptr);
    check_close("train y without running statistics", y_no_running, ref.y);

    std::vector<float> dx = nan_floats(bn_size(p));
    std::vector<float> dgamma = nan_floats(p.channels), dbeta = nan_floats(p.channels);
    weft::cpu::batch_norm_backward(p, dy.data(), x.data(), nullptr, gamma.data(), save_mean.data(),
                                   save_invstd.data(), dx.data(), dgamma.data(), dbeta.data());
    check_close("train dx", dx, ref.dx);
    check_close("train dgamma", dgamma, ref.dgamma);
    check_close("train dbeta", dbeta, ref.dbeta);
    std::vector<float> dx_only = nan_floats(bn_size(p));
    weft::cpu::batch_norm_backward(p, dy.data(), x.data(), nullptr, gamma.data(), save_mean.data(),
                                   save_invstd.data(), dx_only.data(), nullptr, nullptr);
    check_close("train dx without dgamma and dbeta", dx_only, ref.dx);

    std::vector<float> y_eval = nan_floats(bn_size(p));
    weft::cpu::batch_norm_forward_eval(p, x.data(), gamma.data(), beta.data(), running_mean.data(),
                                       running_var.data(), y_eval.data());
    check_close("eval y", y_eval, ref.y_eval);

    std::vector<float> dx_eval = nan_floats(bn_size(p));
    std::vector<float> dgamma_eval = nan_floats(p.channels), dbeta_eval = nan_floats(p.channels);
    weft::cpu::batch_norm_backward_eval(p, dy.data(), x.data(), nullptr, gamma.data(),
                                        running_mean.data(), running_var.data(), dx_eval.data(),
                                        dgamma_eval.data(), dbeta_eval.data());
    check_close("eval dx", dx_eval, ref.dx_eval);
    check_close("eval dgamma", dgamma_eval, ref.dgamma_eval);
    check_close("eval dbeta", dbeta_eval, ref.dbeta_eval);
    std::vector<float> dx_eval_only = nan_floats(bn_size(p));
    weft::cpu::batch_norm_backward_eval(p, dy.data(), x.data(), nullptr, gamma.data(),
                                        running_mean.data(), running_var.data(),
                                        dx_eval_only.data(), nullptr, nullptr);
    check_close("eval dx without dgamma and dbeta", dx_eval_only, ref.dx_eval);
  }
}

TEST_CASE("batch_norm: statistics stay accurate when the mean dwarfs the spread",
          "[kernels][batchnorm]") {
  // 16384 values per channel around 1000 with spread 1 (variance 1/3). Accumulating the sum of
  // squares in float and using E[x^2] - E[x]^2 would leave almost nothing of the variance.
  const BatchNormParams p = bn_params(16, 2, 1024);
  std::vector<float> x = random_floats(bn_size(p), 77);
  for (float& v : x) v += 1000.0f;
  const std::vector<float> gamma = {1, 1}, beta = {0, 0};
  const std::vector<float> dy = random_floats(bn_size(p), 78);
  const std::vector<float> running_mean = {0, 0}, running_var = {1, 1};
  const BatchNormReference ref =
      batch_norm_reference(p, x, gamma, beta, dy, running_mean, running_var);

  std::vector<float> y = nan_floats(bn_size(p));
  std::vector<float> save_mean = nan_floats(2), save_invstd = nan_floats(2);
  std::vector<float> new_running_mean = running_mean, new_running_var = running_var;
  weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(),
                                      save_mean.data(), save_invstd.data(), new_running_mean.data(),
                                      new_running_var.data());
  check_close("save_mean", save_mean, ref.mean, 0.0, 1e-6);
  check_close("save_invstd", save_invstd, ref.invstd, 0.0, 1e-5);
  check_close("running_var", new_running_var, ref.running_var, 0.0, 1e-5);
  check_close("y", y, ref.y);

  // The backward of short runs (small_plane_backward: 3 x 3 planes) around the same mean.
  const BatchNormParams small = bn_params(300, 2, 9);
  std::vector<float> xs = random_floats(bn_size(small), 79);
  for (float& v : xs) v += 1000.0f;
  const std::vector<float> dys = random_floats(bn_size(small), 80);
  const BatchNormReference small_ref =
      batch_norm_reference(small, xs, gamma, beta, dys, running_mean, running_var);
  std::vector<float> ys = nan_floats(bn_size(small)), dxs = nan_floats(bn_size(small));
  std::vector<float> dgamma = nan_floats(2), dbeta = nan_floats(2);
  weft::cpu::batch_norm_forward_train(small, xs.data(), gamma.data(), beta.data(), ys.data(),
                                      save_mean.data(), save_invstd.data(), nullptr, nullptr);
  weft::cpu::batch_norm_backward(small, dys.data(), xs.data(), nullptr, gamma.data(),
                                 save_mean.data(), save_invstd.data(), dxs.data(), dgamma.data(),
                                 dbeta.data());
  check_close("small planes: save_mean", save_mean, small_ref.mean, 0.0, 1e-6);
  check_close("small planes: save_invstd", save_invstd, small_ref.invstd, 0.0, 1e-5);
  check_close("small planes: y", ys, small_ref.y);
  check_close("small planes: dx", dxs, small_ref.dx);
  check_close("small planes: dgamma", dgamma, small_ref.dgamma);
  check_close("small planes: dbeta", dbeta, small_ref.dbeta);
}

TEST_CASE("batch_norm: the sample path's results do not depend on the thread count",
          "[kernels][batchnorm]") {
  // Large enough for the parallel regions (73,728 values), 3 x 3 and BatchNorm1d planes: the
  // chunks are fixed by the batch, not by the thread count, each writes its own rows, and their
  // sums are added in a fixed order, so 1, 2 and 3 threads give the same bits. (Two chunks
  // sharing a row fails here; a thread-dependent chunk size does not: the double sums of these
  // floats round to the same float statistics in either order.)
  for (const BatchNormParams& p : {bn_params(128, 64, 9), bn_params(4096, 18, 1)}) {
    INFO(describe(p));
    const std::vector<float> x = random_floats(bn_size(p), 91, -2.0f, 3.0f);
    const std::vector<float> dy = random_floats(bn_size(p), 92);
    const std::vector<float> gamma = random_floats(p.channels, 93, 0.5f, 1.5f);
    const std::vector<float> beta = random_floats(p.channels, 94);
    const auto run = [&](int threads) {
      const int before = omp_get_max_threads();
      omp_set_num_threads(threads);
      std::vector<float> y(bn_size(p)), dx(bn_size(p)), mean(p.channels), invstd(p.channels);
      std::vector<float> running_mean(p.channels, 0.0f), running_var(p.channels, 1.0f);
      std::vector<float> dgamma(p.channels), dbeta(p.channels);
      weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(),
                                          mean.data(), invstd.data(), running_mean.data(),
                                          running_var.data());
      weft::cpu::batch_norm_backward(p, dy.data(), x.data(), nullptr, gamma.data(), mean.data(),
                                     invstd.data(), dx.data(), dgamma.data(), dbeta.data());
      omp_set_num_threads(before);
      std::vector<float> all = y;
      for (const auto* part : {&dx, &mean, &invstd, &running_mean, &running_var, &dgamma, &dbeta}) {
        all.insert(all.end(), part->begin(), part->end());
      }
      return all;
    };
    const std::vector<float> one = run(1);
    for (const int threads : {2, 3}) {
      INFO(threads << " threads");
      const std::vector<float> many = run(threads);
      CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
    }
  }
}
