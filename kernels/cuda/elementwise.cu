// Hand-written CUDA kernels for elementwise work (declared in elementwise.h).
//
// Map kernels (activations, binary arithmetic, affine, scale_by, axpy, fill, u8_to_f32; the row
// gather gather_u8_to_f32 is described at its kernel)
//   for_each_kernel<Op> (common.h): one grid-stride loop; thread t of a grid of T threads calls
//   op(i) for i = t, t + T, t + 2T, ... < count, and op(i) reads its inputs at i and writes
//   output i. Consecutive threads touch consecutive elements, so a warp's loads and stores
//   coalesce into few memory transactions. No shared memory. Any count; the grid is capped.
//
// Broadcasting (binary_forward)
//   The host first coalesces the shapes as the CPU reference does (drops size-1 dimensions,
//   merges dimensions that are contiguous in both inputs), so [N, C, H, W] + [1, C, 1, 1] becomes
//   three dimensions and a same-shape add one. Thread for output i recovers its coordinates by
//   dividing i by the coalesced shape (innermost dimension fastest) and adds coordinate times
//   stride for each input; a broadcast dimension has stride 0. Up to kMaxDims (8) dimensions.
//
// Reduction of a broadcast gradient (reduce_broadcast)
//   Dimensions with a nonzero stride into `reduced` are kept, the others (stride 0: broadcast in
//   the forward) are summed. One block per element of `reduced` (grid-stride over blocks when
//   there are more elements than blocks): thread t of the block adds the gradient at summed
//   coordinates s = t, t + blockDim.x, ...; block_sum (shared memory: 32 per-warp sums) combines
//   them in a fixed order and thread 0 writes the element. No atomics, so it is deterministic.
//   Block size: the summed count rounded up to a multiple of 32, at most 256. When nothing is
//   kept (everything summed to one element) the two-pass sum of reduce.h is used instead.
#include "kernels/cuda/elementwise.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {


// ---- activations --------------------------------------------------------------------------------
// Each forward functor computes y[i] = f(x[i]); each backward one dx[i] = dy[i] * f'(.) from x or
// y, whichever is cheaper (the same choice as the CPU reference).

// Logistic function without overflow: exp only ever sees a non-positive argument.
__device__ __forceinline__ float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

struct ReluForward {
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }
};
struct LeakyReluForward {
  float alpha;
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = x[i] > 0.0f ? x[i] : alpha * x[i]; }
};
struct EluForward {
  float alpha;
  const float* x;
  float* y;
  // expm1 keeps precision for small negative x, where exp(x) - 1 would cancel.
  __device__ void operator()(int64_t i) const {
    y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
  }
};
struct SigmoidForward {
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = stable_sigmoid(x[i]); }
};
struct TanhForward {
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = tanhf(x[i]); }
};

struct ReluBackward {
  const float* x;
  const float* dy;
  float* dx;
  // The derivative at the kink x = 0 is taken as 0, as PyTorch does.
  __device__ void operator()(int64_t i) const { dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; }
};
struct LeakyReluBackward {
  float alpha;
  const float* x;
  const float* dy;
  float* dx;
  __device__ void operator()(int64_t i) const { dx[i] = x[i] > 0.0f ? dy[i] : alpha * dy[i]; }
};
struct EluBackward {
  float alpha;
  const float* x;
  const float* dy;
  float* dx;
  __device__ void operator()(int64_t i) const {
    dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(x[i]);
  }
};
struct SigmoidBackward {
  const float* y;
  const float* dy;
  float* dx;
  __device__ void operator()(int64_t i) const { dx[i] = dy[i] * y[i] * (1.0f - y[i]); }
};
struct TanhBackward {
  const float* y;
  const float* dy;
  float* dx;
  __device__ void operator()(int64_t i) const { dx[i] = dy[i] * (1.0f - y[i] * y[i]); }
};

// ---- BLAS-1 style helpers -------------------------------------------------------------------

struct Affine {
  float alpha, beta;
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = alpha * x[i] + beta; }
};
struct ScaleBy {
  const float* scale;
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = scale[0] * x[i]; }
};
struct Axpy {
  float alpha;
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] += alpha * x[i]; }
};
struct Fill {
  float value;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = value; }
};
struct BytesToFloats {
  const uint8_t* x;
  float scale, shift;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = static_cast<float>(x[i]) * scale + shift; }
};

// ---- broadcasting -------------------------------------------------------------------------------

// Shape and two stride sets after coalescing; the output (or the gradient being reduced) is
// contiguous, so its strides are implicit.
struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride0[kMaxDims] = {};
  int64_t stride1[kMaxDims] = {};
};

// The CPU reference's coalescing (kernels/cpu/elementwise.cpp): drop size-1 dimensions and merge
// dimension d into d + 1 when both stride sets step over d as a run of d + 1.
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

struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Sub {
  __device__ float operator()(float a, float b) const { return a - b; }
};
struct Mul {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct Div {
  __device__ float operator()(float a, float b) const { return a / b; }
};

template <class Op>
struct BroadcastBinary {
  Layout layout;  // stride0 indexes a, stride1 indexes b
  const float* a;
  const float* b;
  float* out;
  Op op;
  __device__ void operator()(int64_t i) const {
    int64_t ia = 0, ib = 0, rest = i;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t coord = rest % layout.shape[d];
      rest /= layout.shape[d];
      ia += coord * layout.stride0[d];
      ib += coord * layout.stride1[d];
    }
    out[i] = op(a[ia], b[ib]);
  }
};

template <class Op>
void broadcast_binary(Op op, const BroadcastParams& p, const float* a, const float* b, float* out,
                      cudaStream_t stream) {
  const Layout layout = coalesce(p, p.a_strides, p.b_strides);
  for_each(element_count(p), BroadcastBinary<Op>{layout, a, b, out, op}, stream);
}

// The kept and summed dimensions of a reduction, coordinates decomposed innermost-last.
struct ReduceLayout {
  int kept_ndim = 0, summed_ndim = 0;
  int64_t kept_shape[kMaxDims] = {};
  int64_t kept_grad_stride[kMaxDims] = {};
  int64_t kept_target_stride[kMaxDims] = {};
  int64_t summed_shape[kMaxDims] = {};
  int64_t summed_grad_stride[kMaxDims] = {};
  int64_t kept_count = 1, summed_count = 1;
};

__global__ void reduce_broadcast_kernel(ReduceLayout l, const float* grad, float* reduced) {
  for (int64_t kept = blockIdx.x; kept < l.kept_count; kept += gridDim.x) {
    int64_t target = 0, base = 0, rest = kept;
    for (int d = l.kept_ndim - 1; d >= 0; --d) {
      const int64_t coord = rest % l.kept_shape[d];
      rest /= l.kept_shape[d];
      target += coord * l.kept_target_stride[d];
      base += coord * l.kept_grad_stride[d];
    }
    float sum = 0.0f;
    for (int64_t s = threadIdx.x; s < l.summed_count; s += blockDim.x) {
      int64_t offset = base, rest_summed = s;
      for (int d = l.summed_ndim - 1; d >= 0; --d) {
        offset += (rest_summed % l.summed_shape[d]) * l.summed_grad_stride[d];
        rest_summed /= l.summed_shape[d];
      }
      sum += grad[offset];
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) reduced[target] = sum;
  }
}

// Whether different kept coordinates always land on different elements: true when the kept
// strides, sorted, each step over the whole extent of the smaller ones.
bool kept_targets_disjoint(const ReduceLayout& l) {
  std::vector<std::pair<int64_t, int64_t>> stride_extent;
  for (int k = 0; k < l.kept_ndim; ++k) {
    stride_extent.emplace_back(l.kept_target_stride[k], l.kept_shape[k]);
  }
  std::sort(stride_extent.begin(), stride_extent.end());
  int64_t span = 1;
  for (const auto& [stride, extent] : stride_extent) {
    if (stride < span) return false;
    span = stride * extent;
  }
  return true;
}

}  // namespace

void activation_forward(Activation f, float alpha, int64_t count, const float* x, float* y,
                        cudaStream_t stream) {
  switch (f) {
    case Activation::relu: for_each(count, ReluForward{x, y}, stream); break;
    case Activation::leaky_relu: for_each(count, LeakyReluForward{alpha, x, y}, stream); break;
    case Activation::elu: for_each(count, EluForward{alpha, x, y}, stream); break;
    case Activation::sigmoid: for_each(count, SigmoidForward{x, y}, stream); break;
    case Activation::tanh: for_each(count, TanhForward{x, y}, stream); break;
  }
}

void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                         const float* y, const float* dy, float* dx, cudaStream_t stream) {
  switch (f) {
    case Activation::relu: for_each(count, ReluBackward{x, dy, dx}, stream); break;
    case Activation::leaky_relu:
      for_each(count, LeakyReluBackward{alpha, x, dy, dx}, stream);
      break;
    case Activation::elu: for_each(count, EluBackward{alpha, x, dy, dx}, stream); break;
    case Activation::sigmoid: for_each(count, SigmoidBackward{y, dy, dx}, stream); break;
    case Activation::tanh: for_each(count, TanhBackward{y, dy, dx}, stream); break;
  }
}

void binary_forward(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                    float* out, cudaStream_t stream) {
  switch (op) {
    case BinaryOp::add: broadcast_binary(Add{}, p, a, b, out, stream); break;
    case BinaryOp::sub: broadcast_binary(Sub{}, p, a, b, out, stream); break;
    case BinaryOp::mul: broadcast_binary(Mul{}, p, a, b, out, stream); break;
    case BinaryOp::div: broadcast_binary(Div{}, p, a, b, out, stream); break;
  }
}

void reduce_broadcast(const BroadcastParams& p, const int64_t* strides, const float* grad,
                      int64_t reduced_count, float* reduced, float* scratch,
                      cudaStream_t stream) {
  const int64_t count = element_count(p);
  if (count == 0) {
    fill(reduced_count, 0.0f, reduced, stream);
    return;
  }
  // stride0: the gradient's own contiguous strides; stride1: strides into `reduced`.
  int64_t grad_strides[kMaxDims] = {};
  int64_t step = 1;
  for (int d = p.ndim - 1; d >= 0; --d) {
    grad_strides[d] = step;
    step *= p.out_shape[d];
  }
  const Layout layout = coalesce(p, grad_strides, strides);

  ReduceLayout l;
  for (int d = 0; d < layout.ndim; ++d) {
    if (layout.stride1[d] != 0) {
      l.kept_shape[l.kept_ndim] = layout.shape[d];
      l.kept_grad_stride[l.kept_ndim] = layout.stride0[d];
      l.kept_target_stride[l.kept_ndim] = layout.stride1[d];
      l.kept_count *= layout.shape[d];
      ++l.kept_ndim;
    } else {
      l.summed_shape[l.summed_ndim] = layout.shape[d];
      l.summed_grad_stride[l.summed_ndim] = layout.stride0[d];
      l.summed_count *= layout.shape[d];
      ++l.summed_ndim;
    }
  }
  WEFT_CHECK(kept_targets_disjoint(l),
             "reduce_broadcast (hand CUDA kernel): the strides map different elements of the "
             "gradient's kept dimensions onto the same element of the result");

  // Elements of `reduced` that no kept coordinate reaches (possible only with unusual strides)
  // must still read 0, as in the reference.
  if (l.kept_count != reduced_count) fill(reduced_count, 0.0f, reduced, stream);
  if (l.kept_ndim == 0) {
    sum(count, grad, reduced, scratch, stream);
    return;
  }
  const int64_t rounded = (l.summed_count + kWarpSize - 1) / kWarpSize * kWarpSize;
  const unsigned threads = static_cast<unsigned>(std::min<int64_t>(rounded, kBlockThreads));
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(l.kept_count, kMaxGridBlocks));
  WEFT_LAUNCH(reduce_broadcast_kernel, blocks, threads, 0, stream, l, grad, reduced);
}

void affine(int64_t count, float alpha, float beta, const float* x, float* y,
            cudaStream_t stream) {
  for_each(count, Affine{alpha, beta, x, y}, stream);
}

void scale_by(int64_t count, const float* scale, const float* x, float* y, cudaStream_t stream) {
  for_each(count, ScaleBy{scale, x, y}, stream);
}

void axpy_accumulate(int64_t count, float alpha, const float* x, float* y, cudaStream_t stream) {
  for_each(count, Axpy{alpha, x, y}, stream);
}

void fill(int64_t count, float value, float* y, cudaStream_t stream) {
  for_each(count, Fill{value, y}, stream);
}

// Gathering a batch from a resident data set: block (x, y) converts a stretch of output row y
// (grid-stride over rows when there are more than gridDim.y) whose source row indices[y] it
// reads once from global memory into a register; thread t of the block converts elements
// t, t + T, ... of the row (T threads in the x dimension of the grid), so a warp reads
// consecutive bytes of one image and writes consecutive floats. No shared memory.
__global__ void gather_rows_kernel(int rows, int64_t row_elements, const uint8_t* src,
                                   const int32_t* indices, float scale, float shift, float* y) {
  for (int r = static_cast<int>(blockIdx.y); r < rows; r += static_cast<int>(gridDim.y)) {
    const uint8_t* row = src + static_cast<int64_t>(indices[r]) * row_elements;
    float* out = y + static_cast<int64_t>(r) * row_elements;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < row_elements;
         e += stride) {
      out[e] = static_cast<float>(row[e]) * scale + shift;
    }
  }
}

void gather_u8_to_f32(int rows, int64_t row_elements, const uint8_t* src, const int32_t* indices,
                      float scale, float shift, float* y, cudaStream_t stream) {
  if (rows <= 0 || row_elements <= 0) return;
  const int64_t per_row = (row_elements + kBlockThreads - 1) / kBlockThreads;
  const dim3 grid(static_cast<unsigned>(per_row < 64 ? per_row : 64),
                  static_cast<unsigned>(rows < 65535 ? rows : 65535));
  WEFT_LAUNCH(gather_rows_kernel, grid, kBlockThreads, 0, stream, rows, row_elements, src,
              indices, scale, shift, y);
}

void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y,
               cudaStream_t stream) {
  for_each(count, BytesToFloats{x, scale, shift, y}, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
