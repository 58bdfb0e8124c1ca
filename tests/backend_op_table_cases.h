// What the files that build the op table's cases share (tests/backend_op_table.cpp and
// tests/backend_op_table_conv.cpp; the table itself is backend_op_table.h): the list a family's
// cases are added to, the tolerance of a sum of products, the fused activations of the cases,
// and the families built outside backend_op_table.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/params.h"
#include "kernels/reference/op_cases.h"
#include "tests/backend_op_table.h"

namespace weft::test::table {

namespace cases = weft::reference::cases;
using cases::CaseBuffer;
using cases::Content;
using cases::ElementType;
using cases::OpCall;
using weft::MathPrecision;

// The fused activations of the conv and batch-norm cases (kernels/params.h FusedActivation).
inline const weft::FusedActivation kRelu{weft::FusedActivation::Kind::relu, 0.0f};
inline const weft::FusedActivation kLeaky{weft::FusedActivation::Kind::leaky_relu, 0.2f};

// The cases of one family of the table. Each drawn buffer gets its own std::mt19937 stream,
// seeded with the family's counter (incremented before each draw, empty buffers included), so
// adding a case to one family leaves the data of the others as it was.
struct CaseList {
  std::vector<OpCase>& cases;
  uint32_t seed;

  void add(std::string name, OpCall call, double abs_tol = 1e-6, double rel_tol = 1e-5,
           MathPrecision precision = MathPrecision::fp32) {
    const auto draw = [this](const CaseBuffer& b, void* out) {
      if (b.content.kind == Content::Kind::none) {  // outputs: NaN, or a value no kernel writes
        if (b.type == ElementType::i32) {
          std::fill_n(static_cast<int32_t*>(out), b.count, -123456789);
        } else {
          std::fill_n(static_cast<float*>(out), b.count, std::numeric_limits<float>::quiet_NaN());
        }
        return;
      }
      std::mt19937 gen(++seed);
      if (b.content.kind == Content::Kind::class_index) {
        std::uniform_int_distribution<int32_t> dist(0, b.content.classes - 1);
        std::generate_n(static_cast<int32_t*>(out), b.count, [&] { return dist(gen); });
      } else if (b.content.kind == Content::Kind::ties) {
        std::uniform_int_distribution<int> level(-2, 2);
        std::generate_n(static_cast<float*>(out), b.count,
                        [&] { return 0.5f * static_cast<float>(level(gen)); });
      } else {
        std::uniform_real_distribution<float> dist(b.content.lo, b.content.hi);
        std::generate_n(static_cast<float*>(out), b.count, [&] { return dist(gen); });
      }
    };
    std::vector<std::vector<unsigned char>> contents = cases::first_contents(call, draw);
    cases.push_back(
        {std::move(name), std::move(call), abs_tol, rel_tol, std::move(contents), precision});
  }
};

// Tolerance of a sum of products. A GEMM or convolution output is a sum of `terms` products of
// inputs drawn from [-1, 1] (rms of a product 1/3). The CPU reference (OpenBLAS, blocked and
// vectorised) and the hand kernel (one fmaf chain per output, kernels/cuda/tiled_product.h) add
// them in different orders, so neither is exact and they disagree by the sum of their rounding
// errors. For a float sum each addition rounds the running partial sum (of size about
// sqrt(k) / 3 after k terms) by up to u/2 = 2^-25, with random sign: the error is a random walk
// of standard deviation about u * terms / (3 sqrt(2)) ~ 0.24 u * terms. Two such errors, and
// the largest over a few thousand outputs (about 4 standard deviations), give about
// 2 u * terms; the tolerance allows twice that, 4 u * terms, plus 1e-6 for outputs near zero
// and 1e-5 relative for large ones. The worst-case bound (u * terms * sum |products|, quadratic
// in terms) would accept almost anything and is not used. Observed under emulation: at most
// 16% of this tolerance (ResNet-18 layer 4, 4608 terms: 2.3e-4 against 1.1e-3), typically 5%.
inline constexpr double kFloatUnitRoundoff = 5.9604644775390625e-8;  // 2^-24

struct Tolerance {
  double abs, rel;
};

inline Tolerance product_tolerance(int64_t terms) {
  return {1e-6 + 4.0 * kFloatUnitRoundoff * static_cast<double>(terms), 1e-5};
}

// The convolution with the max pool of its output (backend_op_table_conv_pool.cpp), added to the
// pool family's list.
void add_conv_max_pool_cases(CaseList& list);

// The convolution and transposed-convolution families (backend_op_table_conv.cpp).
void add_conv_cases(std::vector<OpCase>& all);
void add_conv_transpose_cases(std::vector<OpCase>& all);

}  // namespace weft::test::table
