// The part the hand tensor-core kernels share (gemm_tensor_core.cu, conv_tensor_core.cu,
// conv_channels_last.cu): a block's tile of the product, its shared-memory stages, the mma work
// of one slab and the multistage cp.async pipeline that feeds it. Each kernel brings its own
// staging (what a slab of A and of B^T is, where it comes from) and its own epilogue.
//
// Tile. One block of 128 threads (4 warps) per Rows x Cols tile of the product, k walked in
//   slabs of Depth. Warp w owns the quarter at rows (Rows / 2) (w / 2), columns (Cols / 2)
//   (w % 2) as kMi x kNi mma tiles of 16 x 8, whose FP32 accumulators stay in registers for the
//   whole reduction. Lane l holds, of each 16 x 8 tile, rows g and g + 8 and columns 2t and
//   2t + 1 (g = l / 4, t = l % 4: the PTX ISA's C/D layout); the kernel's epilogue writes those.
//
// Shared memory (static, at most 48 KiB a block with the kernels' own tables; the 128 x 128
//   tile's 80 KiB are the launch's dynamic shared memory: tile_stages): kStages stages,
//   each a Rows x Depth slab of A (GEMM rows, k along the row) and a Cols x Depth slab of B^T
//   (GEMM columns, k along the row), FP32 as in global memory. A row is padded by 4 floats: rows
//   stay 16-byte aligned for ldmatrix and cp.async, and the 8 rows one ldmatrix reads fall in 8
//   different groups of 4 banks. Both operands are k-contiguous, so no ldmatrix needs .trans.
//
// Pipeline (main_loop). kStages - 1 slabs are in flight while the tensor cores work on one: the
//   prologue issues the copies of slabs 0 .. kStages - 2, one commit group each; at slab s every
//   thread waits until its group of slab s has landed (cp.async.wait_group kStages - 2: the
//   newer groups may still be pending), one barrier makes everyone's copies visible and says
//   that everyone has finished the mma work of slab s - 1, whose stage is then refilled with
//   slab s + kStages - 1 before the mma work of slab s starts. One barrier per slab; a group
//   past the last slab is committed empty so the count stays uniform. (The first version had two
//   stages and two barriers per slab: one slab in flight, which a block of 4 warps cannot hide a
//   global load's latency behind when a slab is 16 deep; CUTLASS's sm80 kernels keep 3 to 5
//   stages for the same reason.)
//
// Slab tables. A kernel may keep per-k address tables in shared memory, one buffer per stage:
//   after_barrier(s) runs after the barrier of slab s and may write the buffer of slab
//   s + kStages, (s + kStages) % kStages = s % kStages, whose previous slab s was staged in an
//   earlier step; the next barrier publishes it before slab s + kStages is staged. The kernel
//   writes the tables of slabs 0 .. kStages - 1 before the loop.
//
// Fragments (mma_slab). ldmatrix of 32-bit data (a .b16 instruction): a "row" of an 8 x 8 b16
//   matrix is 4 floats, and lane l receives float (l / 4, l % 4) of an 8 x 4 block; x4 loads four
//   blocks. TF32 (m16n8k8, Depth / 8 steps per slab): A's four 8 x 4 blocks (rows 0-7 / 8-15,
//   k 0-3 / 4-7) are exactly a0..a3 of the PTX layout; B's two blocks (k 0-3, 4-7) of 8 columns
//   are b0, b1, and one x4 serves two 8-column tiles. Each register is rounded with
//   cvt.rna.tf32. BF16 (m16n8k16, Depth / 16 steps): the 16-deep step is loaded as four 8 x 4
//   blocks as for TF32, so lane l holds k = t, t + 4, t + 8, t + 12 where the PTX layout wants
//   k = 2t, 2t + 1, 2t + 8, 2t + 9. The slab packs them into those places (cvt.rn.bf16x2):
//   physical k = t, t + 4, t + 8, t + 12 play logical k = 2t, 2t + 1, 2t + 8, 2t + 9, the same
//   permutation of the 16 k values for A and for B. A sum over k does not depend on the order
//   of its terms, so the product is unchanged, and FP32 stays in shared memory with no
//   conversion pass.
//
// Operands rounded by their copies (kARounded, kBRounded). cvt.rna.tf32 is two instructions on
//   sm_90 (an FSETP for Inf/NaN and a predicated add to the bits), for every register of every
//   fragment: 64 of the 64 x 64 tile's main loop per 16-deep slab. An operand that a kernel
//   reads from a copy made for it (the channels-last copies, to_channels_last_kernel) is
//   rounded to TF32 once as it is copied instead, and its fragments go to the tensor cores as
//   loaded: the same bits, since rounding a TF32 value again changes nothing. (BF16 fragments
//   pack two values into each register, so that conversion stays.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/common.h"  // load4
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/cuda/warp_matrix.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// MinBlocks: the blocks per SM the kernels ask ptxas to make room for (__launch_bounds__), so at
// most 65536 / (128 MinBlocks) registers a thread.
template <int Rows, int Cols, int Depth, int StageCount, int MinBlocks>
struct TensorTile {
  static_assert(Rows % 32 == 0 && Cols % 16 == 0 && Depth % 16 == 0, "whole mma tiles per warp");
  static_assert(StageCount >= 2, "at least one slab in flight");
  static constexpr int kRows = Rows, kCols = Cols, kDepth = Depth, kStages = StageCount;
  static constexpr int kMinBlocks = MinBlocks;
  static constexpr int kThreads = 128;
  static constexpr int kWarpRows = Rows / 2, kWarpCols = Cols / 2;  // one warp's share
  static constexpr int kMi = kWarpRows / 16, kNi = kWarpCols / 8;
  static constexpr int kRowFloats = Depth + 4;
  // The kernels' staging gives each thread fixed places in a slab (loops of compile-time trip
  // counts): whole passes of the 128 threads over single floats (and, in stage_pieces, over
  // 16-byte pieces).
  static_assert(kThreads % Depth == 0 && kThreads % Cols == 0 && Rows % (kThreads / Depth) == 0,
                "whole passes of single floats");
};

template <class Tile>
struct alignas(16) TensorStages {
  using Element = float;
  static constexpr int kRowElements = Tile::kRowFloats;
  float a[Tile::kStages][Tile::kRows][Tile::kRowFloats];  // A(row, k)
  float b[Tile::kStages][Tile::kCols][Tile::kRowFloats];  // B(k, col) stored as (col, k)
};

template <class Tile>
using TensorAccumulators = float[Tile::kMi][Tile::kNi][4];

// The stages of operands that a copy stored as BF16 (the bits of a bf16 in a uint16_t): a row
// is Depth BF16 values and 8 of padding (16 bytes), so rows stay 16-byte aligned and the 8 rows
// one ldmatrix reads start 20 banks apart: 8 different groups of 4 banks. Depth is 32 here: a
// slab of 32 k is 64 bytes a row, the bytes of an FP32 slab of 16 (mma_slab_half).
template <class Tile>
struct alignas(16) HalfStages {
  using Element = uint16_t;
  static constexpr int kRowHalves = Tile::kDepth + 8;
  static constexpr int kRowElements = kRowHalves;
  uint16_t a[Tile::kStages][Tile::kRows][kRowHalves];  // A(row, k)
  uint16_t b[Tile::kStages][Tile::kCols][kRowHalves];  // B(k, col) stored as (col, k)
};

// Stages of more than 46 KiB (the wide tile's) cannot be static shared memory (48 KiB a block,
// with the kernels' own tables): they live in the launch's dynamic shared memory, which the
// launch asks for with WEFT_LAUNCH_LARGE_SHARED (launch.h).
template <class Tile, class Stages = TensorStages<Tile>>
constexpr bool kDynamicStages = sizeof(Stages) > 46 * 1024;

template <class Tile, class Stages = TensorStages<Tile>>
constexpr size_t dynamic_stage_bytes() {
  return kDynamicStages<Tile, Stages> ? sizeof(Stages) : 0;
}

// The block's stages: static shared memory, or the dynamic shared memory of the launch.
template <class Tile, class Stages = TensorStages<Tile>>
__device__ __forceinline__ Stages& tile_stages() {
  if constexpr (kDynamicStages<Tile, Stages>) {
    WEFT_DYNAMIC_SHARED(Stages, dynamic);
    return *dynamic;
  } else {
    __shared__ Stages stages;
    WEFT_SHARED_UNDEFINED(stages);
    return stages;
  }
}

// Lane l's row address for an ldmatrix.x4 of four 8 x 4 float blocks of the 16 x 8 corner of
// `tile` at (row, col): block i = l / 8 covers rows row + 8 (i & 1) .. + 7 and columns
// col + 4 (i >> 1) .. + 3, registers 0..3 being the A fragment a0..a3 of m16n8k8.tf32.
template <int RowFloats>
__device__ __forceinline__ const float* a_block_row(const float (*tile)[RowFloats], int row,
                                                    int col) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int i = lane / 8;
  return &tile[row + 8 * (i & 1) + lane % 8][col + 4 * (i >> 1)];
}

// The warp's A fragments of the 8-deep (TF32) or 16-deep (BF16) step at `step` of a slab: TF32
// one ldmatrix.x4 per 16-row tile, each register rounded to TF32 unless kRounded (the operand's
// copy was rounded as it was made: "Operands rounded by their copies" above); BF16 two, packed
// into the permuted k order of the file comment.
template <bool kBf16, class Tile, bool kRounded = false>
__device__ __forceinline__ void a_fragments(const float (*a_tile)[Tile::kRowFloats], int warp_row,
                                            int step, uint32_t (&fa)[Tile::kMi][4]) {
  WEFT_UNROLL
  for (int mi = 0; mi < Tile::kMi; ++mi) {
    if constexpr (!kBf16) {
      ldmatrix<4, false>(fa[mi], a_block_row(a_tile, warp_row + 16 * mi, step));
      if constexpr (!kRounded) {
        WEFT_UNROLL
        for (uint32_t& r : fa[mi]) r = tf32_from_float_bits(r);
      }
    } else {
      uint32_t p[4], q[4];  // k t, t + 4 (p) and t + 8, t + 12 (q) of rows g, g + 8
      ldmatrix<4, false>(p, a_block_row(a_tile, warp_row + 16 * mi, step));
      ldmatrix<4, false>(q, a_block_row(a_tile, warp_row + 16 * mi, step + 8));
      fa[mi][0] = pack_bf16x2_from_float_bits(p[0], p[2]);  // row g,     logical k 2t, 2t+1
      fa[mi][1] = pack_bf16x2_from_float_bits(p[1], p[3]);  // row g + 8, logical k 2t, 2t+1
      fa[mi][2] = pack_bf16x2_from_float_bits(q[0], q[2]);  // row g,     logical k 2t+8, +9
      fa[mi][3] = pack_bf16x2_from_float_bits(q[1], q[3]);  // row g + 8, logical k 2t+8, +9
    }
  }
}

// acc[mi][ni] += A tile mi * B tile ni for every pair of the warp's tiles.
template <bool kBf16, class Tile>
__device__ __forceinline__ void mma_tiles(const uint32_t (&fa)[Tile::kMi][4],
                                          const uint32_t (&fb)[Tile::kNi][2],
                                          TensorAccumulators<Tile>& acc) {
  WEFT_UNROLL
  for (int mi = 0; mi < Tile::kMi; ++mi) {
    WEFT_UNROLL
    for (int ni = 0; ni < Tile::kNi; ++ni) {
      if constexpr (kBf16) {
        mma_m16n8k16_bf16(acc[mi][ni], fa[mi], fb[ni], acc[mi][ni]);
      } else {
        mma_m16n8k8_tf32(acc[mi][ni], fa[mi], fb[ni], acc[mi][ni]);
      }
    }
  }
}

// acc += A(warp's rows, slab) * B(slab, warp's columns) on the tensor cores; kARounded,
// kBRounded: that operand is already TF32 (ignored for BF16).
template <bool kBf16, class Tile, bool kARounded = false, bool kBRounded = false>
__device__ __forceinline__ void mma_slab(const float (*a_tile)[Tile::kRowFloats],
                                         const float (*b_tile)[Tile::kRowFloats], int warp_row,
                                         int warp_col, TensorAccumulators<Tile>& acc) {
  constexpr int kNi = Tile::kNi;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  constexpr int kStep = kBf16 ? 16 : 8;
  WEFT_UNROLL
  for (int step = 0; step < Tile::kDepth; step += kStep) {
    uint32_t fa[Tile::kMi][4], fb[kNi][2];
    a_fragments<kBf16, Tile, kARounded>(a_tile, warp_row, step, fa);
    if constexpr (!kBf16) {
      WEFT_UNROLL
      for (int ni = 0; ni + 1 < kNi; ni += 2) {
        // Blocks: k 0-3 / 4-7 (i & 1) of columns +0-7 / +8-15 (i >> 1): b0, b1 of two tiles.
        const int block = lane / 8;
        const float* row =
            &b_tile[warp_col + 8 * ni + 8 * (block >> 1) + lane % 8][step + 4 * (block & 1)];
        uint32_t both[4];
        ldmatrix<4, false>(both, row);
        WEFT_UNROLL
        for (int i = 0; i < 2; ++i) {
          fb[ni][i] = kBRounded ? both[i] : tf32_from_float_bits(both[i]);
          fb[ni + 1][i] = kBRounded ? both[2 + i] : tf32_from_float_bits(both[2 + i]);
        }
      }
      if constexpr (kNi % 2 == 1) {  // the last tile alone: ldmatrix.x2, lanes 0-15 give rows
        constexpr int ni = kNi - 1;
        const float* row = &b_tile[warp_col + 8 * ni + lane % 8][step + 4 * ((lane / 8) & 1)];
        uint32_t one[2];
        ldmatrix<2, false>(one, row);
        WEFT_UNROLL
        for (int i = 0; i < 2; ++i) fb[ni][i] = kBRounded ? one[i] : tf32_from_float_bits(one[i]);
      }
    } else {
      WEFT_UNROLL
      for (int ni = 0; ni < kNi; ++ni) {
        // Blocks i = 0..3: k 4i .. 4i + 3 of the tile's 8 columns.
        const float* row = &b_tile[warp_col + 8 * ni + lane % 8][step + 4 * (lane / 8)];
        uint32_t r[4];
        ldmatrix<4, false>(r, row);
        fb[ni][0] = pack_bf16x2_from_float_bits(r[0], r[1]);  // logical k 2t, 2t + 1
        fb[ni][1] = pack_bf16x2_from_float_bits(r[2], r[3]);  // logical k 2t + 8, 2t + 9
      }
    }
    mma_tiles<kBf16, Tile>(fa, fb, acc);
  }
}

// ---- B stored k-major ---------------------------------------------------------------------------
//
// For an operand whose 16-byte pieces run along the GEMM columns, not along k (backward-filter's
// channels-last x: 4 channels of one tap), B is staged as it comes: kStages slabs of Depth rows
// (k) of Cols columns, padded by 8 floats so that a row starts 8 banks after the one before. A
// 32-bit fragment cannot come from there by ldmatrix (a lane would get (k, n) transposed), so
// the lanes read their B values themselves, lane (g, t) column g of each tile at k = t, t + 4
// (TF32) or t, t + 4, t + 8, t + 12 (BF16, the file comment's permuted k order):
// - TF32 reads one float per register (LDS.32: 4 per tile and slab, where the ldmatrix path
//   issues 1), straight into the register pair an mma takes; rows t = 0..3 of 8 columns fall
//   in 32 different banks. (16-byte loads of four tiles' b0 at once took fewer loads but ptxas
//   then spent two moves per tile and step pairing b0 with b1: 16 instructions more per slab.)
// - BF16 packs two values into each register anyway, so it reads 16 bytes at a time: the
//   columns of a warp's group of 32 (4 mma tiles of 8) are interleaved, storage column 4 g + j
//   holding column g of tile j, so one LDS.128 at storage column 4 g of a row gives lane (g, t)
//   that row's values for its four tiles (4 per 16-deep step, as many as the ldmatrix path);
//   the 8 lanes of a quarter warp read rows t = 0..3 at 4 g, g = 0, 1: 32 different banks.
// kmajor_column says which storage column holds accumulator column (tile ni, 2 t + c); the
// kernel's epilogue maps it back.
template <class Tile>
struct alignas(16) KMajorStages {
  static constexpr int kColFloats = Tile::kCols + 8;
  static constexpr int kRowElements = Tile::kRowFloats;  // of A
  float a[Tile::kStages][Tile::kRows][Tile::kRowFloats];  // A(row, k)
  float b[Tile::kStages][Tile::kDepth][kColFloats];       // B(k, col), columns interleaved at bf16
};

// The storage column (within the warp's columns) of accumulator column 2 t + c of tile ni.
template <bool kBf16>
__host__ __device__ __forceinline__ int kmajor_column(int ni, int t, int c) {
  return kBf16 ? 32 * (ni / 4) + 4 * (2 * t + c) + ni % 4 : 8 * ni + 2 * t + c;
}

// mma_slab with B staged k-major (KMajorStages).
template <bool kBf16, class Tile, bool kARounded = false, bool kBRounded = false>
__device__ __forceinline__ void mma_slab_kmajor(
    const float (*a_tile)[Tile::kRowFloats],
    const float (*b_tile)[KMajorStages<Tile>::kColFloats], int warp_row, int warp_col,
    TensorAccumulators<Tile>& acc) {
  constexpr int kNi = Tile::kNi;
  static_assert(kNi % 4 == 0, "whole groups of 4 mma tiles per warp");
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  constexpr int kStep = kBf16 ? 16 : 8;
  WEFT_UNROLL
  for (int step = 0; step < Tile::kDepth; step += kStep) {
    uint32_t fa[Tile::kMi][4], fb[kNi][2];
    a_fragments<kBf16, Tile, kARounded>(a_tile, warp_row, step, fa);
    if constexpr (!kBf16) {
      const auto word = [](float v) { return kBRounded ? word_of(v) : to_tf32(v); };
      WEFT_UNROLL
      for (int ni = 0; ni < kNi; ++ni) {
        fb[ni][0] = word(b_tile[step + t][warp_col + 8 * ni + g]);      // k = t
        fb[ni][1] = word(b_tile[step + t + 4][warp_col + 8 * ni + g]);  // k = t + 4
      }
    } else {
      WEFT_UNROLL
      for (int group = 0; group < kNi / 4; ++group) {
        float4 v[4];  // k = t + 4 i, columns g of the group's 4 tiles
        WEFT_UNROLL
        for (int i = 0; i < 4; ++i) {
          v[i] = load4(&b_tile[step + t + 4 * i][warp_col + 32 * group + 4 * g], 0);
        }
        const float4 low = v[0], high = v[1], low8 = v[2], high8 = v[3];
        fb[4 * group + 0][0] = pack_bf16x2(low.x, high.x);  // logical k 2t, 2t + 1
        fb[4 * group + 1][0] = pack_bf16x2(low.y, high.y);
        fb[4 * group + 2][0] = pack_bf16x2(low.z, high.z);
        fb[4 * group + 3][0] = pack_bf16x2(low.w, high.w);
        fb[4 * group + 0][1] = pack_bf16x2(low8.x, high8.x);  // logical k 2t + 8, 2t + 9
        fb[4 * group + 1][1] = pack_bf16x2(low8.y, high8.y);
        fb[4 * group + 2][1] = pack_bf16x2(low8.z, high8.z);
        fb[4 * group + 3][1] = pack_bf16x2(low8.w, high8.w);
      }
    }
    mma_tiles<kBf16, Tile>(fa, fb, acc);
  }
}

// ---- operands stored as BF16 ---------------------------------------------------------------------
//
// acc += A * B from HalfStages, at BF16 (m16n8k16, Depth / 16 steps a slab). With 16-bit data
// ldmatrix delivers the PTX fragments as they are, with no conversion: A's x4 at rows
// row .. + 15 (lane l gives row l % 16) and k step + 8 (l / 16) is a0..a3 (rows g and g + 8,
// k 2t, 2t + 1 and 2t + 8, 2t + 9); B's x4 at columns col + 8 (l / 16) + l % 8 and k
// step + 8 ((l / 8) % 2) is b0, b1 of two 8-column tiles; an odd last tile takes an x2.
// The warp's A fragments of the 16-deep step at `step` from BF16 rows of RowHalves values: one
// ldmatrix.x4 per 16-row tile (lane l gives row l % 16 at k step + 8 (l / 16)).
template <class Tile, int RowHalves>
__device__ __forceinline__ void half_a_fragments(const uint16_t (*a_tile)[RowHalves],
                                                 int warp_row, int step,
                                                 uint32_t (&fa)[Tile::kMi][4]) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  WEFT_UNROLL
  for (int mi = 0; mi < Tile::kMi; ++mi) {
    ldmatrix<4, false>(fa[mi], &a_tile[warp_row + 16 * mi + lane % 16][step + 8 * (lane / 16)]);
  }
}

// A BF16 slab's 16-deep steps: the A fragments from HalfStages rows (half_a_fragments), B's by
// load_b(step, fb), then the warp's mma tiles. The two BF16 slab functions below differ in B
// alone.
template <class Tile, int RowHalves, class LoadB>
__device__ __forceinline__ void half_slab_steps(const uint16_t (*a_tile)[RowHalves], int warp_row,
                                                const LoadB& load_b,
                                                TensorAccumulators<Tile>& acc) {
  WEFT_UNROLL
  for (int step = 0; step < Tile::kDepth; step += 16) {
    uint32_t fa[Tile::kMi][4], fb[Tile::kNi][2];
    half_a_fragments<Tile>(a_tile, warp_row, step, fa);
    load_b(step, fb);
    mma_tiles<true, Tile>(fa, fb, acc);
  }
}

// The registers of an ldmatrix.x4 over two 8-column B tiles: b0, b1 of tile ni, then of ni + 1.
template <int kNi>
__device__ __forceinline__ void pair_of_b_fragments(const uint32_t (&r)[4], int ni,
                                                    uint32_t (&fb)[kNi][2]) {
  fb[ni][0] = r[0];
  fb[ni][1] = r[1];
  fb[ni + 1][0] = r[2];
  fb[ni + 1][1] = r[3];
}

template <class Tile>
__device__ __forceinline__ void mma_slab_half(
    const uint16_t (*a_tile)[HalfStages<Tile>::kRowHalves],
    const uint16_t (*b_tile)[HalfStages<Tile>::kRowHalves], int warp_row, int warp_col,
    TensorAccumulators<Tile>& acc) {
  constexpr int kNi = Tile::kNi;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const auto load_b = [&](int step, uint32_t (&fb)[kNi][2]) {
    WEFT_UNROLL
    for (int ni = 0; ni + 1 < kNi; ni += 2) {
      uint32_t r[4];
      ldmatrix<4, false>(
          r, &b_tile[warp_col + 8 * ni + 8 * (lane / 16) + lane % 8][step + 8 * ((lane / 8) % 2)]);
      pair_of_b_fragments<kNi>(r, ni, fb);
    }
    if constexpr (kNi % 2 == 1) {
      constexpr int ni = kNi - 1;
      ldmatrix<2, false>(fb[ni], &b_tile[warp_col + 8 * ni + lane % 8][step + 8 * ((lane / 8) % 2)]);
    }
  };
  half_slab_steps<Tile>(a_tile, warp_row, load_b, acc);
}

// B stored k-major as BF16 (backward-filter's x copied channels-last in BF16): Depth rows of
// Cols columns plus 8 values (rows 144 bytes apart for Cols = 64: the 8 rows an ldmatrix reads
// start 4 banks apart, 8 different groups of 4). ldmatrix .trans turns an 8 x 8 block of rows k
// into the fragment a lane wants (lane (g, t): k 2t, 2t + 1 of column g): one x4.trans gives b0,
// b1 of two 8-column tiles (blocks k 0-7 and 8-15 of columns 0-7, then of 8-15). A as in
// HalfStages.
template <class Tile>
struct alignas(16) HalfKMajorStages {
  using Element = uint16_t;
  static constexpr int kRowHalves = Tile::kDepth + 8;
  static constexpr int kRowElements = kRowHalves;  // of A
  static constexpr int kColHalves = Tile::kCols + 8;
  uint16_t a[Tile::kStages][Tile::kRows][kRowHalves];  // A(row, k)
  uint16_t b[Tile::kStages][Tile::kDepth][kColHalves];  // B(k, col)
};

template <class Tile>
__device__ __forceinline__ void mma_slab_half_kmajor(
    const uint16_t (*a_tile)[HalfKMajorStages<Tile>::kRowHalves],
    const uint16_t (*b_tile)[HalfKMajorStages<Tile>::kColHalves], int warp_row, int warp_col,
    TensorAccumulators<Tile>& acc) {
  constexpr int kNi = Tile::kNi;
  static_assert(kNi % 2 == 0, "B tiles in pairs");
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const auto load_b = [&](int step, uint32_t (&fb)[kNi][2]) {
    WEFT_UNROLL
    for (int ni = 0; ni < kNi; ni += 2) {
      // Lane l gives row k = step + 8 ((l / 8) % 2) + l % 8 of columns + 8 (l / 16).
      uint32_t r[4];
      ldmatrix<4, true>(
          r, &b_tile[step + 8 * ((lane / 8) % 2) + lane % 8][warp_col + 8 * ni + 8 * (lane / 16)]);
      pair_of_b_fragments<kNi>(r, ni, fb);
    }
  };
  half_slab_steps<Tile>(a_tile, warp_row, load_b, acc);
}

// One slab's mma work from any kind of stages.
template <bool kBf16, class Tile, bool kARounded, bool kBRounded>
__device__ __forceinline__ void mma_stage(const TensorStages<Tile>& stages, int buffer,
                                          int warp_row, int warp_col,
                                          TensorAccumulators<Tile>& acc) {
  mma_slab<kBf16, Tile, kARounded, kBRounded>(stages.a[buffer], stages.b[buffer], warp_row,
                                              warp_col, acc);
}

template <bool kBf16, class Tile, bool kARounded, bool kBRounded>
__device__ __forceinline__ void mma_stage(const HalfStages<Tile>& stages, int buffer,
                                          int warp_row, int warp_col,
                                          TensorAccumulators<Tile>& acc) {
  static_assert(kBf16, "BF16 stages at BF16 only");
  mma_slab_half<Tile>(stages.a[buffer], stages.b[buffer], warp_row, warp_col, acc);
}

template <bool kBf16, class Tile, bool kARounded, bool kBRounded>
__device__ __forceinline__ void mma_stage(const HalfKMajorStages<Tile>& stages, int buffer,
                                          int warp_row, int warp_col,
                                          TensorAccumulators<Tile>& acc) {
  static_assert(kBf16, "BF16 stages at BF16 only");
  mma_slab_half_kmajor<Tile>(stages.a[buffer], stages.b[buffer], warp_row, warp_col, acc);
}

template <bool kBf16, class Tile, bool kARounded, bool kBRounded>
__device__ __forceinline__ void mma_stage(const KMajorStages<Tile>& stages, int buffer,
                                          int warp_row, int warp_col,
                                          TensorAccumulators<Tile>& acc) {
  mma_slab_kmajor<kBf16, Tile, kARounded, kBRounded>(stages.a[buffer], stages.b[buffer],
                                                     warp_row, warp_col, acc);
}

// This thread's copies of a Rows x Depth slab of a k-contiguous operand in 16-byte pieces
// (cp.async.cg): tile[r][q] = src[r * ld + k0 + q], src at the slab's first row, zero-filled
// for rows r at or past `rows` and for k at or past k_end (a piece cut by k_end copies its first
// floats). Thread t takes piece t % (Depth / 4) of rows t / (Depth / 4) + (128 / (Depth / 4)) i.
// Every row start and k0 must be 16-byte aligned (the callers check src and ld; k0 is a
// multiple of Depth).
template <class Tile, int Rows>
__device__ __forceinline__ void stage_pieces(const float* src, int ld, int rows, int k0,
                                             int k_end, float (*tile)[Tile::kRowFloats]) {
  constexpr int kPiecesPerRow = Tile::kDepth / 4;
  constexpr int kRowsPerPass = Tile::kThreads / kPiecesPerRow;
  static_assert(Rows % kRowsPerPass == 0, "whole passes over the slab");
  const int thread = static_cast<int>(threadIdx.x);
  const int q = 4 * (thread % kPiecesPerRow), kk = k0 + q;
  const int k_floats = k_end - kk < 0 ? 0 : (k_end - kk > 4 ? 4 : k_end - kk);  // in k
  WEFT_UNROLL
  for (int i = 0; i < Rows / kRowsPerPass; ++i) {
    const int r = thread / kPiecesPerRow + i * kRowsPerPass;
    const int floats = r < rows ? k_floats : 0;
    cp_async_cg16(&tile[r][q], src + (floats > 0 ? int64_t{r} * ld + kk : 0), 4 * floats);
  }
}

// stage_pieces with the row addresses worked out once, before the main loop: each of the
// thread's rows of a k-contiguous operand as the address of its piece at k = 0 (the operand's
// start for rows at or past `rows`, which copy nothing), so a slab costs an add, a compare and
// the copy per piece. (In stage_pieces the row offsets, their 64-bit products and the choice of
// address were worked out again for every slab: about 35 instructions per piece in the
// channels-last gather's main loop, static table.) Same places and zero fill as stage_pieces.
// T: float, or uint16_t for BF16 copies (8 to a piece, RowElements of HalfStages).
template <class Tile, int Rows, class T = float, int RowElements = Tile::kRowFloats>
struct PieceRows {
  static constexpr int kPerPiece = 16 / static_cast<int>(sizeof(T));
  static constexpr int kPiecesPerRow = Tile::kDepth / kPerPiece;
  static constexpr int kRowsPerPass = Tile::kThreads / kPiecesPerRow;
  static constexpr int kPasses = Rows / kRowsPerPass;
  static_assert(Rows % kRowsPerPass == 0, "whole passes over the slab");
  const T* row[kPasses];
  bool inside[kPasses];
  int q;  // this thread's piece: k = q .. q + kPerPiece - 1 of each slab

  __device__ __forceinline__ PieceRows(const T* src, int ld, int rows) {
    const int thread = static_cast<int>(threadIdx.x);
    q = kPerPiece * (thread % kPiecesPerRow);
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      const int r = thread / kPiecesPerRow + i * kRowsPerPass;
      inside[i] = r < rows;
      row[i] = inside[i] ? src + int64_t{r} * ld + q : src;
    }
  }

  // Copies the pieces of the slab at k0 (a multiple of Depth) into `tile`, zero-filled at and
  // past k_end. kWhole: k_end is a multiple of 4, so a piece is copied whole or not at all (a
  // copy of 16 or 0 bytes, which ptxas issues as one predicated copy; a size it cannot bound
  // costs it five more instructions a piece).
  template <bool kWhole>
  __device__ __forceinline__ void stage(int k0, int k_end, T (*tile)[RowElements]) const {
    static_assert(kWhole || sizeof(T) == 4, "partial pieces of FP32 rows only");
    const int thread = static_cast<int>(threadIdx.x);
    const int left = k_end - k0 - q;
    const int k_floats = left <= 0 ? 0 : (kWhole || left > 4 ? 4 : left);
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      T* to = &tile[thread / kPiecesPerRow + i * kRowsPerPass][q];
      if constexpr (kWhole) {
        const bool copy = inside[i] && left > 0;
        cp_async_cg16(to, row[i] + (copy ? k0 : 0), copy ? 16 : 0);
      } else {
        const int floats = inside[i] ? k_floats : 0;
        cp_async_cg16(to, row[i] + (floats > 0 ? k0 : 0), 4 * floats);
      }
    }
  }
};

template <class Tile>
__device__ __forceinline__ void zero(TensorAccumulators<Tile>& acc) {
  WEFT_UNROLL
  for (auto& tile_row : acc) {
    WEFT_UNROLL
    for (auto& tile : tile_row) {
      WEFT_UNROLL
      for (float& v : tile) v = 0.0f;
    }
  }
}

// The multistage main loop over `slabs` slabs (see the file comment): stage(slab, buffer)
// issues this thread's copies of a slab into stage `buffer`; after_barrier(slab) runs once slab
// `slab` has landed everywhere and its predecessor's mma work is done everywhere.
template <bool kBf16, class Tile, bool kARounded = false, bool kBRounded = false, class Stages,
          typename Stage, typename AfterBarrier>
__device__ __forceinline__ void main_loop(int slabs, Stages& stages, const Stage& stage,
                                          const AfterBarrier& after_barrier,
                                          TensorAccumulators<Tile>& acc) {
  constexpr int kStages = Tile::kStages;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int warp_row = Tile::kWarpRows * (warp / 2), warp_col = Tile::kWarpCols * (warp % 2);
  WEFT_UNROLL
  for (int slab = 0; slab < kStages - 1; ++slab) {
    if (slab < slabs) stage(slab, slab);
    cp_async_commit_group();  // possibly empty: the group count stays uniform
  }
  for (int slab = 0; slab < slabs; ++slab) {
    cp_async_wait_group<kStages - 2>();  // this slab's group (the oldest pending) has landed
    __syncthreads();  // ... everyone's; and slab - 1's stage is no longer read by anyone
    const int ahead = slab + kStages - 1;
    if (ahead < slabs) stage(ahead, ahead % kStages);
    cp_async_commit_group();
    after_barrier(slab);
    const int buffer = slab % kStages;
    mma_stage<kBf16, Tile, kARounded, kBRounded>(stages, buffer, warp_row, warp_col, acc);
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
