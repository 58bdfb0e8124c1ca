// Tests of the CPU matrix product and linear-layer kernels (kernels/cpu/gemm.h): a product worked
// out by hand, every transpose combination against a direct triple loop, the linear layer's
// forward and backward against direct loops, and that OpenBLAS runs the kernel set weft asks
// for on this processor (kernels/cpu/openblas_core.h).
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/openblas_core.h"
#include "tests/kernel_test_util.h"

using weft::GemmParams;
using weft::test::check_close;
using weft::test::nan_floats;
using weft::test::random_floats;

TEST_CASE("gemm: 2x3 times 3x2 by hand", "[kernels][gemm]") {
  // A = 1 2 3    B =  7  8    C[0][0] = 1*7 + 2*9 + 3*11 = 58    C[0][1] = 1*8 + 2*10 + 3*12 = 64
  //     4 5 6         9 10    C[1][0] = 4*7 + 5*9 + 6*11 = 139   C[1][1] = 4*8 + 5*10 + 6*12 = 154
  //                  11 12
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {7, 8, 9, 10, 11, 12};
  GemmParams p;
  p.m = 2;
  p.n = 2;
  p.k = 3;
  std::vector<float> c = nan_floats(4);
  weft::cpu::gemm(p, a.data(), b.data(), c.data());
  check_close("C = A B", c, std::vector<float>{58, 64, 139, 154});

  // The same product from stored transposes: A^T is stored 3x2, B^T is stored 2x3.
  // With alpha = 2 and beta = -1 on C = 58 64 / 139 154 the result is 2*C - C = C.
  const std::vector<float> a_t = {1, 4, 2, 5, 3, 6};
  const std::vector<float> b_t = {7, 9, 11, 8, 10, 12};
  p.trans_a = p.trans_b = true;
  p.alpha = 2.0f;
  p.beta = -1.0f;
  weft::cpu::gemm(p, a_t.data(), b_t.data(), c.data());
  check_close("C = 2 A B - C", c, std::vector<float>{58, 64, 139, 154});
}

TEST_CASE("gemm: all transpose combinations match a direct triple loop", "[kernels][gemm]") {
  struct Shape {
    int m, n, k;
  };
  const std::vector<Shape> shapes = {{1, 1, 1}, {3, 5, 7}, {17, 1, 9}, {1, 13, 4}, {64, 33, 70}};
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        for (const float beta : {0.0f, 0.5f}) {
          GemmParams p;
          p.m = s.m;
          p.n = s.n;
          p.k = s.k;
          p.trans_a = trans_a;
          p.trans_b = trans_b;
          p.alpha = 1.5f;
          p.beta = beta;
          INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " trans_a=" << trans_a
                    << " trans_b=" << trans_b << " beta=" << beta);
          const std::vector<float> a = random_floats(int64_t{s.m} * s.k, seed++);
          const std::vector<float> b = random_floats(int64_t{s.k} * s.n, seed++);
          // beta = 0 must overwrite C even when it holds NaN.
          std::vector<float> c = beta == 0.0f ? nan_floats(int64_t{s.m} * s.n)
                                              : random_floats(int64_t{s.m} * s.n, seed++);
          std::vector<double> want(c.size());
          for (int i = 0; i < s.m; ++i) {
            for (int j = 0; j < s.n; ++j) {
              double sum = 0.0;
              for (int l = 0; l < s.k; ++l) {
                // op(A)[i][l] and op(B)[l][j], reading the stored matrices directly.
                const float a_il = trans_a ? a[int64_t{l} * s.m + i] : a[int64_t{i} * s.k + l];
                const float b_lj = trans_b ? b[int64_t{j} * s.k + l] : b[int64_t{l} * s.n + j];
                sum += double{a_il} * b_lj;
              }
              const double old_c = beta == 0.0f ? 0.0 : c[int64_t{i} * s.n + j];
              want[int64_t{i} * s.n + j] = p.alpha * sum + beta * old_c;
            }
          }
          weft::cpu::gemm(p, a.data(), b.data(), c.data());
          check_close("C", c, want);
        }
      }
    }
  }
}

TEST_CASE("linear: forward and backward match direct loops", "[kernels][gemm]") {
  struct Shape {
    int n, in, out;
  };
  // Batch 1, odd sizes and the seed MLP's 784 -> 128 -> 10 layers.
  const std::vector<Shape> shapes = {
      {1, 1, 1}, {1, 5, 3}, {7, 3, 11}, {32, 784, 128}, {32, 128, 10}};
  uint32_t seed = 50;
  for (const Shape& s : shapes) {
    INFO("n=" << s.n << " in=" << s.in << " out=" << s.out);
    const std::vector<float> x = random_floats(int64_t{s.n} * s.in, seed++);
    const std::vector<float> w = random_floats(int64_t{s.out} * s.in, seed++);
    const std::vector<float> bias = random_floats(s.out, seed++);
    const std::vector<float> dy = random_floats(int64_t{s.n} * s.out, seed++);

    // y[i][j] = sum_l x[i][l] w[j][l] + bias[j]
    std::vector<double> y_want(static_cast<size_t>(s.n) * s.out);
    std::vector<double> y_plain_want(y_want.size());
    for (int i = 0; i < s.n; ++i) {
      for (int j = 0; j < s.out; ++j) {
        double sum = 0.0;
        for (int l = 0; l < s.in; ++l)
          sum += double{x[int64_t{i} * s.in + l]} * w[int64_t{j} * s.in + l];
        y_plain_want[int64_t{i} * s.out + j] = sum;
        y_want[int64_t{i} * s.out + j] = sum + bias[j];
      }
    }
    // dx[i][l] = sum_j dy[i][j] w[j][l];  dw[j][l] = sum_i dy[i][j] x[i][l];  dbias[j] = sum_i
    // dy[i][j]
    std::vector<double> dx_want(x.size(), 0.0), dw_want(w.size(), 0.0),
        dbias_want(bias.size(), 0.0);
    for (int i = 0; i < s.n; ++i) {
      for (int j = 0; j < s.out; ++j) {
        const double g = dy[int64_t{i} * s.out + j];
        dbias_want[j] += g;
        for (int l = 0; l < s.in; ++l) {
          dx_want[int64_t{i} * s.in + l] += g * w[int64_t{j} * s.in + l];
          dw_want[int64_t{j} * s.in + l] += g * x[int64_t{i} * s.in + l];
        }
      }
    }

    std::vector<float> y = nan_floats(int64_t{s.n} * s.out);
    weft::cpu::linear_forward(s.n, s.in, s.out, x.data(), w.data(), bias.data(), y.data());
    check_close("forward with bias", y, y_want);
    std::vector<float> y_plain = nan_floats(int64_t{s.n} * s.out);
    weft::cpu::linear_forward(s.n, s.in, s.out, x.data(), w.data(), nullptr, y_plain.data());
    check_close("forward without bias", y_plain, y_plain_want);

    std::vector<float> dx = nan_floats(int64_t{s.n} * s.in), dw = nan_floats(int64_t{s.out} * s.in);
    std::vector<float> dbias = nan_floats(s.out);
    weft::cpu::linear_backward(s.n, s.in, s.out, x.data(), w.data(), dy.data(), dx.data(),
                               dw.data(), dbias.data());
    check_close("dx", dx, dx_want);
    check_close("dw", dw, dw_want);
    check_close("dbias", dbias, dbias_want);

    // Every output is optional; the others must come out the same without it.
    std::vector<float> dw_only = nan_floats(int64_t{s.out} * s.in);
    weft::cpu::linear_backward(s.n, s.in, s.out, x.data(), w.data(), dy.data(), nullptr,
                               dw_only.data(), nullptr);
    check_close("dw without dx and dbias", dw_only, dw_want);
    std::vector<float> dx_only = nan_floats(int64_t{s.n} * s.in);
    std::vector<float> dbias_only = nan_floats(s.out);
    weft::cpu::linear_backward(s.n, s.in, s.out, x.data(), w.data(), dy.data(), dx_only.data(),
                               nullptr, dbias_only.data());
    check_close("dx without dw", dx_only, dx_want);
    check_close("dbias without dw", dbias_only, dbias_want);
  }
}

// OpenBLAS against this processor (kernels/cpu/openblas_core.h): when OPENBLAS_CORETYPE names the
// set the processor's features call for (the Makefile exports it), OpenBLAS runs that set (its
// names differ in case: "SkylakeX", "skylakex"); otherwise the fallback note is given exactly
// when OpenBLAS runs a pre-AVX2 set on an AVX2 processor.
TEST_CASE("gemm: OpenBLAS's kernel set matches this processor, or weft says so",
          "[kernels][gemm]") {
  const std::string wanted = weft::cpu::openblas_core_for_this_cpu();
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  const std::string running = weft::cpu::openblas_core();
  const std::string note = weft::cpu::openblas_fallback_note();
  INFO("OpenBLAS core " << running << ", this processor's \"" << wanted << "\", OPENBLAS_CORETYPE "
                        << (set != nullptr ? set : "(unset)") << ", note: " << note);
  REQUIRE_FALSE(running.empty());
  const auto lower = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  if (wanted.empty()) {
    CHECK(note.empty());  // nothing to ask OpenBLAS for
  } else if (set != nullptr && std::string(set) == wanted) {
    CHECK(lower(running) == lower(wanted));
    CHECK(note.empty());
  } else if (lower(running) == "prescott") {
    CHECK_THAT(note, Catch::Contains("OPENBLAS_CORETYPE=" + wanted));
  }
}
