// The hand GEMM on tensor cores: C[m, n] = act(alpha * op(A) op(B) + beta * C (+ bias[col])),
// row-major float tensors, the operands rounded to TF32 or BF16 on their way into mma.sync and
// the products accumulated in FP32 (declared in gemm_tensor_core.h; gemm.cu calls it when the
// math precision of kernels/selection.h is tf32 or bf16). The instructions are those of
// warp_matrix.h; their fragment layouts are listed in emulation_matrix.cpp.
//
// Tiling. One block of 128 threads (4 warps) per 64 x 64 tile of C, grid (ceil(n / 64),
//   ceil(m / 64)) (taller products in bands of 65535 row tiles). Warp w owns the 32 x 32
//   quarter at rows 32 (w / 2), columns 32 (w % 2) of the tile: 2 x 4 mma tiles of 16 x 8,
//   whose accumulators (4 floats each, 32 per thread) stay in registers for the whole of k.
//   Lane l of a warp holds, of each 16 x 8 accumulator, rows g and g + 8, columns 2t and 2t + 1
//   (g = l / 4, t = l % 4: the PTX ISA's C/D layout), and writes exactly those to C at the end.
//
// Shared memory (static, 36 KiB): two stages, each a 64 x 32 slab of op(A) (rows of C, k along
//   the row) and a 64 x 32 slab of op(B)^T (columns of C, k along the row), FP32 as in global
//   memory. A row is padded to 36 floats (144 bytes): rows stay 16-byte aligned for ldmatrix
//   and cp.async, and the 8 rows one ldmatrix reads fall in 8 different groups of 4 banks.
//   Both operands are stored k-contiguous, so no ldmatrix needs .trans.
//
// Pipeline (double buffering). Every thread issues cp.async copies for its share of slab s + 1
//   into the other stage, commits them as one group and waits for slab s's group
//   (cp.async.wait_group 1) before a barrier; the copies of the next slab overlap the mma work on
//   this one. Operands that are contiguous along k in global memory (A not transposed, B
//   transposed) and 16-byte aligned move in 16-byte copies (cp.async.cg), others element by
//   element (cp.async.ca, 4 bytes, threads walking the contiguous dimension). Outside the
//   matrix the copies read nothing and zero-fill (src-size 0, or fewer bytes at a k edge), so
//   edge tiles need no other masking: zeros add nothing to the sums.
//
// Fragments. 32-bit data through ldmatrix (a .b16 instruction): a "row" of an 8 x 8 b16 matrix
//   is 4 floats, and lane l receives float (l / 4, l % 4) of an 8 x 4 block; x4 loads four
//   blocks. TF32 (m16n8k8, 4 k-steps per slab): A's four 8 x 4 blocks (rows 0-7 / 8-15, k 0-3 /
//   4-7) are exactly a0..a3 of the PTX layout; B's two blocks (k 0-3, 4-7) of 8 columns are b0,
//   b1, and one x4 serves two 8-column tiles. Each register is rounded with cvt.rna.tf32.
//   BF16 (m16n8k16, 2 k-steps per slab): the 16-deep step is loaded as four 8 x 4 blocks as for
//   TF32, so lane l holds k = t, t + 4, t + 8, t + 12 where the PTX layout wants k = 2t, 2t + 1,
//   2t + 8, 2t + 9. The kernel packs them into those places (cvt.rn.bf16x2): physical k = t,
//   t + 4, t + 8, t + 12 play logical k = 2t, 2t + 1, 2t + 8, 2t + 9, the same permutation of
//   the 16 k values for A and for B. A sum over k does not depend on the order of its terms, so
//   the product is unchanged, and FP32 stays in shared memory with no conversion pass.
//
// Epilogue, per owned element inside C: act(alpha * acc (+ beta * C if beta != 0) (+ bias[col])),
// act the linear layer's fused activation (kernels/params.h FusedActivation; none for a gemm).
// Any m, n, k.
//
// Split-K (gemm_tensor_core_slices). A product with few tiles of C and a long k (a linear
// layer's forward: 512 rows, 128 outputs, k = 12544 is 16 blocks for 132 SMs, each walking all
// of k: 0.25 ms at bf16 on the H200, where the FP32 kernel, which splits, took 0.05) is cut as
// gemm.cu cuts it (the same plan, slices of whole 16-deep steps): block (x, y, z) runs the same
// pipeline over slice z's range of k alone and writes its raw sums to partials[z][m][n]; gemm.cu's
// epilogue kernel adds the slices in order and applies alpha, beta, the bias and the activation.
// A slice starts at a multiple of 16, so the 16-byte copies stay aligned; its end is zero-filled
// like the end of k.
#include "kernels/cuda/gemm_tensor_core.h"

#include <cstdint>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/cuda/warp_matrix.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr int kTile = 64;               // rows and columns of C per block
constexpr int kDepth = 32;              // k per pipeline stage
constexpr int kRowFloats = kDepth + 4;  // padded shared row: 144 bytes
constexpr int kThreads = 128;           // 4 warps, 2 x 2 over the tile
constexpr int kStages = 2;

struct Shape {
  int m, n, k;
  int lda, ldb;  // row lengths of A and B as stored (before op())
  float alpha, beta;
  FusedActivation act;  // applied last in the epilogue
};

struct alignas(16) Stages {
  float a[kStages][kTile][kRowFloats];  // op(A)(row, k)
  float b[kStages][kTile][kRowFloats];  // op(B)(k, col) stored as (col, k)
};

// Copies this thread's share of a 64 x 32 slab of an operand into `tile`: tile[r][q] =
// operand(row0 + r, k0 + q), zero outside rows x k. The operand is element (row, kk) at
// src[row * ld + kk] when kKContiguous, src[kk * ld + row] otherwise; `vector` says 16-byte
// copies are aligned (src and ld), for the k-contiguous case.
template <bool kKContiguous>
__device__ __forceinline__ void stage_slab(const float* src, int ld, int rows, int k, int row0,
                                           int k0, bool vector, float (*tile)[kRowFloats]) {
  const int thread = static_cast<int>(threadIdx.x);
  if (kKContiguous && vector) {
    for (int chunk = thread; chunk < kTile * kDepth / 4; chunk += kThreads) {
      const int r = chunk / (kDepth / 4), q = 4 * (chunk % (kDepth / 4));
      const int row = row0 + r, kk = k0 + q;
      int floats = row < rows ? k - kk : 0;
      floats = floats < 0 ? 0 : (floats > 4 ? 4 : floats);
      const float* from = floats > 0 ? src + int64_t{row} * ld + kk : src;
      cp_async_cg16(&tile[r][q], from, 4 * floats);
    }
    return;
  }
  for (int e = thread; e < kTile * kDepth; e += kThreads) {
    // Consecutive threads take consecutive addresses of the operand's contiguous dimension.
    const int r = kKContiguous ? e / kDepth : e % kTile;
    const int q = kKContiguous ? e % kDepth : e / kTile;
    const int row = row0 + r, kk = k0 + q;
    const bool inside = row < rows && kk < k;
    const float* from = !inside ? src
                        : kKContiguous ? src + int64_t{row} * ld + kk
                                       : src + int64_t{kk} * ld + row;
    cp_async_ca<4>(&tile[r][q], from, inside ? 4 : 0);
  }
}

// Lane l's row address for an ldmatrix.x4 of four 8 x 4 float blocks of a 16 x 8 corner of
// `tile` at (row, col): block i = l / 8 covers rows row + 8 (i & 1) .. + 7 and columns
// col + 4 (i >> 1) .. + 3, so registers 0..3 are the PTX A fragment a0..a3 of m16n8k8.tf32.
__device__ __forceinline__ const float* a_block_row(const float (*tile)[kRowFloats], int row,
                                                    int col) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int i = lane / 8;
  return &tile[row + 8 * (i & 1) + lane % 8][col + 4 * (i >> 1)];
}

// Minimum blocks per SM 1: with ptxas's default budget the variant with both operands
// transposed in BF16 spilled 4 bytes at 80 registers; with this bound it took 120 and spilled
// nothing (ptxas 13.0, sm_90). With the fused activation in the epilogue the variants take 100
// to 148 registers (the linear forward's, A plain and B transposed, 128 at TF32: 4 blocks per
// SM where it had 5) and none spills (docs/kernels.md, static table).
// partials == nullptr: the whole of k, and the epilogue writes C. Otherwise slice blockIdx.z
// covers k in [z * slice_depth, min(k, (z + 1) * slice_depth)) and its raw sums go to
// partials[z][m][n].
template <bool kTransA, bool kTransB, bool kBf16>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_tensor_core_kernel(Shape s, const float* a, const float* b, const float* column_bias,
                            float* c, bool a_vector, bool b_vector, int slice_depth,
                            float* partials) {
  __shared__ Stages stages;
  WEFT_SHARED_UNDEFINED(stages);
  int k_begin = 0, k_end = s.k;
  if (partials != nullptr) {
    const SliceRange range = this_slice(s.k, slice_depth);
    k_begin = range.begin;
    k_end = range.end;
  }
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int m0 = static_cast<int>(blockIdx.y) * kTile, n0 = static_cast<int>(blockIdx.x) * kTile;
  const int warp_row = 32 * (warp / 2), warp_col = 32 * (warp % 2);

  float acc[2][4][4];
  WEFT_UNROLL
  for (auto& tile_row : acc) {
    WEFT_UNROLL
    for (auto& tile : tile_row) {
      WEFT_UNROLL
      for (float& v : tile) v = 0.0f;
    }
  }

  // op(A)(row, k) is contiguous along k when A is not transposed; op(B)^T(col, k) when B is.
  const auto stage = [&](int slab, int buffer) {
    const int k0 = k_begin + slab * kDepth;
    stage_slab<!kTransA>(a + (kTransA ? m0 : int64_t{m0} * s.lda), s.lda, s.m - m0, k_end, 0, k0,
                         a_vector, stages.a[buffer]);
    stage_slab<kTransB>(b + (kTransB ? int64_t{n0} * s.ldb : n0), s.ldb, s.n - n0, k_end, 0, k0,
                        b_vector, stages.b[buffer]);
  };

  const int slabs = (k_end - k_begin + kDepth - 1) / kDepth;
  if (slabs > 0) stage(0, 0);
  cp_async_commit_group();
  for (int slab = 0; slab < slabs; ++slab) {
    const int buffer = slab % kStages;
    if (slab + 1 < slabs) stage(slab + 1, (slab + 1) % kStages);
    cp_async_commit_group();      // possibly empty: the group count stays uniform
    cp_async_wait_group<1>();     // this slab's copies (the older group) have landed
    __syncthreads();              // ... and everyone else's
    const float(*a_tile)[kRowFloats] = stages.a[buffer];
    const float(*b_tile)[kRowFloats] = stages.b[buffer];
    if constexpr (!kBf16) {
      WEFT_UNROLL
      for (int step = 0; step < kDepth; step += 8) {
        uint32_t fa[2][4], fb[4][2];
        WEFT_UNROLL
        for (int mi = 0; mi < 2; ++mi) {
          // Blocks: rows 0-7 / 8-15 (i & 1), k 0-3 / 4-7 (i >> 1): a0, a1, a2, a3.
          ldmatrix<4, false>(fa[mi], a_block_row(a_tile, warp_row + 16 * mi, step));
          WEFT_UNROLL
          for (uint32_t& r : fa[mi]) r = tf32_from_float_bits(r);
        }
        WEFT_UNROLL
        for (int ni = 0; ni < 4; ni += 2) {
          // Blocks: k 0-3 / 4-7 (i & 1) of columns +0-7 / +8-15 (i >> 1): b0, b1 of two tiles.
          const int lane_block = lane / 8;
          const float* row = &b_tile[warp_col + 8 * ni + 8 * (lane_block >> 1) + lane % 8]
                                    [step + 4 * (lane_block & 1)];
          uint32_t both[4];
          ldmatrix<4, false>(both, row);
          WEFT_UNROLL
          for (int i = 0; i < 2; ++i) {
            fb[ni][i] = tf32_from_float_bits(both[i]);
            fb[ni + 1][i] = tf32_from_float_bits(both[2 + i]);
          }
        }
        WEFT_UNROLL
        for (int mi = 0; mi < 2; ++mi) {
          WEFT_UNROLL
          for (int ni = 0; ni < 4; ++ni) {
            mma_m16n8k8_tf32(acc[mi][ni], fa[mi], fb[ni], acc[mi][ni]);
          }
        }
      }
    } else {
      WEFT_UNROLL
      for (int step = 0; step < kDepth; step += 16) {
        uint32_t fa[2][4], fb[4][2];
        WEFT_UNROLL
        for (int mi = 0; mi < 2; ++mi) {
          uint32_t p[4], q[4];  // k t, t + 4 (p) and t + 8, t + 12 (q) of rows g, g + 8
          ldmatrix<4, false>(p, a_block_row(a_tile, warp_row + 16 * mi, step));
          ldmatrix<4, false>(q, a_block_row(a_tile, warp_row + 16 * mi, step + 8));
          fa[mi][0] = pack_bf16x2_from_float_bits(p[0], p[2]);  // row g,     logical k 2t, 2t+1
          fa[mi][1] = pack_bf16x2_from_float_bits(p[1], p[3]);  // row g + 8, logical k 2t, 2t+1
          fa[mi][2] = pack_bf16x2_from_float_bits(q[0], q[2]);  // row g,     logical k 2t+8, +9
          fa[mi][3] = pack_bf16x2_from_float_bits(q[1], q[3]);  // row g + 8, logical k 2t+8, +9
        }
        WEFT_UNROLL
        for (int ni = 0; ni < 4; ++ni) {
          // Blocks i = 0..3: k 4i .. 4i + 3 of the tile's 8 columns.
          const float* row = &b_tile[warp_col + 8 * ni + lane % 8][step + 4 * (lane / 8)];
          uint32_t r[4];
          ldmatrix<4, false>(r, row);
          fb[ni][0] = pack_bf16x2_from_float_bits(r[0], r[1]);  // logical k 2t, 2t + 1
          fb[ni][1] = pack_bf16x2_from_float_bits(r[2], r[3]);  // logical k 2t + 8, 2t + 9
        }
        WEFT_UNROLL
        for (int mi = 0; mi < 2; ++mi) {
          WEFT_UNROLL
          for (int ni = 0; ni < 4; ++ni) {
            mma_m16n8k16_bf16(acc[mi][ni], fa[mi], fb[ni], acc[mi][ni]);
          }
        }
      }
    }
    __syncthreads();  // the stage is refilled two slabs on; nobody may still be reading it
  }

  const int g = lane / 4, t = lane % 4;
  float* slice = partials != nullptr ? partials + int64_t{blockIdx.z} * s.m * s.n : nullptr;
  WEFT_UNROLL
  for (int mi = 0; mi < 2; ++mi) {
    WEFT_UNROLL
    for (int ni = 0; ni < 4; ++ni) {
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
