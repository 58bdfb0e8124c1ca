// The cases of the op table (see backend_op_table.h and tests/test_backend_ops.cpp): odd sizes,
// batch 1, sizes that are not a multiple of a kernel's block or tile, ties and NaNs, for every
// op of kernels/backend.h, family by family (the convolutions: backend_op_table_conv.cpp).
#include "tests/backend_op_table.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/params.h"
#include "tests/backend_op_table_cases.h"
#include "tests/params_test_util.h"

namespace weft::test {
namespace {

using table::add_conv_cases;
using table::add_conv_transpose_cases;
using table::CaseList;
using table::kLeaky;
using table::kFloatUnitRoundoff;
using table::kRelu;
using table::product_tolerance;
using table::Tolerance;
namespace cases = weft::reference::cases;
using cases::CaseBuffer;
using cases::Content;
using cases::ElementType;
using cases::OpCall;
using weft::Activation;
using weft::BinaryOp;
using weft::BroadcastParams;
using weft::MathPrecision;

// ---- cases --------------------------------------------------------------------------------------




int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << "]";
  return s.str();
}

// Broadcast parameters for two shapes of equal rank (already right-aligned): size-1 dimensions
// get stride 0.
BroadcastParams broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  BroadcastParams p;
  p.ndim = static_cast<int>(a.size());
  int64_t sa = 1, sb = 1;
  for (int d = p.ndim - 1; d >= 0; --d) {
    p.out_shape[d] = std::max(a[d], b[d]);
    p.a_strides[d] = a[d] == 1 ? 0 : sa;
    p.b_strides[d] = b[d] == 1 ? 0 : sb;
    sa *= a[d];
    sb *= b[d];
  }
  return p;
}

// The same call with the pointers of the named buffers moved `elements` into buffers that many
// elements longer, so a kernel sees addresses that are not 16-byte aligned (1, 2 or 3 floats
// in) or aligned but not where an allocation starts (4). The skipped elements are a pad the
// call must not touch: drawn data for inputs, NaN for outputs on both sides, so a kernel that
// writes there fails. Only for buffers with drawn contents (the pad shifts the draws).
OpCall shifted(OpCall call, const std::vector<std::string>& names, int64_t elements) {
  std::vector<size_t> shift_bytes(call.buffers.size(), 0);
  for (const std::string& name : names) {
    CaseBuffer& b = call.buffer(name);
    b.count += elements;
    const size_t k = static_cast<size_t>(&b - call.buffers.data());
    shift_bytes[k] = static_cast<size_t>(elements) * cases::element_size(b.type);
  }
  call.run = [inner = std::move(call.run), shift_bytes](weft::Backend& backend,
                                                        const cases::BufferPointers& pointers) {
    cases::BufferPointers moved(pointers);
    for (size_t k = 0; k < moved.size(); ++k) {
      if (moved[k] != nullptr) moved[k] = static_cast<unsigned char*>(moved[k]) + shift_bytes[k];
    }
    inner(backend, moved);
  };
  return call;
}

std::string shift_label(const std::vector<std::string>& names, int64_t elements) {
  std::ostringstream label;
  label << " (";
  for (size_t i = 0; i < names.size(); ++i) label << (i ? "," : "") << names[i];
  label << " +" << elements << " floats)";
  return label.str();
}

const char* activation_name(Activation f) {
  switch (f) {
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::elu: return "elu";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
  }
  return "?";
}

void add_elementwise_cases(std::vector<OpCase>& all) {
  CaseList list{all, 1};
  const std::vector<int64_t> sizes = {1, 255, 257, 4099};
  for (Activation f : {Activation::relu, Activation::leaky_relu, Activation::elu,
                       Activation::sigmoid, Activation::tanh}) {
    const float alpha = f == Activation::leaky_relu ? 0.1f : 1.0f;
    for (int64_t n : sizes) {
      const std::string shape = std::string(activation_name(f)) + " n=" + std::to_string(n);
      list.add("activation_forward " + shape, cases::activation_forward(f, alpha, n));
      list.add("activation_backward " + shape, cases::activation_backward(f, alpha, n));
    }
  }

  // The vectorised maps (kernels/cuda/elementwise.cu): float4 path on aligned arrays with a
  // tail of count % 4 (the sizes above), long enough that the grid-stride loop turns on the
  // emulated card's grid (16,384 threads), and the one-float path when an array is not 16-byte
  // aligned (all, or only one of them), or aligned at an offset (+4 floats).
  for (Activation f : {Activation::relu, Activation::sigmoid}) {
    const float alpha = 1.0f;
    const std::string name = std::string(activation_name(f)) + " n=";
    list.add("activation_forward " + name + "70001", cases::activation_forward(f, alpha, 70001));
    list.add("activation_backward " + name + "70001",
             cases::activation_backward(f, alpha, 70001));
    for (int64_t by : {int64_t{1}, int64_t{4}}) {
      const std::vector<std::string> fwd = {"x", "y"}, bwd = {"x", "y", "dy", "dx"};
      list.add("activation_forward " + name + "1001" + shift_label(fwd, by),
               shifted(cases::activation_forward(f, alpha, 1001), fwd, by));
      list.add("activation_backward " + name + "1001" + shift_label(bwd, by),
               shifted(cases::activation_backward(f, alpha, 1001), bwd, by));
    }
    list.add("activation_forward " + name + "70001" + shift_label({"y"}, 3),
             shifted(cases::activation_forward(f, alpha, 70001), {"y"}, 3));
    list.add("activation_backward " + name + "1002" + shift_label({"dy"}, 2),
             shifted(cases::activation_backward(f, alpha, 1002), {"dy"}, 2));
  }

  // Broadcasting: same shape, per-channel bias, outer product, scalar, mixed, single element,
  // a row vector over a matrix whose row is not a multiple of the block size.
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{7}, {7}},
      {{2, 3, 4, 5}, {1, 3, 1, 1}},
      {{4, 1}, {1, 5}},
      {{1, 1, 1}, {3, 5, 7}},
      {{2, 3, 1, 5}, {1, 3, 4, 1}},
      {{1, 1}, {1, 1}},
      {{33, 257}, {1, 257}},
  };
  for (const auto& [a_shape, b_shape] : shapes) {
    const BroadcastParams bp = broadcast(a_shape, b_shape);
    const int64_t a_n = numel(a_shape), b_n = numel(b_shape);
    const std::string shape = " " + shape_str(a_shape) + " " + shape_str(b_shape);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      list.add(std::string("binary_forward ") + binary_name(op) + shape,
               cases::binary_forward(op, bp, a_n, b_n));
    }
    list.add("reduce_broadcast to a" + shape, cases::reduce_broadcast(bp, false, a_n));
    list.add("reduce_broadcast to b" + shape, cases::reduce_broadcast(bp, true, b_n));
  }
  // A bias gradient of a convolution, and everything summed to one element.
  list.add("reduce_broadcast [16,8,9,9] to [1,8,1,1]",
           cases::reduce_broadcast(broadcast({16, 8, 9, 9}, {1, 8, 1, 1}), true, 8), 1e-5, 1e-5);
  list.add("reduce_broadcast [100003] to [1]",
           cases::reduce_broadcast(broadcast({100003}, {1}), true, 1), 1e-4, 1e-5);

  // Same-shape binary arithmetic is a vectorised map: a tail of 3, and unaligned operands.
  for (BinaryOp op : {BinaryOp::add, BinaryOp::div}) {
    const BroadcastParams bp = broadcast({3, 1001}, {3, 1001});
    const std::string name =
        std::string("binary_forward ") + binary_name(op) + " [3,1001] [3,1001]";
    list.add(name, cases::binary_forward(op, bp, 3003, 3003));
    list.add(name + shift_label({"b"}, 1),
             shifted(cases::binary_forward(op, bp, 3003, 3003), {"b"}, 1));
    list.add(name + shift_label({"a", "b", "out"}, 4),
             shifted(cases::binary_forward(op, bp, 3003, 3003), {"a", "b", "out"}, 4));
  }

  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{1003}}) {
    const std::string shape = " n=" + std::to_string(n);
    list.add("affine" + shape, cases::affine(n, 1.5f, -0.25f));
    list.add("scale_by" + shape, cases::scale_by(n, -0.75f));
    list.add("axpy_accumulate" + shape, cases::axpy_accumulate(n, 0.3f));
    list.add("fill" + shape, cases::fill(n, 3.25f));
    list.add("u8_to_f32" + shape, cases::u8_to_f32(n, 1.0f / 255.0f, -0.5f));
  }
  for (int64_t by : {int64_t{1}, int64_t{2}, int64_t{3}}) {
    const std::string shape = " n=1003";
    list.add("affine" + shape + shift_label({"x"}, by),
             shifted(cases::affine(1003, 1.5f, -0.25f), {"x"}, by));
    list.add("scale_by" + shape + shift_label({"x", "y"}, by),
             shifted(cases::scale_by(1003, -0.75f), {"x", "y"}, by));
    list.add("axpy_accumulate" + shape + shift_label({"y"}, by),
             shifted(cases::axpy_accumulate(1003, 0.3f), {"y"}, by));
    list.add("fill" + shape + shift_label({"y"}, by),
             shifted(cases::fill(1003, 3.25f), {"y"}, by));
  }
  // Row gathers: one row, Fashion-MNIST images, short rows, and rows longer than the grid's
  // stride (64 blocks of 256 threads) so the loop within a row turns.
  struct Gather {
    int rows;
    int64_t row_elements;
    int source_rows;
  };
  for (const Gather& g : {Gather{1, 1, 1}, Gather{7, 784, 20}, Gather{33, 3, 5},
                          Gather{2, 20000, 3}}) {
    list.add("gather_u8_to_f32 rows=" + std::to_string(g.rows) + " of " +
                 std::to_string(g.row_elements) + " from " + std::to_string(g.source_rows),
             cases::gather_u8_to_f32(g.rows, g.row_elements, g.source_rows, 1.0f / 255.0f, -0.5f));
  }
  // The augmented gather: every fill mode on a Fashion-MNIST-sized batch, three channels with
  // odd sizes, one pixel, and images larger than the grid's stride (64 blocks of 256 threads).
  struct AugmentedGather {
    int rows, channels, height, width;
    weft::EdgeFill fill;
  };
  for (const AugmentedGather& g : {AugmentedGather{13, 1, 28, 28, weft::EdgeFill::constant},
                                   AugmentedGather{13, 1, 28, 28, weft::EdgeFill::nearest},
                                   AugmentedGather{13, 3, 7, 5, weft::EdgeFill::reflect},
                                   AugmentedGather{13, 3, 7, 5, weft::EdgeFill::wrap},
                                   AugmentedGather{1, 1, 1, 1, weft::EdgeFill::reflect},
                                   AugmentedGather{2, 3, 100, 70, weft::EdgeFill::constant}}) {
    weft::ImageGatherParams p;
    p.rows = g.rows;
    p.channels = g.channels;
    p.height = g.height;
    p.width = g.width;
    p.fill = g.fill;
    p.fill_value = 17.0f;
    p.scale = 1.0f / 255.0f;
    p.shift = -0.5f;
    std::ostringstream name;
    name << "gather_augment_u8_to_f32 " << g.rows << "x" << g.channels << "x" << g.height << "x"
         << g.width << " fill " << static_cast<int>(g.fill);
    list.add(name.str(), cases::gather_augment_u8_to_f32(p, 9));
  }
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{257}, int64_t{100003}}) {
    list.add("sum n=" + std::to_string(n), cases::sum(n), 1e-4, 1e-5);
  }
  // add_relu, a residual sum and its ReLU in one map: one element, tails of the float4 path,
  // the grid-stride loop, and operands off 16-byte alignment (the one-float path). Exact: one
  // rounded sum and a comparison, as add then relu.
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4099}, int64_t{70001}}) {
    list.add("add_relu_forward n=" + std::to_string(n), cases::add_relu_forward(n), 0.0, 0.0);
  }
  for (const std::vector<std::string>& names :
       {std::vector<std::string>{"b"}, std::vector<std::string>{"a", "b", "y"}}) {
    list.add("add_relu_forward n=1001" + shift_label(names, 1),
             shifted(cases::add_relu_forward(1001), names, 1), 0.0, 0.0);
  }
}

void add_softmax_cases(std::vector<OpCase>& all) {
  CaseList list{all, 1000};
  const std::vector<std::pair<int, int>> shapes = {{1, 1},   {1, 33},   {7, 10}, {64, 10},
                                                   {3, 1000}, {33, 257}, {257, 3}};
  for (const auto& [rows, cols] : shapes) {
    std::ostringstream size;
    size << " " << rows << "x" << cols;
    const std::string shape = size.str();
    list.add("softmax_forward" + shape, cases::softmax_forward(rows, cols));
    list.add("log_softmax_forward" + shape, cases::log_softmax_forward(rows, cols));
    list.add("softmax_backward" + shape, cases::softmax_backward(rows, cols), 1e-5, 1e-5);
    list.add("log_softmax_backward" + shape, cases::log_softmax_backward(rows, cols), 1e-5, 1e-5);
  }
}

void add_loss_cases(std::vector<OpCase>& all) {
  CaseList list{all, 2000};
  const std::vector<std::pair<int, int>> shapes = {{1, 1},  {1, 10},  {37, 10},
                                                   {64, 10}, {5, 1000}, {300, 7}};
  for (const auto& [n, c] : shapes) {
    for (bool weighted : {false, true}) {
      for (float smoothing : {0.0f, 0.1f}) {
        const std::string name = " n=" + std::to_string(n) + " c=" + std::to_string(c) +
                                 (weighted ? " weighted" : "") +
                                 (smoothing > 0.0f ? " smoothing=0.1" : "");
        list.add("cross_entropy_forward" + name,
                 cases::cross_entropy_forward(n, c, weighted, smoothing), 1e-5, 1e-5);
        list.add("cross_entropy_backward" + name,
                 cases::cross_entropy_backward(n, c, weighted, smoothing, 0.7f), 1e-6, 1e-4);
        // Loss and dlogits in one kernel; dlogits as the backward's for grad_loss = 1.
        list.add("cross_entropy_forward_backward" + name,
                 cases::cross_entropy_forward_backward(n, c, weighted, smoothing), 1e-6, 1e-4);
      }
    }
  }

  for (int64_t n : {int64_t{1}, int64_t{257}, int64_t{10007}}) {
    const std::string name = " n=" + std::to_string(n);
    list.add("bce_with_logits_forward" + name, cases::bce_with_logits_forward(n), 1e-5, 1e-5);
    list.add("bce_with_logits_backward" + name, cases::bce_with_logits_backward(n, 1.3f), 1e-7,
             1e-5);
    list.add("bce_forward" + name, cases::bce_forward(n), 1e-5, 1e-5);
    list.add("bce_backward" + name, cases::bce_backward(n, 0.9f), 1e-7, 1e-5);
    list.add("mse_forward" + name, cases::mse_forward(n), 1e-6, 1e-5);
    list.add("mse_backward" + name, cases::mse_backward(n, 1.1f), 1e-7, 1e-5);
    list.add("count_threshold_hits" + name, cases::count_threshold_hits(n), 0.0, 0.0);
  }
  for (const auto& [n, c] : shapes) {
    const std::string name = " n=" + std::to_string(n) + " c=" + std::to_string(c);
    list.add("count_argmax_hits" + name, cases::count_argmax_hits(n, c, false), 0.0, 0.0);
    list.add("count_argmax_hits ties" + name, cases::count_argmax_hits(n, c, true), 0.0, 0.0);
  }
  {  // probabilities of exactly 0 and 1: the clamped logs and the clamped denominator
    const std::vector<float> probs = {0.0f, 1.0f, 0.5f, 1e-30f, 1.0f - 1e-7f, 0.0f, 1.0f};
    const std::vector<float> targets = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f};
    const int64_t n = static_cast<int64_t>(probs.size());
    OpCall forward = cases::bce_forward(n);
    forward.buffer("probs").content = Content::given(probs);
    forward.buffer("targets").content = Content::given(targets);
    list.add("bce_forward at p = 0 and 1", std::move(forward), 1e-5, 1e-5);
    OpCall backward = cases::bce_backward(n, 1.0f);
    backward.buffer("probs").content = Content::given(probs);
    backward.buffer("targets").content = Content::given(targets);
    list.add("bce_backward at p = 0 and 1", std::move(backward), 1e-6, 1e-5);
  }
}

void add_dropout_cases(std::vector<OpCase>& all) {
  CaseList list{all, 3000};
  struct Setting {
    int64_t count;
    float p;
    uint64_t offset;
    int64_t shift = 0;  // both arrays moved this many floats (shifted())
  };
  // Odd counts and offsets that are not a multiple of 4 exercise the partial first and last
  // Philox counters; p = 0 and p = 1 the special cases. The mask must match bit for bit.
  // kernels/cuda/dropout.cu takes its float4 path when the first whole counter's elements are
  // 16-byte aligned: offset 0 on aligned arrays, or offset = 4k + 4 - shift on arrays moved by
  // `shift` floats (a head of 4 - shift elements); any other pair takes the one-float path.
  // 70001 elements make the grid-stride loops turn on the emulated card (16,384 threads).
  for (const Setting& s :
       {Setting{1, 0.5f, 0}, Setting{5, 0.5f, 3}, Setting{1001, 0.3f, 7}, Setting{4096, 0.5f, 0},
        Setting{100, 0.0f, 0}, Setting{100, 1.0f, 2}, Setting{4099, 0.5f, 0},
        Setting{1001, 0.3f, 7, 3}, Setting{1002, 0.3f, 6, 2}, Setting{1001, 0.3f, 0, 1},
        Setting{70001, 0.5f, 5, 1}, Setting{70001, 0.5f, 5, 0}, Setting{3, 0.5f, 1, 1}}) {
    weft::DropoutParams dp;
    dp.count = s.count;
    dp.p = s.p;
    dp.seed = 0x1234abcdULL;
    dp.offset = s.offset;
    std::ostringstream name;
    name << " n=" << s.count << " p=" << s.p << " offset=" << s.offset;
    if (s.shift == 0) {
      list.add("dropout_forward" + name.str(), cases::dropout_forward(dp), 0.0, 0.0);
      list.add("dropout_backward" + name.str(), cases::dropout_backward(dp), 0.0, 0.0);
      continue;
    }
    list.add("dropout_forward" + name.str() + shift_label({"x", "y"}, s.shift),
             shifted(cases::dropout_forward(dp), {"x", "y"}, s.shift), 0.0, 0.0);
    list.add("dropout_backward" + name.str() + shift_label({"dy", "dx"}, s.shift),
             shifted(cases::dropout_backward(dp), {"dy", "dx"}, s.shift), 0.0, 0.0);
  }
  // The activation and the mask in one kernel, exact: the same Philox words and the same float
  // operations as the activation then dropout. x's sign picks the activation's branch, and the
  // backward's x must be aligned with dy for its float4 path (a shifted x alone takes the
  // one-float path).
  for (const Setting& s :
       {Setting{1, 0.5f, 0}, Setting{5, 0.5f, 3}, Setting{1001, 0.3f, 7}, Setting{4096, 0.5f, 0},
        Setting{100, 0.0f, 0}, Setting{100, 1.0f, 2}, Setting{1001, 0.3f, 0, 1},
        Setting{1002, 0.3f, 6, 2}, Setting{70001, 0.5f, 5, 1}, Setting{70001, 0.5f, 4, 0}}) {
    weft::DropoutParams dp;
    dp.count = s.count;
    dp.p = s.p;
    dp.seed = 0x5eedf00dULL;
    dp.offset = s.offset;
    for (const weft::FusedActivation& act : {kRelu, kLeaky}) {
      std::ostringstream name;
      name << (act.kind == weft::FusedActivation::Kind::relu ? " relu" : " leaky_relu(0.2)")
           << " n=" << s.count << " p=" << s.p << " offset=" << s.offset;
      OpCall forward = cases::activation_dropout_forward(dp, act);
      OpCall backward = cases::activation_dropout_backward(dp, act);
      if (s.shift == 0) {
        list.add("activation_dropout_forward" + name.str(), std::move(forward), 0.0, 0.0);
        list.add("activation_dropout_backward" + name.str(), std::move(backward), 0.0, 0.0);
        continue;
      }
      list.add("activation_dropout_forward" + name.str() + shift_label({"x", "y"}, s.shift),
               shifted(std::move(forward), {"x", "y"}, s.shift), 0.0, 0.0);
      list.add("activation_dropout_backward" + name.str() + shift_label({"x", "dy", "dx"}, s.shift),
               shifted(std::move(backward), {"x", "dy", "dx"}, s.shift), 0.0, 0.0);
    }
  }
  {  // x alone off alignment: the backward's vector path needs all three arrays aligned
    weft::DropoutParams dp;
    dp.count = 4099;
    dp.p = 0.5f;
    dp.seed = 0x5eedf00dULL;
    list.add("activation_dropout_backward relu n=4099" + shift_label({"x"}, 1),
             shifted(cases::activation_dropout_backward(dp, kRelu), {"x"}, 1), 0.0, 0.0);
  }
}

void add_optimizer_cases(std::vector<OpCase>& all) {
  CaseList list{all, 4000};
  for (int64_t n : {int64_t{1}, int64_t{1001}}) {
    struct Sgd {
      const char* name;
      float momentum, dampening, weight_decay;
      bool nesterov, first_step;
    };
    for (const Sgd& v : {Sgd{"plain", 0.0f, 0.0f, 0.0f, false, false},
                         Sgd{"momentum first step", 0.9f, 0.0f, 0.0f, false, true},
                         Sgd{"nesterov dampening", 0.9f, 0.1f, 0.0f, true, false},
                         Sgd{"weight decay", 0.9f, 0.0f, 1e-2f, false, false}}) {
      weft::SgdStep step;
      step.count = n;
      step.lr = 0.05f;
      step.momentum = v.momentum;
      step.dampening = v.dampening;
      step.weight_decay = v.weight_decay;
      step.nesterov = v.nesterov;
      step.first_step = v.first_step;
      list.add(std::string("sgd_update ") + v.name + " n=" + std::to_string(n),
               cases::sgd_update(step));
    }
    for (bool adamw : {false, true}) {
      for (int64_t t : {int64_t{1}, int64_t{10}}) {
        weft::AdamStep step;
        step.count = n;
        step.lr = 1e-3f;
        step.weight_decay = 1e-2f;
        step.decoupled_weight_decay = adamw;
        step.step = t;
        list.add(std::string(adamw ? "adamw_update" : "adam_update") + " step=" +
                     std::to_string(t) + " n=" + std::to_string(n),
                 cases::adam_update(step));
      }
    }
  }
  // Multi-tensor updates: sizes around the 16384-element chunk, more tensors than one launch's
  // table holds (24), and more chunks than its 320 blocks.
  const std::vector<std::vector<int64_t>> groups = {
      {1, 257, 40000, 3, 16384, 16385},
      std::vector<int64_t>(30, 5),
      {16384 * 321 + 7, 2}};
  for (const std::vector<int64_t>& counts : groups) {
    const std::string name = " tensors=" + std::to_string(counts.size()) +
                             " first=" + std::to_string(counts.front());
    weft::SgdStep sgd;
    sgd.lr = 0.05f;
    sgd.momentum = 0.9f;
    sgd.nesterov = true;
    sgd.weight_decay = 1e-2f;
    list.add("sgd_update_multi nesterov" + name, cases::sgd_update_multi(sgd, counts));
    sgd.momentum = 0.0f;
    sgd.nesterov = false;
    list.add("sgd_update_multi plain" + name, cases::sgd_update_multi(sgd, counts));
    weft::AdamStep adam;
    adam.lr = 1e-3f;
    adam.weight_decay = 1e-2f;
    adam.decoupled_weight_decay = true;
    adam.step = 3;
    list.add("adam_update_multi adamw" + name, cases::adam_update_multi(adam, counts));
  }
}

// ---- matrix products, pooling, batch normalisation (convolutions: backend_op_table_conv.cpp) ---


// The tensor-core GEMM (kernels/cuda/gemm_tensor_core.cu) at tf32 and bf16: the hand kernels
// and the CPU reference both round the operands (kernels/reduced_precision.h) and accumulate
// the products of the rounded values in FP32, so what separates them is, as at fp32, the order
// of the float additions (plus the tensor core's own addition inside one mma, of the same size;
// kernels/cuda/emulation_matrix.cpp): the same tolerance applies. Shapes: edge tiles in every
// dimension with each transpose (16-byte copies for the k-contiguous operands where rows are
// 16-byte aligned, k = 40 and 64, element copies where not, k = 33), several k slabs with
// alpha and beta, k = 0, one element, products split along k, and the linear layer's three
// products.
void add_tensor_core_cases(CaseList& list) {
  struct Shape {
    int m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
  };
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    const std::string at = std::string(" at ") + weft::precision_name(precision);
    for (const Shape& s :
         {Shape{67, 65, 33, false, false, 1.0f, 0.0f}, Shape{67, 65, 33, true, false, 1.0f, 0.0f},
          Shape{67, 65, 33, false, true, 1.0f, 0.0f}, Shape{67, 65, 33, true, true, 1.0f, 0.0f},
          Shape{70, 72, 40, false, true, 1.0f, 0.0f},
          Shape{130, 70, 200, false, false, 0.5f, -1.5f},
          Shape{20, 9, 64, false, true, -2.0f, 1.0f}, Shape{3, 4, 0, true, true, 1.0f, 2.0f},
          Shape{1, 1, 1, false, false, 1.0f, 0.0f},
          // Few tiles and a long k: split along k as at fp32, with a tail slice, beta read once
          // in the slices' epilogue, each transpose (16-byte and element copies), and a k that
          // is not a multiple of 4 (a slice's last copy partial).
          Shape{40, 30, 700, true, false, 0.5f, -1.5f}, Shape{9, 70, 1000, false, true, 1.0f, 0.0f},
          Shape{70, 65, 2051, true, true, -1.0f, 0.25f},
          Shape{33, 20, 1027, false, false, 1.0f, 0.0f}}) {
      weft::GemmParams gp;
      gp.m = s.m;
      gp.n = s.n;
      gp.k = s.k;
      gp.trans_a = s.trans_a;
      gp.trans_b = s.trans_b;
      gp.alpha = s.alpha;
      gp.beta = s.beta;
      std::ostringstream name;
      name << "gemm " << s.m << "x" << s.n << "x" << s.k << (s.trans_a ? " A^T" : "")
           << (s.trans_b ? " B^T" : "") << " alpha=" << s.alpha << " beta=" << s.beta << at;
      const Tolerance t = product_tolerance(s.k);
      list.add(name.str(), cases::gemm(gp), t.abs, t.rel, precision);
    }
    struct Linear {
      int n, in, out;
      bool bias, dx, dw;
    };
    for (const Linear& l :
         {Linear{3, 10, 4, true, true, true}, Linear{64, 32, 10, true, true, true},
          Linear{5, 65, 129, true, true, false}, Linear{33, 100, 70, false, false, true}}) {
      std::ostringstream shape;
      shape << " " << l.n << "x" << l.in << " -> " << l.out << (l.bias ? "" : " no bias")
            << (l.dx ? "" : " no dx") << (l.dw ? "" : " no dw/dbias") << at;
      const Tolerance forward = product_tolerance(l.in);
      list.add("linear_forward" + shape.str(), cases::linear_forward(l.n, l.in, l.out, l.bias),
               forward.abs, forward.rel, precision);
      const Tolerance backward = product_tolerance(std::max(l.out, l.n));
      list.add("linear_backward" + shape.str(),
               cases::linear_backward(l.n, l.in, l.out, l.dx, l.dw), backward.abs, backward.rel,
               precision);
    }
  }
}

void add_gemm_cases(std::vector<OpCase>& all) {
  CaseList list{all, 5000};
  struct Shape {
    int m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
  };
  // Tails in every dimension (not multiples of the 64 x 64 tile or the 16-deep slab), every
  // transpose combination, alpha/beta (beta != 0 reads C), an empty reduction and one element.
  for (const Shape& s :
       {Shape{5, 7, 3, false, true, 1.0f, 0.0f}, Shape{67, 65, 33, false, false, 1.0f, 0.0f},
        Shape{67, 65, 33, true, false, 1.0f, 0.0f}, Shape{67, 65, 33, false, true, 1.0f, 0.0f},
        Shape{67, 65, 33, true, true, 1.0f, 0.0f}, Shape{130, 70, 200, false, false, 0.5f, -1.5f},
        Shape{1, 1, 1, false, false, 1.0f, 0.0f}, Shape{3, 4, 0, false, false, 1.0f, 0.0f},
        Shape{3, 4, 0, true, true, 1.0f, 2.0f}, Shape{17, 1, 129, true, false, -2.0f, 1.0f},
        // Few tiles and a long k: the hand kernel splits k (gemm.cu, Split-K), with a tail
        // slice, beta != 0 read once in the slices' epilogue, and transposed operands.
        Shape{40, 30, 700, true, false, 0.5f, -1.5f}, Shape{9, 70, 1000, false, true, 1.0f, 0.0f},
        Shape{70, 65, 2051, true, true, -1.0f, 0.25f},
        // Enough tiles for the larger block tiles (tiled_product_large.h, choose_tile): 128 x 128
        // (9 x 15 tiles, edges not multiples of 128 or 8, k not a multiple of the 8-deep slab)
        // in every transpose combination, and 64 x 128 for a product of at most 64 rows.
        Shape{1100, 1900, 20, false, false, 1.0f, 0.0f},
        Shape{1100, 1900, 20, true, false, 1.0f, 0.0f},
        Shape{1100, 1900, 20, false, true, 0.5f, -1.5f},
        Shape{1100, 1900, 20, true, true, 1.0f, 0.0f}, Shape{60, 17000, 9, false, true, 1.0f, 0.0f},
        Shape{60, 17000, 9, true, false, 1.0f, 0.0f}}) {
    weft::GemmParams gp;
    gp.m = s.m;
    gp.n = s.n;
    gp.k = s.k;
    gp.trans_a = s.trans_a;
    gp.trans_b = s.trans_b;
    gp.alpha = s.alpha;
    gp.beta = s.beta;
    std::ostringstream name;
    name << "gemm " << s.m << "x" << s.n << "x" << s.k << (s.trans_a ? " A^T" : "")
         << (s.trans_b ? " B^T" : "") << " alpha=" << s.alpha << " beta=" << s.beta;
    // beta == 0: C starts as NaN and must be overwritten; otherwise it is read.
    const Tolerance t = product_tolerance(s.k);
    list.add(name.str(), cases::gemm(gp), t.abs, t.rel);
  }

  struct Linear {
    int n, in, out;
    bool bias, dx, dw;  // which optional pointers are given
  };
  // The seed models' layers: Fashion-MNIST CNN 10816 -> 32 -> 10 (batch 1 and 2), ResNet's
  // 512 -> classes, a BatchNorm1d-sized hidden layer, plus a first layer (no dx) and a frozen
  // one (no dw, no dbias), and a long batch (dW's reduction is split by the hand kernel).
  for (const Linear& l :
       {Linear{3, 10, 4, true, true, true}, Linear{2, 10816, 32, true, true, true},
        Linear{64, 32, 10, true, true, true}, Linear{3, 512, 10, true, true, true},
        Linear{33, 100, 70, false, false, true}, Linear{5, 65, 129, true, true, false},
        Linear{600, 20, 10, true, true, true}}) {
    std::ostringstream shape;
    shape << " " << l.n << "x" << l.in << " -> " << l.out << (l.bias ? "" : " no bias")
          << (l.dx ? "" : " no dx") << (l.dw ? "" : " no dw/dbias");
    const Tolerance forward = product_tolerance(l.in);
    list.add("linear_forward" + shape.str(), cases::linear_forward(l.n, l.in, l.out, l.bias),
             forward.abs, forward.rel);
    // dx sums over out, dw and dbias over n: the longer of the two sets the tolerance.
    const Tolerance backward = product_tolerance(std::max(l.out, l.n));
    list.add("linear_backward" + shape.str(),
             cases::linear_backward(l.n, l.in, l.out, l.dx, l.dw), backward.abs, backward.rel);
  }
  add_tensor_core_cases(list);

  // The forward's fused activation (the backward ignores it): ReLU after a biased layer on the
  // Fashion CNN's 10816 -> 32 (split along k by the hand kernel: the activation in the slices'
  // epilogue; again at bf16, split by the tensor-core kernel) and its 32 -> 10 head shape,
  // LeakyReLU(0.2) without a bias, and the tensor-core epilogue at tf32 and bf16.
  struct FusedLinear {
    int n, in, out;
    bool bias;
    weft::FusedActivation act;
    MathPrecision precision;
  };
  for (const FusedLinear& l : {FusedLinear{2, 10816, 32, true, kRelu, MathPrecision::fp32},
                               FusedLinear{64, 32, 10, true, kRelu, MathPrecision::fp32},
                               FusedLinear{33, 100, 70, false, kLeaky, MathPrecision::fp32},
                               FusedLinear{64, 32, 10, true, kRelu, MathPrecision::tf32},
                               FusedLinear{2, 10816, 32, true, kRelu, MathPrecision::bf16},
                               FusedLinear{5, 65, 129, false, kLeaky, MathPrecision::bf16}}) {
    std::ostringstream name;
    name << "linear_forward " << l.n << "x" << l.in << " -> " << l.out << (l.bias ? "" : " no bias")
         << (l.act.kind == weft::FusedActivation::Kind::relu ? " +relu" : " +leaky_relu(0.2)");
    if (l.precision != MathPrecision::fp32) name << " at " << weft::precision_name(l.precision);
    const Tolerance forward = product_tolerance(l.in);
    list.add(name.str(), cases::linear_forward(l.n, l.in, l.out, l.bias, l.act), forward.abs,
             forward.rel, l.precision);
  }

  // Forwards of at most 16 outputs run as dot products on the hand GPU path
  // (kernels/cuda/linear_few_outputs.cu): 8, 2 and 1 rows per block (1100 and 300 rows, and
  // fewer), 1, 2-4 and 5-16 outputs (its three instances) and 17 (the GEMM again), 16-byte pieces
  // (k % 4 == 0) and single floats (k = 101, 7), a full-window convolution's one output over
  // k = 8192, with and without bias and activation, at each precision.
  for (const FusedLinear& l :
       {FusedLinear{1100, 36, 7, true, kRelu, MathPrecision::fp32},
        FusedLinear{300, 1024, 16, true, {}, MathPrecision::fp32},
        FusedLinear{64, 1024, 17, true, {}, MathPrecision::fp32},
        FusedLinear{128, 8192, 1, true, {}, MathPrecision::fp32},
        FusedLinear{42, 101, 2, true, {}, MathPrecision::fp32},
        FusedLinear{5, 7, 3, false, kLeaky, MathPrecision::fp32},
        FusedLinear{42, 100, 2, true, {}, MathPrecision::tf32},
        FusedLinear{128, 8192, 1, false, kLeaky, MathPrecision::tf32},
        FusedLinear{64, 1024, 7, true, {}, MathPrecision::bf16},
        FusedLinear{1100, 36, 7, true, kRelu, MathPrecision::bf16},
        FusedLinear{42, 101, 3, false, {}, MathPrecision::bf16}}) {
    std::ostringstream name;
    name << "linear_forward few outputs " << l.n << "x" << l.in << " -> " << l.out
         << (l.bias ? "" : " no bias")
         << (l.act.kind == weft::FusedActivation::Kind::relu         ? " +relu"
             : l.act.kind == weft::FusedActivation::Kind::leaky_relu ? " +leaky_relu(0.2)"
                                                                     : "")
         << " at " << weft::precision_name(l.precision);
    const Tolerance forward = product_tolerance(l.in);
    list.add(name.str(), cases::linear_forward(l.n, l.in, l.out, l.bias, l.act), forward.abs,
             forward.rel, l.precision);
  }
}

weft::Pool2dParams pool_params(int batch, int channels, int in_h, int in_w, int kernel, int stride,
                               int pad, bool count_include_pad = true) {
  weft::Pool2dParams p = square_pool(batch, channels, in_h, in_w, kernel, stride, pad);
  p.count_include_pad = count_include_pad;
  return p;
}

// " NxCxHxW kK sS pP": a pooling case's shape in its name.
std::string pool_name(const weft::Pool2dParams& p) {
  std::ostringstream name;
  name << " " << p.batch << "x" << p.channels << "x" << p.in_h << "x" << p.in_w << " k"
       << p.kernel_h << " s" << p.stride_h << " p" << p.pad_h;
  return name.str();
}

void add_pool_cases(std::vector<OpCase>& all) {
  CaseList list{all, 8000};
  struct Setting {
    const char* label;
    weft::Pool2dParams p;
    bool ties;
  };
  // Non-overlapping 2x2; the ResNet stem pool 3x3 stride 2 pad 1 (overlapping windows, padding);
  // the apparel CNN's 3x3 stride 3 on a size that leaves a tail; 2x2 stride 1 (each cell in up
  // to four windows); exact ties and NaN.
  for (const Setting& s :
       {Setting{"", pool_params(2, 3, 7, 5, 2, 2, 0), false},
        Setting{" (resnet stem pool)", pool_params(1, 4, 11, 11, 3, 2, 1), false},
        Setting{" (apparel cnn)", pool_params(2, 3, 10, 10, 3, 3, 0), false},
        Setting{"", pool_params(1, 2, 6, 7, 2, 1, 0), false},
        Setting{" ties and NaN", pool_params(2, 3, 9, 9, 3, 2, 1), true},
        // Rows a multiple of 4 wide: max-pool backward's float4 path (kernels/cuda/pool.cu),
        // non-overlapping with a tail row, overlapping with padding, and enough quads (20,480)
        // that its grid-stride loop turns on the emulated card.
        Setting{" (quads)", pool_params(2, 3, 9, 8, 2, 2, 0), false},
        Setting{" (quads)", pool_params(1, 2, 12, 12, 3, 2, 1), false},
        Setting{" (quads) ties and NaN", pool_params(2, 3, 8, 12, 3, 2, 1), true},
        Setting{" (quads)", pool_params(5, 16, 32, 32, 3, 2, 1), false},
        // Windows that tile the input exactly (kernel = stride, no padding, no tail): the
        // backward's one-thread-per-window kernel; 2 x 2 on rows of 8, a 3 x 3 one on a width
        // not a multiple of 4, 2 x 2 with ties and NaN, and 20,480 windows (the grid-stride
        // loop turns).
        Setting{" (windows tile the input)", pool_params(2, 3, 8, 8, 2, 2, 0), false},
        Setting{" (windows tile the input)", pool_params(2, 3, 9, 12, 3, 3, 0), false},
        Setting{" (windows tile the input)", pool_params(5, 16, 32, 32, 2, 2, 0), false},
        Setting{" (windows tile the input) ties and NaN", pool_params(2, 3, 6, 10, 2, 2, 0),
                true}}) {
    const weft::Pool2dParams p = s.p;
    std::ostringstream shape;
    shape << pool_name(p) << s.label;
    // Values and indices must match bit for bit: same comparisons in the same order. Values on
    // a coarse grid (many exact ties, so "first maximum" matters), with a few NaN.
    OpCall forward = cases::max_pool2d_forward(p);
    if (s.ties) forward.buffer("x").content = Content::ties(true);
    list.add("max_pool2d_forward" + shape.str(), std::move(forward), 0.0, 0.0);
    // x moved by one float (the 2 x 2 pool's float2 kernel then declines it) and by two.
    if (p.kernel_h == 2 && p.stride_h == 2 && p.pad_h == 0 && p.in_w % 2 == 0 && p.in_h <= 12) {
      for (int64_t by : {int64_t{1}, int64_t{2}}) {
        list.add("max_pool2d_forward" + shape.str() + shift_label({"x"}, by),
                 shifted(cases::max_pool2d_forward(p), {"x"}, by), 0.0, 0.0);
      }
    }
    // The argmax backward receives is the definition's forward on tied data (op_cases.h), so
    // overlapping windows that pick the same cell send it several gradients. Sums of at most
    // kernel_h * kernel_w gradients in the reference's order: exact.
    list.add("max_pool2d_backward" + shape.str(), cases::max_pool2d_backward(p), 0.0, 0.0);
    if (p.in_w % 4 == 0 && p.in_h <= 12) {  // dx not 16-byte aligned, or aligned at an offset
      for (int64_t by : {int64_t{1}, int64_t{4}}) {
        list.add("max_pool2d_backward" + shape.str() + shift_label({"dx", "dy"}, by),
                 shifted(cases::max_pool2d_backward(p), {"dx", "dy"}, by), 0.0, 0.0);
      }
    }
    for (bool include_pad : {true, false}) {
      if (!include_pad && p.pad_h == 0) continue;  // the same as with padding counted
      weft::Pool2dParams q = p;
      q.count_include_pad = include_pad;
      const std::string avg = shape.str() + (include_pad ? "" : " exclude pad");
      // Same additions and divisions in the same order as the reference: exact.
      list.add("avg_pool2d_forward" + avg, cases::avg_pool2d_forward(q), 0.0, 0.0);
      list.add("avg_pool2d_backward" + avg, cases::avg_pool2d_backward(q), 0.0, 0.0);
    }
  }
  // Max pooling with a fused activation (the ReLU before a pool moved into it): windows that do
  // not overlap, each backward kernel once (the gather with a tail row and column and with
  // stride 3 > kernel 2, which leaves cells in no window; quads; windows that tile the input,
  // with ties and NaN), ReLU and LeakyReLU(0.2). Exact, as without the activation.
  for (const Setting& s : {Setting{"", pool_params(2, 3, 7, 5, 2, 2, 0), false},
                           Setting{" (apparel cnn)", pool_params(2, 3, 10, 10, 3, 3, 0), false},
                           Setting{" (stride 3)", pool_params(1, 2, 8, 7, 2, 3, 0), false},
                           Setting{" (quads)", pool_params(2, 3, 9, 8, 2, 2, 0), false},
                           Setting{" (windows tile the input) ties and NaN",
                                   pool_params(2, 3, 6, 10, 2, 2, 0), true},
                           Setting{" (windows tile the input)", pool_params(5, 16, 32, 32, 2, 2, 0),
                                   false}}) {
    for (const weft::FusedActivation& act : {kRelu, kLeaky}) {
      weft::Pool2dParams p = s.p;
      p.activation = act;
      std::ostringstream shape;
      shape << pool_name(p) << s.label
            << (act.kind == weft::FusedActivation::Kind::relu ? " +relu" : " +leaky_relu(0.2)");
      OpCall forward = cases::max_pool2d_forward(p);
      if (s.ties) forward.buffer("x").content = Content::ties(true);
      list.add("max_pool2d_forward" + shape.str(), std::move(forward), 0.0, 0.0);
      list.add("max_pool2d_backward" + shape.str(), cases::max_pool2d_backward(p), 0.0, 0.0);
    }
  }

  add_conv_max_pool_cases(list);

  struct Global {
    int batch, channels, plane;
  };
  // ResNet's 7x7 maps (512 channels -> 64), a 56x56 map, one element.
  for (const Global& g :
       {Global{2, 3, 35}, Global{3, 64, 49}, Global{2, 5, 3136}, Global{1, 1, 1}}) {
    const std::string shape = " " + std::to_string(g.batch) + "x" + std::to_string(g.channels) +
                              "x" + std::to_string(g.plane);
    // Both sum in double and round once: at most an ulp apart.
    list.add("global_avg_pool_forward" + shape,
             cases::global_avg_pool_forward(g.batch, g.channels, g.plane), 1e-7, 1e-6);
    list.add("global_avg_pool_backward" + shape,
             cases::global_avg_pool_backward(g.batch, g.channels, g.plane), 0.0, 0.0);
  }
}

void add_batchnorm_cases(std::vector<OpCase>& all) {
  CaseList list{all, 9000};
  struct Setting {
    const char* label;
    int batch, channels, spatial;
    float eps, momentum;
    float shift;     // added to x: a mean large next to the spread tests the variance algorithm
    bool gradients;  // whether dgamma and dbeta are requested
    weft::FusedActivation activation = {};
    int offset = 0;       // the per-element buffers (x, y, dy, dx) this many floats into theirs
    bool only_y = false;  // only y moved (the forward's output, the backward's activation input)
  };
  // BatchNorm2d and 1d; batch 1; one value per channel (no spread: unbiased falls back to 0);
  // M = 2 * 48 * 48 ("split": the hand kernels split it over blocks until the resident path took
  // channels of up to 8192 values); the apparel CNN's Keras eps/momentum on BatchNorm1d(1024)
  // (scaled to 300); a mean of 100 with spread 1; backward without dgamma/dbeta. Spatial sizes
  // that are multiples of 4 (100, 48 * 48, 16) take the hand CUDA kernels' float4 passes, the
  // others their one-element passes.
  // The hand kernels' paths (batchnorm.cu): a channel of M = N * S <= 8192 values is register
  // resident (one launch; V = 8 values per thread up to M = 2048, 32 above), larger ones split
  // over blocks, by quads where S % 4 == 0 and the arrays are 16-byte aligned. The settings after
  // "quads +relu" sit on those boundaries: M = 2048 / 2049 (V = 8 / 32), 8192 / 8193 and 8196
  // (resident / split, scalar and quads); several split blocks by quads (M = 2 * 96 * 96, whose
  // threads end on a pair of quads or on a single one) and by values (S = 4801), with a mean of
  // 100, fused activations and pointers one float in (the scalar moments and sums, and the
  // per-element passes' one-element kernels), or y alone one float in.
  for (const Setting& s :
       {Setting{"", 3, 5, 7, 1e-5f, 0.1f, 0.0f, true},
        Setting{" batch 1", 1, 6, 33, 1e-5f, 0.1f, 0.0f, true},
        Setting{" one value", 1, 3, 1, 1e-5f, 0.1f, 0.0f, true},
        Setting{" split", 2, 3, 48 * 48, 1e-5f, 0.1f, 0.0f, true},
        Setting{" bn1d keras", 16, 300, 1, 1e-3f, 0.01f, 0.0f, true},
        Setting{" mean 100", 4, 2, 100, 1e-5f, 0.1f, 100.0f, true},
        Setting{" no dgamma/dbeta", 2, 4, 9, 1e-5f, 0.1f, 0.0f, false},
        Setting{" +relu", 3, 5, 7, 1e-5f, 0.1f, 0.0f, true, kRelu},
        Setting{" split +leaky_relu(0.2)", 2, 3, 48 * 48, 1e-5f, 0.1f, 0.0f, true, kLeaky},
        Setting{" +relu no dgamma/dbeta", 2, 4, 9, 1e-5f, 0.1f, 0.0f, false, kRelu},
        Setting{" quads +relu no dgamma/dbeta", 3, 5, 16, 1e-5f, 0.1f, 0.0f, false, kRelu},
        Setting{" resident V=8 edge", 2, 3, 1024, 1e-5f, 0.1f, 0.0f, true},
        Setting{" resident V=32 +leaky_relu(0.2)", 1, 3, 2049, 1e-5f, 0.1f, 0.0f, true, kLeaky},
        Setting{" resident edge mean 100", 2, 2, 4096, 1e-5f, 0.1f, 100.0f, true},
        Setting{" split edge", 3, 2, 2731, 1e-5f, 0.1f, 0.0f, true},
        Setting{" split quads edge +relu", 1, 2, 8196, 1e-5f, 0.1f, 0.0f, true, kRelu},
        Setting{" split quads", 2, 3, 96 * 96, 1e-5f, 0.1f, 0.0f, true},
        Setting{" split quads mean 100 +leaky_relu(0.2)", 2, 2, 96 * 96, 1e-5f, 0.1f, 100.0f, true,
                kLeaky},
        Setting{" split values mean 100", 2, 2, 4801, 1e-5f, 0.1f, 100.0f, true},
        Setting{" split quads +relu", 2, 2, 96 * 96, 1e-5f, 0.1f, 0.0f, true, kRelu, 1},
        Setting{" split quads +relu y", 2, 2, 96 * 96, 1e-5f, 0.1f, 0.0f, true, kRelu, 1, true},
        Setting{" split quads no dgamma/dbeta", 2, 2, 96 * 96, 1e-5f, 0.1f, 0.0f, false, {}, 4},
        Setting{" resident +relu", 2, 3, 1024, 1e-5f, 0.1f, 0.0f, true, kRelu, 3},
        // The resident kernels walk a thread's items (T apart) by additions: T below the items
        // of one image (quads, 192 threads over 275 quads an image), T many images long (quads
        // of S = 16; values of S = 49), and y alone one float in (forward and backward by values).
        Setting{" resident quads V=32 walk +relu", 5, 3, 1100, 1e-5f, 0.1f, 0.0f, true, kRelu},
        Setting{" resident quads 4x4 walk +leaky_relu(0.2)", 32, 5, 16, 1e-5f, 0.1f, 0.0f, true,
                kLeaky},
        Setting{" resident values 7x7 walk mean 100", 40, 3, 49, 1e-5f, 0.1f, 100.0f, true},
        Setting{" resident +relu y", 2, 3, 1024, 1e-5f, 0.1f, 0.0f, true, kRelu, 1, true},
        // 40 blocks per channel: each lane of the finishing warp merges two partials, some one.
        Setting{" split over 40 blocks mean 100", 40, 2, 64 * 64, 1e-5f, 0.1f, 100.0f, true},
        // The forward's moments take 16 quads a thread above (a full wave of blocks under the
        // emulation's two SMs), 8 here (7 blocks a channel; threads of 6 or 7 quads: a group of
        // four, then two or three alone), 4 in the smaller split cases.
        Setting{" split quads 8 a thread +relu", 3, 3, 16388, 1e-5f, 0.1f, 0.0f, true, kRelu}}) {
    weft::BatchNormParams bn;
    bn.batch = s.batch;
    bn.channels = s.channels;
    bn.spatial = s.spatial;
    bn.eps = s.eps;
    bn.momentum = s.momentum;
    bn.activation = s.activation;
    std::ostringstream shape_text;  // (a chain of std::string + here trips GCC 12's
                                    // -Wstringop-overflow false positive at -O3)
    shape_text << " " << s.batch << "x" << s.channels << "x" << s.spatial << s.label;
    const std::string shape = shape_text.str();
    // The buffers of a call that s.offset moves: its per-element ones (names), or only y.
    const auto offset_names = [&](std::vector<std::string> names) {
      if (s.only_y) return std::vector<std::string>{"y"};
      if (s.activation.active() && names.front() == "dy") names.push_back("y");
      return names;
    };
    const auto place = [&](OpCall call, const std::vector<std::string>& names) {
      return s.offset == 0 ? call : shifted(std::move(call), offset_names(names), s.offset);
    };
    const auto moved = [&](const std::vector<std::string>& names) {
      return s.offset == 0 ? std::string() : shift_label(offset_names(names), s.offset);
    };
    // x of mean `shift`, and the saved or running means a backward gets near it.
    const Content x = Content::uniform(s.shift - 1.0f, s.shift + 1.0f);
    const Content mean = Content::uniform(s.shift - 0.1f, s.shift + 0.1f);
    // The kernels normalise in float, the reference in double: y and dx carry a few float
    // roundings of values of order 1 (1e-5 + 1e-4 relative). The statistics are a float
    // Welford per thread on values shifted by the channel's first value, merged in double, and
    // x - mean is compensated for the rounding of the float mean, so a mean of 100 next to a
    // spread of 1 costs no accuracy (observed 2.4e-7 on y; 6e-6 without the shift).
    OpCall train = cases::batch_norm_forward_train(bn);
    train.buffer("x").content = x;
    list.add("batch_norm_forward_train" + shape + moved({"x", "y"}),
             place(std::move(train), {"x", "y"}), 1e-5, 1e-4);
    list.add("batch_norm_forward_eval" + shape + moved({"x", "y"}),
             place(cases::batch_norm_forward_eval(bn), {"x", "y"}), 1e-5, 1e-4);
    // Backward: the two sums per channel are float per thread (about 16 terms), float across the
    // block, double across blocks; dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy xhat))
    // in float. Sums of M terms of order 1 get 1e-5 + 1e-4 relative plus u per term.
    const double sum_abs = 1e-5 + kFloatUnitRoundoff * static_cast<double>(s.batch) * s.spatial;
    OpCall backward = cases::batch_norm_backward(bn, s.gradients);
    backward.buffer("x").content = x;
    backward.buffer("save_mean").content = mean;
    list.add("batch_norm_backward" + shape + moved({"dy", "x", "dx"}),
             place(std::move(backward), {"dy", "x", "dx"}), sum_abs, 1e-4);
    OpCall backward_eval = cases::batch_norm_backward_eval(bn, s.gradients);
    backward_eval.buffer("x").content = x;
    backward_eval.buffer("running_mean").content = mean;
    list.add("batch_norm_backward_eval" + shape + moved({"dy", "x", "dx"}),
             place(std::move(backward_eval), {"dy", "x", "dx"}), sum_abs, 1e-4);
  }
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> all;
    add_elementwise_cases(all);
    add_softmax_cases(all);
    add_loss_cases(all);
    add_dropout_cases(all);
    add_optimizer_cases(all);
    add_gemm_cases(all);
    add_conv_cases(all);
    add_conv_transpose_cases(all);
    add_pool_cases(all);
    add_batchnorm_cases(all);
    return all;
  }();
  return cases;
}

}  // namespace weft::test
