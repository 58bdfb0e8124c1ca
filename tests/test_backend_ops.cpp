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
#include "engine/error.h"
#include "engine/runtime.h"
#include "kernels/backend.h"
#include "kernels/cuda/backends.h"

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

// One case per method of the families that have no hand kernels yet, so the table is ready
// for them: today the emulated and CUDA backends skip these.
void add_pending_family_cases(std::vector<OpCase>& cases) {
  uint32_t seed = 5000;
  weft::Conv2dParams conv;
  conv.batch = 2;
  conv.in_channels = 3;
  conv.in_h = 7;
  conv.in_w = 6;
  conv.out_channels = 5;
  conv.kernel_h = conv.kernel_w = 3;
  conv.stride_h = conv.stride_w = 2;
  conv.pad_h = conv.pad_w = 1;
  const int64_t x_n = int64_t{conv.batch} * conv.in_channels * conv.in_h * conv.in_w;
  const int64_t w_n = int64_t{conv.out_channels} * conv.in_channels * 9;
  const int64_t y_n = int64_t{conv.batch} * conv.out_channels * conv.out_h() * conv.out_w();
  cases.push_back({"conv2d_forward", "conv2d_forward 2x3x7x6 -> 5, k3 s2 p1",
                   {input("x", uniform(x_n, ++seed)), input("w", uniform(w_n, ++seed)),
                    input("bias", uniform(conv.out_channels, ++seed)), output("y", y_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv2d_forward(conv, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                   },
                   1e-5, 1e-4});
  cases.push_back({"conv2d_backward_data", "conv2d_backward_data 2x3x7x6 -> 5, k3 s2 p1",
                   {input("dy", uniform(y_n, ++seed)), input("w", uniform(w_n, ++seed)),
                    output("dx", x_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv2d_backward_data(conv, f32(p, 0), f32(p, 1), f32(p, 2));
                   },
                   1e-5, 1e-4});
  cases.push_back({"conv2d_backward_filter", "conv2d_backward_filter 2x3x7x6 -> 5, k3 s2 p1",
                   {input("x", uniform(x_n, ++seed)), input("dy", uniform(y_n, ++seed)),
                    output("dw", w_n), output("dbias", conv.out_channels)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv2d_backward_filter(conv, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                   },
                   1e-5, 1e-4});

  weft::ConvTranspose2dParams convt;
  convt.batch = 1;
  convt.in_channels = 4;
  convt.in_h = 5;
  convt.in_w = 5;
  convt.out_channels = 3;
  convt.kernel_h = convt.kernel_w = 4;
  convt.stride_h = convt.stride_w = 2;
  convt.pad_h = convt.pad_w = 1;
  const int64_t tx_n = int64_t{convt.in_channels} * 25;
  const int64_t tw_n = int64_t{convt.in_channels} * convt.out_channels * 16;
  const int64_t ty_n = int64_t{convt.out_channels} * convt.out_h() * convt.out_w();
  cases.push_back({"conv_transpose2d_forward", "conv_transpose2d_forward 1x4x5x5 -> 3, k4 s2 p1",
                   {input("x", uniform(tx_n, ++seed)), input("w", uniform(tw_n, ++seed)),
                    input("bias", uniform(convt.out_channels, ++seed)), output("y", ty_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv_transpose2d_forward(convt, f32(p, 0), f32(p, 1), f32(p, 2),
                                                 f32(p, 3));
                   },
                   1e-5, 1e-4});
  cases.push_back({"conv_transpose2d_backward_data",
                   "conv_transpose2d_backward_data 1x4x5x5 -> 3, k4 s2 p1",
                   {input("dy", uniform(ty_n, ++seed)), input("w", uniform(tw_n, ++seed)),
                    output("dx", tx_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv_transpose2d_backward_data(convt, f32(p, 0), f32(p, 1), f32(p, 2));
                   },
                   1e-5, 1e-4});
  cases.push_back({"conv_transpose2d_backward_filter",
                   "conv_transpose2d_backward_filter 1x4x5x5 -> 3, k4 s2 p1",
                   {input("x", uniform(tx_n, ++seed)), input("dy", uniform(ty_n, ++seed)),
                    output("dw", tw_n), output("dbias", convt.out_channels)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.conv_transpose2d_backward_filter(convt, f32(p, 0), f32(p, 1), f32(p, 2),
                                                         f32(p, 3));
                   },
                   1e-5, 1e-4});

  weft::GemmParams gp;
  gp.m = 5;
  gp.n = 7;
  gp.k = 3;
  gp.trans_b = true;
  cases.push_back({"gemm", "gemm 5x7x3 B transposed",
                   {input("a", uniform(15, ++seed)), input("b", uniform(21, ++seed)),
                    output("c", 35)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.gemm(gp, f32(p, 0), f32(p, 1), f32(p, 2));
                   },
                   1e-5, 1e-4});
  cases.push_back({"linear_forward", "linear_forward 3x10 -> 4",
                   {input("x", uniform(30, ++seed)), input("w", uniform(40, ++seed)),
                    input("bias", uniform(4, ++seed)), output("y", 12)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.linear_forward(3, 10, 4, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3));
                   },
                   1e-5, 1e-4});
  cases.push_back({"linear_backward", "linear_backward 3x10 -> 4",
                   {input("x", uniform(30, ++seed)), input("w", uniform(40, ++seed)),
                    input("dy", uniform(12, ++seed)), output("dx", 30), output("dw", 40),
                    output("dbias", 4)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.linear_backward(3, 10, 4, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                        f32(p, 4), f32(p, 5));
                   },
                   1e-5, 1e-4});

  weft::Pool2dParams pool;
  pool.batch = 2;
  pool.channels = 3;
  pool.in_h = 7;
  pool.in_w = 5;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  const int64_t px_n = 2 * 3 * 35;
  const int64_t py_n = int64_t{2} * 3 * pool.out_h() * pool.out_w();
  cases.push_back({"max_pool2d_forward", "max_pool2d_forward 2x3x7x5 k2 s2",
                   {input("x", uniform(px_n, ++seed)), output("y", py_n),
                    output_i32("argmax", py_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.max_pool2d_forward(pool, f32(p, 0), f32(p, 1), i32(p, 2));
                   }});
  std::vector<int32_t> argmax(static_cast<size_t>(py_n));
  for (int64_t i = 0; i < py_n; ++i) {  // a valid window position of each output
    const int64_t plane_index = i % (pool.out_h() * pool.out_w());
    const int64_t oh = plane_index / pool.out_w(), ow = plane_index % pool.out_w();
    argmax[static_cast<size_t>(i)] = static_cast<int32_t>((oh * 2 + i % 2) * pool.in_w + ow * 2);
  }
  cases.push_back({"max_pool2d_backward", "max_pool2d_backward 2x3x7x5 k2 s2",
                   {input("dy", uniform(py_n, ++seed)), input_i32("argmax", argmax),
                    output("dx", px_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.max_pool2d_backward(pool, f32(p, 0), i32(p, 1), f32(p, 2));
                   }});
  cases.push_back({"avg_pool2d_forward", "avg_pool2d_forward 2x3x7x5 k2 s2",
                   {input("x", uniform(px_n, ++seed)), output("y", py_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.avg_pool2d_forward(pool, f32(p, 0), f32(p, 1));
                   }});
  cases.push_back({"avg_pool2d_backward", "avg_pool2d_backward 2x3x7x5 k2 s2",
                   {input("dy", uniform(py_n, ++seed)), output("dx", px_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.avg_pool2d_backward(pool, f32(p, 0), f32(p, 1));
                   }});
  cases.push_back({"global_avg_pool_forward", "global_avg_pool_forward 2x3x35",
                   {input("x", uniform(px_n, ++seed)), output("y", 6)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.global_avg_pool_forward(2, 3, 35, f32(p, 0), f32(p, 1));
                   }});
  cases.push_back({"global_avg_pool_backward", "global_avg_pool_backward 2x3x35",
                   {input("dy", uniform(6, ++seed)), output("dx", px_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.global_avg_pool_backward(2, 3, 35, f32(p, 0), f32(p, 1));
                   }});

  weft::BatchNormParams bn;
  bn.batch = 3;
  bn.channels = 5;
  bn.spatial = 7;
  const int64_t bn_n = 3 * 5 * 7;
  cases.push_back({"batch_norm_forward_train", "batch_norm_forward_train 3x5x7",
                   {input("x", uniform(bn_n, ++seed)), input("gamma", uniform(5, ++seed)),
                    input("beta", uniform(5, ++seed)), output("y", bn_n),
                    output("save_mean", 5), output("save_invstd", 5),
                    inout("running_mean", uniform(5, ++seed)),
                    inout("running_var", uniform(5, ++seed, 0.5f, 2.0f))},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.batch_norm_forward_train(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                                 f32(p, 4), f32(p, 5), f32(p, 6), f32(p, 7));
                   },
                   1e-5, 1e-4});
  cases.push_back({"batch_norm_forward_eval", "batch_norm_forward_eval 3x5x7",
                   {input("x", uniform(bn_n, ++seed)), input("gamma", uniform(5, ++seed)),
                    input("beta", uniform(5, ++seed)), input("running_mean", uniform(5, ++seed)),
                    input("running_var", uniform(5, ++seed, 0.5f, 2.0f)), output("y", bn_n)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.batch_norm_forward_eval(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                                f32(p, 4), f32(p, 5));
                   },
                   1e-5, 1e-4});
  cases.push_back({"batch_norm_backward", "batch_norm_backward 3x5x7",
                   {input("dy", uniform(bn_n, ++seed)), input("x", uniform(bn_n, ++seed)),
                    input("gamma", uniform(5, ++seed)), input("save_mean", uniform(5, ++seed)),
                    input("save_invstd", uniform(5, ++seed, 0.5f, 2.0f)), output("dx", bn_n),
                    output("dgamma", 5), output("dbeta", 5)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.batch_norm_backward(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                            f32(p, 4), f32(p, 5), f32(p, 6), f32(p, 7));
                   },
                   1e-5, 1e-4});
  cases.push_back({"batch_norm_backward_eval", "batch_norm_backward_eval 3x5x7",
                   {input("dy", uniform(bn_n, ++seed)), input("x", uniform(bn_n, ++seed)),
                    input("gamma", uniform(5, ++seed)), input("running_mean", uniform(5, ++seed)),
                    input("running_var", uniform(5, ++seed, 0.5f, 2.0f)), output("dx", bn_n),
                    output("dgamma", 5), output("dbeta", 5)},
                   [=](Backend& be, const std::vector<void*>& p) {
                     be.batch_norm_backward_eval(bn, f32(p, 0), f32(p, 1), f32(p, 2), f32(p, 3),
                                                 f32(p, 4), f32(p, 5), f32(p, 6), f32(p, 7));
                   },
                   1e-5, 1e-4});
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> all;
    add_elementwise_cases(all);
    add_softmax_cases(all);
    add_loss_cases(all);
    add_dropout_cases(all);
    add_optimizer_cases(all);
    add_pending_family_cases(all);
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
  run_table(weft::cuda_backend(0), device);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}
