// Hand-written CUDA kernels for elementwise work (declared in elementwise.h).
//
// Map kernels (activations forward and backward, same-shape binary arithmetic, add_relu, affine,
// scale_by, axpy, fill): UnaryMap / BinaryMap / FillMap below, run by for_each_vectorised
// (common.h).
//   When every array the map touches is 16-byte aligned, for_each_quad_kernel: thread t of a
//   grid of T threads handles elements 4q .. 4q + 3 for q = t, t + T, ... < count / 4 with one
//   float4 load per input and one float4 store (a warp moves 512 contiguous bytes per access),
//   then threads 0 .. count % 4 - 1 handle the tail one element each. Otherwise (an array not
//   16-byte aligned, e.g. a slice starting at an odd element) for_each_kernel: element i = t,
//   t + T, ... one float at a time. Either way the grid is a few waves of the card
//   (card_grid_blocks: 4 x SMs x 8 blocks of 256 at most), so each thread loops over several
//   items. Each element's value is computed by the same function on both paths, so the two
//   give identical results. No shared memory.
// Other maps (broadcast binary arithmetic, u8_to_f32; the row gathers gather_u8_to_f32 and
// gather_augment_u8_to_f32 are described at their kernels)
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
//   Same-shape operands coalesce to one contiguous dimension and take the plain BinaryMap
//   (vectorised as above) instead.
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
// Each forward function computes f(x); each backward one dx = dy * f'(.) from x or y, whichever
// is cheaper (the same choice as the CPU reference). The maps below apply them to arrays.

// Logistic function without overflow: exp only ever sees a non-positive argument.
__device__ __forceinline__ float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

struct Relu {
  __device__ float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
};
struct LeakyRelu {
  float alpha;
  __device__ float operator()(float x) const { return x > 0.0f ? x : alpha * x; }
};
struct Elu {
  float alpha;
  // expm1 keeps precision for small negative x, where exp(x) - 1 would cancel.
  __device__ float operator()(float x) const { return x > 0.0f ? x : alpha * expm1f(x); }
};
struct Sigmoid {
  __device__ float operator()(float x) const { return stable_sigmoid(x); }
};
struct Tanh {
  __device__ float operator()(float x) const { return tanhf(x); }
};

// The derivative at the kink x = 0 is taken as 0, as PyTorch does.
struct ReluGrad {
  __device__ float operator()(float x, float dy) const { return x > 0.0f ? dy : 0.0f; }
};
struct LeakyReluGrad {
  float alpha;
  __device__ float operator()(float x, float dy) const { return x > 0.0f ? dy : alpha * dy; }
};
struct EluGrad {
  float alpha;
  __device__ float operator()(float x, float dy) const {
    return x > 0.0f ? dy : dy * alpha * expf(x);
  }
};
struct SigmoidGrad {
  __device__ float operator()(float y, float dy) const { return dy * y * (1.0f - y); }
};
struct TanhGrad {
  __device__ float operator()(float y, float dy) const { return dy * (1.0f - y * y); }
};

// ---- BLAS-1 style helpers -------------------------------------------------------------------

struct AffineFn {
  float alpha, beta;
  __device__ float operator()(float x) const { return alpha * x + beta; }
};
struct ScaleFn {
  const float* scale;  // one float in device memory
  __device__ float operator()(float x) const { return scale[0] * x; }
};
struct AxpyFn {  // y + alpha * x, with the map's a = x and b = out = y
  float alpha;
  __device__ float operator()(float x, float y) const { return y + alpha * x; }
};
// A residual add and its ReLU in one map: the sum rounded to float first, then the same
// comparison as Relu, so the result equals add then relu bit for bit.
struct AddRelu {
  __device__ float operator()(float a, float b) const {
    const float sum = a + b;
    return sum > 0.0f ? sum : 0.0f;
  }
};

// ---- maps: element i, or elements 4q .. 4q + 3 as float4 (for_each_vectorised, common.h) -------

// y = f(x).
template <class F>
struct UnaryMap {
  F f;
  const float* x;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = f(x[i]); }
  __device__ void quad(int64_t q) const {
    const float4 v = load4(x, q);
    store4(y, q, make_float4(f(v.x), f(v.y), f(v.z), f(v.w)));
  }
  bool aligned() const { return aligned16(x) && aligned16(y); }
};

// out = f(a, b), all three the same length (out may be b: axpy).
template <class F>
struct BinaryMap {
  F f;
  const float* a;
  const float* b;
  float* out;
  __device__ void operator()(int64_t i) const { out[i] = f(a[i], b[i]); }
  __device__ void quad(int64_t q) const {
    const float4 u = load4(a, q), v = load4(b, q);
    store4(out, q, make_float4(f(u.x, v.x), f(u.y, v.y), f(u.z, v.z), f(u.w, v.w)));
  }
  bool aligned() const { return aligned16(a) && aligned16(b) && aligned16(out); }
};

struct FillMap {
  float value;
  float* y;
  __device__ void operator()(int64_t i) const { y[i] = value; }
  __device__ void quad(int64_t q) const { store4(y, q, make_float4(value, value, value, value)); }
  bool aligned() const { return aligned16(y); }
};

template <class Map>
void map(int64_t count, const Map& m, cudaStream_t stream) {
  for_each_vectorised(count, m, m.aligned(), stream);
}

template <class F>
void unary(int64_t count, F f, const float* x, float* y, cudaStream_t stream) {
  map(count, UnaryMap<F>{f, x, y}, stream);
}

template <class F>
void binary(int64_t count, F f, const float* a, const float* b, float* out, cudaStream_t stream) {
  map(count, BinaryMap<F>{f, a, b, out}, stream);
}

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
  if (layout.ndim == 1 && layout.stride0[0] == 1 && layout.stride1[0] == 1) {
    binary(layout.shape[0], op, a, b, out, stream);  // same shape, contiguous: a plain map
    return;
  }
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
    case Activation::relu: unary(count, Relu{}, x, y, stream); break;
    case Activation::leaky_relu: unary(count, LeakyRelu{alpha}, x, y, stream); break;
    case Activation::elu: unary(count, Elu{alpha}, x, y, stream); break;
    case Activation::sigmoid: unary(count, Sigmoid{}, x, y, stream); break;
    case Activation::tanh: unary(count, Tanh{}, x, y, stream); break;
  }
}

void activation_backward(Activation f, float alpha, int64_t count, const float* x,
                         const float* y, const float* dy, float* dx, cudaStream_t stream) {
  switch (f) {
    case Activation::relu: binary(count, ReluGrad{}, x, dy, dx, stream); break;
    case Activation::leaky_relu: binary(count, LeakyReluGrad{alpha}, x, dy, dx, stream); break;
    case Activation::elu: binary(count, EluGrad{alpha}, x, dy, dx, stream); break;
    case Activation::sigmoid: binary(count, SigmoidGrad{}, y, dy, dx, stream); break;
    case Activation::tanh: binary(count, TanhGrad{}, y, dy, dx, stream); break;
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

void add_relu_forward(int64_t count, const float* a, const float* b, float* y,
                      cudaStream_t stream) {
  binary(count, AddRelu{}, a, b, y, stream);
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
  unary(count, AffineFn{alpha, beta}, x, y, stream);
}

void scale_by(int64_t count, const float* scale, const float* x, float* y, cudaStream_t stream) {
  unary(count, ScaleFn{scale}, x, y, stream);
}

void axpy_accumulate(int64_t count, float alpha, const float* x, float* y, cudaStream_t stream) {
  binary(count, AxpyFn{alpha}, x, y, y, stream);
}

void fill(int64_t count, float value, float* y, cudaStream_t stream) {
  map(count, FillMap{value, y}, stream);
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

// Gathering an augmented batch (ImageGatherParams, kernels/params.h): the same grid as
// gather_rows_kernel, block (x, y) on a stretch of output image y (grid-stride over images).
// The block reads the image's five moves once; thread t computes output elements
// e = t, t + T, ... of the image: it splits e into (channel, row, column) (two integer
// divisions per element: this kernel moves a few hundred KB per step and is bound by memory,
// not arithmetic), maps row and column back to the source as the header of params.h says, and
// writes the pixel (or the fill) times scale plus shift. Consecutive threads write consecutive
// floats of a row; their reads are consecutive bytes, reversed under a flip. No shared memory.
__global__ void gather_augment_kernel(ImageGatherParams p, const uint8_t* src, const int32_t* moves,
                                      float* y) {
  const int64_t plane = static_cast<int64_t>(p.height) * p.width;
  const int64_t image = p.channels * plane;
  for (int r = static_cast<int>(blockIdx.y); r < p.rows; r += static_cast<int>(gridDim.y)) {
    const int32_t* move = moves + static_cast<int64_t>(r) * kImageMoveFields;
    const int32_t source_image = move[0], flip_x = move[1], flip_y = move[2];
    const int32_t sx = move[3], sy = move[4];
    const uint8_t* source = src + source_image * image;
    float* out = y + static_cast<int64_t>(r) * image;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < image;
         e += stride) {
      const int64_t c = e / plane;
      const int within = static_cast<int>(e - c * plane);
      const int row = within / p.width, col = within - row * p.width;
      const int in_row =
          edge_source_index(flip_y ? p.height - 1 - row + sy : row - sy, p.height, p.fill);
      const int in_col =
          edge_source_index(flip_x ? p.width - 1 - col + sx : col - sx, p.width, p.fill);
      const float v =
          in_row < 0 || in_col < 0
              ? p.fill_value
              : static_cast<float>(
                    source[c * plane + static_cast<int64_t>(in_row) * p.width + in_col]);
      out[e] = v * p.scale + p.shift;
    }
  }
}

void gather_augment_u8_to_f32(const ImageGatherParams& p, const uint8_t* src, const int32_t* moves,
                              float* y, cudaStream_t stream) {
  const int64_t image = static_cast<int64_t>(p.channels) * p.height * p.width;
  if (p.rows <= 0 || image <= 0) return;
  const int64_t per_image = (image + kBlockThreads - 1) / kBlockThreads;
  const dim3 grid(static_cast<unsigned>(per_image < 64 ? per_image : 64),
                  static_cast<unsigned>(p.rows < 65535 ? p.rows : 65535));
  WEFT_LAUNCH(gather_augment_kernel, grid, kBlockThreads, 0, stream, p, src, moves, y);
}

void u8_to_f32(int64_t count, const uint8_t* x, float scale, float shift, float* y,
               cudaStream_t stream) {
  for_each(count, BytesToFloats{x, scale, shift, y}, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
