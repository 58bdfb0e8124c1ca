// Hand-written CUDA kernels for SGEMM and the linear layer (declared in gemm.h).
//
// gemm_kernel<Tile, TransA, TransB>: C[m, n] = alpha * op(A) op(B) + beta * C, row-major.
//   The indexed tiled product of tiled_product_large.h, with A read as IndexedMatrix<!TransA>
//   and op(B)^T as IndexedMatrix<TransB> (an operand is indexed (row, k); for B the rows are C's
//   columns). One block of 256 threads per Tile::kM x Tile::kN tile of C, grid
//   (ceil(n / kN), ceil(m / kM)); the block tile is chosen per shape by choose_tile there
//   (128 x 128, 64 x 128 or 64 x 64, the last on SmallRunTile's warp-tiled threads; split
//   products always 64 x 64 on SmallTile, which fits 4 blocks per SM), and which thread holds
//   which elements of C, and the slabs of A and B in shared memory, are described there. The
//   transposes are template parameters so that each of the four variants stages its tiles in
//   its own coalesced order and has no run-time branch in the loop.
//   Epilogue, per owned element inside C: act(alpha * acc (+ beta * C if beta != 0) (+ bias[col]
//   for the linear layer)) written once, act the linear layer's fused activation
//   (kernels/params.h FusedActivation; none for a plain gemm). Any m, n, k (k = 0 gives
//   beta * C; products of more than 65535 row tiles are launched in bands); tiles at the edges
//   are padded with zeros in shared memory, so no size needs to be a multiple of a tile or slab.
//
// Split-K. A product with few tiles of C and a long k (a linear layer's forward: 512 rows, 128
//   outputs, k = 3136 is 16 blocks for 132 SMs, each walking all of k) leaves most of the GPU
//   idle. Then k is cut into `slices` ranges of whole 16-deep slabs: block (bx, by, bz) computes
//   its tile over range bz alone and writes the raw sums to workspace[bz][m][n]; then
//   gemm_slices_epilogue_kernel adds the slices in order 0, 1, 2, ... for each element of C (one
//   thread per element, grid-stride) and applies alpha, beta * C, the bias and the activation.
//   The order is fixed, so the result is the same on every run; it differs from the unsplit chain
//   by the rounding of the split sums. plan_split_k (tiled_product.h) decides, as for
//   conv_filter.cu's backward-filter; gemm_workspace_floats() says how much memory the caller
//   provides.
//
// The linear layer is three GEMMs (forward with the bias and the activation fused in the epilogue,
// dx and dw) plus the column sums (bias.h), as in the CPU reference; a forward of at most 16
// outputs runs instead as dot products (linear_few_outputs.cu), at every precision. Its backward
// takes dy already multiplied by the activation's derivative (the engine does that from y).
//
// Precision: everything above is FP32 (FFMA). When the math precision (kernels/selection.h) is
// tf32 or bf16, every product of gemm, linear_forward and linear_backward goes instead to the
// tensor-core kernel of gemm_tensor_core.cu (mma.sync with FP32 accumulation), split along k by
// the same plan (gemm_tensor_core_slices, then the same epilogue kernel); the column sums stay
// FP32.
#include "kernels/cuda/gemm.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/bias.h"
#include "kernels/cuda/common.h"
#include "kernels/cuda/gemm_tensor_core.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/linear_few_outputs.h"
#include "kernels/cuda/tiled_product.h"
#include "kernels/cuda/tiled_product_large.h"
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

struct GemmShape {
  int m, n, k;
  int lda, ldb;  // row lengths of A and B as stored (before op())
  float alpha, beta;
  FusedActivation act;  // applied last in the epilogue
};

// partials == nullptr: the whole of k, and the epilogue writes C. Otherwise slice blockIdx.z
// covers k in [z * slice_depth, min(k, (z + 1) * slice_depth)) and its raw sums go to
// partials[z][m][n]. Tile: the block tile of tiled_product_large.h.
template <class Tile, bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kProductThreads, Tile::kMinBlocks)
    gemm_kernel(GemmShape s, const float* a, const float* b, const float* column_bias, float* c,
                int slice_depth, float* partials) {
  // op(A)(m, k): A stored [m, k] when not transposed (contiguous along k), [k, m] when it is.
  const IndexedMatrix<!kTransA> a_op{a, s.lda};
  // op(B)(k, n) read as the operand (n, k): B stored [n, k] when transposed (contiguous along
  // k), [k, n] when not.
  const IndexedMatrix<kTransB> b_op{b, s.ldb};
  float acc[Tile::kMicroM][Tile::kMicroN];
  if (partials != nullptr) {
    const SliceRange range = this_slice(s.k, slice_depth);
    indexed_tile_product<Tile>(a_op, s.m, b_op, s.n, range.begin, range.end, acc);
    float* slice = partials + int64_t{blockIdx.z} * s.m * s.n;
    store_tile<Tile>(acc, s.m, s.n, [&](int row, int col, float value) {
      slice[int64_t{row} * s.n + col] = value;
    });
    return;
  }
  indexed_tile_product<Tile>(a_op, s.m, b_op, s.n, 0, s.k, acc);
  store_tile<Tile>(acc, s.m, s.n, [&](int row, int col, float sum) {
    float* out = c + int64_t{row} * s.n + col;
    float value = s.alpha * sum;
    if (s.beta != 0.0f) value += s.beta * *out;
    if (column_bias != nullptr) value += column_bias[col];
    *out = s.act.apply(value);
  });
}

// C[i] = act(alpha * (sum over z of partials[z][i], z in increasing order) (+ beta * C[i])
// (+ column_bias[i % n])). One thread per element of C, grid-stride.
__global__ void gemm_slices_epilogue_kernel(GemmShape s, int slices, const float* partials,
                                            const float* column_bias, float* c) {
  const int64_t count = int64_t{s.m} * s.n;
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    float value = s.alpha * sum_of_slices(partials, slices, count, i);
    if (s.beta != 0.0f) value += s.beta * c[i];
    if (column_bias != nullptr) value += column_bias[i % s.n];
    c[i] = s.act.apply(value);
  }
}

// One launch per band of at most kMaxGridY * Tile::kM rows of C: the grid's y dimension (row tiles)
// is limited to 65535 blocks, so a taller product is cut into bands, each with A and C offset
// to its first row.
constexpr int kMaxGridY = 65535;

// How a product splits k (tiled_product.h, plan_split_k); never for products tall enough to need
// bands.
constexpr int kMinSliceDepth = 256;

SplitK plan_gemm_slices(int m, int n, int k) {
  if ((m + kTileM - 1) / kTileM > kMaxGridY) return SplitK{1, k};
  return plan_split_k(m, n, k, kMinSliceDepth);
}

// The unsplit product with block tile Tile, in bands of at most kMaxGridY row tiles.
template <class Tile, bool kTransA, bool kTransB>
void launch_gemm_bands(const GemmShape& s, const float* a, const float* b, const float* column_bias,
                       float* c, cudaStream_t stream) {
  constexpr int64_t kBandRows = int64_t{kMaxGridY} * Tile::kM;
  for (int64_t first = 0; first < s.m; first += kBandRows) {
    GemmShape band = s;
    band.m = static_cast<int>(s.m - first < kBandRows ? s.m - first : kBandRows);
    const float* a_band = kTransA ? a + first : a + first * s.lda;
    WEFT_LAUNCH((gemm_kernel<Tile, kTransA, kTransB>), tile_grid<Tile>(band.m, s.n),
                kProductThreads, 0, stream, band, a_band, b, column_bias, c + first * s.n, s.k,
                static_cast<float*>(nullptr));
  }
}

template <bool kTransA, bool kTransB>
void launch_gemm(const GemmShape& s, const float* a, const float* b, const float* column_bias,
                 float* c, float* workspace, cudaStream_t stream) {
  const SplitK plan = plan_gemm_slices(s.m, s.n, s.k);
  if (plan.slices > 1) {
    WEFT_CHECK(workspace != nullptr, "gemm (hand CUDA kernel): a workspace of ",
               int64_t{plan.slices} * s.m * s.n, " floats is required");
    WEFT_LAUNCH((gemm_kernel<SmallTile, kTransA, kTransB>), product_grid(s.m, s.n, plan.slices),
                kProductThreads, 0, stream, s, a, b, nullptr, nullptr, plan.slice_depth, workspace);
    WEFT_LAUNCH(gemm_slices_epilogue_kernel, grid_blocks(int64_t{s.m} * s.n), kBlockThreads, 0,
                stream, s, plan.slices, static_cast<const float*>(workspace), column_bias, c);
    return;
  }
  // The small choice on SmallRunTile, as the conv forward's dispatch (conv.cu).
  with_dispatch_tile(choose_tile(s.m, s.n), [&](auto tile) {
    launch_gemm_bands<decltype(tile), kTransA, kTransB>(s, a, b, column_bias, c, stream);
  });
}

// C = act(alpha * op(A) op(B) + beta * C (+ column_bias)).
void gemm_with_bias(const GemmParams& p, const float* a, const float* b, const float* column_bias,
                    const FusedActivation& act, float* c, float* workspace, cudaStream_t stream) {
  if (p.m <= 0 || p.n <= 0) return;
  const int k = p.k < 0 ? 0 : p.k;
  const GemmShape s{p.m, p.n, k, p.trans_a ? p.m : k, p.trans_b ? k : p.n, p.alpha, p.beta, act};
  const MathPrecision precision = math_precision();
  if (precision != MathPrecision::fp32) {
    const SplitK plan = plan_gemm_slices(s.m, s.n, s.k);
    if (plan.slices == 1) {
      gemm_tensor_core(p, precision, a, b, column_bias, c, stream, act);
      return;
    }
    WEFT_CHECK(workspace != nullptr, "gemm (hand CUDA tensor-core kernel): a workspace of ",
               int64_t{plan.slices} * s.m * s.n, " floats is required");
    gemm_tensor_core_slices(p, precision, a, b, plan.slices, plan.slice_depth, workspace, stream);
    WEFT_LAUNCH(gemm_slices_epilogue_kernel, grid_blocks(int64_t{s.m} * s.n), kBlockThreads, 0,
                stream, s, plan.slices, static_cast<const float*>(workspace), column_bias, c);
    return;
  }
  if (!p.trans_a && !p.trans_b) {
    launch_gemm<false, false>(s, a, b, column_bias, c, workspace, stream);
  } else if (!p.trans_a && p.trans_b) {
    launch_gemm<false, true>(s, a, b, column_bias, c, workspace, stream);
  } else if (p.trans_a && !p.trans_b) {
    launch_gemm<true, false>(s, a, b, column_bias, c, workspace, stream);
  } else {
    launch_gemm<true, true>(s, a, b, column_bias, c, workspace, stream);
  }
}

int64_t workspace_floats(int m, int n, int k) {
  const SplitK plan = plan_gemm_slices(m, n, k < 0 ? 0 : k);
  return plan.slices > 1 ? int64_t{plan.slices} * m * n : 0;
}

}  // namespace

int64_t gemm_workspace_floats(const GemmParams& p) { return workspace_floats(p.m, p.n, p.k); }

void gemm(const GemmParams& p, const float* a, const float* b, float* c, float* workspace,
          cudaStream_t stream) {
  gemm_with_bias(p, a, b, nullptr, FusedActivation{}, c, workspace, stream);
}

// The linear layer's three products: forward y[n, out] = x[n, in] W[out, in]^T, backward
// dx[n, in] = dy[n, out] W[out, in] and dW[out, in] = dy[n, out]^T x[n, in]. They run one after
// another, so one workspace of the largest need serves all three.
int64_t linear_workspace_floats(int n, int in_features, int out_features) {
  return std::max({workspace_floats(n, out_features, in_features),
                   workspace_floats(n, in_features, out_features),
                   workspace_floats(out_features, in_features, n)});
}

void linear_forward(int n, int in_features, int out_features, const float* x, const float* w,
                    const float* bias, const FusedActivation& act, float* y, float* workspace,
                    cudaStream_t stream) {
  if (linear_has_few_outputs(n, in_features, out_features)) {
    linear_forward_few_outputs(n, in_features, out_features, x, w, bias, act,
                               rounding_of(math_precision()), y, stream);
    return;
  }
  GemmParams p;  // y[n, out] = x[n, in] * W[out, in]^T
  p.m = n;
  p.n = out_features;
  p.k = in_features;
  p.trans_b = true;
  gemm_with_bias(p, x, w, bias, act, y, workspace, stream);
}

void linear_backward(int n, int in_features, int out_features, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* dbias, float* workspace,
                     cudaStream_t stream) {
  if (dx != nullptr) {
    GemmParams data_grad;  // dx[n, in] = dy[n, out] * W[out, in]
    data_grad.m = n;
    data_grad.n = in_features;
    data_grad.k = out_features;
    gemm(data_grad, dy, w, dx, workspace, stream);
  }
  if (dw != nullptr) {
    GemmParams weight_grad;  // dW[out, in] = dy[n, out]^T * x[n, in]
    weight_grad.m = out_features;
    weight_grad.n = in_features;
    weight_grad.k = n;
    weight_grad.trans_a = true;
    gemm(weight_grad, dy, x, dw, workspace, stream);
  }
  if (dbias != nullptr && out_features > 0) {
    column_sums(n < 0 ? 0 : n, out_features, dy, dbias, stream);
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
