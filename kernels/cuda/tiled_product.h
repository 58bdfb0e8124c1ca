// The shared-memory tiled matrix product that the implicit-GEMM convolutions' backward-data
// (conv.cu) and version 2 of the conv kernel lab (conv_lab.cu) are built on, with its epilogue
// helper and the split-K plan that the GEMM (gemm.cu) and conv.cu use. The GEMM and the
// convolution forward and backward-filter use the faster core of tiled_product_large.h, which
// keeps this file's 64 x 64 layout as its SmallTile.
//
// The problem: out[m, n] = sum over k in [k_begin, k_end) of A(m, k) * B(n, k), for
// 0 <= m < rows_a and 0 <= n < rows_b. A and B are not matrices in memory but *operands*: small
// structs whose `at(row, k)` returns one element, computed however the caller likes. For a GEMM
// `at` reads a row-major matrix (transposed or not); for a convolution it reads the input image
// at the position an im2col matrix would hold (zero in the padding), so the column matrix is
// never built. Note that B is indexed (n, k), i.e. it is the transpose of the usual right-hand
// factor: both operands are then handled by the same code.
//
// One block of kProductThreads = 256 threads computes one kTileM x kTileN = 64 x 64 tile of out,
// the tile (blockIdx.y, blockIdx.x): rows m0 = 64 * blockIdx.y .. m0 + 63, columns
// n0 = 64 * blockIdx.x .. n0 + 63.
//
//   Threads. Thread t is (ty, tx) = (t / 16, t % 16) and owns a 4 x 4 register micro-tile:
//   rows m0 + ty + 16 i and columns n0 + tx + 16 j for i, j in 0..3. The micro-tile is strided
//   by 16 rather than contiguous so that the 16 threads of a half-warp read 16 consecutive
//   shared-memory words (no bank conflicts) and, in the epilogue, write 16 consecutive columns
//   of the output (coalesced).
//
//   Shared memory. Two tiles of the reduction dimension, each kTileK = 16 deep:
//     a_tile[k][r] = A(m0 + r, k0 + k)   16 x 64 floats (+1 column of padding)
//     b_tile[k][c] = B(n0 + c, k0 + k)   16 x 64 floats (+1 column of padding)
//   8.3 KB in all. They are stored k-major, so step kk of the inner loop reads one row of each.
//   The padding column makes a row 65 words long, so the stores of an operand staged along k
//   (consecutive threads on consecutive k, i.e. 65 words apart) fall into different banks.
//
//   Main loop, for each k0 = k_begin, k_begin + 16, ...:
//     1. stage: the 256 threads copy the 64 x 16 slab of A and of B into shared memory, 4
//        elements each. Elements outside the operand (row >= rows, k >= k_end) are stored as 0,
//        which is how tiles at the edges of the problem are handled: no size needs to be a
//        multiple of the tile. The copy order follows the operand's memory layout
//        (Operand::kAlongK: consecutive threads take consecutive k, else consecutive rows) so
//        that a warp's global loads are contiguous.
//     2. __syncthreads(): the tiles are complete.
//     3. for kk in 0..15: load 4 values of A (one per micro-tile row) and 4 of B into registers,
//        then 16 fused multiply-adds into the accumulators: each shared-memory value loaded is
//        used 4 times, which is the point of the register micro-tile.
//     4. __syncthreads(): nobody still reads the tiles when the next stage overwrites them.
//
// Every thread of the block reaches every barrier (the loop bounds are the same for all), even
// threads whose micro-tile lies entirely outside the output: they compute zeros and the caller's
// epilogue skips them.
//
// Accumulation order: each output is one chain of fmaf over k in increasing order, in float.
// The rounding error therefore grows with the length of the reduction (about u * K * rms of the
// products in practice, u = 2^-24), and differs from OpenBLAS, which blocks the sum differently.
//
// Not done here, for clarity (a production SGEMM would): double-buffering the tiles so the next
// stage's loads overlap this stage's arithmetic, float4 vector loads, tensor cores.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kMicroTile = 4;                                          // each thread: 4 x 4 outputs
constexpr int kThreadsPerRow = kTileN / kMicroTile;                    // 16 (tx)
constexpr int kThreadsPerCol = kTileM / kMicroTile;                    // 16 (ty)
constexpr unsigned kProductThreads = kThreadsPerRow * kThreadsPerCol;  // 256
static_assert(kTileM == kTileN, "stage_tile stages both operands with the same tile shape");

// The grid of a product of rows_a x rows_b outputs, with `slices` pieces of the reduction
// dimension along z (split-K; 1 for none).
inline dim3 product_grid(int rows_a, int rows_b, int slices = 1) {
  return dim3(static_cast<unsigned>((rows_b + kTileN - 1) / kTileN),
              static_cast<unsigned>((rows_a + kTileM - 1) / kTileM), static_cast<unsigned>(slices));
}

// A row-major matrix as an operand. kAlongK: the matrix is stored [rows, K] (element (r, k) at
// data[r * ld + k]); otherwise it is stored [K, rows] (element at data[k * ld + r]), which is how
// a transposed factor is read without copying it.
template <bool kAlongKLayout>
struct MatrixOperand {
  static constexpr bool kAlongK = kAlongKLayout;
  const float* data;
  int ld;
  __device__ __forceinline__ float at(int row, int k) const {
    return kAlongK ? data[int64_t{row} * ld + k] : data[int64_t{k} * ld + row];
  }
};

// Step 1 of the main loop: tile[k][r] = op(first_row + r, k0 + k), or 0 outside the operand.
template <class Operand>
__device__ __forceinline__ void stage_tile(const Operand& op, int rows, int first_row, int k0,
                                           int k_end, float (*tile)[kTileM + 1]) {
  constexpr int kElements = kTileM * kTileK;
  for (int i = static_cast<int>(threadIdx.x); i < kElements;
       i += static_cast<int>(kProductThreads)) {
    const int r = Operand::kAlongK ? i / kTileK : i % kTileM;
    const int k = Operand::kAlongK ? i % kTileK : i / kTileM;
    const int row = first_row + r, kk = k0 + k;
    tile[k][r] = (row < rows && kk < k_end) ? op.at(row, kk) : 0.0f;
  }
}

// The accumulators of this thread's micro-tile for the block's output tile; see the top of this
// file. Must be called by all kProductThreads threads of the block (it contains barriers).
template <class OperandA, class OperandB>
__device__ void tile_product(const OperandA& a, int rows_a, const OperandB& b, int rows_b,
                             int k_begin, int k_end, float (&acc)[kMicroTile][kMicroTile]) {
  __shared__ float a_tile[kTileK][kTileM + 1];
  __shared__ float b_tile[kTileK][kTileN + 1];
  WEFT_SHARED_UNDEFINED(a_tile);
  WEFT_SHARED_UNDEFINED(b_tile);
  const int m0 = static_cast<int>(blockIdx.y) * kTileM;
  const int n0 = static_cast<int>(blockIdx.x) * kTileN;
  const int tx = static_cast<int>(threadIdx.x) % kThreadsPerRow;
  const int ty = static_cast<int>(threadIdx.x) / kThreadsPerRow;

  for (int i = 0; i < kMicroTile; ++i) {
    for (int j = 0; j < kMicroTile; ++j) acc[i][j] = 0.0f;
  }
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    stage_tile(a, rows_a, m0, k0, k_end, a_tile);
    stage_tile(b, rows_b, n0, k0, k_end, b_tile);
    __syncthreads();
    WEFT_UNROLL
    for (int kk = 0; kk < kTileK; ++kk) {
      float a_frag[kMicroTile], b_frag[kMicroTile];
      WEFT_UNROLL
      for (int i = 0; i < kMicroTile; ++i) a_frag[i] = a_tile[kk][ty + kThreadsPerCol * i];
      WEFT_UNROLL
      for (int j = 0; j < kMicroTile; ++j) b_frag[j] = b_tile[kk][tx + kThreadsPerRow * j];
      WEFT_UNROLL
      for (int i = 0; i < kMicroTile; ++i) {
        WEFT_UNROLL
        for (int j = 0; j < kMicroTile; ++j) acc[i][j] = fmaf(a_frag[i], b_frag[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
}

// The output coordinates of accumulator (i, j) of this thread.
__device__ __forceinline__ int micro_tile_row(int i) {
  return static_cast<int>(blockIdx.y) * kTileM + static_cast<int>(threadIdx.x) / kThreadsPerRow +
         kThreadsPerCol * i;
}
__device__ __forceinline__ int micro_tile_col(int j) {
  return static_cast<int>(blockIdx.x) * kTileN + static_cast<int>(threadIdx.x) % kThreadsPerRow +
         kThreadsPerRow * j;
}

// The epilogue walk: calls store(row, col, value) for each accumulator of this thread whose
// output (row, col) lies inside the rows x cols product.
template <class Store>
__device__ __forceinline__ void store_micro_tile(const float (&acc)[kMicroTile][kMicroTile],
                                                 int rows, int cols, Store store) {
  for (int i = 0; i < kMicroTile; ++i) {
    const int row = micro_tile_row(i);
    if (row >= rows) break;
    for (int j = 0; j < kMicroTile; ++j) {
      const int col = micro_tile_col(j);
      if (col >= cols) break;
      store(row, col, acc[i][j]);
    }
  }
}

// Split-K: a product with few output tiles and a long reduction leaves most SMs idle, so the
// reduction is cut into `slices` ranges of whole kTileK-deep slabs, one per blockIdx.z, each
// writing its partial tile to a workspace that a second kernel sums in slice order. How many:
// enough that the grid has about kSplitTargetBlocks blocks (two per SM of an H100), each slice at
// least min_slice_depth deep (it must amortise writing its tile and its share of the final sum), at
// most kMaxSlices, and a workspace of at most kMaxSplitWorkspaceFloats. A caller may ask for
// another target and cap (conv_filter.cu's thin backward-filter: a full wave of the card, up to
// 1024 slices, summed by reduce.h's sum_slices).
constexpr int kSplitTargetBlocks = 264;
constexpr int kMaxSlices = 64;
constexpr int64_t kMaxSplitWorkspaceFloats = int64_t{16} << 20;  // 64 MiB

struct SplitK {
  int slices;       // 1: no split, the output is written directly
  int slice_depth;  // reduction indices per slice, a multiple of kTileK when slices > 1
};

// The reduction range [begin, end) of this block's slice, blockIdx.z, of a reduction of
// `depth` cut into slices of `slice_depth`.
struct SliceRange {
  int begin, end;
};
__device__ __forceinline__ SliceRange this_slice(int depth, int slice_depth) {
  const int begin = static_cast<int>(blockIdx.z) * slice_depth;
  return SliceRange{begin, depth - begin < slice_depth ? depth : begin + slice_depth};
}

// Element i of the split product: partials[z * count + i] added over the slices z in order
// 0, 1, 2, ... (the fixed order that makes the result the same on every run).
__device__ __forceinline__ float sum_of_slices(const float* partials, int slices, int64_t count,
                                               int64_t i) {
  float total = 0.0f;
  for (int z = 0; z < slices; ++z) total += partials[z * count + i];
  return total;
}

// The second pass of a split reduction with no epilogue of its own, for few slices:
// out[i] = sum_of_slices(...), one element per step of for_each (common.h), a thread per
// element. reduce.h's sum_slices runs it below kSliceRowsFrom slices (the backward-filters call
// sum_slices).
struct SumSlices {
  int slices;
  int64_t count;
  const float* partials;
  float* out;
  __device__ __forceinline__ void operator()(int64_t i) const {
    out[i] = sum_of_slices(partials, slices, count, i);
  }
};

inline SplitK plan_split_k(int rows_a, int rows_b, int depth, int min_slice_depth,
                           int64_t target_blocks = kSplitTargetBlocks,
                           int max_slices = kMaxSlices) {
  if (rows_a <= 0 || rows_b <= 0 || depth <= min_slice_depth) return SplitK{1, depth};
  const dim3 tiles = product_grid(rows_a, rows_b);
  const int64_t tile_count = int64_t{tiles.x} * tiles.y;
  int64_t slices = (target_blocks + tile_count - 1) / tile_count;
  slices = std::min<int64_t>(slices, (depth + min_slice_depth - 1) / min_slice_depth);
  slices = std::min<int64_t>(slices, max_slices);
  slices = std::min<int64_t>(slices, kMaxSplitWorkspaceFloats / (int64_t{rows_a} * rows_b));
  if (slices <= 1) return SplitK{1, depth};
  int64_t slice_depth = (depth + slices - 1) / slices;
  slice_depth = (slice_depth + kTileK - 1) / kTileK * kTileK;
  slices = (depth + slice_depth - 1) / slice_depth;  // no empty slice
  return SplitK{static_cast<int>(slices), static_cast<int>(slice_depth)};
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
