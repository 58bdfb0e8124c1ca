// Elementwise arithmetic with NumPy broadcasting, scalar arithmetic, sum and mean.
//
// Broadcasting: shapes are aligned on the right; a dimension of size 1 (or a missing one)
// stretches to the other operand's size. The kernel walks the output with one stride per
// operand per dimension, 0 where that operand broadcasts. The backward of an input that was
// broadcast sums the output gradient over the stretched dimensions (reduce_broadcast).
#include <cstring>

#include "engine/ops.h"
#include "engine/ops/op_util.h"

namespace weft {
using namespace ops_detail;
namespace {

// Contiguous strides of `shape` placed right-aligned in `ndim` dimensions, 0 where the
// dimension is missing or of size 1 while the output's is larger.
void broadcast_strides(const Shape& shape, const Shape& out, int64_t* strides) {
  const int ndim = static_cast<int>(out.size());
  const int offset = ndim - static_cast<int>(shape.size());
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    const int source = d - offset;
    if (source < 0 || (shape[source] == 1 && out[d] != 1)) {
      strides[d] = 0;
    } else {
      strides[d] = stride;
      stride *= shape[source];
    }
  }
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    const int64_t da = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    const int64_t db = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    WEFT_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
               shape_str(b), " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

BroadcastParams make_params(const Shape& a, const Shape& b, const Shape& out) {
  BroadcastParams p;
  WEFT_CHECK(out.size() <= static_cast<size_t>(kMaxDims), "broadcasting supports at most ",
             kMaxDims, " dimensions, got ", shape_str(out));
  // A scalar result is walked as one dimension of size 1.
  const Shape walk = out.empty() ? Shape{1} : out;
  p.ndim = static_cast<int>(walk.size());
  for (int d = 0; d < p.ndim; ++d) p.out_shape[d] = walk[d];
  broadcast_strides(a.empty() ? Shape{1} : a, walk, p.a_strides);
  broadcast_strides(b.empty() ? Shape{1} : b, walk, p.b_strides);
  return p;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, DType::f32, a.device());
  const BroadcastParams p = make_params(a.shape(), b.shape(), out_shape);
  dispatch(a.device()).binary_forward(op, p, a.data<float>(), b.data<float>(),
                                         out.data<float>());
  return out;
}

// Sum `grad` (output-shaped) down to an input's `shape`.
Tensor reduce_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const BroadcastParams p = make_params(shape, shape, grad.shape());
  Tensor reduced = Tensor::empty(shape, DType::f32, grad.device());
  dispatch(grad.device())
      .reduce_broadcast(p, p.a_strides, grad.data<float>(), reduced.numel(),
                        reduced.data<float>());
  return reduced;
}

Tensor arithmetic(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_float(a, name, "left operand");
  check_float(b, name, "right operand");
  check_same_device({a, b}, name);
  const Shape out_shape = broadcast_shape(a.shape(), b.shape(), name);
  Tensor out = binary(op, a, b, out_shape);
  // Saved: what each formula reads (a sum or difference reads only the shapes).
  const Shape a_shape = a.shape(), b_shape = b.shape();
  const Tensor a_saved = op == BinaryOp::mul ? a.detach() : Tensor();
  const Tensor b_saved = op == BinaryOp::mul || op == BinaryOp::div ? b.detach() : Tensor();
  const Tensor out_saved = op == BinaryOp::div ? out.detach() : Tensor();
  record(out, name, {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::add:
        ga = reduce_to(g, a_shape);
        gb = reduce_to(g, b_shape);
        break;
      case BinaryOp::sub:
        ga = reduce_to(g, a_shape);
        gb = reduce_to(mul(g, -1.0f), b_shape);
        break;
      case BinaryOp::mul:
        ga = reduce_to(binary(BinaryOp::mul, g, b_saved, g.shape()), a_shape);
        gb = reduce_to(binary(BinaryOp::mul, g, a_saved, g.shape()), b_shape);
        break;
      case BinaryOp::div: {
        // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b = -out/b
        ga = reduce_to(binary(BinaryOp::div, g, b_saved, g.shape()), a_shape);
        Tensor t = binary(BinaryOp::mul, g, out_saved, g.shape());
        gb = reduce_to(mul(binary(BinaryOp::div, t, b_saved, g.shape()), -1.0f), b_shape);
        break;
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::div, "div", a, b); }

namespace {
// y = alpha * x + beta, differentiable in x.
Tensor affine_op(const Tensor& x, float alpha, float beta, const char* name) {
  check_float(x, name, "input");
  Tensor out = Tensor::empty_like(x);
  dispatch(x.device()).affine(x.numel(), alpha, beta, x.data<float>(), out.data<float>());
  record(out, name, {x}, [alpha](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    dispatch(g.device()).affine(g.numel(), alpha, 0.0f, g.data<float>(), gx.data<float>());
    return std::vector<Tensor>{gx};
  });
  return out;
}

// Gradient of a reduction to one value: every input element receives g * scale.
Tensor spread_scalar_grad(const Tensor& g, const Shape& shape, float scale) {
  Tensor ones = Tensor::full(shape, scale, g.device());
  Tensor out = Tensor::empty(shape, DType::f32, g.device());
  dispatch(g.device()).scale_by(out.numel(), g.data<float>(), ones.data<float>(),
                                   out.data<float>());
  return out;
}
}  // namespace

Tensor add(const Tensor& a, float b) { return affine_op(a, 1.0f, b, "add_scalar"); }
Tensor mul(const Tensor& a, float b) { return affine_op(a, b, 0.0f, "mul_scalar"); }

Tensor sum(const Tensor& x) {
  check_float(x, "sum", "input");
  Tensor out = Tensor::empty({}, DType::f32, x.device());
  dispatch(x.device()).sum(x.numel(), x.data<float>(), out.data<float>());
  const Shape shape = x.shape();
  record(out, "sum", {x}, [shape](const Tensor& g) {
    return std::vector<Tensor>{spread_scalar_grad(g, shape, 1.0f)};
  });
  return out;
}

Tensor mean(const Tensor& x) {
  check_float(x, "mean", "input");
  WEFT_CHECK(x.numel() > 0, "mean of an empty tensor ", x.str());
  const float scale = 1.0f / static_cast<float>(x.numel());
  Tensor total = Tensor::empty({}, DType::f32, x.device());
  Backend& backend = dispatch(x.device());
  backend.sum(x.numel(), x.data<float>(), total.data<float>());
  Tensor out = Tensor::empty({}, DType::f32, x.device());
  backend.affine(1, scale, 0.0f, total.data<float>(), out.data<float>());
  const Shape shape = x.shape();
  record(out, "mean", {x}, [shape, scale](const Tensor& g) {
    return std::vector<Tensor>{spread_scalar_grad(g, shape, scale)};
  });
  return out;
}

Tensor u8_to_f32(const Tensor& x, float scale, float shift) {
  WEFT_CHECK(x.dtype() == DType::u8, "u8_to_f32: input must be uint8, got ", x.str());
  Tensor out = Tensor::empty(x.shape(), DType::f32, x.device());
  dispatch(x.device()).u8_to_f32(x.numel(), x.data<uint8_t>(), scale, shift,
                                    out.data<float>());
  return out;
}

Tensor gather_u8_to_f32(const Tensor& data, const Tensor& indices, float scale, float shift) {
  const char* op = "gather_u8_to_f32";
  WEFT_CHECK(data.dtype() == DType::u8 && data.ndim() >= 1, op,
             ": data must be uint8 [N, ...], got ", data.str());
  WEFT_CHECK(indices.dtype() == DType::i32 && indices.ndim() == 1, op,
             ": indices must be int32 [B], got ", indices.str());
  WEFT_CHECK(data.device() == indices.device(), op, ": data on ", data.device().str(),
             " and indices on ", indices.device().str());
  const int64_t rows = data.dim(0);
  if (indices.device().is_cpu()) {
    for (const int32_t i : indices.to_vector<int32_t>()) {
      WEFT_CHECK(i >= 0 && i < rows, op, ": index ", i, " outside the ", rows, " rows");
    }
  }
  Shape shape = data.shape();
  shape[0] = indices.dim(0);
  Tensor out = Tensor::empty(shape, DType::f32, data.device());
  const int64_t row_elements = rows > 0 ? data.numel() / rows : 0;
  dispatch(data.device())
      .gather_u8_to_f32(static_cast<int>(indices.dim(0)), row_elements, data.data<uint8_t>(),
                        indices.data<int32_t>(), scale, shift, out.data<float>());
  return out;
}

Tensor gather_augment_u8_to_f32(const Tensor& data, const Tensor& moves, EdgeFill fill,
                                float fill_value, float scale, float shift) {
  const char* op = "gather_augment_u8_to_f32";
  WEFT_CHECK(data.dtype() == DType::u8 && data.ndim() == 4, op,
             ": data must be uint8 [N, C, H, W], got ", data.str());
  WEFT_CHECK(moves.dtype() == DType::i32 && moves.ndim() == 2 && moves.dim(1) == kImageMoveFields,
             op, ": moves must be int32 [B, ", kImageMoveFields, "], got ", moves.str());
  WEFT_CHECK(data.device() == moves.device(), op, ": data on ", data.device().str(),
             " and moves on ", moves.device().str());
  if (moves.device().is_cpu()) {
    const std::vector<int32_t> m = moves.to_vector<int32_t>();
    for (size_t r = 0; r < m.size(); r += kImageMoveFields) {
      WEFT_CHECK(m[r] >= 0 && m[r] < data.dim(0), op, ": row ", r / kImageMoveFields,
                 " reads image ", m[r], " outside the ", data.dim(0), " images");
      WEFT_CHECK((m[r + 1] == 0 || m[r + 1] == 1) && (m[r + 2] == 0 || m[r + 2] == 1), op, ": row ",
                 r / kImageMoveFields, " has flips ", m[r + 1], ", ", m[r + 2],
                 "; expected 0 or 1");
    }
  }
  ImageGatherParams p;
  p.rows = static_cast<int>(moves.dim(0));
  p.channels = static_cast<int>(data.dim(1));
  p.height = static_cast<int>(data.dim(2));
  p.width = static_cast<int>(data.dim(3));
  p.fill = fill;
  p.fill_value = fill_value;
  p.scale = scale;
  p.shift = shift;
  Tensor out = Tensor::empty({moves.dim(0), data.dim(1), data.dim(2), data.dim(3)}, DType::f32,
                             data.device());
  dispatch(data.device())
      .gather_augment_u8_to_f32(p, data.data<uint8_t>(), moves.data<int32_t>(), out.data<float>());
  return out;
}

}  // namespace weft
