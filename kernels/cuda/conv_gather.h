// What the hand tensor-core convolutions share: the NCHW kernels and the host side
// (conv_tensor_core.cu), the gathers on channels-last copies (conv_channels_last.cu) and
// backward-filter on a channels-last x (conv_filter_channels_last.cu). The block tiles, the
// shape of a gather product and a slab table's entry, the gather's epilogue, backward-filter's
// shape, position entries and dy staging, and the channels-last paths' entry points. Private to
// those three files; conv_tensor_core.cu's comment describes the kernels.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/digits.h"
#include "kernels/cuda/tensor_core_pipeline.h"
#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace conv_gather {

// A row or shift that puts an element outside every bound (even plus another such value).
constexpr int kOutside = -(1 << 28);

// 64 x 64 with 16-deep slabs, 4 stages (2 x 4 mma tiles per warp): below 128 GEMM rows.
using SquareTile = TensorTile<64, 64, 16, 4, 4>;
// 128 x 64 with 16-deep slabs, 3 stages (4 x 4 mma tiles per warp, twice the square tile's
// products per staged B element and per B fragment): from 128 GEMM rows (tall_gather,
// tall_filter).
using TallTile = TensorTile<128, 64, 16, 3, 3>;
// 128 x 128 with 16-deep slabs, 4 stages (80 KiB of dynamic shared memory), 2 blocks per SM:
// each warp owns 64 x 64 (4 x 8 mma tiles), twice the tall tile's products per fragment loaded
// and per staged element. The channels-last gather only (channels_last_tile).
using WideTile = TensorTile<128, 128, 16, 4, 2>;
// 128 x 16, 4 stages, for products of at most 16 GEMM rows (conv_gather_skinny_kernel): the
// positions take the 128 rows of the product, the few GEMM rows its 16 columns, so a layer of 3
// output channels wastes 13 of 16 columns instead of 61 of a square tile's 64 rows. Each warp
// owns 64 x 8 (4 x 1 mma tiles).
using SkinnyTile = TensorTile<128, 16, 16, 4, 4>;
// The square, tall, wide and skinny tiles for BF16 copies (HalfStages): 32-deep slabs, the
// bytes of the FP32 tiles' 16-deep ones (40, 45, 80 and 45 KiB of stages).
using SquareHalfTile = TensorTile<64, 64, 32, 4, 4>;
using TallHalfTile = TensorTile<128, 64, 32, 3, 3>;
using WideHalfTile = TensorTile<128, 128, 32, 4, 2>;
using SkinnyHalfTile = TensorTile<128, 16, 32, 4, 4>;

// The skinny tile and a tile's stages for a copy's element T: float (FP32 or TF32 values,
// TensorStages) or uint16_t (BF16 bits, HalfStages).
template <class T>
using SkinnyTileOf = std::conditional_t<sizeof(T) == 4, SkinnyTile, SkinnyHalfTile>;
template <class Tile, class T>
using GatherStages = std::conditional_t<sizeof(T) == 4, TensorStages<Tile>, HalfStages<Tile>>;

// ---- a gather product: its shape, a slab-table entry, the epilogue ----------------------------

// A slab table's reduction index and its digits (digits.h): split by division once per thread
// as the block starts, then stepped by the slab depth (whose digits are split on the host and
// ride in the kernel's parameters, so they take no registers) with a carry per digit.
struct IndexDigits {
  int k;
  Digits d;
};

// One axis of a gather product. Grid index i (of `count` per image) reads source index
// source_origin + source_step * i + tap_step * j under tap j (of `taps`), which is filter index
// filter_origin + filter_step * j, and writes destination index out_origin + out_step * i.
struct GatherAxis {
  int count;
  int source_origin, source_step, source_size;
  int taps, tap_step;
  int filter_origin, filter_step;
  int out_origin, out_step, out_size;
};

struct GatherShape {
  GatherAxis h, w;
  int batch;
  int rows;             // GEMM rows: output channels (forward) or input channels (backward)
  int channels;         // reduction channels: C (forward) or O (backward)
  int source_channels;  // channels of one source image: C (forward) or O (backward)
  int filter_w;         // KW
  int filter_row;       // filter floats between GEMM rows: T (forward), KH * KW (backward)
  int filter_channel;   // between reduction channels: KH * KW (forward), C * KH * KW (backward)
  FusedActivation act;
  Digits slab_step;  // the tile's depth as digits (ch, j, jw): set by launch_gather

  __host__ __device__ int taps() const { return h.taps * w.taps; }
  __host__ __device__ int depth() const { return channels * taps(); }
  __host__ __device__ int grid_plane() const { return h.count * w.count; }
  __host__ __device__ int source_plane() const { return h.source_size * w.source_size; }
  __host__ __device__ int out_plane() const { return h.out_size * w.out_size; }
};

// The k part of a gathered element: filter offset ch * filter_channel + kh * KW + kw (-1 past
// the reduction), source offset ch * plane + dh * width + dw, and the shifts (dh, dw).
struct alignas(16) TapEntry {
  int filter, source, dh, dw;
};

// Where a gather product's column `position` lands in out: &out[n, 0, oh, ow] (GEMM row r then
// r * out_plane further on).
__device__ __forceinline__ float* output_column(const GatherShape& s, int position, float* out) {
  const int n = position / s.grid_plane();
  const int pixel = position - n * s.grid_plane();
  const int i = pixel / s.w.count, iw = pixel - i * s.w.count;
  const int oh = s.h.out_origin + s.h.out_step * i, ow = s.w.out_origin + s.w.out_step * iw;
  return out + n * (int64_t{s.rows} * s.out_plane()) + int64_t{oh} * s.w.out_size + ow;
}

// The gather's epilogue: out[n, row, oh, ow] = act(acc + bias[row]) for the block's tile at
// rows m0.., positions n0.. (the lanes' accumulators in the C/D layout of tensor_core_pipeline.h).
template <class Tile>
__device__ __forceinline__ void store_gather_tile(const GatherShape& s,
                                                  const TensorAccumulators<Tile>& acc,
                                                  const float* bias, float* out, int m0, int n0) {
  const int positions = s.batch * s.grid_plane();
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_row = Tile::kWarpRows * (warp / 2), warp_col = Tile::kWarpCols * (warp % 2);
  const int g = lane / 4, t = lane % 4;
  WEFT_UNROLL
  for (int ni = 0; ni < Tile::kNi; ++ni) {
    WEFT_UNROLL
    for (int c = 0; c < 2; ++c) {
      const int position = n0 + warp_col + 8 * ni + 2 * t + c;
      if (position >= positions) continue;
      float* column = output_column(s, position, out);
      WEFT_UNROLL
      for (int mi = 0; mi < Tile::kMi; ++mi) {
        WEFT_UNROLL
        for (int half = 0; half < 2; ++half) {
          const int row = m0 + warp_row + 16 * mi + g + 8 * half;
          if (row >= s.rows) continue;
          const float sum = acc[mi][ni][2 * half + c] + (bias != nullptr ? bias[row] : 0.0f);
          column[int64_t{row} * s.out_plane()] = s.act.apply(sum);
        }
      }
    }
  }
}

// The grid of a gather product on Tile: column tiles of positions, row tiles of GEMM rows; none
// (an empty dim3 of 0 blocks) when there is nothing to compute.
template <class Tile>
dim3 gather_grid(const GatherShape& s) {
  const int64_t positions = int64_t{s.batch} * s.grid_plane();
  if (positions <= 0 || s.rows <= 0) return dim3(0, 0);
  return dim3(static_cast<unsigned>((positions + Tile::kCols - 1) / Tile::kCols),
              static_cast<unsigned>((s.rows + Tile::kRows - 1) / Tile::kRows));
}

// Whole 16-byte pieces of floats, and the first 16-byte boundary at or after p (workspaces hold
// the copies at such boundaries).
inline int64_t round_up4(int64_t floats) {
  return (floats + 3) / 4 * 4;
}

inline float* aligned_up16(float* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<float*>((address + 15) & ~uintptr_t{15});
}

// The blocks of a grid.
inline int64_t grid_blocks(const dim3& grid) {
  return int64_t{grid.x} * grid.y * grid.z;
}

// `tile`, or where it is automatic the process-wide setting (WEFT_TENSOR_CORE_TILE,
// kernels/selection.h), which is automatic unless a test or a benchmark forces one tile.
inline TensorCoreTile requested_tile(TensorCoreTile tile) {
  return tile != TensorCoreTile::automatic ? tile : tensor_core_tile();
}

// Largest grid.y of a launch (row tiles).
constexpr int kMaxGridY = 65535;

// The gather's tile choice (conv_tensor_core.cu) for a product (or products side by side, the
// phases of one launch) of `rows` GEMM rows whose grids on the tall tile have `tall_blocks`
// blocks: the tall tile for at least 128 GEMM rows when those blocks fill the card twice.
bool tall_gather(int rows, int64_t tall_blocks);

// ---- backward-filter (conv_tensor_core.cu; on a channels-last x, conv_filter_channels_last.cu)

// The tall tile for backward-filter, held to 4 blocks per SM (at most 128 registers), which its
// shared memory (at most 48 KiB a block, in either kernel) allows.
using TallFilterTile = TensorTile<128, 64, 16, 3, 4>;

struct FilterShape {
  int batch, in_channels, in_h, in_w, out_channels, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;

  __host__ __device__ int taps() const { return in_channels * kernel_h * kernel_w; }
  __host__ __device__ int out_plane() const { return out_h * out_w; }
  __host__ __device__ int in_plane() const { return in_h * in_w; }

  Digits slab_step;  // the tile's depth as digits (n, oh, ow): set by the launch
};

// Per position of a slab: dy offset (-1 past the slice), x's image (a pointer, so that a copy
// adds only the offset inside it; T float, or uint16_t for a BF16 copy), the window origin's
// offset inside that image (an int: one image is below 2^31 values) and its row and column.
template <class T = float>
struct alignas(16) PositionEntry {
  int64_t dy;
  const T* image;
  int origin, row0, col0;
};

// The backward-filter's entry of position c.k of the batch: digits (n, oh, ow) of radices
// (-, OH, OW). `pixel_values` is the values between neighbouring pixels of x: 1 in NCHW, C in
// the channels-last copy (the image's size is the same in both).
template <class T>
__device__ __forceinline__ PositionEntry<T> position_entry(const FilterShape& s, const T* x,
                                                           const IndexDigits& c, int end,
                                                           int pixel_values) {
  if (c.k >= end) return PositionEntry<T>{-1, x, 0, kOutside, kOutside};
  const int n = c.d.hi, oh = c.d.mid, ow = c.d.lo;
  const int row0 = oh * s.stride_h - s.pad_h, col0 = ow * s.stride_w - s.pad_w;
  return PositionEntry<T>{int64_t{n} * s.out_channels * s.out_plane() + oh * s.out_w + ow,
                          x + int64_t{n} * s.in_channels * s.in_plane(),
                          (row0 * s.in_w + col0) * pixel_values, row0, col0};
}

// Backward-filter's A operand, dy[n, m0 + r, position] for the slab's positions (`entries`, one
// per k), into a_tile: in 16-byte pieces where dy_pieces (the plane is whole pieces and dy is
// aligned), else one float per copy. Pieces: thread t copies positions P (t % (Depth / P)) ..
// + P - 1 (P = 4 floats, or 8 values of a BF16 copy of dy; one image's consecutive pixels, all
// in the slice or all past it: the plane and the slices are whole pieces) of rows
// t / (Depth / P) + (128 / (Depth / P)) i; floats: thread t copies position t % 16 of rows
// t / 16 + 8 i. Past the slice (dy offset -1) or the channels, zeros.
template <class Tile, class T = float, int RowElements = Tile::kRowFloats, class Entry>
__device__ __forceinline__ void stage_dy(const FilterShape& s, const T* dy, const Entry* entries,
                                         bool dy_pieces, int m0, T (*a_tile)[RowElements]) {
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads, kRows = Tile::kRows;
  constexpr int kPerPiece = 16 / static_cast<int>(sizeof(T));
  const int thread = static_cast<int>(threadIdx.x);
  if (sizeof(T) == 2 || dy_pieces) {  // a BF16 copy of dy is always read in pieces
    constexpr int kPieces = kDepth / kPerPiece;
    constexpr int kPieceRowsPerPass = kThreads / kPieces;
    const int piece = thread % kPieces;
    const Entry first = entries[kPerPiece * piece];
    WEFT_UNROLL
    for (int i = 0; i < kRows / kPieceRowsPerPass; ++i) {
      const int r = thread / kPieces + i * kPieceRowsPerPass, o = m0 + r;
      const bool inside = first.dy >= 0 && o < s.out_channels;
      cp_async_cg16(&a_tile[r][kPerPiece * piece],
                    dy + (inside ? first.dy + int64_t{o} * s.out_plane() : 0), inside ? 16 : 0);
    }
    return;
  }
  if constexpr (sizeof(T) == 4) {
    constexpr int kRowsPerPass = kThreads / kDepth;
    const int q = thread % kDepth;
    const Entry e = entries[q];
    WEFT_UNROLL
    for (int i = 0; i < kRows / kRowsPerPass; ++i) {
      const int r = thread / kDepth + i * kRowsPerPass, o = m0 + r;
      const bool inside = e.dy >= 0 && o < s.out_channels;
      const float* from = inside ? dy + e.dy + int64_t{o} * s.out_plane() : dy;
      cp_async_ca<4>(&a_tile[r][q], from, inside ? 4 : 0);
    }
  }
}

// Backward-filter on a channels-last copy of x ([N, H, W, C], 16-byte aligned, C a multiple of
// 4; to_channels_last_tensor, rounded to TF32 at tf32) on the square or the tall filter tile,
// grid and split-K as the NCHW kernel's: writes slice z of the split to out + z * O * T in dW's
// own [O, C, KH, KW] order. s.slab_step must be the tile depth's digits (n, oh, ow).
void launch_filter_channels_last(bool bf16, bool tall, const FilterShape& s, dim3 grid,
                                 const float* x_copy, const float* dy, int slice_depth,
                                 bool dy_pieces, float* out, cudaStream_t stream);

// The same at bf16 on BF16 copies of x (channels-last, C a multiple of 8) and of dy (its own
// layout, OH * OW a multiple of 8) on the BF16 filter tiles (32-deep slabs, B by ldmatrix.trans).
void launch_filter_channels_last_half(bool tall, const FilterShape& s, dim3 grid,
                                      const uint16_t* x_copy, const uint16_t* dy_copy,
                                      int slice_depth, float* out, cudaStream_t stream);

// The BF16 tiles of backward-filter on BF16 copies: the square and the tall filter tile's shapes
// with 32-deep slabs.
using TallFilterHalfTile = TensorTile<128, 64, 32, 3, 4>;

// Backward-filter's BF16 copies (each value's 16 bits, rounded to nearest even) in one launch
// (conv_channels_last.cu): x [N, C, H * W] channels-last into x_copy, and dy [N, O, OH * OW] in
// its own layout into dy_copy.
void to_bf16_copies(int batch, int channels, int plane, const float* x, uint16_t* x_copy,
                    int dy_channels, int dy_plane, const float* dy, uint16_t* dy_copy,
                    cudaStream_t stream);

// ---- the channels-last path (conv_channels_last.cu) ----

// A forward-form gather (the convolution's forward, a backward-data phase run as one) whose
// reduction channels are whole 16-byte pieces and whose filter is a dense [rows, channels, taps]
// matrix: it can run on channels-last copies.
bool channels_last_applies(const GatherShape& s);

// The workspace floats gather_channels_last needs for s.
int64_t channels_last_floats(const GatherShape& s);

// Copies s's source and filter channels-last into `workspace` (channels_last_floats) and runs
// the product on them, on `tile` (automatic: the wide, tall or square tile by the shape).
void gather_channels_last(bool bf16, TensorCoreTile tile, const GatherShape& s,
                          const float* source, const float* filter, const float* bias, float* out,
                          float* workspace, cudaStream_t stream);

// s's product on channels-last copies already made: the source's (to_channels_last_tensor) and
// the filter's ([rows, taps, channels]), both in gather_copy_format(precision, s.channels) and
// 16-byte aligned, on `tile` (automatic: the skinny, wide, tall or square tile by the shape).
void gather_on_copies(bool bf16, TensorCoreTile tile, const GatherShape& s, const void* source_copy,
                      const void* filter_copy, const float* bias, float* out, cudaStream_t stream);

// Up to kPhasesPerLaunch backward-data phases of one layer (forward-form gathers that
// channels_last_applies takes, the same GEMM rows and reduction channels) in one launch: block z
// runs phase z on its own shape and filter copy, grid x covering the largest phase's positions.
// T: the copies' element (float, or uint16_t for BF16 bits).
constexpr int kPhasesPerLaunch = 4;
template <class T>
struct GatherPhases {
  int count;
  GatherShape s[kPhasesPerLaunch];
  const T* filter[kPhasesPerLaunch];
};

// The phases of a strided backward-data on channels-last copies: dy's `source_copy` (shared by
// the phases) and each phase's filter `filters[i]` as [rows, taps, channels], both in
// gather_copy_format's format for the shapes' channels (conv.cu's PhaseFilters writes the
// filters so). Each shape must pass channels_last_applies. Four phases to a launch, on one tile
// chosen for their grids side by side; at most 16 GEMM rows, one skinny launch per phase.
void gather_phases_channels_last(bool bf16, const GatherShape* shapes, const void* const* filters,
                                 int count, const void* source_copy, const float* bias, float* out,
                                 cudaStream_t stream);

}  // namespace conv_gather
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
