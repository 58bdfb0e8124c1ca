// linear (the fully connected layer, y = act(x W^T + b)) and matmul. A fused activation
// (engine/ops.h) goes to the forward kernel's epilogue; the backward multiplies the incoming
// gradient by its derivative, read from the saved output, before the unchanged backward kernel.
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear(x, weight, bias, FusedActivation{});
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const FusedActivation& activation) {
  const char* op = "linear";
  if (activation.active() && !fuse(activation, op)) {
    return activate(linear(x, weight, bias, FusedActivation{}), activation);
  }
  check_float(x, op, "input");
  check_float(weight, op, "weight");
  check_same_device({x, weight, bias}, op);
  WEFT_CHECK(x.ndim() == 2, op, ": input must be [N, in_features], got ", x.str(),
             " (flatten it first)");
  WEFT_CHECK(weight.ndim() == 2, op, ": weight must be [out, in], got ", weight.str());
  WEFT_CHECK(weight.dim(1) == x.dim(1), op, ": input has ", x.dim(1),
             " features but the weight expects ", weight.dim(1));
  if (bias.defined()) check_shape(bias, {weight.dim(0)}, op, "bias");
  const int n = to_int(x.dim(0), op), in = to_int(x.dim(1), op), out = to_int(weight.dim(0), op);
  Tensor y = Tensor::empty({n, out}, DType::f32, x.device());
  dispatch(x.device())
      .linear_forward(n, in, out, activation, x.data<float>(), weight.data<float>(),
                      optional_data(bias), y.data<float>());
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  const Tensor y_saved = activation.active() ? y.detach() : Tensor();
  const bool has_bias = bias.defined();
  const bool need_x = any_requires_grad({x});
  const bool need_w = any_requires_grad({weight, bias});
  // The activation's derivative is applied here, once, rather than inside linear_backward: its
  // two GEMMs and the bias sum all read the masked gradient, cuBLAS and oneDNN have no way to
  // mask an operand as they load it, so every backend would need the masked copy anyway. One
  // elementwise pass (the unfused relu's backward kernel) serves them all, as for conv2d.
  record(y, activation.active() ? "linear+activation" : op, {x, weight, bias},
         [=](const Tensor& g_out) {
           const Tensor g = activation_gradient(g_out, y_saved, activation);
           Tensor gx = need_x ? Tensor::empty_like(x_saved) : Tensor();
           Tensor gw, gb;
           if (need_w) {
             gw = Tensor::empty_like(w_saved);
             if (has_bias) gb = Tensor::empty({out}, DType::f32, g.device());
           }
           dispatch(g.device())
               .linear_backward(n, in, out, activation, x_saved.data<float>(),
                                w_saved.data<float>(), g.data<float>(), optional_data(gx),
                                optional_data(gw), optional_data(gb));
           return std::vector<Tensor>{gx, gw, gb};
         });
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  const char* op = "matmul";
  check_float(a, op, "left operand");
  check_float(b, op, "right operand");
  check_same_device({a, b}, op);
  WEFT_CHECK(a.ndim() == 2 && b.ndim() == 2 && a.dim(1) == b.dim(0), op, ": cannot multiply ",
             a.str(), " by ", b.str());
  GemmParams p;
  p.m = to_int(a.dim(0), op);
  p.k = to_int(a.dim(1), op);
  p.n = to_int(b.dim(1), op);
  Tensor c = Tensor::empty({p.m, p.n}, DType::f32, a.device());
  dispatch(a.device()).gemm(p, a.data<float>(), b.data<float>(), c.data<float>());
  const Tensor a_saved = a.detach(), b_saved = b.detach();
  record(c, op, {a, b}, [=](const Tensor& g) {
    Backend& backend = dispatch(g.device());
    // dA [m, k] = dC [m, n] * B^T ; dB [k, n] = A^T * dC
    Tensor ga = Tensor::empty_like(a_saved), gb = Tensor::empty_like(b_saved);
    GemmParams pa;
    pa.m = p.m;
    pa.n = p.k;
    pa.k = p.n;
    pa.trans_b = true;
    backend.gemm(pa, g.data<float>(), b_saved.data<float>(), ga.data<float>());
    GemmParams pb;
    pb.m = p.k;
    pb.n = p.n;
    pb.k = p.m;
    pb.trans_a = true;
    backend.gemm(pb, a_saved.data<float>(), g.data<float>(), gb.data<float>());
    return std::vector<Tensor>{ga, gb};
  });
  return c;
}

}  // namespace weft
