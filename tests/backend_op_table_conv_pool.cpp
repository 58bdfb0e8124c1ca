// The op table's cases of a convolution and the max pool of its output as one op
// (conv2d_max_pool2d_forward, conv2d_max_pool2d_backward_filter; engine/ops.h
// conv2d_max_pool2d): which pairs the hand CUDA kernels fuse and which they compose, each case
// says. Part of the pool family's cases (backend_op_table.cpp add_pool_cases).
#include <cstdint>
#include <sstream>
#include <string>

#include "tests/backend_op_table_cases.h"
#include "tests/params_test_util.h"

namespace weft::test::table {

// A convolution and the max pool of its output as one op (conv2d_max_pool2d_forward). The hand
// CUDA kernels fuse a narrow layer (conv_forward_narrow.h) with a 2 x 2 pool of stride 2 and
// compose the rest; each case says which. Inputs on the tie grid: every convolution output is
// exact in any order, so values and argmax are compared exactly, ties included. No NaN: where a
// NaN input reaches a convolution's output depends on the implementation (a Winograd tile
// spreads it, a kernel that skips padded rows does not); tests/test_conv_max_pool.cpp holds the
// fused kernel's NaN rule to the composition on the same kernels.
void add_conv_max_pool_cases(CaseList& list) {
  struct Setting {
    const char* label;
    int batch, in_channels, in_h, in_w, out_channels, kernel, pad;
    int pool;  // window and stride
    bool bias;
    weft::FusedActivation act;
    MathPrecision precision = MathPrecision::fp32;

    weft::Conv2dParams conv() const {
      return square_conv(batch, in_channels, in_h, in_w, out_channels, kernel, pad);
    }
    weft::Pool2dParams pool_over(const weft::Conv2dParams& c) const {
      weft::Pool2dParams p = test::pool_over(c, pool);
      p.activation = act;
      return p;
    }
    std::string name() const {
      std::ostringstream name;
      name << " " << batch << "x" << in_channels << "x" << in_h << "x" << in_w << " -> "
           << out_channels << " k" << kernel << " p" << pad << " pool " << pool
           << (bias ? "" : " no bias")
           << (act.kind == weft::FusedActivation::Kind::relu         ? " +relu"
               : act.kind == weft::FusedActivation::Kind::leaky_relu ? " +leaky_relu(0.2)"
                                                                     : "")
           << label
           << (precision == MathPrecision::fp32
                   ? std::string()
                   : std::string(" at ") + weft::precision_name(precision));
      return name.str();
    }
  };
  const weft::FusedActivation none{};
  for (const Setting& s : {
           // Fused: the Fashion-MNIST CNN's first layer (1 -> 64, 3 x 3; 8 groups of 8 channels).
           Setting{" (fused, fashion cnn)", 2, 1, 10, 10, 64, 3, 0, 2, true, kRelu},
           // Fused: 5 channels (a part-filled group), conv 9 x 12 -> pool 4 x 6 (last row unused).
           Setting{" (fused)", 2, 1, 9, 12, 5, 3, 1, 2, false, kLeaky},
           // Fused: the shoe CNN's first layer (3 -> 8 here, 27 taps), pool 3 x 5 (odd width:
           // the last strip has one pooled column).
           Setting{" (fused, simple cnn)", 1, 3, 8, 13, 8, 3, 0, 2, true, kRelu},
           // Fused: 12 channels in two groups, 5 x 5 taps, no activation.
           Setting{" (fused)", 2, 2, 10, 14, 12, 5, 2, 2, true, none},
           Setting{" (fused)", 1, 1, 16, 16, 4, 7, 3, 2, true, kRelu},
           Setting{" (fused)", 2, 2, 11, 11, 6, 4, 1, 2, false, kRelu},
           Setting{" (fused, fashion cnn)", 2, 1, 10, 10, 64, 3, 0, 2, true, kRelu,
                   MathPrecision::tf32},
           Setting{" (fused, simple cnn)", 1, 3, 8, 13, 8, 3, 0, 2, true, kLeaky,
                   MathPrecision::bf16},
           // Composed by the hand backend: 72 taps and 20 channels (not narrow); a 3 x 3 pool.
           Setting{" (composed)", 2, 8, 9, 9, 20, 3, 1, 2, true, kRelu},
           Setting{" (composed, 3 x 3 pool)", 2, 1, 10, 10, 4, 3, 1, 3, true, kRelu},
       }) {
    const weft::Conv2dParams c = s.conv();
    const weft::Pool2dParams p = s.pool_over(c);
    list.add("conv2d_max_pool2d_forward" + s.name(),
             cases::conv2d_max_pool2d_forward(c, p, s.bias, Content::ties()), 0.0, 0.0,
             s.precision);
  }
  // Backward-filter from the pool's gradient. The hand kernels fuse at fp32 where the SIMT
  // product runs on ThinTile with dbias in its spare column (more than 16 output channels, at
  // most 15 taps): the convolution's gradient is formed as the product reads it. Odd conv
  // outputs leave a last row or column in no window; 1600 and 2028 positions are split-K.
  for (const Setting& s : {
           Setting{" (fused, fashion cnn)", 2, 1, 10, 10, 64, 3, 0, 2, true, kRelu},
           Setting{" (fused, split-K)", 3, 1, 28, 28, 24, 3, 0, 2, false, kLeaky},
           Setting{" (fused, odd conv output)", 2, 1, 11, 9, 20, 3, 1, 2, true, none},
           Setting{" (fused)", 1, 1, 9, 13, 17, 3, 0, 2, false, kRelu},
           Setting{" (fused, split-K)", 4, 1, 20, 20, 33, 3, 1, 2, true, kRelu},
           // Composed: 16 channels (the narrow backward-filter), 27 taps, tf32, a 3 x 3 pool.
           Setting{" (composed)", 2, 1, 10, 10, 16, 3, 0, 2, true, kRelu},
           Setting{" (composed)", 1, 3, 8, 13, 24, 3, 0, 2, true, kLeaky},
           Setting{" (composed)", 2, 1, 10, 10, 64, 3, 0, 2, true, kRelu, MathPrecision::tf32},
           Setting{" (composed, 3 x 3 pool)", 2, 1, 10, 10, 20, 3, 1, 3, false, kRelu},
       }) {
    const weft::Conv2dParams c = s.conv();
    const weft::Pool2dParams p = s.pool_over(c);
    // Exact but for LeakyReLU's slope 0.2, which leaves the tie grid: then the sums' order (the
    // split-K slices against the CPU's GEMM) shows, within a sum of products' tolerance.
    const Tolerance t = product_tolerance(int64_t{c.batch} * c.out_h() * c.out_w());
    const bool exact = s.act.kind != weft::FusedActivation::Kind::leaky_relu;
    list.add("conv2d_max_pool2d_backward_filter" + s.name(),
             cases::conv2d_max_pool2d_backward_filter(c, p, s.bias, Content::ties()),
             exact ? 0.0 : t.abs, exact ? 0.0 : t.rel, s.precision);
  }
}

}  // namespace weft::test::table
