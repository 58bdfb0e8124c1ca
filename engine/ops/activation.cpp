// Activations and softmax. The backward of each activation needs x or y = f(x), not both
// (activation_backward_reads_output, kernels/params.h): only that one is saved, as a detached
// handle (autograd.h), and the other is passed as null.
#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;
namespace {

Tensor activation(const Tensor& x, Activation f, float alpha, const char* name) {
  check_float(x, name, "input");
  Tensor y = Tensor::empty_like(x);
  dispatch(x.device()).activation_forward(f, alpha, x.numel(), x.data<float>(),
                                             y.data<float>());
  const bool reads_output = activation_backward_reads_output(f);
  const Tensor x_saved = reads_output ? Tensor() : x.detach();
  const Tensor y_saved = reads_output ? y.detach() : Tensor();
  record(y, name, {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device()).activation_backward(f, alpha, g.numel(), optional_data(x_saved),
                                                optional_data(y_saved), g.data<float>(),
                                                gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

void check_rows(const Tensor& x, const char* name) {
  check_float(x, name, "input");
  WEFT_CHECK(x.ndim() == 2, name, ": expected a 2-d [rows, classes] tensor, got ", x.str());
}

}  // namespace

Tensor relu(const Tensor& x) { return activation(x, Activation::relu, 0.0f, "relu"); }
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return activation(x, Activation::leaky_relu, negative_slope, "leaky_relu");
}
Tensor elu(const Tensor& x, float alpha) { return activation(x, Activation::elu, alpha, "elu"); }
Tensor sigmoid(const Tensor& x) { return activation(x, Activation::sigmoid, 0.0f, "sigmoid"); }
Tensor tanh(const Tensor& x) { return activation(x, Activation::tanh, 0.0f, "tanh"); }

Tensor softmax(const Tensor& x) {
  check_rows(x, "softmax");
  const int rows = to_int(x.dim(0), "softmax"), cols = to_int(x.dim(1), "softmax");
  Tensor y = Tensor::empty_like(x);
  dispatch(x.device()).softmax_forward(rows, cols, x.data<float>(), y.data<float>());
  const Tensor y_saved = y.detach();
  record(y, "softmax", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device()).softmax_backward(rows, cols, y_saved.data<float>(), g.data<float>(),
                                             gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

Tensor log_softmax(const Tensor& x) {
  check_rows(x, "log_softmax");
  const int rows = to_int(x.dim(0), "log_softmax"), cols = to_int(x.dim(1), "log_softmax");
  Tensor y = Tensor::empty_like(x);
  dispatch(x.device()).log_softmax_forward(rows, cols, x.data<float>(), y.data<float>());
  const Tensor y_saved = y.detach();
  record(y, "log_softmax", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device()).log_softmax_backward(rows, cols, y_saved.data<float>(),
                                                 g.data<float>(), gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace weft
