// conv2d and conv_transpose2d: shape checks, params, and backward through the backend's
// backward-data and backward-filter kernels. conv2d with a fused activation (engine/ops.h) hands
// it to the forward kernel and, in backward, multiplies the incoming gradient by its derivative
// (read from the saved output) before the two backward kernels.
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& o) {
  return conv2d(x, weight, bias, o, FusedActivation{});
}

namespace ops_detail {

Conv2dParams conv2d_params(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Conv2dOptions& o, const char* op) {
  check_float(x, op, "input");
  check_float(weight, op, "weight");
  check_same_device({x, weight, bias}, op);
  WEFT_CHECK(x.ndim() == 4, op, ": input must be [N, C, H, W], got ", x.str());
  WEFT_CHECK(weight.ndim() == 4, op, ": weight must be [O, C, KH, KW], got ", weight.str());
  WEFT_CHECK(weight.dim(1) == x.dim(1), op, ": input has ", x.dim(1),
             " channels but the weight expects ", weight.dim(1));
  WEFT_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dilation_h > 0 && o.dilation_w > 0 &&
                 o.pad_h >= 0 && o.pad_w >= 0,
             op, ": stride and dilation must be positive and padding non-negative");
  Conv2dParams p;
  p.batch = to_int(x.dim(0), op);
  p.in_channels = to_int(x.dim(1), op);
  p.in_h = to_int(x.dim(2), op);
  p.in_w = to_int(x.dim(3), op);
  p.out_channels = to_int(weight.dim(0), op);
  p.kernel_h = to_int(weight.dim(2), op);
  p.kernel_w = to_int(weight.dim(3), op);
  p.stride_h = o.stride_h;
  p.stride_w = o.stride_w;
  p.pad_h = o.pad_h;
  p.pad_w = o.pad_w;
  p.dilation_h = o.dilation_h;
  p.dilation_w = o.dilation_w;
  if (bias.defined()) check_shape(bias, {weight.dim(0)}, op, "bias");
  WEFT_CHECK(p.out_h() > 0 && p.out_w() > 0, op, ": a ", p.kernel_h, "x", p.kernel_w,
             " kernel does not fit input ", x.str(), " with padding ", p.pad_h, "x", p.pad_w);
  return p;
}

std::vector<Tensor> conv2d_gradients(const Conv2dParams& p, const Tensor& x, const Tensor& w,
                                     const Tensor& g, const ConvGradients& wanted) {
  Backend& backend = dispatch(g.device());
  Tensor gx, gw, gb;
  if (wanted.x) {
    gx = Tensor::empty_like(x);
    backend.conv2d_backward_data(p, g.data<float>(), w.data<float>(), gx.data<float>());
  }
  if (wanted.weight) {
    gw = Tensor::empty_like(w);
    if (wanted.bias) gb = Tensor::empty({p.out_channels}, DType::f32, g.device());
    backend.conv2d_backward_filter(p, x.data<float>(), g.data<float>(), gw.data<float>(),
                                   optional_data(gb));
  }
  return {gx, gw, gb};
}

}  // namespace ops_detail

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o,
              const FusedActivation& activation) {
  const char* op = "conv2d";
  if (activation.active() && !fuse(activation, op)) {
    return activate(conv2d(x, weight, bias, o, FusedActivation{}), activation);
  }
  Conv2dParams p = conv2d_params(x, weight, bias, o, op);
  p.activation = activation;

  Tensor y = Tensor::empty({p.batch, p.out_channels, p.out_h(), p.out_w()}, DType::f32,
                           x.device());
  dispatch(x.device()).conv2d_forward(p, x.data<float>(), weight.data<float>(),
                                         optional_data(bias), y.data<float>());
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  const Tensor y_saved = activation.active() ? y.detach() : Tensor();
  const ConvGradients wanted = wanted_gradients(x, weight, bias);
  record(y, activation.active() ? "conv2d+activation" : op, {x, weight, bias},
         [=](const Tensor& g_out) {
           const Tensor g = activation_gradient(g_out, y_saved, activation);
           return conv2d_gradients(p, x_saved, w_saved, g, wanted);
         });
  return y;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& o) {
  const char* op = "conv_transpose2d";
  check_float(x, op, "input");
  check_float(weight, op, "weight");
  check_same_device({x, weight, bias}, op);
  WEFT_CHECK(x.ndim() == 4, op, ": input must be [N, C, H, W], got ", x.str());
  WEFT_CHECK(weight.ndim() == 4, op, ": weight must be [C, O, KH, KW], got ", weight.str());
  WEFT_CHECK(weight.dim(0) == x.dim(1), op, ": input has ", x.dim(1),
             " channels but the weight expects ", weight.dim(0));
  WEFT_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dilation_h > 0 && o.dilation_w > 0 &&
                 o.pad_h >= 0 && o.pad_w >= 0 && o.output_pad_h >= 0 && o.output_pad_w >= 0,
             op, ": stride and dilation must be positive and padding non-negative");
  // PyTorch also allows output padding below the dilation; weft's transposed convolution is the
  // adjoint of a strided convolution (kernels/params.h) and needs it below the stride.
  WEFT_CHECK(o.output_pad_h < o.stride_h && o.output_pad_w < o.stride_w, op,
             ": output padding must be smaller than the stride");
  ConvTranspose2dParams p;
  p.batch = to_int(x.dim(0), op);
  p.in_channels = to_int(x.dim(1), op);
  p.in_h = to_int(x.dim(2), op);
  p.in_w = to_int(x.dim(3), op);
  p.out_channels = to_int(weight.dim(1), op);
  p.kernel_h = to_int(weight.dim(2), op);
  p.kernel_w = to_int(weight.dim(3), op);
  p.stride_h = o.stride_h;
  p.stride_w = o.stride_w;
  p.pad_h = o.pad_h;
  p.pad_w = o.pad_w;
  p.output_pad_h = o.output_pad_h;
  p.output_pad_w = o.output_pad_w;
  p.dilation_h = o.dilation_h;
  p.dilation_w = o.dilation_w;
  if (bias.defined()) check_shape(bias, {weight.dim(1)}, op, "bias");
  WEFT_CHECK(p.out_h() > 0 && p.out_w() > 0, op, ": output size would be ", p.out_h(), "x",
             p.out_w());

  Tensor y = Tensor::empty({p.batch, p.out_channels, p.out_h(), p.out_w()}, DType::f32,
                           x.device());
  dispatch(x.device()).conv_transpose2d_forward(p, x.data<float>(), weight.data<float>(),
                                                   optional_data(bias), y.data<float>());
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  const bool has_bias = bias.defined();
  const bool need_x = any_requires_grad({x});
  const bool need_w = any_requires_grad({weight, bias});
  record(y, op, {x, weight, bias}, [=](const Tensor& g) {
    Backend& backend = dispatch(g.device());
    Tensor gx, gw, gb;
    if (need_x) {
      gx = Tensor::empty_like(x_saved);
      backend.conv_transpose2d_backward_data(p, g.data<float>(), w_saved.data<float>(),
                                             gx.data<float>());
    }
    if (need_w) {
      gw = Tensor::empty_like(w_saved);
      if (has_bias) gb = Tensor::empty({p.out_channels}, DType::f32, g.device());
      backend.conv_transpose2d_backward_filter(p, x_saved.data<float>(), g.data<float>(),
                                               gw.data<float>(), optional_data(gb));
    }
    return std::vector<Tensor>{gx, gw, gb};
  });
  return y;
}

}  // namespace weft
