// Max, average and global average pooling. Max pooling saves the argmax of each window (an
// int32 tensor) so backward routes each gradient to the one input that won; with a fused
// activation it also saves its (pooled) output, where backward reads the activation's slope.
// conv2d_max_pool2d: a convolution and the max pool of its output as one forward kernel where
// the backend has one, its backward the pool's and then the convolution's.
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;
namespace ops_detail {

Pool2dParams pool2d_params(const Shape& shape, const Pool2dOptions& o, const char* op) {
  WEFT_CHECK(shape.size() == 4, op, ": input must be [N, C, H, W], got ", shape_str(shape));
  WEFT_CHECK(o.kernel_h > 0 && o.kernel_w > 0 && o.stride_h > 0 && o.stride_w > 0, op,
             ": kernel and stride must be positive");
  WEFT_CHECK(o.pad_h >= 0 && o.pad_w >= 0 && 2 * o.pad_h <= o.kernel_h &&
                 2 * o.pad_w <= o.kernel_w,
             op, ": padding must be at most half the kernel size");
  Pool2dParams p;
  p.batch = to_int(shape[0], op);
  p.channels = to_int(shape[1], op);
  p.in_h = to_int(shape[2], op);
  p.in_w = to_int(shape[3], op);
  p.kernel_h = o.kernel_h;
  p.kernel_w = o.kernel_w;
  p.stride_h = o.stride_h;
  p.stride_w = o.stride_w;
  p.pad_h = o.pad_h;
  p.pad_w = o.pad_w;
  p.count_include_pad = o.count_include_pad;
  WEFT_CHECK(p.out_h() > 0 && p.out_w() > 0, op, ": a ", p.kernel_h, "x", p.kernel_w,
             " window does not fit input ", shape_str(shape));
  return p;
}

}  // namespace ops_detail

namespace {

Pool2dParams pool_params(const Tensor& x, const Pool2dOptions& o, const char* op) {
  check_float(x, op, "input");
  return pool2d_params(x.shape(), o, op);
}

}  // namespace

namespace {

// The max pool of x with p.activation (none, or fused when the caller has checked it may be).
Tensor max_pool2d_with(const Tensor& x, const Pool2dParams& p) {
  const Shape out_shape{p.batch, p.channels, p.out_h(), p.out_w()};
  Tensor y = Tensor::empty(out_shape, DType::f32, x.device());
  Tensor argmax = Tensor::empty(out_shape, DType::i32, x.device());
  dispatch(x.device()).max_pool2d_forward(p, x.data<float>(), y.data<float>(),
                                             argmax.data<int32_t>());
  const Shape in_shape = x.shape();
  const bool fused = p.activation.active();
  const Tensor y_saved = fused ? y.detach() : Tensor();
  record(y, fused ? "max_pool2d+activation" : "max_pool2d", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, DType::f32, g.device());
    dispatch(g.device()).max_pool2d_backward(p, g.data<float>(), optional_data(y_saved),
                                                argmax.data<int32_t>(), gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) {
  return max_pool2d_with(x, pool_params(x, o, "max_pool2d"));
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o, const FusedActivation& activation) {
  const char* op = "max_pool2d";
  Pool2dParams p = pool_params(x, o, op);
  if (!fuse(activation, op) || p.windows_overlap()) {
    return max_pool2d_with(activate(x, activation), p);
  }
  p.activation = activation;
  return max_pool2d_with(x, p);
}

Tensor conv2d_max_pool2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Conv2dOptions& conv_options, const Pool2dOptions& pool_options,
                         const FusedActivation& activation) {
  const char* op = "conv2d_max_pool2d";
  const Conv2dParams c = conv2d_params(x, weight, bias, conv_options, op);
  const Shape conv_shape{c.batch, c.out_channels, c.out_h(), c.out_w()};
  Pool2dParams p = pool2d_params(conv_shape, pool_options, op);
  p.activation = activation;
  // Fusion off (WEFT_FUSION), overlapping windows or no fused kernel here: the composition.
  const bool fusable = fused_activations() && !p.windows_overlap() &&
                       (!activation.active() || fuse(activation, op));
  if (!fusable || !dispatch(x.device()).fuses_conv_max_pool(c, p)) {
    return max_pool2d(conv2d(x, weight, bias, conv_options), pool_options, activation);
  }
  const Shape out_shape{p.batch, p.channels, p.out_h(), p.out_w()};
  Tensor y = Tensor::empty(out_shape, DType::f32, x.device());
  Tensor argmax = Tensor::empty(out_shape, DType::i32, x.device());
  dispatch(x.device()).conv2d_max_pool2d_forward(c, p, x.data<float>(), weight.data<float>(),
                                                    optional_data(bias), y.data<float>(),
                                                    argmax.data<int32_t>());
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  const Tensor y_saved = activation.active() ? y.detach() : Tensor();
  const ConvGradients wanted = wanted_gradients(x, weight, bias);
  record(y, "conv2d+max_pool2d", {x, weight, bias}, [=](const Tensor& g) {
    Backend& backend = dispatch(g.device());
    // A first layer (no dx wanted): dw and dbias straight from the pool's gradient where the
    // backend forms the convolution's gradient as its product reads it.
    if (!wanted.x && backend.fuses_conv_max_pool_filter(c, p)) {
      Tensor gw = Tensor::empty_like(w_saved), gb;
      if (wanted.bias) gb = Tensor::empty({c.out_channels}, DType::f32, g.device());
      backend.conv2d_max_pool2d_backward_filter(c, p, x_saved.data<float>(), g.data<float>(),
                                                optional_data(y_saved), argmax.data<int32_t>(),
                                                gw.data<float>(), optional_data(gb));
      return std::vector<Tensor>{Tensor(), gw, gb};
    }
    Tensor g_conv = Tensor::empty(conv_shape, DType::f32, g.device());
    backend.max_pool2d_backward(p, g.data<float>(), optional_data(y_saved),
                                argmax.data<int32_t>(), g_conv.data<float>());
    return conv2d_gradients(c, x_saved, w_saved, g_conv, wanted);
  });
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o) {
  const Pool2dParams p = pool_params(x, o, "avg_pool2d");
  Tensor y = Tensor::empty({p.batch, p.channels, p.out_h(), p.out_w()}, DType::f32, x.device());
  dispatch(x.device()).avg_pool2d_forward(p, x.data<float>(), y.data<float>());
  const Shape in_shape = x.shape();
  record(y, "avg_pool2d", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, DType::f32, g.device());
    dispatch(g.device()).avg_pool2d_backward(p, g.data<float>(), gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
  const char* op = "global_avg_pool2d";
  check_float(x, op, "input");
  WEFT_CHECK(x.ndim() == 4, op, ": input must be [N, C, H, W], got ", x.str());
  const int batch = to_int(x.dim(0), op), channels = to_int(x.dim(1), op);
  const int plane = to_int(x.dim(2) * x.dim(3), op);
  Tensor y = Tensor::empty({batch, channels}, DType::f32, x.device());
  dispatch(x.device()).global_avg_pool_forward(batch, channels, plane, x.data<float>(),
                                                  y.data<float>());
  const Shape in_shape = x.shape();
  record(y, op, {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, DType::f32, g.device());
    dispatch(g.device()).global_avg_pool_backward(batch, channels, plane, g.data<float>(),
                                                     gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace weft
