// The op calls shared by the op-table test and the kernel benchmarks (op_cases.h): for each op,
// its buffers in the order of its Backend method's pointers, and the call.
#include "kernels/reference/op_cases.h"

#include <cstring>
#include <limits>
#include <utility>

#include "kernels/error.h"
#include "kernels/reference/pool.h"

namespace weft::reference::cases {

// ---- contents and buffers -----------------------------------------------------------------------

size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::f32:
      return sizeof(float);
    case ElementType::i32:
      return sizeof(int32_t);
    case ElementType::u8:
      return sizeof(uint8_t);
  }
  return 0;
}

Content Content::uniform(float lo, float hi) {
  Content c;
  c.kind = Kind::uniform;
  c.lo = lo;
  c.hi = hi;
  return c;
}

Content Content::ties(bool with_nan) {
  Content c;
  c.kind = Kind::ties;
  c.with_nan = with_nan;
  return c;
}

Content Content::class_index(int classes) {
  Content c;
  c.kind = Kind::class_index;
  c.classes = classes;
  return c;
}

Content Content::given(const std::vector<float>& values) {
  Content c;
  c.kind = Kind::given;
  c.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(c.bytes.data(), values.data(), c.bytes.size());
  return c;
}

Content Content::given_bytes(const std::vector<uint8_t>& values) {
  Content c;
  c.kind = Kind::given;
  c.bytes.assign(values.begin(), values.end());
  return c;
}

CaseBuffer& OpCall::buffer(std::string_view name) {
  for (CaseBuffer& b : buffers) {
    if (b.name == name) return b;
  }
  throw Error(std::string(op_name(op)) + " has no buffer \"" + std::string(name) + "\"");
}

std::vector<std::vector<unsigned char>> first_contents(const OpCall& call, const Draw& draw) {
  std::vector<std::vector<unsigned char>> contents;
  contents.reserve(call.buffers.size());  // keeps `earlier`'s pointers valid
  std::vector<const void*> earlier;
  for (const CaseBuffer& b : call.buffers) {
    std::vector<unsigned char> bytes(b.bytes());
    const Content& content = b.content;
    if (content.kind == Content::Kind::given) {
      WEFT_CHECK(content.bytes.size() == bytes.size(), op_name(call.op), ": buffer ", b.name,
                 " is given ", content.bytes.size(), " bytes for ", bytes.size());
      bytes = content.bytes;
    } else if (content.kind == Content::Kind::derived) {
      content.derive(earlier, bytes.data());
    } else {
      draw(b, bytes.data());
    }
    auto* values = reinterpret_cast<float*>(bytes.data());
    if (content.alternate_sign) {
      for (int64_t i = 0; i < b.count; i += 2) values[i] = -values[i];
    }
    if (content.with_nan) {
      for (int64_t i = 7; i < b.count; i += 41) values[i] = std::numeric_limits<float>::quiet_NaN();
    }
    contents.push_back(std::move(bytes));
    earlier.push_back(contents.back().data());
  }
  return contents;
}

namespace {

CaseBuffer in(std::string name, int64_t count, Content content = Content::uniform(-1.0f, 1.0f)) {
  return {std::move(name), ElementType::f32, Role::input, count, std::move(content)};
}
CaseBuffer out(std::string name, int64_t count) {
  return {std::move(name), ElementType::f32, Role::output, count, Content{}};
}
CaseBuffer inout(std::string name, int64_t count, Content content = Content::uniform(-1.0f, 1.0f)) {
  return {std::move(name), ElementType::f32, Role::inout, count, std::move(content)};
}
CaseBuffer in_i32(std::string name, int64_t count, Content content) {
  return {std::move(name), ElementType::i32, Role::input, count, std::move(content)};
}
CaseBuffer out_i32(std::string name, int64_t count) {
  return {std::move(name), ElementType::i32, Role::output, count, Content{}};
}
// The incoming gradient of a scalar loss: one element.
CaseBuffer grad_loss_buffer(float value) {
  return in("grad_loss", 1, Content::given({value}));
}

float* f32(const BufferPointers& b, size_t i) {
  return static_cast<float*>(b[i]);
}
int32_t* i32(const BufferPointers& b, size_t i) {
  return static_cast<int32_t*>(b[i]);
}

int64_t bn_x(const BatchNormParams& p) {
  return int64_t{p.batch} * p.channels * p.spatial;
}

}  // namespace

// ---- convolution --------------------------------------------------------------------------------

OpCall conv2d_forward(const Conv2dParams& p, bool bias) {
  return {Op::conv2d_forward,
          {in("x", p.input_count()), in("w", p.weight_count()),
           in("bias", bias ? p.out_channels : 0), out("y", p.output_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.conv2d_forward(p, f32(b, 0), f32(b, 1), bias ? f32(b, 2) : nullptr, f32(b, 3));
          }};
}

OpCall conv2d_backward_data(const Conv2dParams& p) {
  return {Op::conv2d_backward_data,
          {in("dy", p.output_count()), in("w", p.weight_count()), out("dx", p.input_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.conv2d_backward_data(p, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall conv2d_backward_filter(const Conv2dParams& p, bool bias) {
  return {Op::conv2d_backward_filter,
          {in("x", p.input_count()), in("dy", p.output_count()), out("dw", p.weight_count()),
           out("dbias", bias ? p.out_channels : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.conv2d_backward_filter(p, f32(b, 0), f32(b, 1), f32(b, 2),
                                      bias ? f32(b, 3) : nullptr);
          }};
}

OpCall conv_transpose2d_forward(const ConvTranspose2dParams& p, bool bias) {
  return {Op::conv_transpose2d_forward,
          {in("x", p.input_count()), in("w", p.weight_count()),
           in("bias", bias ? p.out_channels : 0), out("y", p.output_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.conv_transpose2d_forward(p, f32(b, 0), f32(b, 1), bias ? f32(b, 2) : nullptr,
                                        f32(b, 3));
          }};
}

OpCall conv_transpose2d_backward_data(const ConvTranspose2dParams& p) {
  return {Op::conv_transpose2d_backward_data,
          {in("dy", p.output_count()), in("w", p.weight_count()), out("dx", p.input_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.conv_transpose2d_backward_data(p, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, bool bias) {
  return {Op::conv_transpose2d_backward_filter,
          {in("x", p.input_count()), in("dy", p.output_count()), out("dw", p.weight_count()),
           out("dbias", bias ? p.out_channels : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.conv_transpose2d_backward_filter(p, f32(b, 0), f32(b, 1), f32(b, 2),
                                                bias ? f32(b, 3) : nullptr);
          }};
}

// ---- matrix products ----------------------------------------------------------------------------

OpCall gemm(const GemmParams& p) {
  const int64_t c_count = int64_t{p.m} * p.n;
  return {
      Op::gemm,
      {in("a", int64_t{p.m} * p.k), in("b", int64_t{p.k} * p.n),
       p.beta == 0.0f ? out("c", c_count) : inout("c", c_count)},
      [=](Backend& be, const BufferPointers& b) { be.gemm(p, f32(b, 0), f32(b, 1), f32(b, 2)); }};
}

OpCall linear_forward(int n, int in_features, int out_features, bool bias,
                      const FusedActivation& act) {
  return {Op::linear_forward,
          {in("x", int64_t{n} * in_features), in("w", int64_t{in_features} * out_features),
           in("bias", bias ? out_features : 0), out("y", int64_t{n} * out_features)},
          [=](Backend& be, const BufferPointers& b) {
            be.linear_forward(n, in_features, out_features, act, f32(b, 0), f32(b, 1),
                              bias ? f32(b, 2) : nullptr, f32(b, 3));
          }};
}

OpCall linear_backward(int n, int in_features, int out_features, bool dx, bool dw,
                       const FusedActivation& act) {
  const int64_t x_count = int64_t{n} * in_features;
  const int64_t w_count = int64_t{in_features} * out_features;
  return {Op::linear_backward,
          {in("x", x_count), in("w", w_count), in("dy", int64_t{n} * out_features),
           out("dx", dx ? x_count : 0), out("dw", dw ? w_count : 0),
           out("dbias", dw ? out_features : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.linear_backward(n, in_features, out_features, act, f32(b, 0), f32(b, 1), f32(b, 2),
                               dx ? f32(b, 3) : nullptr, dw ? f32(b, 4) : nullptr,
                               dw ? f32(b, 5) : nullptr);
          }};
}

// ---- pooling ------------------------------------------------------------------------------------

OpCall max_pool2d_forward(const Pool2dParams& p) {
  return {Op::max_pool2d_forward,
          {in("x", p.input_count()), out("y", p.output_count()),
           out_i32("argmax", p.output_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.max_pool2d_forward(p, f32(b, 0), f32(b, 1), i32(b, 2));
          }};
}

namespace {

// The argmax of the definition's max pool p over buffer 0 (a tie-heavy stand-in for the pool's
// input), as a derived buffer's content.
Content pooled_argmax(const Pool2dParams& p) {
  Content argmax;
  argmax.kind = Content::Kind::derived;
  argmax.derive = [p](const std::vector<const void*>& earlier, void* result) {
    std::vector<double> y(static_cast<size_t>(p.output_count()));
    reference::max_pool2d_forward(p, static_cast<const float*>(earlier[0]), y.data(),
                                  static_cast<int32_t*>(result));
  };
  return argmax;
}

// Its output y, which a backward with a fused activation reads (exact in float: a max of
// activated floats); nothing without an activation (the y buffer is then empty).
Content pooled_output(const Pool2dParams& p) {
  Content y;
  y.kind = Content::Kind::derived;
  y.derive = [p](const std::vector<const void*>& earlier, void* result) {
    if (!p.activation.active()) return;
    std::vector<double> value(static_cast<size_t>(p.output_count()));
    std::vector<int32_t> index(static_cast<size_t>(p.output_count()));
    reference::max_pool2d_forward(p, static_cast<const float*>(earlier[0]), value.data(),
                                  index.data());
    float* out = static_cast<float*>(result);
    for (size_t i = 0; i < value.size(); ++i) out[i] = static_cast<float>(value[i]);
  };
  return y;
}

}  // namespace

OpCall max_pool2d_backward(const Pool2dParams& p) {
  // With a fused activation the backward also reads the forward's y.
  const bool fused = p.activation.active();
  return {Op::max_pool2d_backward,
          {in("x", p.input_count(), Content::ties()), in("dy", p.output_count()),
           in_i32("argmax", p.output_count(), pooled_argmax(p)),
           in("y", fused ? p.output_count() : 0, pooled_output(p)), out("dx", p.input_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.max_pool2d_backward(p, f32(b, 1), fused ? f32(b, 3) : nullptr, i32(b, 2),
                                   f32(b, 4));
          }};
}

OpCall conv2d_max_pool2d_forward(const Conv2dParams& c, const Pool2dParams& pool, bool bias,
                                 const Content& content) {
  return {Op::conv2d_max_pool2d_forward,
          {in("x", c.input_count(), content), in("w", c.weight_count(), content),
           in("bias", bias ? c.out_channels : 0, content), out("y", pool.output_count()),
           out_i32("argmax", pool.output_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.conv2d_max_pool2d_forward(c, pool, f32(b, 0), f32(b, 1), bias ? f32(b, 2) : nullptr,
                                         f32(b, 3), i32(b, 4));
          }};
}

OpCall conv2d_max_pool2d_backward_filter(const Conv2dParams& c, const Pool2dParams& pool,
                                         bool bias, const Content& content) {
  // The pool's argmax and y over buffer 0, the tie-heavy stand-in for the convolution's output.
  const bool fused = pool.activation.active();
  return {Op::conv2d_max_pool2d_backward_filter,
          {in("conv_out", c.output_count(), Content::ties()), in("x", c.input_count(), content),
           in("dy", pool.output_count(), content),
           in_i32("argmax", pool.output_count(), pooled_argmax(pool)),
           in("y", fused ? pool.output_count() : 0, pooled_output(pool)),
           out("dw", c.weight_count()),
           out("dbias", bias ? c.out_channels : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.conv2d_max_pool2d_backward_filter(c, pool, f32(b, 1), f32(b, 2),
                                                 fused ? f32(b, 4) : nullptr, i32(b, 3),
                                                 f32(b, 5), bias ? f32(b, 6) : nullptr);
          }};
}

OpCall avg_pool2d_forward(const Pool2dParams& p) {
  return {Op::avg_pool2d_forward,
          {in("x", p.input_count()), out("y", p.output_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.avg_pool2d_forward(p, f32(b, 0), f32(b, 1));
          }};
}

OpCall avg_pool2d_backward(const Pool2dParams& p) {
  return {Op::avg_pool2d_backward,
          {in("dy", p.output_count()), out("dx", p.input_count())},
          [=](Backend& be, const BufferPointers& b) {
            be.avg_pool2d_backward(p, f32(b, 0), f32(b, 1));
          }};
}

OpCall global_avg_pool_forward(int batch, int channels, int plane) {
  const int64_t y_count = int64_t{batch} * channels;
  return {Op::global_avg_pool_forward,
          {in("x", y_count * plane), out("y", y_count)},
          [=](Backend& be, const BufferPointers& b) {
            be.global_avg_pool_forward(batch, channels, plane, f32(b, 0), f32(b, 1));
          }};
}

OpCall global_avg_pool_backward(int batch, int channels, int plane) {
  const int64_t y_count = int64_t{batch} * channels;
  return {Op::global_avg_pool_backward,
          {in("dy", y_count), out("dx", y_count * plane)},
          [=](Backend& be, const BufferPointers& b) {
            be.global_avg_pool_backward(batch, channels, plane, f32(b, 0), f32(b, 1));
          }};
}

// ---- batch normalisation ------------------------------------------------------------------------
//
// Variances and inverse standard deviations are drawn from [0.5, 2); saved and running means
// given to a backward from [-0.1, 0.1), near the mean of x.

OpCall batch_norm_forward_train(const BatchNormParams& p) {
  const int64_t c = p.channels;
  return {Op::batch_norm_forward_train,
          {in("x", bn_x(p)), in("gamma", c), in("beta", c), out("y", bn_x(p)), out("save_mean", c),
           out("save_invstd", c), inout("running_mean", c),
           inout("running_var", c, Content::uniform(0.5f, 2.0f))},
          [=](Backend& be, const BufferPointers& b) {
            be.batch_norm_forward_train(p, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3), f32(b, 4),
                                        f32(b, 5), f32(b, 6), f32(b, 7));
          }};
}

OpCall batch_norm_forward_eval(const BatchNormParams& p) {
  const int64_t c = p.channels;
  return {Op::batch_norm_forward_eval,
          {in("x", bn_x(p)), in("gamma", c), in("beta", c), in("running_mean", c),
           in("running_var", c, Content::uniform(0.5f, 2.0f)), out("y", bn_x(p))},
          [=](Backend& be, const BufferPointers& b) {
            be.batch_norm_forward_eval(p, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3), f32(b, 4),
                                       f32(b, 5));
          }};
}

// The forward's output y is passed only with a fused activation (null otherwise); its values
// matter only by their sign, so any draw will do.
OpCall batch_norm_backward(const BatchNormParams& p, bool gradients) {
  const int64_t c = p.channels;
  const bool with_y = p.activation.active();
  return {Op::batch_norm_backward,
          {in("dy", bn_x(p)), in("x", bn_x(p)), in("y", with_y ? bn_x(p) : 0), in("gamma", c),
           in("save_mean", c, Content::uniform(-0.1f, 0.1f)),
           in("save_invstd", c, Content::uniform(0.5f, 2.0f)), out("dx", bn_x(p)),
           out("dgamma", gradients ? c : 0), out("dbeta", gradients ? c : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.batch_norm_backward(p, f32(b, 0), f32(b, 1), with_y ? f32(b, 2) : nullptr,
                                   f32(b, 3), f32(b, 4), f32(b, 5), f32(b, 6),
                                   gradients ? f32(b, 7) : nullptr,
                                   gradients ? f32(b, 8) : nullptr);
          }};
}

OpCall batch_norm_backward_eval(const BatchNormParams& p, bool gradients) {
  const int64_t c = p.channels;
  const bool with_y = p.activation.active();
  return {Op::batch_norm_backward_eval,
          {in("dy", bn_x(p)), in("x", bn_x(p)), in("y", with_y ? bn_x(p) : 0), in("gamma", c),
           in("running_mean", c, Content::uniform(-0.1f, 0.1f)),
           in("running_var", c, Content::uniform(0.5f, 2.0f)), out("dx", bn_x(p)),
           out("dgamma", gradients ? c : 0), out("dbeta", gradients ? c : 0)},
          [=](Backend& be, const BufferPointers& b) {
            be.batch_norm_backward_eval(p, f32(b, 0), f32(b, 1), with_y ? f32(b, 2) : nullptr,
                                        f32(b, 3), f32(b, 4), f32(b, 5), f32(b, 6),
                                        gradients ? f32(b, 7) : nullptr,
                                        gradients ? f32(b, 8) : nullptr);
          }};
}

// ---- dropout ------------------------------------------------------------------------------------

OpCall dropout_forward(const DropoutParams& p) {
  return {
      Op::dropout_forward,
      {in("x", p.count), out("y", p.count)},
      [=](Backend& be, const BufferPointers& b) { be.dropout_forward(p, f32(b, 0), f32(b, 1)); }};
}

OpCall dropout_backward(const DropoutParams& p) {
  return {
      Op::dropout_backward,
      {in("dy", p.count), out("dx", p.count)},
      [=](Backend& be, const BufferPointers& b) { be.dropout_backward(p, f32(b, 0), f32(b, 1)); }};
}

OpCall activation_dropout_forward(const DropoutParams& p, const FusedActivation& act) {
  return {Op::activation_dropout_forward,
          {in("x", p.count), out("y", p.count)},
          [=](Backend& be, const BufferPointers& b) {
            be.activation_dropout_forward(p, act, f32(b, 0), f32(b, 1));
          }};
}

OpCall activation_dropout_backward(const DropoutParams& p, const FusedActivation& act) {
  return {Op::activation_dropout_backward,
          {in("x", p.count), in("dy", p.count), out("dx", p.count)},
          [=](Backend& be, const BufferPointers& b) {
            be.activation_dropout_backward(p, act, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

// ---- elementwise --------------------------------------------------------------------------------

OpCall activation_forward(Activation f, float alpha, int64_t count) {
  return {Op::activation_forward,
          {in("x", count, Content::uniform(-4.0f, 4.0f)), out("y", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.activation_forward(f, alpha, count, f32(b, 0), f32(b, 1));
          }};
}

OpCall activation_backward(Activation f, float alpha, int64_t count) {
  return {Op::activation_backward,
          {in("x", count, Content::uniform(-4.0f, 4.0f)), in("y", count), in("dy", count),
           out("dx", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.activation_backward(f, alpha, count, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3));
          }};
}

OpCall binary_forward(BinaryOp op, const BroadcastParams& p, int64_t a_count, int64_t b_count) {
  int64_t out_count = 1;
  for (int d = 0; d < p.ndim; ++d) out_count *= p.out_shape[d];
  Content divisor = Content::uniform(0.5f, 2.0f);
  divisor.alternate_sign = op == BinaryOp::div;
  return {Op::binary_forward,
          {in("a", a_count), in("b", b_count, std::move(divisor)), out("out", out_count)},
          [=](Backend& be, const BufferPointers& b) {
            be.binary_forward(op, p, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall add_relu_forward(int64_t count) {
  return {Op::add_relu_forward,
          {in("a", count), in("b", count), out("y", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.add_relu_forward(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall reduce_broadcast(const BroadcastParams& p, bool onto_b, int64_t reduced_count) {
  int64_t grad_count = 1;
  for (int d = 0; d < p.ndim; ++d) grad_count *= p.out_shape[d];
  return {Op::reduce_broadcast,
          {in("grad", grad_count), out("reduced", reduced_count)},
          [=](Backend& be, const BufferPointers& b) {
            be.reduce_broadcast(p, onto_b ? p.b_strides : p.a_strides, f32(b, 0), reduced_count,
                                f32(b, 1));
          }};
}

OpCall affine(int64_t count, float alpha, float beta) {
  return {Op::affine, {in("x", count), out("y", count)}, [=](Backend& be, const BufferPointers& b) {
            be.affine(count, alpha, beta, f32(b, 0), f32(b, 1));
          }};
}

OpCall scale_by(int64_t count, float scale) {
  return {Op::scale_by,
          {in("scale", 1, Content::given({scale})), in("x", count), out("y", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.scale_by(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall axpy_accumulate(int64_t count, float alpha) {
  return {Op::axpy_accumulate,
          {in("x", count), inout("y", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.axpy_accumulate(count, alpha, f32(b, 0), f32(b, 1));
          }};
}

OpCall fill(int64_t count, float value) {
  return {Op::fill, {out("y", count)}, [=](Backend& be, const BufferPointers& b) {
            be.fill(count, value, f32(b, 0));
          }};
}

OpCall sum(int64_t count) {
  return {Op::sum, {in("x", count), out("out", 1)}, [=](Backend& be, const BufferPointers& b) {
            be.sum(count, f32(b, 0), f32(b, 1));
          }};
}

// Every pixel value occurs: element i is i * 37 mod 256.
OpCall u8_to_f32(int64_t count, float scale, float shift) {
  std::vector<uint8_t> pixels(static_cast<size_t>(count));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 256);
  return {
      Op::u8_to_f32,
      {{"x", ElementType::u8, Role::input, count, Content::given_bytes(pixels)}, out("y", count)},
      [=](Backend& be, const BufferPointers& b) {
        be.u8_to_f32(count, static_cast<const uint8_t*>(b[0]), scale, shift, f32(b, 1));
      }};
}

OpCall gather_u8_to_f32(int rows, int64_t row_elements, int source_rows, float scale,
                        float shift) {
  std::vector<uint8_t> pixels(static_cast<size_t>(source_rows * row_elements));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 251);
  return {Op::gather_u8_to_f32,
          {{"src", ElementType::u8, Role::input, source_rows * row_elements,
            Content::given_bytes(pixels)},
           in_i32("indices", rows, Content::class_index(source_rows)),
           out("y", rows * row_elements)},
          [=](Backend& be, const BufferPointers& b) {
            be.gather_u8_to_f32(rows, row_elements, static_cast<const uint8_t*>(b[0]), i32(b, 1),
                                scale, shift, f32(b, 2));
          }};
}

OpCall gather_augment_u8_to_f32(const ImageGatherParams& p, int source_rows) {
  const int64_t image = int64_t{p.channels} * p.height * p.width;
  std::vector<uint8_t> pixels(static_cast<size_t>(source_rows * image));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 251);
  std::vector<int32_t> moves;
  for (int r = 0; r < p.rows; ++r) {
    const int far = r % 6 == 5 ? p.width + 2 : 0;
    moves.insert(moves.end(),
                 {(r * 7 + 3) % source_rows, r % 2, (r / 2) % 2, r % 7 - 3 + far, (r * 5) % 9 - 4});
  }
  std::vector<uint8_t> move_bytes(moves.size() * sizeof(int32_t));
  std::memcpy(move_bytes.data(), moves.data(), move_bytes.size());
  return {Op::gather_augment_u8_to_f32,
          {{"src", ElementType::u8, Role::input, source_rows * image, Content::given_bytes(pixels)},
           in_i32("moves", int64_t{p.rows} * kImageMoveFields, Content::given_bytes(move_bytes)),
           out("y", p.rows * image)},
          [=](Backend& be, const BufferPointers& b) {
            be.gather_augment_u8_to_f32(p, static_cast<const uint8_t*>(b[0]), i32(b, 1), f32(b, 2));
          }};
}

// ---- softmax ------------------------------------------------------------------------------------
//
// Backwards get a y that a forward could have produced: probabilities in [0, 1) for softmax,
// log-probabilities in [-6, 0) for log-softmax.

OpCall softmax_forward(int rows, int cols) {
  const int64_t n = int64_t{rows} * cols;
  return {Op::softmax_forward,
          {in("x", n, Content::uniform(-5.0f, 5.0f)), out("y", n)},
          [=](Backend& be, const BufferPointers& b) {
            be.softmax_forward(rows, cols, f32(b, 0), f32(b, 1));
          }};
}

OpCall softmax_backward(int rows, int cols) {
  const int64_t n = int64_t{rows} * cols;
  return {Op::softmax_backward,
          {in("y", n, Content::uniform(0.0f, 1.0f)), in("dy", n), out("dx", n)},
          [=](Backend& be, const BufferPointers& b) {
            be.softmax_backward(rows, cols, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall log_softmax_forward(int rows, int cols) {
  const int64_t n = int64_t{rows} * cols;
  return {Op::log_softmax_forward,
          {in("x", n, Content::uniform(-5.0f, 5.0f)), out("y", n)},
          [=](Backend& be, const BufferPointers& b) {
            be.log_softmax_forward(rows, cols, f32(b, 0), f32(b, 1));
          }};
}

OpCall log_softmax_backward(int rows, int cols) {
  const int64_t n = int64_t{rows} * cols;
  return {Op::log_softmax_backward,
          {in("y", n, Content::uniform(-6.0f, 0.0f)), in("dy", n), out("dx", n)},
          [=](Backend& be, const BufferPointers& b) {
            be.log_softmax_backward(rows, cols, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

// ---- losses -------------------------------------------------------------------------------------
//
// Class weights from [0.5, 2) when weighted (a null pointer otherwise), probabilities from
// [0.01, 0.99), targets of the binary losses from [0, 1).

OpCall cross_entropy_forward(int n, int classes, bool weighted, float label_smoothing) {
  return {Op::cross_entropy_forward,
          {in("logits", int64_t{n} * classes, Content::uniform(-4.0f, 4.0f)),
           in_i32("targets", n, Content::class_index(classes)),
           in("weights", weighted ? classes : 0, Content::uniform(0.5f, 2.0f)), out("loss", 1)},
          [=](Backend& be, const BufferPointers& b) {
            be.cross_entropy_forward(n, classes, f32(b, 0), i32(b, 1),
                                     weighted ? f32(b, 2) : nullptr, label_smoothing, f32(b, 3));
          }};
}

OpCall cross_entropy_backward(int n, int classes, bool weighted, float label_smoothing,
                              float grad_loss) {
  const int64_t count = int64_t{n} * classes;
  return {Op::cross_entropy_backward,
          {in("logits", count, Content::uniform(-4.0f, 4.0f)),
           in_i32("targets", n, Content::class_index(classes)),
           in("weights", weighted ? classes : 0, Content::uniform(0.5f, 2.0f)),
           grad_loss_buffer(grad_loss), out("dlogits", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.cross_entropy_backward(n, classes, f32(b, 0), i32(b, 1),
                                      weighted ? f32(b, 2) : nullptr, label_smoothing, f32(b, 3),
                                      f32(b, 4));
          }};
}

OpCall cross_entropy_forward_backward(int n, int classes, bool weighted, float label_smoothing) {
  const int64_t count = int64_t{n} * classes;
  return {Op::cross_entropy_forward_backward,
          {in("logits", count, Content::uniform(-4.0f, 4.0f)),
           in_i32("targets", n, Content::class_index(classes)),
           in("weights", weighted ? classes : 0, Content::uniform(0.5f, 2.0f)), out("loss", 1),
           out("dlogits", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.cross_entropy_forward_backward(n, classes, f32(b, 0), i32(b, 1),
                                              weighted ? f32(b, 2) : nullptr, label_smoothing,
                                              f32(b, 3), f32(b, 4));
          }};
}

OpCall bce_with_logits_forward(int64_t count) {
  return {Op::bce_with_logits_forward,
          {in("logits", count, Content::uniform(-6.0f, 6.0f)),
           in("targets", count, Content::uniform(0.0f, 1.0f)), out("loss", 1)},
          [=](Backend& be, const BufferPointers& b) {
            be.bce_with_logits_forward(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall bce_with_logits_backward(int64_t count, float grad_loss) {
  return {Op::bce_with_logits_backward,
          {in("logits", count, Content::uniform(-6.0f, 6.0f)),
           in("targets", count, Content::uniform(0.0f, 1.0f)), grad_loss_buffer(grad_loss),
           out("dlogits", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.bce_with_logits_backward(count, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3));
          }};
}

OpCall bce_forward(int64_t count) {
  return {Op::bce_forward,
          {in("probs", count, Content::uniform(0.01f, 0.99f)),
           in("targets", count, Content::uniform(0.0f, 1.0f)), out("loss", 1)},
          [=](Backend& be, const BufferPointers& b) {
            be.bce_forward(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall bce_backward(int64_t count, float grad_loss) {
  return {Op::bce_backward,
          {in("probs", count, Content::uniform(0.01f, 0.99f)),
           in("targets", count, Content::uniform(0.0f, 1.0f)), grad_loss_buffer(grad_loss),
           out("dprobs", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.bce_backward(count, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3));
          }};
}

OpCall mse_forward(int64_t count) {
  return {Op::mse_forward,
          {in("x", count), in("target", count), out("loss", 1)},
          [=](Backend& be, const BufferPointers& b) {
            be.mse_forward(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall mse_backward(int64_t count, float grad_loss) {
  return {Op::mse_backward,
          {in("x", count), in("target", count), grad_loss_buffer(grad_loss), out("dx", count)},
          [=](Backend& be, const BufferPointers& b) {
            be.mse_backward(count, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3));
          }};
}

// ---- metrics ------------------------------------------------------------------------------------

OpCall count_argmax_hits(int rows, int cols, bool ties) {
  const int64_t n = int64_t{rows} * cols;
  return {Op::count_argmax_hits,
          {in("logits", n, ties ? Content::ties(true) : Content::uniform(-4.0f, 4.0f)),
           in_i32("labels", rows, Content::class_index(cols)),
           inout("hits", 1, Content::given({12.0f}))},
          [=](Backend& be, const BufferPointers& b) {
            be.count_argmax_hits(rows, cols, f32(b, 0), i32(b, 1), f32(b, 2));
          }};
}

OpCall count_threshold_hits(int64_t count) {
  return {Op::count_threshold_hits,
          {in("logits", count, Content::ties(true)), in("targets", count, Content::uniform(0.0f, 1.0f)),
           inout("hits", 1, Content::given({12.0f}))},
          [=](Backend& be, const BufferPointers& b) {
            be.count_threshold_hits(count, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

// ---- optimizer updates --------------------------------------------------------------------------

OpCall sgd_update(const SgdStep& s) {
  return {Op::sgd_update,
          {inout("param", s.count), in("grad", s.count), inout("momentum", s.count)},
          [=](Backend& be, const BufferPointers& b) {
            be.sgd_update(s, f32(b, 0), f32(b, 1), f32(b, 2));
          }};
}

OpCall sgd_update_multi(const SgdStep& s, const std::vector<int64_t>& counts) {
  const bool momentum = s.momentum != 0.0f;
  const size_t per_tensor = momentum ? 3 : 2;
  std::vector<CaseBuffer> buffers;
  for (size_t k = 0; k < counts.size(); ++k) {
    const std::string n = std::to_string(k);
    buffers.push_back(inout("param_" + n, counts[k]));
    buffers.push_back(in("grad_" + n, counts[k]));
    if (momentum) buffers.push_back(inout("momentum_" + n, counts[k]));
  }
  return {Op::sgd_update_multi, std::move(buffers),
          [=](Backend& be, const BufferPointers& b) {
            std::vector<float*> params, buffers_of_momentum;
            std::vector<const float*> grads;
            for (size_t k = 0; k < counts.size(); ++k) {
              params.push_back(f32(b, k * per_tensor));
              grads.push_back(f32(b, k * per_tensor + 1));
              if (momentum) buffers_of_momentum.push_back(f32(b, k * per_tensor + 2));
            }
            be.sgd_update_multi(s, static_cast<int>(counts.size()), counts.data(), params.data(),
                                grads.data(), momentum ? buffers_of_momentum.data() : nullptr);
          }};
}

OpCall adam_update_multi(const AdamStep& s, const std::vector<int64_t>& counts) {
  std::vector<CaseBuffer> buffers;
  for (size_t k = 0; k < counts.size(); ++k) {
    const std::string n = std::to_string(k);
    buffers.push_back(inout("param_" + n, counts[k]));
    buffers.push_back(in("grad_" + n, counts[k]));
    buffers.push_back(inout("exp_avg_" + n, counts[k], Content::uniform(-0.1f, 0.1f)));
    buffers.push_back(inout("exp_avg_sq_" + n, counts[k], Content::uniform(0.0f, 0.01f)));
  }
  return {Op::adam_update_multi, std::move(buffers),
          [=](Backend& be, const BufferPointers& b) {
            std::vector<float*> params, exp_avgs, exp_avg_sqs;
            std::vector<const float*> grads;
            for (size_t k = 0; k < counts.size(); ++k) {
              params.push_back(f32(b, 4 * k));
              grads.push_back(f32(b, 4 * k + 1));
              exp_avgs.push_back(f32(b, 4 * k + 2));
              exp_avg_sqs.push_back(f32(b, 4 * k + 3));
            }
            be.adam_update_multi(s, static_cast<int>(counts.size()), counts.data(), params.data(),
                                 grads.data(), exp_avgs.data(), exp_avg_sqs.data());
          }};
}

// First and second moments of a gradient of order 0.1.
OpCall adam_update(const AdamStep& s) {
  return {Op::adam_update,
          {inout("param", s.count), in("grad", s.count),
           inout("exp_avg", s.count, Content::uniform(-0.1f, 0.1f)),
           inout("exp_avg_sq", s.count, Content::uniform(0.0f, 0.01f))},
          [=](Backend& be, const BufferPointers& b) {
            be.adam_update(s, f32(b, 0), f32(b, 1), f32(b, 2), f32(b, 3));
          }};
}

}  // namespace weft::reference::cases
