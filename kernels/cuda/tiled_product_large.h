// The faster tiled matrix product of the hand GEMM and convolution forward / backward-filter
// kernels (gemm.cu, conv.cu, conv_lab.cu): the problem of tiled_product.h, out[m, n] = sum over
// k in [k_begin, k_end) of A(m, k) * B(n, k), with the two costs of that core removed:
//
//  1. Index arithmetic. tiled_product.h asks its operands for one element at a time,
//     `op.at(row, k)`, and a convolution operand then decodes the tap (c, kh, kw) and the
//     position (n, oh, ow) with six integer divisions per staged element. Here an operand is
//     *indexed*: it decodes a row once, `op.row(r)` (outside the k loop: a window origin, a row
//     offset), and a reduction index once, `op.col(k)` (a tap's offsets c*H*W + kh*dil*W +
//     kw*dil, kh*dil, kw*dil), and then moves a decoded index on by one slab,
//     `op.advance(col, step)`, with additions and carries (add_digits, digits.h: no division);
//     `op.load(row, col)` is then one bounds check and one load. Each thread keeps the decoded
//     rows and reduction indices of the elements it stages, so its offset table is in registers
//     and is built once per block (rows) and once per slab (reduction indices, by carrying).
//  2. Tile shape. Four block tiles (TileShape), chosen per problem by the caller (see
//     choose_tile below):
//       SmallTile   64 x 64, 16-deep slabs, 4 x 4 micro-tile strided by 16, one shared buffer:
//                   the layout of tiled_product.h (few tiles: small problems, split-K).
//       MediumTile  64 x 128 (rows x columns), 8-deep slabs, 4 x 8 micro-tile, double-buffered.
//       LargeTile   128 x 128, 8-deep slabs, 8 x 8 micro-tile, double-buffered.
//       ThinTile    64 x 16, 16-deep slabs, 4 x 1 micro-tile, one shared buffer: products of at
//                   most 16 columns (a first layer's backward-filter, whose columns are its
//                   taps: 9 for a 3 x 3 filter on one channel), where SmallTile would multiply
//                   48 or more columns of padding.
//     The micro-tiles of the two larger shapes are runs of 4 consecutive rows (columns): a thread
//     reads each run from shared memory as one float4, and its 8 x 8 outputs are four 4 x 4
//     blocks 64 apart, so the 16 threads along a dimension cover 64 consecutive rows.
//
// Threads. kProductThreads = 256 threads per block, as a 16 x 16 grid (ty, tx) of micro-tiles.
//   SmallTile: ty = t / 16, tx = t % 16, accumulator (i, j) at row ty + 16 i, column tx + 16 j.
//   Medium/Large (warp tiling): warp w = t / 32 and lane l = t % 32 give ty = 8 (w / 4) + l / 4,
//   tx = 4 (w % 4) + l % 4, so a warp's 32 threads form an 8 x 4 patch of micro-tiles; per step
//   of the inner loop a warp reads 8 distinct float4 of the A slab and 4 of the B slab per run
//   (the rest are broadcasts), and no two of them share a bank. Accumulator (i, j) is at row
//   64 (i / 4) + 4 ty + i % 4 and column 64 (j / 4) + 4 tx + j % 4 of the block tile.
//
// Shared memory. Per buffer a_tile[k][r] = A(m0 + r, k0 + k) and b_tile[k][c] = B(n0 + c, k0 + k),
//   k-major, rows padded by kPad floats (1 for SmallTile as in tiled_product.h, 4 for the others
//   so that rows stay 16-byte aligned for the float4 reads and the stores of an operand staged
//   along k, 8 consecutive k by 4 rows per warp, hit 32 distinct banks). LargeTile: 2 buffers x
//   2 operands x 8 x 132 floats = 16.9 KB.
//
// Staging (Stager): the slab of an operand (rows x depth elements) is copied by all 256 threads,
//   kPerThread = rows * depth / 256 elements each (4 for every operand except MediumTile's
//   A, 2). An operand contiguous along k (kAlongK) is copied with consecutive threads on
//   consecutive k: thread t takes k = t % depth and rows t / depth + (256 / depth) j; otherwise
//   consecutive threads take consecutive rows: rows t % 32 + 32 j and k = t / 32 + 8 jk. Either
//   way a warp's global loads are contiguous runs. Elements outside the operand (row >= rows,
//   k >= k_end) are staged as 0.
//
// Main loop, double-buffered (Medium, Large): the first slab is loaded and stored to buffer 0,
//   then for each slab s: if another slab follows, its elements are loaded from global memory
//   into registers (the loads are in flight during the arithmetic); the 8 steps of the slab's
//   outer products are done from buffer s % 2; the registers are stored into buffer (s + 1) % 2;
//   one __syncthreads(). The buffer written in iteration s was last read in iteration s - 1,
//   before that iteration's barrier, so one barrier per slab suffices. SmallTile: load, store,
//   barrier, multiply, barrier, as tiled_product.h.
//
// Every thread reaches every barrier (the loop bounds are the same for the whole block).
// Accumulation order: each output is one chain of fmaf over k in increasing order, in float (the
// same as tiled_product.h: the result does not depend on the tile chosen, and no atomics).
//
// Not done here: cp.async or 128-bit global loads (the conv operands are gathers, contiguous only
// in runs of a row; the GEMM's could be), split-K within the large tiles (split products use
// SmallTile), tensor cores (gemm_tensor_core.cu).
#pragma once

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/digits.h"
#include "kernels/cuda/tiled_product.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// A block tile: kM rows x kN columns of out, slabs kK deep, thread runs of kVec rows (1 or 4),
// double-buffered or not.
template <int kRows, int kCols, int kDepth, int kRun, bool kDoubleBuffer>
struct TileShape {
  static constexpr int kM = kRows, kN = kCols, kK = kDepth, kVec = kRun;
  static constexpr bool kDouble = kDoubleBuffer;
  static constexpr int kMicroM = kM / 16, kMicroN = kN / 16;  // accumulators per thread
  static constexpr int kPad = kVec == 4 ? 4 : 1;
  static constexpr int kBuffers = kDouble ? 2 : 1;
  // For __launch_bounds__: blocks that must fit on an SM at once. 4 caps SmallTile at 64
  // registers (the old core's occupancy; it would take 80 for its decoded indices otherwise),
  // 2 caps MediumTile at 128; LargeTile needs about 160 (64 accumulators, 16 fragment values,
  // 8 staged values, two operands' decoded indices) and spills under a cap of 128, so it runs
  // one block of 8 warps per SM and hides its global loads behind the register prefetch.
  // SmallRunTile: 3 (85 registers; at 4 it spilled 8-16 bytes, uncapped it took 93-117).
  static constexpr int kMinBlocks =
      kVec == 4 ? (kM * kN <= 64 * 64 ? 3 : (kM * kN <= 64 * 128 ? 2 : 1)) : 4;
  static_assert(kM % (16 * kVec) == 0 && kN % (16 * kVec) == 0, "16 runs per dimension");
  static_assert(kM * kK % kProductThreads == 0 && kN * kK % kProductThreads == 0,
                "every thread stages the same number of elements");
};
using SmallTile = TileShape<64, 64, 16, 1, false>;
using MediumTile = TileShape<64, 128, 8, 4, true>;
using LargeTile = TileShape<128, 128, 8, 4, true>;
using ThinTile = TileShape<64, 16, 16, 1, false>;
// SmallTile's 64 x 64 x 16 with MediumTile's thread layout: 4 x 4 micro-tiles as one float4 run
// per operand and step (warp tiling), one shared buffer: a quarter of SmallTile's shared loads per
// slab and a fifth fewer instructions in the main loop, for 3 blocks per SM where SmallTile fits
// 4. The conv kernel lab's v5 (conv_lab.h); the conv forward dispatch and the unsplit GEMM run
// it where choose_tile picks the small tile (conv.cu, launch_dispatch_forward; gemm.cu,
// launch_gemm). Split GEMMs and the split backward-filter keep SmallTile (their split-K plans
// count on 4 blocks per SM).
using SmallRunTile = TileShape<64, 64, 16, 4, false>;

// Which tile a product of rows_a x rows_b outputs gets (the rule, per shape): LargeTile when
// rows_a > 64 and its grid has at least kTileFillBlocks blocks (one per SM of an H100 / H200);
// else MediumTile (64 rows, so also a product of at most 64 rows: a conv with few output
// channels, a thin GEMM) when its grid has that many; else SmallTile. Large problems so get the
// tile with the most reuse per loaded element, small ones still fill the card, and no block
// tile is more than half padding along A's rows.
enum class TileChoice { small, medium, large };
constexpr int64_t kTileFillBlocks = 132;

inline int64_t tile_blocks(int rows_a, int rows_b, int tile_m, int tile_n) {
  return int64_t{(rows_a + tile_m - 1) / tile_m} * ((rows_b + tile_n - 1) / tile_n);
}

inline TileChoice choose_tile(int rows_a, int rows_b) {
  if (rows_a > MediumTile::kM &&
      tile_blocks(rows_a, rows_b, LargeTile::kM, LargeTile::kN) >= kTileFillBlocks) {
    return TileChoice::large;
  }
  if (tile_blocks(rows_a, rows_b, MediumTile::kM, MediumTile::kN) >= kTileFillBlocks) {
    return TileChoice::medium;
  }
  return TileChoice::small;
}

// Calls f(Tile{}) with the block tile the dispatches run for `choice`: LargeTile, MediumTile, or
// SmallRunTile for the small choice (conv.cu, launch_dispatch_forward, says why not SmallTile,
// whose 4 blocks per SM only the split-K plans need). Used by the conv forward, its phases and
// the unsplit GEMM.
template <class F>
void with_dispatch_tile(TileChoice choice, F&& f) {
  switch (choice) {
    case TileChoice::large:
      f(LargeTile{});
      return;
    case TileChoice::medium:
      f(MediumTile{});
      return;
    case TileChoice::small:
      f(SmallRunTile{});
      return;
  }
}

template <class Tile>
inline dim3 tile_grid(int rows_a, int rows_b, int slices = 1) {
  return dim3(static_cast<unsigned>((rows_b + Tile::kN - 1) / Tile::kN),
              static_cast<unsigned>((rows_a + Tile::kM - 1) / Tile::kM),
              static_cast<unsigned>(slices));
}

// ---- decoding without division ------------------------------------------------------------------

// Digits, split_digits and add_digits: digits.h.

// A row-major matrix as an indexed operand (the MatrixOperand of tiled_product.h): kAlongK,
// element (r, k) at data[r * ld + k]; otherwise at data[k * ld + r].
template <bool kAlongKLayout>
struct IndexedMatrix {
  static constexpr bool kAlongK = kAlongKLayout;
  const float* data;
  int ld;
  struct Row {
    int64_t offset;
  };
  struct Col {
    int64_t offset;
  };
  using Step = int64_t;
  __device__ __forceinline__ Row row(int r) const {
    return Row{kAlongK ? int64_t{r} * ld : int64_t{r}};
  }
  __device__ __forceinline__ Col col(int k) const {
    return Col{kAlongK ? int64_t{k} : int64_t{k} * ld};
  }
  __device__ __forceinline__ Step step(int depth) const {
    return kAlongK ? int64_t{depth} : int64_t{depth} * ld;
  }
  __device__ __forceinline__ void advance(Col& c, Step s) const { c.offset += s; }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    return data[r.offset + c.offset];
  }
};

// ---- the product ------------------------------------------------------------------------------

// This thread's micro-tile coordinates (see the top of this file).
template <class Tile>
__device__ __forceinline__ int tile_ty() {
  const int t = static_cast<int>(threadIdx.x);
  return Tile::kVec == 1 ? t / 16 : (t / 128) * 8 + (t % 32) / 4;
}
template <class Tile>
__device__ __forceinline__ int tile_tx() {
  const int t = static_cast<int>(threadIdx.x);
  return Tile::kVec == 1 ? t % 16 : ((t / 32) % 4) * 4 + t % 4;
}
// Row (column) within the block tile of accumulator i of thread coordinate t.
template <class Tile>
__device__ __forceinline__ int tile_offset(int t, int i) {
  return (i / Tile::kVec) * 16 * Tile::kVec + t * Tile::kVec + i % Tile::kVec;
}

// The copy of one operand's slabs into shared memory by this thread (see Staging above): its
// kRowsPer decoded rows and kKsPer decoded reduction indices, and the k of the current slab.
template <class Tile, int kTileRows, class Op>
struct Stager {
  static constexpr int kPerThread = kTileRows * Tile::kK / static_cast<int>(kProductThreads);
  static constexpr int kRowStride = Op::kAlongK ? static_cast<int>(kProductThreads) / Tile::kK : 32;
  static constexpr int kRowsPer = Op::kAlongK ? kPerThread : kTileRows / 32;
  static constexpr int kKsPer = kPerThread / kRowsPer;
  static constexpr int kKStride = 8;  // between a thread's reduction indices (not along k)
  static constexpr int kLd = kTileRows + Tile::kPad;
  static_assert(Op::kAlongK || kRowsPer * 32 == kTileRows, "rows t % 32 + 32 j");
  static_assert(Op::kAlongK ? kKsPer == 1 : kKsPer * 8 == Tile::kK, "k t / 32 + 8 jk");

  typename Op::Row rows[kRowsPer];
  typename Op::Col cols[kKsPer];
  typename Op::Step step;
  unsigned row_ok;  // bit j: row j lies inside the operand
  int first_row, first_k, k, k_end;

  __device__ __forceinline__ Stager(const Op& op, int row_count, int tile_first_row, int k_begin,
                                    int k_stop) {
    const int t = static_cast<int>(threadIdx.x);
    first_row = Op::kAlongK ? t / Tile::kK : t % 32;
    first_k = Op::kAlongK ? t % Tile::kK : t / 32;
    row_ok = 0;
    WEFT_UNROLL
    for (int j = 0; j < kRowsPer; ++j) {
      const int r = tile_first_row + first_row + kRowStride * j;
      rows[j] = op.row(r);
      if (r < row_count) row_ok |= 1u << j;
    }
    k = k_begin;
    k_end = k_stop;
    WEFT_UNROLL
    for (int j = 0; j < kKsPer; ++j) cols[j] = op.col(k_begin + first_k + kKStride * j);
    step = op.step(Tile::kK);
  }

  __device__ __forceinline__ void load(const Op& op, float (&v)[kPerThread]) const {
    WEFT_UNROLL
    for (int jk = 0; jk < kKsPer; ++jk) {
      const bool k_ok = k + first_k + kKStride * jk < k_end;
      WEFT_UNROLL
      for (int jr = 0; jr < kRowsPer; ++jr) {
        const bool ok = k_ok && ((row_ok >> jr) & 1u) != 0;
        v[jk * kRowsPer + jr] = ok ? op.load(rows[jr], cols[jk]) : 0.0f;
      }
    }
  }

  __device__ __forceinline__ void store(const float (&v)[kPerThread], float* tile) const {
    WEFT_UNROLL
    for (int jk = 0; jk < kKsPer; ++jk) {
      WEFT_UNROLL
      for (int jr = 0; jr < kRowsPer; ++jr) {
        tile[(first_k + kKStride * jk) * kLd + first_row + kRowStride * jr] = v[jk * kRowsPer + jr];
      }
    }
  }

  __device__ __forceinline__ void advance(const Op& op) {
    k += Tile::kK;
    WEFT_UNROLL
    for (int j = 0; j < kKsPer; ++j) op.advance(cols[j], step);
  }
};

// Loads this thread's kMicro values of step kk of a slab (row length ld) into registers: runs of
// 4 as float4, or single values.
template <class Tile, int kMicro>
__device__ __forceinline__ void load_fragment(const float* slab_row, int t, float (&frag)[kMicro]) {
  if constexpr (Tile::kVec == 4) {
    WEFT_UNROLL
    for (int h = 0; h < kMicro / 4; ++h) {
      const float4 v = load4(slab_row, h * 16 + t);
      frag[4 * h] = v.x;
      frag[4 * h + 1] = v.y;
      frag[4 * h + 2] = v.z;
      frag[4 * h + 3] = v.w;
    }
  } else {
    WEFT_UNROLL
    for (int i = 0; i < kMicro; ++i) frag[i] = slab_row[16 * i + t];
  }
}

// Steps 0 .. kK - 1 of one slab: the outer products of this thread's fragments.
template <class Tile>
__device__ __forceinline__ void multiply_slab(const float* a_slab, const float* b_slab, int ty,
                                              int tx, float (&acc)[Tile::kMicroM][Tile::kMicroN]) {
  constexpr int kLdA = Tile::kM + Tile::kPad, kLdB = Tile::kN + Tile::kPad;
  WEFT_UNROLL
  for (int kk = 0; kk < Tile::kK; ++kk) {
    float a_frag[Tile::kMicroM], b_frag[Tile::kMicroN];
    load_fragment<Tile>(a_slab + kk * kLdA, ty, a_frag);
    load_fragment<Tile>(b_slab + kk * kLdB, tx, b_frag);
    WEFT_UNROLL
    for (int i = 0; i < Tile::kMicroM; ++i) {
      WEFT_UNROLL
      for (int j = 0; j < Tile::kMicroN; ++j) acc[i][j] = fmaf(a_frag[i], b_frag[j], acc[i][j]);
    }
  }
}

// The accumulators of this thread's micro-tile for the block's output tile (blockIdx.y,
// blockIdx.x); see the top of this file. Must be called by all kProductThreads threads.
template <class Tile, class OpA, class OpB>
__device__ void indexed_tile_product(const OpA& a, int rows_a, const OpB& b, int rows_b,
                                     int k_begin, int k_end,
                                     float (&acc)[Tile::kMicroM][Tile::kMicroN]) {
  alignas(16) __shared__ float a_tile[Tile::kBuffers][Tile::kK * (Tile::kM + Tile::kPad)];
  alignas(16) __shared__ float b_tile[Tile::kBuffers][Tile::kK * (Tile::kN + Tile::kPad)];
  WEFT_SHARED_UNDEFINED(a_tile);
  WEFT_SHARED_UNDEFINED(b_tile);
  const int ty = tile_ty<Tile>(), tx = tile_tx<Tile>();
  WEFT_UNROLL
  for (int i = 0; i < Tile::kMicroM; ++i) {
    WEFT_UNROLL
    for (int j = 0; j < Tile::kMicroN; ++j) acc[i][j] = 0.0f;
  }
  if (k_begin >= k_end) return;  // the same for every thread of the block
  Stager<Tile, Tile::kM, OpA> stage_a(a, rows_a, static_cast<int>(blockIdx.y) * Tile::kM, k_begin,
                                      k_end);
  Stager<Tile, Tile::kN, OpB> stage_b(b, rows_b, static_cast<int>(blockIdx.x) * Tile::kN, k_begin,
                                      k_end);
  float va[decltype(stage_a)::kPerThread], vb[decltype(stage_b)::kPerThread];
  if constexpr (Tile::kDouble) {
    stage_a.load(a, va);
    stage_b.load(b, vb);
    stage_a.store(va, a_tile[0]);
    stage_b.store(vb, b_tile[0]);
    __syncthreads();
    int buffer = 0;
    for (int k0 = k_begin; k0 < k_end; k0 += Tile::kK) {
      const bool more = k0 + Tile::kK < k_end;
      if (more) {
        stage_a.advance(a);
        stage_b.advance(b);
        stage_a.load(a, va);
        stage_b.load(b, vb);
      }
      multiply_slab<Tile>(a_tile[buffer], b_tile[buffer], ty, tx, acc);
      if (more) {
        stage_a.store(va, a_tile[buffer ^ 1]);
        stage_b.store(vb, b_tile[buffer ^ 1]);
      }
      __syncthreads();
      buffer ^= 1;
    }
  } else {
    for (int k0 = k_begin; k0 < k_end; k0 += Tile::kK) {
      stage_a.load(a, va);
      stage_b.load(b, vb);
      stage_a.store(va, a_tile[0]);
      stage_b.store(vb, b_tile[0]);
      __syncthreads();
      multiply_slab<Tile>(a_tile[0], b_tile[0], ty, tx, acc);
      __syncthreads();
      stage_a.advance(a);
      stage_b.advance(b);
    }
  }
}

// The epilogue walk: store(row, col, value) for each accumulator of this thread whose output
// (row, col) lies inside the rows x cols product.
template <class Tile, class Store>
__device__ __forceinline__ void store_tile(const float (&acc)[Tile::kMicroM][Tile::kMicroN],
                                           int rows, int cols, Store store) {
  const int m0 = static_cast<int>(blockIdx.y) * Tile::kM;
  const int n0 = static_cast<int>(blockIdx.x) * Tile::kN;
  const int ty = tile_ty<Tile>(), tx = tile_tx<Tile>();
  WEFT_UNROLL
  for (int i = 0; i < Tile::kMicroM; ++i) {
    const int row = m0 + tile_offset<Tile>(ty, i);
    if (row >= rows) continue;
    WEFT_UNROLL
    for (int j = 0; j < Tile::kMicroN; ++j) {
      const int col = n0 + tile_offset<Tile>(tx, j);
      if (col < cols) store(row, col, acc[i][j]);
    }
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
