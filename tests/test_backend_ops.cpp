// One table of op cases, run on every backend this machine has, each compared with the CPU
// reference (after ggml's tests/test-backend-ops.cpp):
//   cpu  the reference against itself: checks the harness and that the CPU kernels neither
//        write past their outputs nor touch their inputs (label cpu);
//   emu  the hand-written CUDA kernels under host emulation (label emu);
//   cuda the CUDA backend on a real GPU (label gpu; skipped with a message without one).
//
// A case is a list of buffers (inputs with data, outputs filled with NaN so an element the
// kernel forgets to write fails, in-out buffers with data) and a call on the Backend interface.
// Each buffer is allocated with a guard of sentinel bytes after it; after the call the guards
// must be intact and the inputs unchanged. Outputs are compared with the reference element by
// element, |got - want| <= abs + rel * |want| with the case's own tolerance, and the first few
// mismatches are printed with their indices. A backend that throws weft::NotImplemented for a
// case has it skipped and counted; the summary names the skipped ops.
//
// To cover a new kernel family: add its cases to op_cases() below (odd sizes, batch 1, sizes
// that are not a multiple of the block or tile size); nothing else changes.
#include <algorithm>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/dispatch.h"
#include "engine/runtime.h"
#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace {

using weft::Activation;
using weft::Backend;
using weft::BinaryOp;
using weft::BroadcastParams;
using weft::DType;

// ---- buffers ------------------------------------------------------------------------------------

enum class Role { input, output, inout };

struct Buffer {
  std::string name;
  DType dtype = DType::f32;
  Role role = Role::input;
  std::vector<unsigned char> bytes;  // initial contents

  size_t count() const { return bytes.size() / weft::dtype_size(dtype); }
};

template <class T>
Buffer make_buffer(std::string name, Role role, const std::vector<T>& values) {
  Buffer b;
  b.name = std::move(name);
  b.dtype = weft::dtype_of<T>();
  b.role = role;
  b.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}

Buffer input(std::string name, const std::vector<float>& values) {
  return make_buffer(std::move(name), Role::input, values);
}
Buffer input_i32(std::string name, const std::vector<int32_t>& values) {
  return make_buffer(std::move(name), Role::input, values);
}
Buffer input_u8(std::string name, const std::vector<uint8_t>& values) {
  return make_buffer(std::move(name), Role::input, values);
}
Buffer inout(std::string name, const std::vector<float>& values) {
  return make_buffer(std::move(name), Role::inout, values);
}
// Outputs start as NaN (float) or as a value no kernel writes (int).
Buffer output(std::string name, int64_t count) {
  return make_buffer(std::move(name), Role::output,
                     std::vector<float>(static_cast<size_t>(count),
                                        std::numeric_limits<float>::quiet_NaN()));
}
Buffer output_i32(std::string name, int64_t count) {
  return make_buffer(std::move(name), Role::output,
                     std::vector<int32_t>(static_cast<size_t>(count), -123456789));
}

// ---- cases --------------------------------------------------------------------------------------

// The call receives one pointer per buffer, in the order the case lists them.
using Call = std::function<void(Backend&, const std::vector<void*>&)>;

struct OpCase {
  std::string op;    // the Backend method, used in the skip summary
  std::string name;  // op and shape, for failure messages
  std::vector<Buffer> buffers;
  Call call;
  double abs_tol = 1e-6, rel_tol = 1e-5;
};

float* f32(const std::vector<void*>& p, size_t i) { return static_cast<float*>(p[i]); }
int32_t* i32(const std::vector<void*>& p, size_t i) { return static_cast<int32_t*>(p[i]); }

std::vector<float> uniform(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& f : v) f = dist(gen);
  return v;
}

std::vector<int32_t> labels(int64_t count, int classes, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, classes - 1);
  std::vector<int32_t> v(static_cast<size_t>(count));
  for (int32_t& t : v) t = dist(gen);
  return v;
}

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

void add_elementwise_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 1;
  const std::vector<int64_t> sizes = {1, 255, 257, 4099};
  for (Activation f : {Activation::relu, Activation::leaky_relu, Activation::elu,
                       Activation::sigmoid, Activation::tanh}) {
    const float alpha = f == Activation::leaky_relu ? 0.1f : 1.0f;
    for (int64_t n : sizes) {
      const std::string shape = " n=" + std::to_string(n);
      cases.push_back({"activation_forward",
                       std::string("activation_forward ") + activation_name(f) + shape,
                       {input("x", uniform(n, ++seed, -4.0f, 4.0f)), output("y", n)},
                       [=](Backend& be, const std::vector<void*>& p) {
                         be.activation_forward(f, alpha, n, f32(p, 0), f32(p, 1));
                       }});
      cases.push_back({"activation_backward",
                       std::string("activation_backward ") + activation_name(f) + shape,
                       {input("x", uniform(n, ++seed, -4.0f, 4.0f)),
                        input("y", uniform(n, ++seed)), input("dy", uniform(n, ++seed)),
                        output("dx", n)},
                       [=](Backend& be, const std::vector<void*>& p) {
                         be.activation_backward(f, alpha, n, f32(p, 0), f32(p, 1), f32(p, 2),
                                                f32(p, 3));
                       }});
    }
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
    std::vector<int64_t> out_shape(bp.out_shape, bp.out_shape + bp.ndim);
    const int64_t out_n = numel(out_shape), a_n = numel(a_shape), b_n = numel(b_shape);
    const std::string shape = " " + shape_str(a_shape) + " " + shape_str(b_shape);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      // Divisors kept away from zero.
      std::vector<float> b = uniform(b_n, ++seed, 0.5f, 2.0f);
      if (op == BinaryOp::div) {
        for (size_t i = 0; i < b.size(); i += 2) b[i] = -b[i];
      }
      cases.push_back({"binary_forward", std::string("binary_forward ") + binary_name(op) + shape,
                       {input("a", uniform(a_n, ++seed)), input("b", b), output("out", out_n)},
                       [=](Backend& be, const std::vector<void*>& p) {
                         be.binary_forward(op, bp, f32(p, 0), f32(p, 1), f32(p, 2));
                       }});
    }
    cases.push_back({"reduce_broadcast", "reduce_broadcast to a" + shape,
                     {input("grad", uniform(out_n, ++seed)), output("reduced", a_n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.reduce_broadcast(bp, bp.a_strides, f32(p, 0), a_n, f32(p, 1));
                     }});
    cases.push_back({"reduce_broadcast", "reduce_broadcast to b" + shape,
                     {input("grad", uniform(out_n, ++seed)), output("reduced", b_n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.reduce_broadcast(bp, bp.b_strides, f32(p, 0), b_n, f32(p, 1));
                     }});
  }
  {  // a bias gradient of a convolution, and everything summed to one element
    const BroadcastParams bias = broadcast({16, 8, 9, 9}, {1, 8, 1, 1});
    cases.push_back({"reduce_broadcast", "reduce_broadcast [16,8,9,9] to [1,8,1,1]",
                     {input("grad", uniform(16 * 8 * 81, ++seed)), output("reduced", 8)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.reduce_broadcast(bias, bias.b_strides, f32(p, 0), 8, f32(p, 1));
                     },
                     1e-5, 1e-5});
    const BroadcastParams all = broadcast({100003}, {1});
    cases.push_back({"reduce_broadcast", "reduce_broadcast [100003] to [1]",
                     {input("grad", uniform(100003, ++seed)), output("reduced", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.reduce_broadcast(all, all.b_strides, f32(p, 0), 1, f32(p, 1));
                     },
                     1e-4, 1e-5});
  }

  for (int64_t n : {int64_t{1}, int64_t{1000}}) {
    const std::string shape = " n=" + std::to_string(n);
    cases.push_back({"affine", "affine" + shape,
                     {input("x", uniform(n, ++seed)), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.affine(n, 1.5f, -0.25f, f32(p, 0), f32(p, 1));
                     }});
    cases.push_back({"scale_by", "scale_by" + shape,
                     {input("scale", {-0.75f}), input("x", uniform(n, ++seed)), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.scale_by(n, f32(p, 0), f32(p, 1), f32(p, 2));
                     }});
    cases.push_back({"axpy_accumulate", "axpy_accumulate" + shape,
                     {input("x", uniform(n, ++seed)), inout("y", uniform(n, ++seed))},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.axpy_accumulate(n, 0.3f, f32(p, 0), f32(p, 1));
                     }});
    cases.push_back({"fill", "fill" + shape, {output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.fill(n, 3.25f, f32(p, 0));
                     }});
    std::vector<uint8_t> pixels(static_cast<size_t>(n));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 256);
    cases.push_back({"u8_to_f32", "u8_to_f32" + shape, {input_u8("x", pixels), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.u8_to_f32(n, static_cast<const uint8_t*>(p[0]), 1.0f / 255.0f, -0.5f,
                                    f32(p, 1));
                     }});
  }
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{257}, int64_t{100003}}) {
    cases.push_back({"sum", "sum n=" + std::to_string(n),
                     {input("x", uniform(n, ++seed)), output("out", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.sum(n, f32(p, 0), f32(p, 1));
                     },
                     1e-4, 1e-5});
  }
}

void add_softmax_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 1000;
  const std::vector<std::pair<int, int>> shapes = {{1, 1},   {1, 33},   {7, 10}, {64, 10},
                                                   {3, 1000}, {33, 257}, {257, 3}};
  for (const auto& [rows, cols] : shapes) {
    const int64_t n = int64_t{rows} * cols;
    const std::string shape = " " + std::to_string(rows) + "x" + std::to_string(cols);
    cases.push_back({"softmax_forward", "softmax_forward" + shape,
                     {input("x", uniform(n, ++seed, -5.0f, 5.0f)), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.softmax_forward(rows, cols, f32(p, 0), f32(p, 1));
                     }});
    cases.push_back({"log_softmax_forward", "log_softmax_forward" + shape,
                     {input("x", uniform(n, ++seed, -5.0f, 5.0f)), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.log_softmax_forward(rows, cols, f32(p, 0), f32(p, 1));
                     }});
    cases.push_back({"softmax_backward", "softmax_backward" + shape,
                     {input("y", uniform(n, ++seed, 0.0f, 1.0f)), input("dy", uniform(n, ++seed)),
                      output("dx", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.softmax_backward(rows, cols, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-5, 1e-5});
    cases.push_back({"log_softmax_backward", "log_softmax_backward" + shape,
                     {input("y", uniform(n, ++seed, -6.0f, 0.0f)),
                      input("dy", uniform(n, ++seed)), output("dx", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.log_softmax_backward(rows, cols, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-5, 1e-5});
  }
}

void add_loss_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 2000;
  const std::vector<std::pair<int, int>> shapes = {{1, 1},  {1, 10},  {37, 10},
                                                   {64, 10}, {5, 1000}, {300, 7}};
  for (const auto& [n, c] : shapes) {
    for (bool weighted : {false, true}) {
      for (float smoothing : {0.0f, 0.1f}) {
        const std::string name = " n=" + std::to_string(n) + " c=" + std::to_string(c) +
                                 (weighted ? " weighted" : "") +
                                 (smoothing > 0.0f ? " smoothing=0.1" : "");
        const int64_t count = int64_t{n} * c;
        std::vector<float> weights =
            weighted ? uniform(c, ++seed, 0.5f, 2.0f) : std::vector<float>{0.0f};
        cases.push_back({"cross_entropy_forward", "cross_entropy_forward" + name,
                         {input("logits", uniform(count, ++seed, -4.0f, 4.0f)),
                          input_i32("targets", labels(n, c, ++seed)), input("weights", weights),
                          output("loss", 1)},
                         [=](Backend& be, const std::vector<void*>& p) {
                           be.cross_entropy_forward(n, c, f32(p, 0), i32(p, 1),
                                                    weighted ? f32(p, 2) : nullptr, smoothing,
                                                    f32(p, 3));
                         },
                         1e-5, 1e-5});
        cases.push_back({"cross_entropy_backward", "cross_entropy_backward" + name,
                         {input("logits", uniform(count, ++seed, -4.0f, 4.0f)),
                          input_i32("targets", labels(n, c, ++seed)), input("weights", weights),
                          input("grad_loss", {0.7f}), output("dlogits", count)},
                         [=](Backend& be, const std::vector<void*>& p) {
                           be.cross_entropy_backward(n, c, f32(p, 0), i32(p, 1),
                                                     weighted ? f32(p, 2) : nullptr, smoothing,
                                                     f32(p, 3), f32(p, 4));
                         },
                         1e-6, 1e-4});
      }
    }
  }

  for (int64_t n : {int64_t{1}, int64_t{257}, int64_t{10007}}) {
    const std::string name = " n=" + std::to_string(n);
    cases.push_back({"bce_with_logits_forward", "bce_with_logits_forward" + name,
                     {input("logits", uniform(n, ++seed, -6.0f, 6.0f)),
                      input("targets", uniform(n, ++seed, 0.0f, 1.0f)), output("loss", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_with_logits_forward(n, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-5, 1e-5});
    cases.push_back({"bce_with_logits_backward", "bce_with_logits_backward" + name,
                     {input("logits", uniform(n, ++seed, -6.0f, 6.0f)),
                      input("targets", uniform(n, ++seed, 0.0f, 1.0f)),
                      input("grad_loss", {1.3f}), output("dlogits", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_with_logits_backward(n, f32(p, 0), f32(p, 1), f32(p, 2),
                                                   f32(p, 3));
                     },
                     1e-7, 1e-5});
    cases.push_back({"bce_forward", "bce_forward" + name,
                     {input("probs", uniform(n, ++seed, 0.01f, 0.99f)),
                      input("targets", uniform(n, ++seed, 0.0f, 1.0f)), output("loss", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_forward(n, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-5, 1e-5});
    cases.push_back({"bce_backward", "bce_backward" + name,
                     {input("probs", uniform(n, ++seed, 0.01f, 0.99f)),
                      input("targets", uniform(n, ++seed, 0.0f, 1.0f)),
                      input("grad_loss", {0.9f}), output("dprobs", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_backward(n, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                     },
                     1e-7, 1e-5});
    cases.push_back({"mse_forward", "mse_forward" + name,
                     {input("x", uniform(n, ++seed)), input("target", uniform(n, ++seed)),
                      output("loss", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.mse_forward(n, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-6, 1e-5});
    cases.push_back({"mse_backward", "mse_backward" + name,
                     {input("x", uniform(n, ++seed)), input("target", uniform(n, ++seed)),
                      input("grad_loss", {1.1f}), output("dx", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.mse_backward(n, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                     },
                     1e-7, 1e-5});
  }
  {  // probabilities of exactly 0 and 1: the clamped logs and the clamped denominator
    const std::vector<float> probs = {0.0f, 1.0f, 0.5f, 1e-30f, 1.0f - 1e-7f, 0.0f, 1.0f};
    const std::vector<float> targets = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f};
    const int64_t n = static_cast<int64_t>(probs.size());
    cases.push_back({"bce_forward", "bce_forward at p = 0 and 1",
                     {input("probs", probs), input("targets", targets), output("loss", 1)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_forward(n, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     1e-5, 1e-5});
    cases.push_back({"bce_backward", "bce_backward at p = 0 and 1",
                     {input("probs", probs), input("targets", targets),
                      input("grad_loss", {1.0f}), output("dprobs", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.bce_backward(n, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                     },
                     1e-6, 1e-5});
  }
}

void add_dropout_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 3000;
  struct Setting {
    int64_t count;
    float p;
    uint64_t offset;
  };
  // Odd counts and offsets that are not a multiple of 4 exercise the partial first and last
  // Philox counters; p = 0 and p = 1 the special cases. The mask must match bit for bit.
  for (const Setting& s : {Setting{1, 0.5f, 0}, Setting{5, 0.5f, 3}, Setting{1001, 0.3f, 7},
                           Setting{4096, 0.5f, 0}, Setting{100, 0.0f, 0},
                           Setting{100, 1.0f, 2}}) {
    weft::DropoutParams dp;
    dp.count = s.count;
    dp.p = s.p;
    dp.seed = 0x1234abcdULL;
    dp.offset = s.offset;
    std::ostringstream name;
    name << " n=" << s.count << " p=" << s.p << " offset=" << s.offset;
    cases.push_back({"dropout_forward", "dropout_forward" + name.str(),
                     {input("x", uniform(s.count, ++seed)), output("y", s.count)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.dropout_forward(dp, f32(p, 0), f32(p, 1));
                     },
                     0.0, 0.0});
    cases.push_back({"dropout_backward", "dropout_backward" + name.str(),
                     {input("dy", uniform(s.count, ++seed)), output("dx", s.count)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.dropout_backward(dp, f32(p, 0), f32(p, 1));
                     },
                     0.0, 0.0});
  }
}

void add_optimizer_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 4000;
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
      cases.push_back({"sgd_update", std::string("sgd_update ") + v.name + " n=" + std::to_string(n),
                       {inout("param", uniform(n, ++seed)), input("grad", uniform(n, ++seed)),
                        inout("momentum", uniform(n, ++seed))},
                       [=](Backend& be, const std::vector<void*>& p) {
                         be.sgd_update(step, f32(p, 0), f32(p, 1), f32(p, 2));
                       }});
    }
    for (bool adamw : {false, true}) {
      for (int64_t t : {int64_t{1}, int64_t{10}}) {
        weft::AdamStep step;
        step.count = n;
        step.lr = 1e-3f;
        step.weight_decay = 1e-2f;
        step.decoupled_weight_decay = adamw;
        step.step = t;
        cases.push_back(
            {"adam_update",
             std::string(adamw ? "adamw_update" : "adam_update") + " step=" + std::to_string(t) +
                 " n=" + std::to_string(n),
             {inout("param", uniform(n, ++seed)), input("grad", uniform(n, ++seed)),
              inout("exp_avg", uniform(n, ++seed, -0.1f, 0.1f)),
              inout("exp_avg_sq", uniform(n, ++seed, 0.0f, 0.01f))},
             [=](Backend& be, const std::vector<void*>& p) {
               be.adam_update(step, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
             }});
      }
    }
  }
}

// ---- matrix products, convolutions, pooling, batch normalisation -------------------------------
//
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
constexpr double kFloatUnitRoundoff = 5.9604644775390625e-8;  // 2^-24

struct Tolerance {
  double abs, rel;
};

Tolerance product_tolerance(int64_t terms) {
  return {1e-6 + 4.0 * kFloatUnitRoundoff * static_cast<double>(terms), 1e-5};
}

void add_gemm_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 5000;
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
        Shape{70, 65, 2051, true, true, -1.0f, 0.25f}}) {
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
    const int64_t c_n = int64_t{s.m} * s.n;
    // beta == 0: C starts as NaN and must be overwritten; otherwise it is read.
    Buffer c = s.beta == 0.0f ? output("c", c_n) : inout("c", uniform(c_n, ++seed));
    const Tolerance t = product_tolerance(s.k);
    cases.push_back({"gemm",
                     name.str(),
                     {input("a", uniform(int64_t{s.m} * s.k, ++seed)),
                      input("b", uniform(int64_t{s.k} * s.n, ++seed)), c},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.gemm(gp, f32(p, 0), f32(p, 1), f32(p, 2));
                     },
                     t.abs,
                     t.rel});
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
    const int64_t x_n = int64_t{l.n} * l.in, w_n = int64_t{l.in} * l.out;
    const int64_t y_n = int64_t{l.n} * l.out;
    const Tolerance forward = product_tolerance(l.in);
    cases.push_back({"linear_forward",
                     "linear_forward" + shape.str(),
                     {input("x", uniform(x_n, ++seed)), input("w", uniform(w_n, ++seed)),
                      input("bias", uniform(l.out, ++seed)), output("y", y_n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.linear_forward(l.n, l.in, l.out, f32(p, 0), f32(p, 1),
                                         l.bias ? f32(p, 2) : nullptr, f32(p, 3));
                     },
                     forward.abs,
                     forward.rel});
    // dx sums over out, dw and dbias over n: the longer of the two sets the tolerance.
    const Tolerance backward = product_tolerance(std::max(l.out, l.n));
    cases.push_back({"linear_backward",
                     "linear_backward" + shape.str(),
                     {input("x", uniform(x_n, ++seed)), input("w", uniform(w_n, ++seed)),
                      input("dy", uniform(y_n, ++seed)), output("dx", l.dx ? x_n : 0),
                      output("dw", l.dw ? w_n : 0), output("dbias", l.dw ? l.out : 0)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.linear_backward(l.n, l.in, l.out, f32(p, 0), f32(p, 1), f32(p, 2),
                                          l.dx ? f32(p, 3) : nullptr, l.dw ? f32(p, 4) : nullptr,
                                          l.dw ? f32(p, 5) : nullptr);
                     },
                     backward.abs,
                     backward.rel});
  }
}

weft::Conv2dParams conv_params(int batch, int in_channels, int in_h, int in_w, int out_channels,
                               int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h,
                               int pad_w, int dilation = 1) {
  weft::Conv2dParams c;
  c.batch = batch;
  c.in_channels = in_channels;
  c.in_h = in_h;
  c.in_w = in_w;
  c.out_channels = out_channels;
  c.kernel_h = kernel_h;
  c.kernel_w = kernel_w;
  c.stride_h = stride_h;
  c.stride_w = stride_w;
  c.pad_h = pad_h;
  c.pad_w = pad_w;
  c.dilation_h = c.dilation_w = dilation;
  return c;
}

std::string conv_name(const weft::Conv2dParams& c) {
  std::ostringstream s;
  s << " " << c.batch << "x" << c.in_channels << "x" << c.in_h << "x" << c.in_w << " -> "
    << c.out_channels << ", k" << c.kernel_h;
  if (c.kernel_w != c.kernel_h) s << "x" << c.kernel_w;
  s << " s" << c.stride_h;
  if (c.stride_w != c.stride_h) s << "x" << c.stride_w;
  s << " p" << c.pad_h;
  if (c.pad_w != c.pad_h) s << "x" << c.pad_w;
  if (c.dilation_h != 1) s << " d" << c.dilation_h;
  return s.str();
}

// Forward, backward-data and backward-filter of one convolution. `bias`: whether forward gets a
// bias and backward-filter a dbias.
void add_conv(std::vector<OpCase>& cases, const std::string& label, const weft::Conv2dParams& c,
              bool bias, uint32_t& seed) {
  const std::string name = conv_name(c) + (bias ? "" : " no bias") + label;
  const int64_t x_n = int64_t{c.batch} * c.in_channels * c.in_h * c.in_w;
  const int64_t w_n = int64_t{c.out_channels} * c.in_channels * c.kernel_h * c.kernel_w;
  const int64_t y_n = int64_t{c.batch} * c.out_channels * c.out_h() * c.out_w();
  const Tolerance forward = product_tolerance(int64_t{c.in_channels} * c.kernel_h * c.kernel_w);
  const Tolerance data = product_tolerance(int64_t{c.out_channels} * c.kernel_h * c.kernel_w);
  const Tolerance filter = product_tolerance(int64_t{c.batch} * c.out_h() * c.out_w());
  cases.push_back({"conv2d_forward",
                   "conv2d_forward" + name,
                   {input("x", uniform(x_n, ++seed)), input("w", uniform(w_n, ++seed)),
                    input("bias", uniform(c.out_channels, ++seed)), output("y", y_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv2d_forward(c, f32(p, 0), f32(p, 1), bias ? f32(p, 2) : nullptr,
                                       f32(p, 3));
                   },
                   forward.abs,
                   forward.rel});
  cases.push_back(
      {"conv2d_backward_data",
       "conv2d_backward_data" + name,
       {input("dy", uniform(y_n, ++seed)), input("w", uniform(w_n, ++seed)), output("dx", x_n)},
       [=](Backend& be, const std::vector<void*>& p) {
         be.conv2d_backward_data(c, f32(p, 0), f32(p, 1), f32(p, 2));
       },
       data.abs,
       data.rel});
  cases.push_back({"conv2d_backward_filter",
                   "conv2d_backward_filter" + name,
                   {input("x", uniform(x_n, ++seed)), input("dy", uniform(y_n, ++seed)),
                    output("dw", w_n), output("dbias", bias ? c.out_channels : 0)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv2d_backward_filter(c, f32(p, 0), f32(p, 1), f32(p, 2),
                                               bias ? f32(p, 3) : nullptr);
                   },
                   filter.abs,
                   filter.rel});
}

void add_conv_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 6000;
  // Geometry: padding and stride 2; batch 1 without padding on odd sizes; dilation 2; different
  // strides, kernel sizes and padding per axis; channel counts just above the 64-row tile.
  add_conv(cases, "", conv_params(2, 3, 7, 6, 5, 3, 3, 2, 2, 1, 1), true, seed);
  add_conv(cases, "", conv_params(1, 1, 9, 11, 4, 3, 3, 1, 1, 0, 0), true, seed);
  add_conv(cases, "", conv_params(2, 3, 11, 10, 6, 3, 3, 1, 1, 2, 2, 2), true, seed);
  add_conv(cases, "", conv_params(1, 5, 9, 8, 3, 3, 2, 2, 1, 1, 0), false, seed);
  add_conv(cases, "", conv_params(2, 70, 5, 5, 67, 3, 3, 1, 1, 1, 1), true, seed);
  // 4 input channels, the most the hand backward-data's direct kernel takes, with per-axis
  // kernel, stride and padding (5 channels above go to the tiled kernel).
  add_conv(cases, "", conv_params(1, 4, 9, 8, 3, 3, 2, 2, 1, 1, 0), true, seed);
  // Stride 3 with a 2x2 kernel: some phases of the hand backward-data are reached by no tap.
  add_conv(cases, "", conv_params(2, 6, 10, 11, 5, 2, 2, 3, 3, 1, 1), true, seed);
  // The reduction of backward-filter split over several blocks (batch * OH * OW > 512).
  add_conv(cases, " (split reduction)", conv_params(4, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1), true, seed);
  // Seed layers. Exact: the Fashion-MNIST CNN's Conv2d(1, 64, 3) on 28x28 at batch 1 and 2.
  add_conv(cases, " (fashion cnn, exact)", conv_params(1, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), true,
           seed);
  add_conv(cases, " (fashion cnn, exact)", conv_params(2, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), true,
           seed);
  // Pair CNN (seed 001): 6 or 3 input channels, 5x5 pad 2, 4 filters, at 224x224 -> 20x20.
  add_conv(cases, " (pair cnn, scaled)", conv_params(2, 6, 20, 20, 4, 5, 5, 1, 1, 2, 2), true,
           seed);
  add_conv(cases, " (pair cnn, scaled)", conv_params(1, 3, 24, 18, 4, 5, 5, 1, 1, 2, 2), true,
           seed);
  // Apparel CNN: 3x3 pad 1 with 32 -> 64 and 128 -> 128 channels on small maps; its 2x2 "same"
  // conv (pad 1, the extra row cropped afterwards).
  add_conv(cases, " (apparel cnn, scaled)", conv_params(1, 32, 9, 9, 64, 3, 3, 1, 1, 1, 1), true,
           seed);
  add_conv(cases, " (apparel cnn, scaled)", conv_params(1, 128, 5, 5, 128, 3, 3, 1, 1, 1, 1), true,
           seed);
  add_conv(cases, " (apparel cnn, scaled)", conv_params(2, 16, 6, 6, 16, 2, 2, 1, 1, 1, 1), true,
           seed);
  // ResNet (no bias): 7x7 stride 2 pad 3 stem (64 filters -> 16, 224 -> 32), 3x3 stride 2 pad 1,
  // the 1x1 stride-2 downsample and a 1x1 bottleneck reduction.
  add_conv(cases, " (resnet stem, scaled)", conv_params(1, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3), false,
           seed);
  add_conv(cases, " (resnet, scaled)", conv_params(1, 16, 9, 9, 32, 3, 3, 2, 2, 1, 1), false, seed);
  add_conv(cases, " (resnet downsample, scaled)", conv_params(2, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0),
           false, seed);
  add_conv(cases, " (resnet bottleneck, scaled)", conv_params(1, 64, 4, 4, 16, 1, 1, 1, 1, 0, 0),
           false, seed);
  // Exact ResNet-18 layers at batch 1: a 3x3 512 -> 512 conv of layer 4 on its 7x7 maps (a
  // reduction of 4608 taps), and the 1x1 stride-2 downsample into it.
  add_conv(cases, " (resnet-18 layer 4, exact)", conv_params(1, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1),
           false, seed);
  add_conv(cases, " (resnet-18 downsample, exact)",
           conv_params(1, 256, 14, 14, 512, 1, 1, 2, 2, 0, 0), false, seed);
  // DCGAN discriminator: 4x4 stride 2 pad 1, and the last 4x4 conv to a single output.
  add_conv(cases, " (dcgan, scaled)", conv_params(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1), false, seed);
  add_conv(cases, " (dcgan, scaled)", conv_params(2, 16, 4, 4, 1, 4, 4, 1, 1, 0, 0), false, seed);
}

void add_conv_transpose(std::vector<OpCase>& cases, const std::string& label,
                        const weft::ConvTranspose2dParams& t, bool bias, uint32_t& seed) {
  std::ostringstream s;
  s << " " << t.batch << "x" << t.in_channels << "x" << t.in_h << "x" << t.in_w << " -> "
    << t.out_channels << ", k" << t.kernel_h << " s" << t.stride_h << " p" << t.pad_h;
  if (t.output_pad_h != 0) s << " out_pad" << t.output_pad_h;
  if (t.dilation_h != 1) s << " d" << t.dilation_h;
  const std::string name = s.str() + (bias ? "" : " no bias") + label;
  const int64_t x_n = int64_t{t.batch} * t.in_channels * t.in_h * t.in_w;
  const int64_t w_n = int64_t{t.in_channels} * t.out_channels * t.kernel_h * t.kernel_w;
  const int64_t y_n = int64_t{t.batch} * t.out_channels * t.out_h() * t.out_w();
  const int64_t taps = int64_t{t.kernel_h} * t.kernel_w;
  const Tolerance forward = product_tolerance(t.in_channels * taps);
  const Tolerance data = product_tolerance(t.out_channels * taps);
  const Tolerance filter = product_tolerance(int64_t{t.batch} * t.in_h * t.in_w);
  cases.push_back({"conv_transpose2d_forward",
                   "conv_transpose2d_forward" + name,
                   {input("x", uniform(x_n, ++seed)), input("w", uniform(w_n, ++seed)),
                    input("bias", uniform(t.out_channels, ++seed)), output("y", y_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv_transpose2d_forward(t, f32(p, 0), f32(p, 1),
                                                 bias ? f32(p, 2) : nullptr, f32(p, 3));
                   },
                   forward.abs,
                   forward.rel});
  cases.push_back(
      {"conv_transpose2d_backward_data",
       "conv_transpose2d_backward_data" + name,
       {input("dy", uniform(y_n, ++seed)), input("w", uniform(w_n, ++seed)), output("dx", x_n)},
       [=](Backend& be, const std::vector<void*>& p) {
         be.conv_transpose2d_backward_data(t, f32(p, 0), f32(p, 1), f32(p, 2));
       },
       data.abs,
       data.rel});
  cases.push_back({"conv_transpose2d_backward_filter",
                   "conv_transpose2d_backward_filter" + name,
                   {input("x", uniform(x_n, ++seed)), input("dy", uniform(y_n, ++seed)),
                    output("dw", w_n), output("dbias", bias ? t.out_channels : 0)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv_transpose2d_backward_filter(t, f32(p, 0), f32(p, 1), f32(p, 2),
                                                         bias ? f32(p, 3) : nullptr);
                   },
                   filter.abs,
                   filter.rel});
}

weft::ConvTranspose2dParams conv_transpose_params(int batch, int in_channels, int in_h, int in_w,
                                                  int out_channels, int kernel, int stride, int pad,
                                                  int output_pad = 0, int dilation = 1) {
  weft::ConvTranspose2dParams t;
  t.batch = batch;
  t.in_channels = in_channels;
  t.in_h = in_h;
  t.in_w = in_w;
  t.out_channels = out_channels;
  t.kernel_h = t.kernel_w = kernel;
  t.stride_h = t.stride_w = stride;
  t.pad_h = t.pad_w = pad;
  t.output_pad_h = t.output_pad_w = output_pad;
  t.dilation_h = t.dilation_w = dilation;
  return t;
}

void add_conv_transpose_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 7000;
  add_conv_transpose(cases, "", conv_transpose_params(1, 4, 5, 5, 3, 4, 2, 1), true, seed);
  // Output padding, dilation, odd non-square inputs.
  add_conv_transpose(cases, "", conv_transpose_params(2, 3, 4, 5, 2, 3, 2, 1, 1), true, seed);
  add_conv_transpose(cases, "", conv_transpose_params(1, 5, 3, 4, 7, 3, 1, 1, 0, 2), true, seed);
  // DCGAN generator (no bias): the first layer, latent 1x1 -> 4x4 (4x4 stride 1 pad 0; 100 + 10
  // class channels -> 32 instead of 512), and a 4x4 stride 2 pad 1 doubling layer.
  add_conv_transpose(cases, " (dcgan, scaled)", conv_transpose_params(2, 110, 1, 1, 32, 4, 1, 0),
                     false, seed);
  add_conv_transpose(cases, " (dcgan, scaled)", conv_transpose_params(2, 16, 8, 8, 8, 4, 2, 1),
                     false, seed);
  // Exact: the unconditional DCGAN-64 generator's first layer (latent 100 -> 512 at 4x4).
  add_conv_transpose(cases, " (dcgan-64, exact)", conv_transpose_params(1, 100, 1, 1, 512, 4, 1, 0),
                     false, seed);
  // The last layer to image channels, with the reduction of backward-filter split over blocks.
  add_conv_transpose(cases, " (dcgan, scaled)", conv_transpose_params(4, 8, 16, 16, 3, 4, 2, 1),
                     false, seed);
}

weft::Pool2dParams pool_params(int batch, int channels, int in_h, int in_w, int kernel, int stride,
                               int pad, bool count_include_pad = true) {
  weft::Pool2dParams p;
  p.batch = batch;
  p.channels = channels;
  p.in_h = in_h;
  p.in_w = in_w;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.count_include_pad = count_include_pad;
  return p;
}

// Values on a coarse grid (many exact ties, so "first maximum" matters), with a few NaN.
std::vector<float> tied_values(int64_t count, uint32_t seed, bool with_nan) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> level(-2, 2);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& f : v) f = 0.5f * static_cast<float>(level(gen));
  if (with_nan) {
    for (size_t i = 7; i < v.size(); i += 41) v[i] = std::numeric_limits<float>::quiet_NaN();
  }
  return v;
}

void add_pool_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 8000;
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
        Setting{" ties and NaN", pool_params(2, 3, 9, 9, 3, 2, 1), true}}) {
    const weft::Pool2dParams p = s.p;
    std::ostringstream shape;
    shape << " " << p.batch << "x" << p.channels << "x" << p.in_h << "x" << p.in_w << " k"
          << p.kernel_h << " s" << p.stride_h << " p" << p.pad_h << s.label;
    const int64_t x_n = int64_t{p.batch} * p.channels * p.in_h * p.in_w;
    const int64_t y_n = int64_t{p.batch} * p.channels * p.out_h() * p.out_w();
    const std::vector<float> x = s.ties ? tied_values(x_n, ++seed, true) : uniform(x_n, ++seed);
    // Values and indices must match bit for bit: same comparisons in the same order.
    cases.push_back({"max_pool2d_forward",
                     "max_pool2d_forward" + shape.str(),
                     {input("x", x), output("y", y_n), output_i32("argmax", y_n)},
                     [=](Backend& be, const std::vector<void*>& p_) {
                       be.max_pool2d_forward(p, f32(p_, 0), f32(p_, 1), i32(p_, 2));
                     },
                     0.0,
                     0.0});
    // The argmax backward receives is the reference forward's on tied data, so overlapping
    // windows that pick the same cell send it several gradients.
    std::vector<float> y(static_cast<size_t>(y_n));
    std::vector<int32_t> argmax(static_cast<size_t>(y_n));
    const std::vector<float> tied = tied_values(x_n, ++seed, false);
    weft::cpu_backend().max_pool2d_forward(p, tied.data(), y.data(), argmax.data());
    // Sums of at most kernel_h * kernel_w gradients in the reference's order: exact.
    cases.push_back(
        {"max_pool2d_backward",
         "max_pool2d_backward" + shape.str(),
         {input("dy", uniform(y_n, ++seed)), input_i32("argmax", argmax), output("dx", x_n)},
         [=](Backend& be, const std::vector<void*>& p_) {
           be.max_pool2d_backward(p, f32(p_, 0), i32(p_, 1), f32(p_, 2));
         },
         0.0,
         0.0});
    for (bool include_pad : {true, false}) {
      if (!include_pad && p.pad_h == 0) continue;  // the same as with padding counted
      weft::Pool2dParams q = p;
      q.count_include_pad = include_pad;
      const std::string avg = shape.str() + (include_pad ? "" : " exclude pad");
      // Same additions and divisions in the same order as the reference: exact.
      cases.push_back({"avg_pool2d_forward",
                       "avg_pool2d_forward" + avg,
                       {input("x", uniform(x_n, ++seed)), output("y", y_n)},
                       [=](Backend& be, const std::vector<void*>& p_) {
                         be.avg_pool2d_forward(q, f32(p_, 0), f32(p_, 1));
                       },
                       0.0,
                       0.0});
      cases.push_back({"avg_pool2d_backward",
                       "avg_pool2d_backward" + avg,
                       {input("dy", uniform(y_n, ++seed)), output("dx", x_n)},
                       [=](Backend& be, const std::vector<void*>& p_) {
                         be.avg_pool2d_backward(q, f32(p_, 0), f32(p_, 1));
                       },
                       0.0,
                       0.0});
    }
  }

  struct Global {
    int batch, channels, plane;
  };
  // ResNet's 7x7 maps (512 channels -> 64), a 56x56 map, one element.
  for (const Global& g :
       {Global{2, 3, 35}, Global{3, 64, 49}, Global{2, 5, 3136}, Global{1, 1, 1}}) {
    const std::string shape = " " + std::to_string(g.batch) + "x" + std::to_string(g.channels) +
                              "x" + std::to_string(g.plane);
    const int64_t x_n = int64_t{g.batch} * g.channels * g.plane;
    const int64_t y_n = int64_t{g.batch} * g.channels;
    // Both sum in double and round once: at most an ulp apart.
    cases.push_back({"global_avg_pool_forward",
                     "global_avg_pool_forward" + shape,
                     {input("x", uniform(x_n, ++seed)), output("y", y_n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.global_avg_pool_forward(g.batch, g.channels, g.plane, f32(p, 0),
                                                  f32(p, 1));
                     },
                     1e-7,
                     1e-6});
    cases.push_back({"global_avg_pool_backward",
                     "global_avg_pool_backward" + shape,
                     {input("dy", uniform(y_n, ++seed)), output("dx", x_n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.global_avg_pool_backward(g.batch, g.channels, g.plane, f32(p, 0),
                                                   f32(p, 1));
                     },
                     0.0,
                     0.0});
  }
}

void add_batchnorm_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 9000;
  struct Setting {
    const char* label;
    int batch, channels, spatial;
    float eps, momentum;
    float shift;     // added to x: a mean large next to the spread tests the variance algorithm
    bool gradients;  // whether dgamma and dbeta are requested
  };
  // BatchNorm2d and 1d; batch 1; one value per channel (no spread: unbiased falls back to 0);
  // a channel reduction split over several blocks (M = 2 * 48 * 48 > 4096); the apparel CNN's
  // Keras eps/momentum on BatchNorm1d(1024) (scaled to 300); a mean of 100 with spread 1;
  // backward without dgamma/dbeta.
  for (const Setting& s : {Setting{"", 3, 5, 7, 1e-5f, 0.1f, 0.0f, true},
                           Setting{" batch 1", 1, 6, 33, 1e-5f, 0.1f, 0.0f, true},
                           Setting{" one value", 1, 3, 1, 1e-5f, 0.1f, 0.0f, true},
                           Setting{" split", 2, 3, 48 * 48, 1e-5f, 0.1f, 0.0f, true},
                           Setting{" bn1d keras", 16, 300, 1, 1e-3f, 0.01f, 0.0f, true},
                           Setting{" mean 100", 4, 2, 100, 1e-5f, 0.1f, 100.0f, true},
                           Setting{" no dgamma/dbeta", 2, 4, 9, 1e-5f, 0.1f, 0.0f, false}}) {
    weft::BatchNormParams bn;
    bn.batch = s.batch;
    bn.channels = s.channels;
    bn.spatial = s.spatial;
    bn.eps = s.eps;
    bn.momentum = s.momentum;
    const int c = s.channels;
    const int64_t n = int64_t{s.batch} * c * s.spatial;
    const std::string shape = " " + std::to_string(s.batch) + "x" + std::to_string(c) + "x" +
                              std::to_string(s.spatial) + s.label;
    std::vector<float> x = uniform(n, ++seed);
    for (float& v : x) v += s.shift;
    const bool grads = s.gradients;
    // The kernels normalise in float, the reference in double: y and dx carry a few float
    // roundings of values of order 1 (1e-5 + 1e-4 relative). The statistics are a float
    // Welford per thread on values shifted by the channel's first value, merged in double, and
    // x - mean is compensated for the rounding of the float mean, so a mean of 100 next to a
    // spread of 1 costs no accuracy (observed 2.4e-7 on y; 6e-6 without the shift).
    cases.push_back({"batch_norm_forward_train",
                     "batch_norm_forward_train" + shape,
                     {input("x", x), input("gamma", uniform(c, ++seed)),
                      input("beta", uniform(c, ++seed)), output("y", n), output("save_mean", c),
                      output("save_invstd", c), inout("running_mean", uniform(c, ++seed)),
                      inout("running_var", uniform(c, ++seed, 0.5f, 2.0f))},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.batch_norm_forward_train(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                                   f32(p, 4), f32(p, 5), f32(p, 6), f32(p, 7));
                     },
                     1e-5,
                     1e-4});
    cases.push_back({"batch_norm_forward_eval",
                     "batch_norm_forward_eval" + shape,
                     {input("x", uniform(n, ++seed)), input("gamma", uniform(c, ++seed)),
                      input("beta", uniform(c, ++seed)), input("running_mean", uniform(c, ++seed)),
                      input("running_var", uniform(c, ++seed, 0.5f, 2.0f)), output("y", n)},
                     [=](Backend& be, const std::vector<void*>& p) {
                       be.batch_norm_forward_eval(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                                  f32(p, 4), f32(p, 5));
                     },
                     1e-5,
                     1e-4});
    // Backward: the two sums per channel are float per thread (about 16 terms), float across the
    // block, double across blocks; dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy xhat))
    // in float. Sums of M terms of order 1 get 1e-5 + 1e-4 relative plus u per term.
    const double sum_abs = 1e-5 + kFloatUnitRoundoff * static_cast<double>(s.batch) * s.spatial;
    cases.push_back(
        {"batch_norm_backward",
         "batch_norm_backward" + shape,
         {input("dy", uniform(n, ++seed)), input("x", x), input("gamma", uniform(c, ++seed)),
          input("save_mean", uniform(c, ++seed, s.shift - 0.1f, s.shift + 0.1f)),
          input("save_invstd", uniform(c, ++seed, 0.5f, 2.0f)), output("dx", n),
          output("dgamma", grads ? c : 0), output("dbeta", grads ? c : 0)},
         [=](Backend& be, const std::vector<void*>& p) {
           be.batch_norm_backward(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3), f32(p, 4),
                                  f32(p, 5), grads ? f32(p, 6) : nullptr,
                                  grads ? f32(p, 7) : nullptr);
         },
         sum_abs,
         1e-4});
    cases.push_back(
        {"batch_norm_backward_eval",
         "batch_norm_backward_eval" + shape,
         {input("dy", uniform(n, ++seed)), input("x", x), input("gamma", uniform(c, ++seed)),
          input("running_mean", uniform(c, ++seed, s.shift - 0.1f, s.shift + 0.1f)),
          input("running_var", uniform(c, ++seed, 0.5f, 2.0f)), output("dx", n),
          output("dgamma", grads ? c : 0), output("dbeta", grads ? c : 0)},
         [=](Backend& be, const std::vector<void*>& p) {
           be.batch_norm_backward_eval(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3), f32(p, 4),
                                       f32(p, 5), grads ? f32(p, 6) : nullptr,
                                       grads ? f32(p, 7) : nullptr);
         },
         sum_abs,
         1e-4});
  }
}

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

// ---- memory of a backend ------------------------------------------------------------------------

// Where a backend's buffers live: host memory for the CPU and emulated backends, device memory
// for the CUDA backend.
class Memory {
 public:
  virtual ~Memory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* pointer, size_t bytes) = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
};

class HostMemory final : public Memory {
 public:
  void* allocate(size_t bytes) override { return ::operator new(bytes); }
  void release(void* pointer, size_t) override { ::operator delete(pointer); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
};

#ifdef WEFT_HAVE_CUDA
class DeviceMemory final : public Memory {
 public:
  explicit DeviceMemory(weft::Device device) : device_(device) {}
  void* allocate(size_t bytes) override { return weft::device_allocate(device_, bytes); }
  void release(void* pointer, size_t bytes) override {
    weft::device_free(device_, pointer, bytes);
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    weft::copy_bytes(device_, dst, weft::Device::cpu(), src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    weft::copy_bytes(weft::Device::cpu(), dst, device_, src, bytes);
  }

 private:
  weft::Device device_;
};
#endif

// ---- running a case -----------------------------------------------------------------------------

constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;

// What a case left in its buffers (data part only), or that the backend skipped it.
struct Outcome {
  bool skipped = false;
  std::string skip_reason;
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<std::string> damage;  // guards overwritten, inputs modified
};

Outcome run_case(const OpCase& c, Backend& backend, Memory& memory) {
  struct Allocation {
    void* pointer;
    size_t bytes;
  };
  std::vector<Allocation> allocations;
  std::vector<void*> pointers;
  Outcome outcome;
  for (const Buffer& b : c.buffers) {
    std::vector<unsigned char> staged(b.bytes);
    staged.resize(b.bytes.size() + kGuardBytes, kGuardByte);
    void* pointer = memory.allocate(staged.size());
    memory.upload(pointer, staged.data(), staged.size());
    allocations.push_back({pointer, staged.size()});
    pointers.push_back(pointer);
  }
  try {
    c.call(backend, pointers);
  } catch (const weft::NotImplemented& e) {
    outcome.skipped = true;
    outcome.skip_reason = e.what();
  } catch (...) {
    for (const Allocation& a : allocations) memory.release(a.pointer, a.bytes);
    throw;
  }
  for (size_t i = 0; i < c.buffers.size(); ++i) {
    const Buffer& b = c.buffers[i];
    std::vector<unsigned char> back(allocations[i].bytes);
    memory.download(back.data(), allocations[i].pointer, back.size());
    memory.release(allocations[i].pointer, allocations[i].bytes);
    for (size_t g = b.bytes.size(); g < back.size(); ++g) {
      if (back[g] != kGuardByte) {
        outcome.damage.push_back("wrote past the end of " + b.name + " (guard byte " +
                                 std::to_string(g - b.bytes.size()) + ")");
        break;
      }
    }
    back.resize(b.bytes.size());
    if (!outcome.skipped && b.role == Role::input && back != b.bytes) {
      outcome.damage.push_back("modified its input " + b.name);
    }
    outcome.buffers.push_back(std::move(back));
  }
  return outcome;
}

template <class T>
std::vector<T> as(const std::vector<unsigned char>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// Element comparison with the case's tolerance; NaN matches only NaN. Reports the first ten
// mismatches with their indices; returns whether everything matched.
bool compare(const OpCase& c, const Buffer& b, const std::vector<unsigned char>& got_bytes,
             const std::vector<unsigned char>& want_bytes, const std::string& backend_name) {
  std::ostringstream report;
  int64_t mismatches = 0;
  if (b.dtype == DType::f32) {
    const std::vector<float> got = as<float>(got_bytes), want = as<float>(want_bytes);
    for (size_t i = 0; i < got.size(); ++i) {
      const double g = got[i], w = want[i];
      const bool both_nan = std::isnan(g) && std::isnan(w);
      if (both_nan || std::fabs(g - w) <= c.abs_tol + c.rel_tol * std::fabs(w)) continue;
      if (++mismatches <= 10) report << "  [" << i << "] got " << g << ", want " << w << "\n";
    }
  } else {
    for (size_t i = 0; i < got_bytes.size(); ++i) {
      if (got_bytes[i] != want_bytes[i] && ++mismatches <= 10) {
        report << "  byte " << i << " differs\n";
      }
    }
  }
  INFO(backend_name << ": " << c.name << ", output " << b.name << " (tolerance " << c.abs_tol
                    << " + " << c.rel_tol << " * |want|): " << mismatches << " of "
                    << b.count() << " elements differ\n"
                    << report.str());
  CHECK(mismatches == 0);
  return mismatches == 0;
}

// Runs the whole table on `backend` and compares with the CPU reference.
void run_table(Backend& backend, Memory& memory) {
  HostMemory host;
  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> skipped_ops;
  for (const OpCase& c : op_cases()) {
    const Outcome want = run_case(c, weft::cpu_backend(), host);
    REQUIRE_FALSE(want.skipped);
    Outcome got;
    try {
      got = run_case(c, backend, memory);
    } catch (const std::exception& e) {
      FAIL_CHECK(backend.name() << ": " << c.name << " threw: " << e.what());
      ++failed;
      continue;
    }
    if (got.skipped) {
      ++skipped;
      ++skipped_ops[c.op];
      continue;
    }
    bool ok = true;
    for (const std::string& d : got.damage) {
      FAIL_CHECK(backend.name() << ": " << c.name << " " << d);
      ok = false;
    }
    for (size_t i = 0; i < c.buffers.size(); ++i) {
      if (c.buffers[i].role == Role::input) continue;
      if (!compare(c, c.buffers[i], got.buffers[i], want.buffers[i], backend.name())) {
        ok = false;
      }
    }
    ok ? ++passed : ++failed;
  }
  std::ostringstream summary;
  summary << "backend " << backend.name() << ": " << op_cases().size() << " cases, " << passed
          << " passed, " << failed << " failed, " << skipped << " skipped";
  if (!skipped_ops.empty()) {
    summary << " (not implemented:";
    for (const auto& [op, count] : skipped_ops) summary << " " << op << " x" << count;
    summary << ")";
  }
  WARN(summary.str());
  CHECK(failed == 0);
}

}  // namespace

TEST_CASE("backend ops: the CPU reference against itself (harness, guards, inputs)") {
  HostMemory host;
  run_table(weft::cpu_backend(), host);
}

TEST_CASE("backend ops: hand CUDA kernels under host emulation match the CPU reference",
          "[emu]") {
  HostMemory host;
  run_table(weft::emu_backend(), host);
}

TEST_CASE("backend ops: the CUDA backend on a GPU matches the CPU reference", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  std::string reason;
  if (!weft::cuda_available(&reason)) {
    WARN("SKIPPED: no usable GPU (" << reason << ")");
    return;
  }
  DeviceMemory device(weft::Device::cuda(0));
  run_table(weft::cuda_hand_backend(0), device);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

#ifdef WEFT_HAVE_CUDA
// Whether the [gpu] cases below can run; says SKIPPED (which ctest reports as skipped) if not.
static bool gpu_present() {
  std::string reason;
  if (weft::cuda_available(&reason)) return true;
  WARN("SKIPPED: no usable GPU (" << reason << ")");
  return false;
}
#endif

// The vendor libraries alone: cuDNN and cuBLAS on the convolution, transposed convolution,
// batch-norm, GEMM and linear cases; every other case is counted as skipped, since the vendor
// backend does not implement it (kernels/cuda_vendor/vendor_backend.cu).
TEST_CASE("backend ops: cuDNN/cuBLAS on a GPU match the CPU reference", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!gpu_present()) return;
  DeviceMemory device(weft::Device::cuda(0));
  run_table(weft::cuda_vendor_backend(0), device);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

// What the engine runs on a GPU: the device's dispatch (engine/dispatch.h), under each kernel
// choice for every family in turn (kernels/selection.h); under auto it measures every shape.
TEST_CASE("backend ops: the GPU dispatch matches the CPU reference under each choice",
          "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!gpu_present()) return;
  struct ResetChoices {
    ~ResetChoices() { weft::reset_kernel_choices(); }
  } reset;
  DeviceMemory device(weft::Device::cuda(0));
  for (weft::KernelChoice choice :
       {weft::KernelChoice::hand, weft::KernelChoice::vendor, weft::KernelChoice::automatic}) {
    INFO("kernel choice " << weft::choice_name(choice) << " for every family");
    weft::set_kernel_choice(choice);
    run_table(weft::dispatch(weft::Device::cuda(0)), device);
  }
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}
