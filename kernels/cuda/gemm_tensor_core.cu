// The hand GEMM on tensor cores: C[m, n] = act(alpha * op(A) op(B) + beta * C (+ bias[col])),
// row-major float tensors, the operands rounded to TF32 or BF16 on their way into mma.sync and
// the products accumulated in FP32 (declared in gemm_tensor_core.h; gemm.cu calls it when the
// math precision of kernels/selection.h is tf32 or bf16). The instructions are those of
// warp_matrix.h; their fragment layouts are listed in emulation_matrix.cpp.
//
// Tiling and pipeline: tensor_core_pipeline.h's, shared with the convolutions. One block of 128
//   threads (4 warps) per 64 x 64 tile of C (GemmTile), grid (ceil(n / 64), ceil(m / 64))
//   (taller products in bands of 65535 row tiles); warp w owns the 32 x 32 quarter at rows
//   32 (w / 2), columns 32 (w % 2) as 2 x 4 mma tiles of 16 x 8. Shared memory (static, 40 KiB):
//   four stages of a 64 x 16 slab of op(A) (rows of C, k along the row) and a 64 x 16 slab of
//   op(B)^T (columns of C, k along the row), three slabs in flight while one is multiplied.
//
// Staging. Operands that are contiguous along k in global memory (A not transposed, B
//   transposed) and 16-byte aligned move in 16-byte copies (cp.async.cg), others element by
//   element (cp.async.ca, 4 bytes, threads walking the contiguous dimension). Outside the
//   matrix the copies read nothing and zero-fill (src-size 0, or fewer bytes at a k edge), so
//   edge tiles need no other masking: zeros add nothing to the sums.
//
// Epilogue, per owned element inside C: act(alpha * acc (+ beta * C if beta != 0) (+ bias[col])),
// act the linear layer's fused activation (kernels/params.h FusedActivation; none for a gemm).
// Any m, n, k.
//
// Split-K (gemm_tensor_core_slices). A product with few tiles of C and a long k (a linear
// layer's forward: 512 rows, 128 outputs, k = 12544 is 16 blocks for 132 SMs, each walking all
// of k: 0.25 ms at bf16 on the H200, where the FP32 kernel, which splits, took 0.05) is cut as
// gemm.cu cuts it (the same plan, slices of whole 16-deep slabs): block (x, y, z) runs the same
// pipeline over slice z's range of k alone and writes its raw sums to partials[z][m][n]; gemm.cu's
// epilogue kernel adds the slices in order and applies alpha, beta, the bias and the activation.
// A slice starts at a multiple of 16, so the 16-byte copies stay aligned; its end is zero-filled
// like the end of k.
#include "kernels/cuda/gemm_tensor_core.h"

#include <cstdint>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/tensor_core_pipeline.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL, this_slice

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

using GemmTile = TensorTile<64, 64, 16, 4, 4>;
constexpr int kTile = GemmTile::kRows;  // rows and columns of C per block
constexpr int kDepth = GemmTile::kDepth;
constexpr int kRowFloats = GemmTile::kRowFloats;
constexpr int kThreads = GemmTile::kThreads;
static_assert(GemmTile::kRows == GemmTile::kCols, "one tile size for both operands");

struct Shape {
  int m, n, k;
  int lda, ldb;  // row lengths of A and B as stored (before op())
  float alpha, beta;
  FusedActivation act;  // applied last in the epilogue
};

// Copies this thread's share of a 64 x 16 slab of an operand into `tile`: tile[r][q] =
// operand(row0 + r, k0 + q), zero outside rows x k. The operand is element (row, kk) at
// src[row * ld + kk] when kKContiguous, src[kk * ld + row] otherwise; `vector` says 16-byte
// copies are aligned (src and ld), for the k-contiguous case. Each thread makes a fixed number
// of copies at fixed places of the tile (compile-time trip counts, loops unrolled: no loop
// control or remainder code in the main loop).
template <bool kKContiguous>
__device__ __forceinline__ void stage_slab(const float* src, int ld, int rows, int k, int row0,
                                           int k0, bool vector, float (*tile)[kRowFloats]) {
  const int thread = static_cast<int>(threadIdx.x);
  if (kKContiguous && vector) {
    stage_pieces<GemmTile, kTile>(src + int64_t{row0} * ld, ld, rows - row0, k0, k, tile);
    return;
  }
  // Single floats, consecutive threads on consecutive addresses of the operand's contiguous
  // dimension: along k (thread t: k = t % 16, rows t / 16 + 8 i) or along the rows (row t % 64,
  // k = t / 64 + 2 i).
  constexpr int kPasses = kTile * kDepth / kThreads;
  static_assert(kThreads % kDepth == 0 && kThreads % kTile == 0, "fixed places per thread");
  WEFT_UNROLL
  for (int i = 0; i < kPasses; ++i) {
    const int r = kKContiguous ? thread / kDepth + i * (kThreads / kDepth) : thread % kTile;
    const int q = kKContiguous ? thread % kDepth : thread / kTile + i * (kThreads / kTile);
    const int row = row0 + r, kk = k0 + q;
    const bool inside = row < rows && kk < k;
    const float* from = !inside ? src
                        : kKContiguous ? src + int64_t{row} * ld + kk
                                       : src + int64_t{kk} * ld + row;
    cp_async_ca<4>(&tile[r][q], from, inside ? 4 : 0);
  }
}

// Minimum blocks per SM 1: with ptxas's default budget the variant with both operands
// transposed in BF16 spilled 4 bytes at 80 registers; with this bound it took 120 and spilled
// nothing (ptxas 13.0, sm_90). With the fused activation in the epilogue the variants take 100
// to 148 registers (the linear forward's, A plain and B transposed, 128 at TF32: 4 blocks per
// SM where it had 5) and none spills (docs/kernels.md, static table).
// partials == nullptr: the whole of k, and the epilogue writes C. Otherwise slice blockIdx.z
// covers k in [z * slice_depth, min(k, (z + 1) * slice_depth)) and its raw sums go to
// partials[z][m][n].
// kPieces (A plain and B transposed only: the linear layer's forward): both operands in 16-byte
// pieces and k a multiple of 4, so each thread's rows are worked out once and every piece is
// copied whole or not at all (PieceRows, tensor_core_pipeline.h); the kernel then holds no
// one-float path (a_vector and b_vector are true).
template <bool kTransA, bool kTransB, bool kBf16, bool kPieces = false>
__global__ void __launch_bounds__(kThreads, GemmTile::kMinBlocks)
    gemm_tensor_core_kernel(Shape s, const float* a, const float* b, const float* column_bias,
                            float* c, bool a_vector, bool b_vector, int slice_depth,
                            float* partials) {
  static_assert(!kPieces || (!kTransA && kTransB), "pieces: both operands k-contiguous");
  __shared__ TensorStages<GemmTile> stages;
  WEFT_SHARED_UNDEFINED(stages);
  int k_begin = 0, k_end = s.k;
  if (partials != nullptr) {
    const SliceRange range = this_slice(s.k, slice_depth);
    k_begin = range.begin;
    k_end = range.end;
  }
  const int m0 = static_cast<int>(blockIdx.y) * kTile, n0 = static_cast<int>(blockIdx.x) * kTile;

  TensorAccumulators<GemmTile> acc;
  zero<GemmTile>(acc);
  const int slabs = (k_end - k_begin + kDepth - 1) / kDepth;
  if constexpr (kPieces) {
    const PieceRows<GemmTile, kTile> a_rows(a + int64_t{m0} * s.lda, s.lda, s.m - m0);
    const PieceRows<GemmTile, kTile> b_rows(b + int64_t{n0} * s.ldb, s.ldb, s.n - n0);
    const auto stage = [&](int slab, int buffer) {
      const int k0 = k_begin + slab * kDepth;
      a_rows.template stage<true>(k0, k_end, stages.a[buffer]);
      b_rows.template stage<true>(k0, k_end, stages.b[buffer]);
    };
    main_loop<kBf16, GemmTile>(slabs, stages, stage, [](int) {}, acc);
  } else {
    // op(A)(row, k) is contiguous along k when A is not transposed; op(B)^T(col, k) when B is.
    const auto stage = [&](int slab, int buffer) {
      const int k0 = k_begin + slab * kDepth;
      stage_slab<!kTransA>(a + (kTransA ? m0 : int64_t{m0} * s.lda), s.lda, s.m - m0, k_end, 0,
                           k0, a_vector, stages.a[buffer]);
      stage_slab<kTransB>(b + (kTransB ? int64_t{n0} * s.ldb : n0), s.ldb, s.n - n0, k_end, 0,
                          k0, b_vector, stages.b[buffer]);
    };
    main_loop<kBf16, GemmTile>(slabs, stages, stage, [](int) {}, acc);
  }

  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_row = GemmTile::kWarpRows * (warp / 2);
  const int warp_col = GemmTile::kWarpCols * (warp % 2);
  const int g = lane / 4, t = lane % 4;
  float* slice = partials != nullptr ? partials + int64_t{blockIdx.z} * s.m * s.n : nullptr;
  WEFT_UNROLL
  for (int mi = 0; mi < GemmTile::kMi; ++mi) {
    WEFT_UNROLL
    for (int ni = 0; ni < GemmTile::kNi; ++ni) {
      WEFT_UNROLL
      for (int i = 0; i < 4; ++i) {
        const int row = m0 + warp_row + 16 * mi + g + (i >= 2 ? 8 : 0);
        const int col = n0 + warp_col + 8 * ni + 2 * t + (i & 1);
        if (row >= s.m || col >= s.n) continue;
        if (slice != nullptr) {
          slice[int64_t{row} * s.n + col] = acc[mi][ni][i];
          continue;
        }
        float* out = c + int64_t{row} * s.n + col;
        float value = s.alpha * acc[mi][ni][i];
        if (s.beta != 0.0f) value += s.beta * *out;
        if (column_bias != nullptr) value += column_bias[col];
        *out = s.act.apply(value);
      }
    }
  }
}

constexpr int kMaxGridY = 65535;

bool aligned16(const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <bool kTransA, bool kTransB, bool kBf16>
void launch(const Shape& s, const float* a, const float* b, const float* column_bias, float* c,
            cudaStream_t stream) {
  constexpr int64_t kBandRows = int64_t{kMaxGridY} * kTile;
  const unsigned column_tiles = static_cast<unsigned>((s.n + kTile - 1) / kTile);
  for (int64_t first = 0; first < s.m; first += kBandRows) {
    Shape band = s;
    band.m = static_cast<int>(s.m - first < kBandRows ? s.m - first : kBandRows);
    const float* a_band = kTransA ? a + first : a + first * s.lda;
    // 16-byte copies need every row start aligned: the base and the row length.
    const bool a_vector = !kTransA && aligned16(a_band) && s.lda % 4 == 0;
    const bool b_vector = kTransB && aligned16(b) && s.ldb % 4 == 0;
    const dim3 grid(column_tiles, static_cast<unsigned>((band.m + kTile - 1) / kTile));
    if constexpr (!kTransA && kTransB) {
      if (a_vector && b_vector && s.k % 4 == 0) {
        WEFT_LAUNCH((gemm_tensor_core_kernel<false, true, kBf16, true>), grid, kThreads, 0, stream,
                    band, a_band, b, column_bias, c + first * s.n, true, true, s.k,
                    static_cast<float*>(nullptr));
        continue;
      }
    }
    WEFT_LAUNCH((gemm_tensor_core_kernel<kTransA, kTransB, kBf16>), grid, kThreads, 0, stream,
                band, a_band, b, column_bias, c + first * s.n, a_vector, b_vector, s.k,
                static_cast<float*>(nullptr));
  }
}

// The split product: grid (column tiles, row tiles, slices), raw sums to partials (no bands:
// gemm.cu's plan never splits a product that needs them).
template <bool kTransA, bool kTransB, bool kBf16>
void launch_slices(const Shape& s, const float* a, const float* b, int slices, int slice_depth,
                   float* partials, cudaStream_t stream) {
  const bool a_vector = !kTransA && aligned16(a) && s.lda % 4 == 0;
  const bool b_vector = kTransB && aligned16(b) && s.ldb % 4 == 0;
  const dim3 grid(static_cast<unsigned>((s.n + kTile - 1) / kTile),
                  static_cast<unsigned>((s.m + kTile - 1) / kTile), static_cast<unsigned>(slices));
  if constexpr (!kTransA && kTransB) {
    if (a_vector && b_vector && s.k % 4 == 0) {
      WEFT_LAUNCH((gemm_tensor_core_kernel<false, true, kBf16, true>), grid, kThreads, 0, stream,
                  s, a, b, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), true,
                  true, slice_depth, partials);
      return;
    }
  }
  WEFT_LAUNCH((gemm_tensor_core_kernel<kTransA, kTransB, kBf16>), grid, kThreads, 0, stream, s, a,
              b, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), a_vector,
              b_vector, slice_depth, partials);
}

template <bool kBf16>
void launch_any(const GemmParams& p, const Shape& s, const float* a, const float* b,
                const float* column_bias, float* c, cudaStream_t stream) {
  if (!p.trans_a && !p.trans_b) {
    launch<false, false, kBf16>(s, a, b, column_bias, c, stream);
  } else if (!p.trans_a && p.trans_b) {
    launch<false, true, kBf16>(s, a, b, column_bias, c, stream);
  } else if (p.trans_a && !p.trans_b) {
    launch<true, false, kBf16>(s, a, b, column_bias, c, stream);
  } else {
    launch<true, true, kBf16>(s, a, b, column_bias, c, stream);
  }
}

template <bool kBf16>
void launch_slices_any(const GemmParams& p, const Shape& s, const float* a, const float* b,
                       int slices, int slice_depth, float* partials, cudaStream_t stream) {
  if (!p.trans_a && !p.trans_b) {
    launch_slices<false, false, kBf16>(s, a, b, slices, slice_depth, partials, stream);
  } else if (!p.trans_a && p.trans_b) {
    launch_slices<false, true, kBf16>(s, a, b, slices, slice_depth, partials, stream);
  } else if (p.trans_a && !p.trans_b) {
    launch_slices<true, false, kBf16>(s, a, b, slices, slice_depth, partials, stream);
  } else {
    launch_slices<true, true, kBf16>(s, a, b, slices, slice_depth, partials, stream);
  }
}

Shape shape_of(const GemmParams& p, const FusedActivation& act) {
  const int k = p.k < 0 ? 0 : p.k;
  return Shape{p.m, p.n, k, p.trans_a ? p.m : k, p.trans_b ? k : p.n, p.alpha, p.beta, act};
}

}  // namespace

void gemm_tensor_core(const GemmParams& p, MathPrecision precision, const float* a, const float* b,
                      const float* column_bias, float* c, cudaStream_t stream,
                      const FusedActivation& act) {
  if (p.m <= 0 || p.n <= 0) return;
  const Shape s = shape_of(p, act);
  if (precision == MathPrecision::bf16) {
    launch_any<true>(p, s, a, b, column_bias, c, stream);
  } else {
    launch_any<false>(p, s, a, b, column_bias, c, stream);
  }
}

void gemm_tensor_core_slices(const GemmParams& p, MathPrecision precision, const float* a,
                             const float* b, int slices, int slice_depth, float* partials,
                             cudaStream_t stream) {
  if (p.m <= 0 || p.n <= 0) return;
  const Shape s = shape_of(p, FusedActivation{});
  if (precision == MathPrecision::bf16) {
    launch_slices_any<true>(p, s, a, b, slices, slice_depth, partials, stream);
  } else {
    launch_slices_any<false>(p, s, a, b, slices, slice_depth, partials, stream);
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
