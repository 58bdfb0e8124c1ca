// CPU reference for the elementwise kernels declared in elementwise.h: activations and their
// derivatives, NumPy-style broadcasting arithmetic, the reduction that sends a broadcast
// gradient back to its input's shape, and a few BLAS-1 style helpers.
//
// Broadcasting is done on a "coalesced" layout: size-1 dimensions are dropped and neighbouring
// dimensions that are laid out back to back in every operand are merged into one. A same-shape
// add then becomes one flat loop, and [N, C, H, W] + [1, C, 1, 1] becomes three dimensions
// (N, C, H*W) whose innermost one is a plain strided loop.
#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cpu/lane_sum.h"

namespace weft::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a parallel region costs more
// than the work saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// ---- activations ----------------------------------------------------------------------------

// Logistic function without overflow: exp is only ever taken of a non-positive number.
inline float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// ---- broadcasting layout --------------------------------------------------------------------

// A shape with up to two stride sets (one per input), after coalescing. The output (or, for the
// reduction, the gradient being reduced) is always contiguous, so its strides are implicit.
struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride0[kMaxDims] = {};
  int64_t stride1[kMaxDims] = {};
};

// Drops size-1 dimensions and merges dimension d into d + 1 when, in both stride sets, stepping
// once along d is the same as stepping shape[d + 1] times along d + 1 (true for contiguous runs
// and for runs of broadcast dimensions, whose strides are all 0).
Layout coalesce(const BroadcastParams& p, const int64_t* s0, const int64_t* s1) {
  Layout l;
  for (int d = 0; d < p.ndim; ++d) {
    if (p.out_shape[d] == 1) continue;
    if (l.ndim > 0) {
      const int last = l.ndim - 1;
      if (l.stride0[last] == s0[d] * p.out_shape[d] && l.stride1[last] == s1[d] * p.out_shape[d]) {
        l.shape[last] *= p.out_shape[d];
        l.stride0[last] = s0[d];
        l.stride1[last] = s1[d];
        continue;
      }
    }
    l.shape[l.ndim] = p.out_shape[d];
    l.stride0[l.ndim] = s0[d];
    l.stride1[l.ndim] = s1[d];
    ++l.ndim;
  }
  return l;
}

int64_t element_count(const BroadcastParams& p) {
  int64_t n = 1;
  for (int d = 0; d < p.ndim; ++d) n *= p.out_shape[d];
  return n;
}

// ---- binary arithmetic ----------------------------------------------------------------------

struct AddOp {
  float operator()(float a, float b) const { return a + b; }
};
struct SubOp {
  float operator()(float a, float b) const { return a - b; }
};
struct MulOp {
  float operator()(float a, float b) const { return a * b; }
};
struct DivOp {
  float operator()(float a, float b) const { return a / b; }
};

// One innermost row: n outputs from strided a and b. The three common stride patterns get their
// own loops so the compiler can vectorise them.
template <class Op>
void binary_row(Op op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb,
                float* out) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
  }
}

template <class Op>
void binary_broadcast(Op op, const BroadcastParams& p, const float* a, const float* b,
                      float* out) {
  const int64_t count = element_count(p);
  if (count == 0) return;
  const Layout l = coalesce(p, p.a_strides, p.b_strides);
  if (l.ndim == 0) {  // every dimension has size 1: a single element
    out[0] = op(a[0], b[0]);
    return;
  }
  // The innermost dimension is walked by binary_row; the outer ones are enumerated as rows,
  // each row's input offsets recovered from its index by mixed-radix decomposition.
  const int inner = l.ndim - 1;
  const int64_t row_length = l.shape[inner];
  const int64_t rows = count / row_length;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t a_offset = 0, b_offset = 0, rest = row;
    for (int d = inner - 1; d >= 0; --d) {
      const int64_t coord = rest % l.shape[d];
      rest /= l.shape[d];
      a_offset += coord * l.stride0[d];
      b_offset += coord * l.stride1[d];
    }
    binary_row(op, row_length, a + a_offset, l.stride0[inner], b + b_offset, l.stride1[inner],
               out + row * row_length);
  }
}

// ---- deterministic summation -----------------------------------------------------------------

// Blocks of fixed size are summed in parallel and the block sums added in order afterwards, so
// the result does not depend on the number of threads.
constexpr int64_t kSumBlock = 1 << 14;

}  // namespace

void activation_forward(Activation f, float alpha, int64_t count, const float* x, float* y) {
  switch (f) {
    case Activation::relu:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case Activation::leaky_relu:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
      break;
    case Activation::elu:
      // expm1 keeps precision for small negative x, where exp(x) - 1 would cancel.
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * std::expm1(x[i]);
      break;
    case Activation::sigmoid:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) y[i] = stable_sigmoid(x[i]);
      break;
    case Activation::tanh:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) y[i] = std::tanh(x[i]);
      break;
  }
}

void activation_backward(Activation f, float alpha, int64_t count, const float* x, const float* y,
                         const float* dy, float* dx) {
  switch (f) {
    // dy[i] is read before the comparison, not inside one branch of it: a load in only one
    // branch is one the compiler may not move, which kept this loop scalar and branchy (a
    // mispredicted branch per element on the random signs of an activation).
    case Activation::relu:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) {
        const float g = dy[i];
        dx[i] = x[i] > 0.0f ? g : 0.0f;
      }
      break;
    case Activation::leaky_relu:
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) {
        const float g = dy[i];
        dx[i] = x[i] > 0.0f ? g : alpha * g;
      }
      break;
    case Activation::elu:
      // d/dx alpha * (exp(x) - 1) = alpha * exp(x); at x = 0 the negative branch is taken, as
      // PyTorch does.
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i)
        dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha * std::exp(x[i]);
      break;
    case Activation::sigmoid:
      // sigmoid' = y (1 - y)
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
    case Activation::tanh:
      // tanh' = 1 - y^2
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
      for (int64_t i = 0; i < count; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
  }
}

void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                    float* out) {
  switch (op) {
    case BinaryOp::add: binary_broadcast(AddOp{}, p, a, b, out); break;
    case BinaryOp::sub: binary_broadcast(SubOp{}, p, a, b, out); break;
    case BinaryOp::mul: binary_broadcast(MulOp{}, p, a, b, out); break;
    case BinaryOp::div: binary_broadcast(DivOp{}, p, a, b, out); break;
  }
}

void add_relu_forward(int64_t count, const float* a, const float* b, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    const float sum = a[i] + b[i];
    y[i] = sum > 0.0f ? sum : 0.0f;
  }
}

void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                      int64_t reduced_count, float* reduced) {
  fill(reduced_count, 0.0f, reduced);
  const int64_t count = element_count(p);
  if (count == 0) return;

  // stride0 holds the gradient's own (contiguous) strides, stride1 those into `reduced`.
  int64_t grad_strides[kMaxDims] = {};
  int64_t step = 1;
  for (int d = p.ndim - 1; d >= 0; --d) {
    grad_strides[d] = step;
    step *= p.out_shape[d];
  }
  const Layout l = coalesce(p, grad_strides, strides);

  // Split the dimensions into kept ones (nonzero stride into `reduced`) and summed ones
  // (stride 0, i.e. broadcast in the forward). Each kept coordinate owns one element of
  // `reduced`, and its sum runs over all summed coordinates.
  int kept_dims[kMaxDims], summed_dims[kMaxDims];
  int n_kept = 0, n_summed = 0;
  int64_t kept_count = 1, summed_count = 1;
  for (int d = 0; d < l.ndim; ++d) {
    if (l.stride1[d] != 0) {
      kept_dims[n_kept++] = d;
      kept_count *= l.shape[d];
    } else {
      summed_dims[n_summed++] = d;
      summed_count *= l.shape[d];
    }
  }

  // Reducing everything to one element is a plain (parallel, deterministic) sum: the gradient is
  // contiguous and every element of it is visited once.
  if (n_kept == 0) {
    reduced[0] += static_cast<float>(sum(count, grad));
    return;
  }

  // Different kept coordinates write different elements when the kept strides, sorted, each
  // step over the whole extent of the smaller ones (as any real tensor layout does). Only then
  // may they be handled by different threads; otherwise the loop stays serial and `+=` merges
  // the collisions.
  std::vector<std::pair<int64_t, int64_t>> stride_extent;
  for (int k = 0; k < n_kept; ++k)
    stride_extent.emplace_back(l.stride1[kept_dims[k]], l.shape[kept_dims[k]]);
  std::sort(stride_extent.begin(), stride_extent.end());
  bool disjoint = true;
  int64_t span = 1;
  for (const auto& [stride, extent] : stride_extent) {
    if (stride < span) disjoint = false;
    span = stride * extent;
  }

  // The innermost summed dimension is a strided loop; the outer summed ones are enumerated.
  const int last_summed = n_summed > 0 ? summed_dims[n_summed - 1] : -1;
  const int64_t inner_length = last_summed >= 0 ? l.shape[last_summed] : 1;
  const int64_t inner_stride = last_summed >= 0 ? l.stride0[last_summed] : 0;
  const int64_t outer_count = summed_count / inner_length;

#pragma omp parallel for schedule(static) if (disjoint && count > kParallelThreshold)
  for (int64_t kept = 0; kept < kept_count; ++kept) {
    int64_t target = 0, grad_base = 0, rest = kept;
    for (int k = n_kept - 1; k >= 0; --k) {
      const int d = kept_dims[k];
      const int64_t coord = rest % l.shape[d];
      rest /= l.shape[d];
      target += coord * l.stride1[d];
      grad_base += coord * l.stride0[d];
    }
    double acc = 0.0;
    for (int64_t outer = 0; outer < outer_count; ++outer) {
      int64_t offset = grad_base, rest_outer = outer;
      for (int k = n_summed - 2; k >= 0; --k) {
        const int d = summed_dims[k];
        offset += (rest_outer % l.shape[d]) * l.stride0[d];
        rest_outer /= l.shape[d];
      }
      for (int64_t s = 0; s < inner_length; ++s) acc += grad[offset + s * inner_stride];
    }
    reduced[target] += static_cast<float>(acc);
  }
}

void affine(int64_t count, float alpha, float beta, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) y[i] = alpha * x[i] + beta;
}

void axpy_accumulate(int64_t count, float alpha, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) y[i] += alpha * x[i];
}

void fill(int64_t count, float value, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) y[i] = value;
}

void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src, const int32_t* moves,
                              float* y) {
  const int64_t plane = int64_t{p.height} * p.width;
  const int64_t image = p.channels * plane;
#pragma omp parallel for schedule(static) if (p.rows * image > kParallelThreshold)
  for (int r = 0; r < p.rows; ++r) {
    const int32_t* move = moves + int64_t{r} * kImageMoveFields;
    const uint8_t* source = src + move[0] * image;
    float* out = y + r * image;
    for (int row = 0; row < p.height; ++row) {
      const int sy = edge_source_index(move[2] ? p.height - 1 - row + move[4] : row - move[4],
                                       p.height, p.fill);
      for (int col = 0; col < p.width; ++col) {
        const int sx = edge_source_index(move[1] ? p.width - 1 - col + move[3] : col - move[3],
                                         p.width, p.fill);
        for (int c = 0; c < p.channels; ++c) {
          const float v = sx < 0 || sy < 0
                              ? p.fill_value
                              : static_cast<float>(source[c * plane + int64_t{sy} * p.width + sx]);
          out[c * plane + int64_t{row} * p.width + col] = v * p.scale + p.shift;
        }
      }
    }
  }
}

double sum(int64_t count, const float* x) {
  if (count <= 0) return 0.0;
  const int64_t blocks = (count + kSumBlock - 1) / kSumBlock;
  std::vector<double> block_sums(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(count, (blk + 1) * kSumBlock);
    block_sums[static_cast<size_t>(blk)] = sum_run(end - blk * kSumBlock, x + blk * kSumBlock);
  }
  double total = 0.0;
  for (double s : block_sums) total += s;
  return total;
}

}  // namespace weft::cpu
