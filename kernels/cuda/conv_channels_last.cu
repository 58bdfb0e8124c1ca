// The hand tensor-core gather on channels-last copies (conv_tensor_core.cu's comment, and
// docs/kernels.md "The tensor-core gather on channels-last copies"): to_channels_last_kernel
// copies a source [N, C, H, W] to [N, H, W, C] and a filter [rows, C, taps] to [rows, taps, C];
// conv_gather_channels_last_kernel runs the implicit GEMM with the reduction in the order
// (kh, kw, c), each 16-byte piece of a slab row 4 channels of one tap, and
// conv_gather_phases_kernel up to four phases of a strided backward-data in one launch, and
// conv_gather_skinny_kernel the same product transposed for at most 16 GEMM rows; the host side
// picks the kernel and its tile (square, tall, the 128 x 128 wide one, or the 128 x 16 skinny
// one) and lays the copies out in the caller's workspace. Declared in conv_gather.h (private)
// and conv_tensor_core.h (the tensor helpers).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_gather.h"
#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/digits.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/phase_filters.h"
#include "kernels/cuda/tensor_core_pipeline.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace conv_gather {
namespace {

// The channels-last gather's entry of the piece starting at reduction index c.k, k in the order
// (j, jw, ch): digits of radices (-, taps along w, channels); the source offset (dh * width + dw)
// * channels + ch inside one image of the copy, and the shifts. (`filter` is unused: the filter
// is a dense matrix in the same k order.)
__device__ __forceinline__ TapEntry piece_entry(const GatherShape& s, const IndexDigits& c) {
  if (c.k >= s.depth()) return TapEntry{-1, 0, kOutside, kOutside};
  const int dh = s.h.tap_step * c.d.hi, dw = s.w.tap_step * c.d.mid;
  return TapEntry{-1, (dh * s.w.source_size + dw) * s.channels + c.d.lo, dh, dw};
}

// A thread's positions of the gathered operand, fixed for the whole reduction: `first` and then
// every `step`-th, kPasses of them; per position its image, the window origin's offset inside
// it and its source row and column (kOutside past the last position). T: the copy's element,
// float or uint16_t (BF16 bits).
template <int kPasses, class T = float>
struct PiecePositions {
  const T* image[kPasses];
  int origin[kPasses], row0[kPasses], col0[kPasses];

  __device__ __forceinline__ PiecePositions(const GatherShape& s, const T* source, int first,
                                            int step) {
    const int positions = s.batch * s.grid_plane();
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      const int position = first + i * step;
      image[i] = source;
      origin[i] = 0;
      row0[i] = col0[i] = kOutside;
      if (position < positions) {
        const int n = position / s.grid_plane();
        const int pixel = position - n * s.grid_plane();
        const int h = pixel / s.w.count, w = pixel - h * s.w.count;
        row0[i] = s.h.source_origin + s.h.source_step * h;
        col0[i] = s.w.source_origin + s.w.source_step * w;
        image[i] = source + int64_t{n} * s.source_plane() * s.channels;
        origin[i] = (row0[i] * s.w.source_size + col0[i]) * s.channels;
      }
    }
  }

  // Copies piece e of position i to `to`: 16 bytes, or zeros outside the image.
  __device__ __forceinline__ void copy(const GatherShape& s, int i, const TapEntry& e,
                                       void* to) const {
    const bool inside =
        static_cast<unsigned>(row0[i] + e.dh) < static_cast<unsigned>(s.h.source_size) &&
        static_cast<unsigned>(col0[i] + e.dw) < static_cast<unsigned>(s.w.source_size);
    const unsigned offset = inside ? origin[i] + e.source : 0;  // >= 0 inside the image
    cp_async_cg16(to, image[i] + offset, inside ? 16 : 0);
  }
};

// The slab tables of pieces of kPerPiece channels (4 floats or 8 BF16 values): thread q <
// kPieces writes entry q of each slab, starting at k = kPerPiece q and stepping by the slab
// depth (whose digits ride in s.slab_step).
template <class Tile, int kPerPiece = 4>
struct PieceTable {
  static constexpr int kPieces = Tile::kDepth / kPerPiece;
  IndexDigits at{};

  // The tables of slabs 0 .. kStages - 1 (before the main loop).
  __device__ __forceinline__ void first(const GatherShape& s, TapEntry (*table)[kPieces]) {
    const int thread = static_cast<int>(threadIdx.x);
    if (s.depth() <= 0 || thread >= kPieces) return;
    at = IndexDigits{kPerPiece * thread, split_digits(kPerPiece * thread, s.w.taps, s.channels)};
    for (int slab = 0; slab < Tile::kStages; ++slab) next(s, table[slab]);
  }

  // The table of the slab kStages after `slab` (main_loop's after_barrier).
  __device__ __forceinline__ void after(const GatherShape& s, int slab,
                                        TapEntry (*table)[kPieces]) {
    if (static_cast<int>(threadIdx.x) < kPieces) next(s, table[slab % Tile::kStages]);
  }

  __device__ __forceinline__ void next(const GatherShape& s, TapEntry* entries) {
    entries[threadIdx.x] = piece_entry(s, at);
    at.k += Tile::kDepth;
    add_digits(at.d, s.slab_step, s.w.taps, s.channels);
  }
};

// conv_gather_kernel's product with the gathered operand in 16-byte pieces: `source` is the
// channels-last copy [N, H, W, C] of the source (to_channels_last_kernel), `filter` the
// [rows, taps_h, taps_w, C] matrix, both 16-byte aligned, so each piece is 4 channels (T float,
// C a multiple of 4) or 8 (T uint16_t: BF16 copies, C a multiple of 8) of one tap of one
// position, all inside or all outside the image. Thread q copies piece q % 4 of the slab's k for
// positions q / 4 + 32 i, i < Cols / 32: a warp reads 8 positions' 64 contiguous bytes when the
// slab's k share a tap. The slab table has one entry per piece (4 per slab, written by threads
// 0-3 as the NCHW kernel's threads 0-15 write theirs). Pipeline and epilogue are the NCHW
// kernel's; the fragments too for FP32 copies (16-deep slabs), or for BF16 copies mma_slab_half's
// (32-deep slabs in HalfStages, no conversions); the stages are static shared memory, or for
// the wide tile the launch's dynamic shared memory (tile_stages). This is the block's tile at
// GEMM rows m0.. and positions n0.., for conv_gather_channels_last_kernel (one product) and
// conv_gather_phases_kernel (up to four).
template <bool kBf16, class Tile, class T>
__device__ __forceinline__ void gather_channels_last_tile(const GatherShape& s, const T* source,
                                                          const T* filter, const float* bias,
                                                          float* out, int m0, int n0) {
  using Stages = GatherStages<Tile, T>;
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads;
  constexpr int kRows = Tile::kRows, kCols = Tile::kCols;
  constexpr int kPerPiece = 16 / static_cast<int>(sizeof(T));  // channels of one piece
  constexpr int kPieces = kDepth / kPerPiece;            // pieces along k in a slab row
  constexpr int kPositionsPerPass = kThreads / kPieces;  // 32
  constexpr int kPasses = kCols / kPositionsPerPass;     // positions per thread: 2, or 4 (wide)
  static_assert(kCols % kPositionsPerPass == 0, "whole passes of pieces");
  Stages& stages = tile_stages<Tile, Stages>();
  __shared__ TapEntry table[Tile::kStages][kPieces];
  WEFT_SHARED_UNDEFINED(table);
  const int thread = static_cast<int>(threadIdx.x);
  const int piece = thread % kPieces;
  const PiecePositions<kPasses, T> gathered(s, source, n0 + thread / kPieces, kPositionsPerPass);
  PieceTable<Tile, kPerPiece> pieces;
  pieces.first(s, table);
  __syncthreads();

  const PieceRows<Tile, kRows, T, Stages::kRowElements> filter_rows(
      filter + int64_t{m0} * s.filter_row, s.filter_row, s.rows - m0);
  const auto stage = [&](int slab, int buffer) {
    // Whole pieces: the depth is taps x C, C a multiple of kPerPiece.
    filter_rows.template stage<true>(slab * kDepth, s.depth(), stages.a[buffer]);
    const TapEntry e = table[buffer][piece];
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      const int position = thread / kPieces + i * kPositionsPerPass;
      gathered.copy(s, i, e, &stages.b[buffer][position][kPerPiece * piece]);
    }
  };
  const auto after_barrier = [&](int slab) { pieces.after(s, slab, table); };

  TensorAccumulators<Tile> acc;
  zero<Tile>(acc);
  // Both copies were rounded as they were made (to TF32 at tf32; to BF16 when T holds BF16).
  main_loop<kBf16, Tile, !kBf16, !kBf16>((s.depth() + kDepth - 1) / kDepth, stages, stage,
                                         after_barrier, acc);
  store_gather_tile<Tile>(s, acc, bias, out, m0, n0);
}

template <bool kBf16, class Tile, class T = float>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks)
    conv_gather_channels_last_kernel(GatherShape s, const T* source, const T* filter,
                                     const float* bias, float* out) {
  gather_channels_last_tile<kBf16, Tile>(s, source, filter, bias, out,
                                         static_cast<int>(blockIdx.y) * Tile::kRows,
                                         static_cast<int>(blockIdx.x) * Tile::kCols);
}

// The phases of a strided backward-data (GatherPhases), block z running phase z's tile at
// (blockIdx.y, blockIdx.x) of its own grid; a block past a smaller phase's last position returns
// before any barrier (the whole block alike). The source (dy's copy) and bias are shared.
template <bool kBf16, class Tile, class T = float>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks)
    conv_gather_phases_kernel(GatherPhases<T> phases, const T* source, const float* bias,
                              float* out) {
  const int z = static_cast<int>(blockIdx.z);
  // A copy in registers: through a reference indexed by z the main loop reads the parameters
  // (static table: 172 instructions per slab of the square tile against 126).
  const GatherShape s = phases.s[z];
  const int n0 = static_cast<int>(blockIdx.x) * Tile::kCols;
  if (n0 >= s.batch * s.grid_plane()) return;
  gather_channels_last_tile<kBf16, Tile>(s, source, phases.filter[z], bias, out,
                                         static_cast<int>(blockIdx.y) * Tile::kRows, n0);
}

// The same product for at most 16 GEMM rows (the DCGAN's last transposed layer, 3 channels; the
// pair CNNs' conv4 backward-data, 16), transposed: out^T[positions, rows] =
// gather^T[positions, k] * A^T[k, rows] on SkinnyTile, so the positions fill the tile's 128
// rows and the GEMM rows its 16 columns. The stages swap roles: stages.a holds the gathered
// pieces (thread q copies piece q % 4 of positions q / 4 + 32 i, i < 4, as above), stages.b the
// filter rows (threads 0-63: row q / 4, piece q % 4, the row's address worked out once).
// Pipeline and fragments are the other kernels' (a warp's 64 x 8 is 4 x 1 mma tiles, B by
// ldmatrix.x2); the epilogue writes accumulator (position, row) to out[n, row, oh, ow] with
// the bias and activation, lanes g covering 8 consecutive positions of one row. On BF16 copies
// (T uint16_t) a piece is 8 channels, the slab 32 deep in HalfStages on SkinnyHalfTile, and
// the fragments mma_slab_half's, as for the other tiles.
template <bool kBf16, class T = float>
__global__ void __launch_bounds__(SkinnyTile::kThreads, SkinnyTile::kMinBlocks)
    conv_gather_skinny_kernel(GatherShape s, const T* source, const T* filter, const float* bias,
                              float* out) {
  using Tile = SkinnyTileOf<T>;
  using Stages = GatherStages<Tile, T>;
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads;
  constexpr int kPositions = Tile::kRows, kChannels = Tile::kCols;
  constexpr int kPerPiece = 16 / static_cast<int>(sizeof(T));  // channels of one piece
  constexpr int kPieces = kDepth / kPerPiece;              // 4
  constexpr int kPositionsPerPass = kThreads / kPieces;    // 32
  constexpr int kPasses = kPositions / kPositionsPerPass;  // 4
  static_assert(kChannels * kPieces <= kThreads, "one filter piece per thread at most");
  static_assert(Tile::kThreads == SkinnyTile::kThreads && Tile::kMinBlocks == SkinnyTile::kMinBlocks,
                "the launch bounds hold for both tiles");
  Stages& stages = tile_stages<Tile, Stages>();
  __shared__ TapEntry table[Tile::kStages][kPieces];
  WEFT_SHARED_UNDEFINED(table);
  const int thread = static_cast<int>(threadIdx.x);
  const int p0 = static_cast<int>(blockIdx.x) * kPositions;
  const int r0 = static_cast<int>(blockIdx.y) * kChannels;
  const int piece = thread % kPieces;
  const PiecePositions<kPasses, T> gathered(s, source, p0 + thread / kPieces, kPositionsPerPass);
  PieceTable<Tile, kPerPiece> pieces;
  pieces.first(s, table);
  __syncthreads();

  // This thread's filter piece (threads 0-63): row r0 + q / 4, k = kPerPiece (q % 4) + slab *
  // kDepth.
  const int filter_row = thread / kPieces;
  const bool copies_filter = filter_row < kChannels;
  const bool row_inside = copies_filter && r0 + filter_row < s.rows;
  const T* row =
      filter + (row_inside ? int64_t{r0 + filter_row} * s.filter_row + kPerPiece * piece : 0);
  const auto stage = [&](int slab, int buffer) {
    if (copies_filter) {  // whole pieces: the depth is taps x C, C a multiple of kPerPiece
      const bool copy = row_inside && slab * kDepth + kPerPiece * piece < s.depth();
      cp_async_cg16(&stages.b[buffer][filter_row][kPerPiece * piece],
                    row + (copy ? slab * kDepth : 0), copy ? 16 : 0);
    }
    const TapEntry e = table[buffer][piece];
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      const int position = thread / kPieces + i * kPositionsPerPass;
      gathered.copy(s, i, e, &stages.a[buffer][position][kPerPiece * piece]);
    }
  };
  const auto after_barrier = [&](int slab) { pieces.after(s, slab, table); };

  TensorAccumulators<Tile> acc;
  zero<Tile>(acc);
  main_loop<kBf16, Tile, !kBf16, !kBf16>((s.depth() + kDepth - 1) / kDepth, stages, stage,
                                         after_barrier, acc);

  const int positions = s.batch * s.grid_plane();
  const int warp = thread / 32, lane = thread % 32;
  const int warp_row = Tile::kWarpRows * (warp / 2), warp_col = Tile::kWarpCols * (warp % 2);
  const int g = lane / 4, t = lane % 4;
  WEFT_UNROLL
  for (int mi = 0; mi < Tile::kMi; ++mi) {
    WEFT_UNROLL
    for (int half = 0; half < 2; ++half) {
      const int position = p0 + warp_row + 16 * mi + g + 8 * half;
      if (position >= positions) continue;
      float* column = output_column(s, position, out);
      WEFT_UNROLL
      for (int c = 0; c < 2; ++c) {
        const int r = r0 + warp_col + 2 * t + c;
        if (r >= s.rows) continue;
        const float sum = acc[mi][0][2 * half + c] + (bias != nullptr ? bias[r] : 0.0f);
        column[int64_t{r} * s.out_plane()] = s.act.apply(sum);
      }
    }
  }
}

// One copy of to_channels_last_kernel: out[o, j, i] = in[o, i, j] for i < a, j < b, o < outer
// (transposed), or out[o, i, j] = in[o, i, j] (`transpose` false: the values converted, the
// layout kept). Up to two ride in one launch (the forward's source and filter copies;
// backward-filter's BF16 copies of x, transposed, and of dy, not).
template <class T>
struct CopyJob {
  int outer, a, b;
  const float* in;
  T* out;
  bool transpose = true;
};
template <class T>
struct CopyJobs {
  int count;
  CopyJob<T> job[2];
};

// With `filter_count` > 0, the blocks of z = jobs.count write a backward-data's phase filters
// instead (PhaseFilters, phase_filters.h): block (x, y) of that layer moves the weights
// (y * gridDim.x + x) * 256 + thread, then every gridDim.x * gridDim.y * 256 further, so dy's
// copy and the filters its gather reads take one launch (channels_last_phases and
// adjoint_on_copies in conv.cu). The grid is at least as large as for_each's would be for the
// filters alone.
//
// Copy blockIdx.z of `jobs`, for o = blockIdx.y + outer_base: NCHW to channels-last
// (a = C, b = H * W) and a filter's [rows, C, taps] to [rows, taps, C]; with `tf32`, each value
// rounded to TF32 on its way (the kernels that read the copy at tf32 then skip that conversion:
// tensor_core_pipeline.h, "Operands rounded by their copies"); with T uint16_t, each value
// rounded to BF16 (ties to even, as cvt.rn.bf16x2) and stored as its 16 bits. A block of 256
// threads moves a 32 x 32 tile through shared memory (one float of padding per row, so the
// column reads hit 32 banks): thread q reads row q / 32 + 8 r, column q % 32 (coalesced along
// j) and writes the transposed tile coalesced along i (a copy that keeps its layout writes the
// tile as read, coalesced along j). The grid covers the larger job; a block
// past its own job's tiles or outer index returns before the barrier (the whole block alike).
template <class T>
__global__ void __launch_bounds__(256)
    to_channels_last_kernel(CopyJobs<T> jobs, int outer_base, bool tf32, PhaseFilters<T> filters,
                            int64_t filter_count) {
  __shared__ float tile[32][33];
  WEFT_SHARED_UNDEFINED(tile);
  if (static_cast<int>(blockIdx.z) == jobs.count) {  // the filters' layer (filter_count > 0)
    const int64_t step = int64_t{gridDim.x} * gridDim.y * blockDim.x;
    for (int64_t i = (int64_t{blockIdx.y} * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x;
         i < filter_count; i += step) {
      filters(i);
    }
    return;
  }
  // Chosen between constant indices: jobs.job[blockIdx.z] copies the parameters to local memory
  // (the static table flagged the kernel for its local loads and stores).
  const CopyJob<T> job = blockIdx.z == 0 ? jobs.job[0] : jobs.job[1];
  const int a = job.a, b = job.b;
  const int tiles_b = (b + 31) / 32;
  const int64_t o = outer_base + static_cast<int64_t>(blockIdx.y);
  if (static_cast<int>(blockIdx.x) >= (a + 31) / 32 * tiles_b || o >= job.outer) return;
  const int i0 = static_cast<int>(blockIdx.x) / tiles_b * 32;
  const int j0 = static_cast<int>(blockIdx.x) % tiles_b * 32;
  const int lane = static_cast<int>(threadIdx.x) % 32, row = static_cast<int>(threadIdx.x) / 32;
  const float* from = job.in + o * a * b;
  T* to = job.out + o * a * b;
  WEFT_UNROLL
  for (int r = row; r < 32; r += 8) {
    if (i0 + r < a && j0 + lane < b) tile[r][lane] = from[int64_t{i0 + r} * b + j0 + lane];
  }
  __syncthreads();
  const auto converted = [tf32](float v) -> T {
    if constexpr (sizeof(T) == 2) {
      return static_cast<T>(pack_bf16x2(v, 0.0f) & 0xffffu);
    } else {
      return tf32 ? tf32_value(v) : v;
    }
  };
  WEFT_UNROLL
  for (int r = row; r < 32; r += 8) {
    if (!job.transpose) {  // the same layout: row r of the tile, coalesced along j
      if (i0 + r < a && j0 + lane < b) {
        to[int64_t{i0 + r} * b + j0 + lane] = converted(tile[r][lane]);
      }
    } else if (j0 + r < b && i0 + lane < a) {
      to[int64_t{j0 + r} * a + i0 + lane] = converted(tile[lane][r]);
    }
  }
}

// ---- host side ---------------------------------------------------------------------------------

// The non-empty copies of `jobs` in one launch (more where the outer index passes
// kMaxGridY), with the phase filters `filters` of `filter_count` weights in the first.
template <class T>
void to_channels_last(CopyJobs<T> jobs, bool tf32, cudaStream_t stream,
                      const PhaseFilters<T>& filters = PhaseFilters<T>{},
                      int64_t filter_count = 0) {
  CopyJobs<T> kept{};
  int64_t tiles = 0;
  int outer = 0;
  for (int i = 0; i < jobs.count; ++i) {
    const CopyJob<T>& t = jobs.job[i];
    if (t.outer <= 0 || t.a <= 0 || t.b <= 0) continue;
    kept.job[kept.count++] = t;
    tiles = std::max(tiles, int64_t{(t.a + 31) / 32} * ((t.b + 31) / 32));
    outer = std::max(outer, t.outer);
  }
  if (filter_count > 0) {
    // The filters' layer gets the blocks for_each would give them (card_grid_blocks), however
    // few tiles the copy has (a small batch's dy): the copy layers' surplus blocks return at
    // once.
    outer = std::max(outer, 1);
    const int64_t rows = std::min(outer, kMaxGridY);
    tiles = std::max<int64_t>(tiles, (card_grid_blocks(filter_count) + rows - 1) / rows);
  } else if (kept.count == 0) {
    return;
  }
  WEFT_CHECK(tiles <= 0x7fffffff, "conv (tensor cores): a channels-last copy of too many tiles");
  for (int base = 0; base < outer; base += kMaxGridY) {
    const int count = std::min(outer - base, kMaxGridY);
    const int64_t filters_here = base == 0 ? filter_count : 0;
    const unsigned layers = static_cast<unsigned>(kept.count + (filters_here > 0 ? 1 : 0));
    WEFT_LAUNCH(to_channels_last_kernel<T>, dim3(static_cast<unsigned>(tiles), count, layers),
                256, 0, stream, kept, base, tf32, filters, filters_here);
  }
}

// One copy, and with `filter_count` > 0 the phase filters `filters` in the same launch.
template <class T>
void to_channels_last(int outer, int a, int b, const float* in, T* out, bool tf32,
                      cudaStream_t stream, const PhaseFilters<T>& filters = PhaseFilters<T>{},
                      int64_t filter_count = 0) {
  CopyJobs<T> jobs{};
  jobs.count = 1;
  jobs.job[0] = CopyJob<T>{outer, a, b, in, out};
  to_channels_last(jobs, tf32, stream, filters, filter_count);
}

}  // namespace

void to_bf16_copies(int batch, int channels, int plane, const float* x, uint16_t* x_copy,
                    int dy_channels, int dy_plane, const float* dy, uint16_t* dy_copy,
                    cudaStream_t stream) {
  CopyJobs<uint16_t> jobs{};
  jobs.count = 2;
  jobs.job[0] = CopyJob<uint16_t>{batch, channels, plane, x, x_copy};
  jobs.job[1] = CopyJob<uint16_t>{batch, dy_channels, dy_plane, dy, dy_copy, false};
  to_channels_last(jobs, false, stream);
}

namespace {

// The source's and the filter's copies of s in one launch.
template <class T>
void copy_operands(const GatherShape& s, const float* source, T* source_copy,
                   const float* filter, T* filter_copy, bool tf32, cudaStream_t stream) {
  CopyJobs<T> jobs{};
  jobs.count = 2;
  jobs.job[0] = CopyJob<T>{s.batch, s.channels, s.source_plane(), source, source_copy};
  jobs.job[1] = CopyJob<T>{s.rows, s.channels, s.taps(), filter, filter_copy};
  to_channels_last(jobs, tf32, stream);
}

template <bool kBf16, class Tile, class T = float>
void launch_gather_channels_last(const GatherShape& s, const T* source, const T* filter,
                                 const float* bias, float* out, cudaStream_t stream) {
  using Stages = GatherStages<Tile, T>;
  const dim3 grid = gather_grid<Tile>(s);
  if (grid.x == 0) return;
  WEFT_CHECK(grid.y <= kMaxGridY, "conv (tensor cores): too many channels");
  GatherShape shape = s;
  shape.slab_step = split_digits(Tile::kDepth, s.w.taps, s.channels);
  if constexpr (kDynamicStages<Tile, Stages>) {
    WEFT_LAUNCH_LARGE_SHARED((conv_gather_channels_last_kernel<kBf16, Tile, T>), grid,
                             Tile::kThreads, (dynamic_stage_bytes<Tile, Stages>()), stream, shape,
                             source, filter, bias, out);
  } else {
    WEFT_LAUNCH((conv_gather_channels_last_kernel<kBf16, Tile, T>), grid, Tile::kThreads, 0,
                stream, shape, source, filter, bias, out);
  }
}

// The channels-last gather's tile when the caller leaves it open, for products of `rows` GEMM
// rows whose grids on a tile have blocks(tile) blocks together: the wide one once the GEMM rows
// fill it and those blocks still fill the card twice over at kWideBlocksPerSm (what its
// registers allow, static table); else tall_gather's choice.
constexpr int kWideBlocksPerSm = 2;

template <class Blocks>
TensorCoreTile automatic_tile(TensorCoreTile tile, int rows, const Blocks& blocks) {
  tile = requested_tile(tile);
  if (tile != TensorCoreTile::automatic) return tile;
  if (rows >= WideTile::kRows && blocks(WideTile{}) >= 2 * kWideBlocksPerSm * sm_count()) {
    return TensorCoreTile::wide;
  }
  return tall_gather(rows, blocks(TallTile{})) ? TensorCoreTile::tall : TensorCoreTile::square;
}

TensorCoreTile channels_last_tile(const GatherShape& s, TensorCoreTile tile) {
  return automatic_tile(tile, s.rows, [&](auto shape_of) {
    return grid_blocks(gather_grid<decltype(shape_of)>(s));
  });
}

// The source's channels-last copy, rounded up to whole 16-byte pieces (the filter's copy follows
// it aligned).
int64_t source_copy_floats(const GatherShape& s) {
  return round_up4(int64_t{s.batch} * s.source_plane() * s.channels);
}

template <bool kBf16, class T = float>
void launch_skinny(const GatherShape& s, const T* source, const T* filter, const float* bias,
                   float* out, cudaStream_t stream) {
  using Tile = SkinnyTileOf<T>;
  const int64_t positions = int64_t{s.batch} * s.grid_plane();
  if (positions <= 0 || s.rows <= 0) return;
  const dim3 grid(static_cast<unsigned>((positions + Tile::kRows - 1) / Tile::kRows),
                  static_cast<unsigned>((s.rows + Tile::kCols - 1) / Tile::kCols));
  GatherShape shape = s;
  shape.slab_step = split_digits(Tile::kDepth, s.w.taps, s.channels);
  WEFT_LAUNCH((conv_gather_skinny_kernel<kBf16, T>), grid, Tile::kThreads, 0, stream, shape,
              source, filter, bias, out);
}

// Whether the skinny kernel takes the product: at most 16 GEMM rows with no tile forced.
bool skinny_gather(const GatherShape& s, TensorCoreTile tile) {
  return requested_tile(tile) == TensorCoreTile::automatic && s.rows <= SkinnyTile::kCols;
}

// The tiles of copies holding T: float (FP32 or TF32 values) or uint16_t (BF16 bits).
template <class T>
using WideTileOf = std::conditional_t<sizeof(T) == 4, WideTile, WideHalfTile>;
template <class T>
using TallTileOf = std::conditional_t<sizeof(T) == 4, TallTile, TallHalfTile>;
template <class T>
using SquareTileOf = std::conditional_t<sizeof(T) == 4, SquareTile, SquareHalfTile>;

// The product on channels-last copies holding T (FP32 or TF32 values in floats, or BF16 bits),
// kBf16 the precision of its mma, on `tile` (automatic: the skinny kernel for at most 16 GEMM
// rows, else channels_last_tile's choice).
template <bool kBf16, class T>
void run_on_copies(TensorCoreTile tile, const GatherShape& s, const T* source_copy,
                   const T* filter_copy, const float* bias, float* out, cudaStream_t stream) {
  if (skinny_gather(s, tile)) {
    launch_skinny<kBf16>(s, source_copy, filter_copy, bias, out, stream);
    return;
  }
  switch (channels_last_tile(s, tile)) {
    case TensorCoreTile::wide:
      launch_gather_channels_last<kBf16, WideTileOf<T>>(s, source_copy, filter_copy, bias, out,
                                                        stream);
      return;
    case TensorCoreTile::tall:
      launch_gather_channels_last<kBf16, TallTileOf<T>>(s, source_copy, filter_copy, bias, out,
                                                        stream);
      return;
    default:
      launch_gather_channels_last<kBf16, SquareTileOf<T>>(s, source_copy, filter_copy, bias, out,
                                                          stream);
  }
}

// One launch of conv_gather_phases_kernel on Tile: grid x the widest phase's position tiles, y
// the row tiles, z the phases.
template <bool kBf16, class Tile, class T>
void launch_gather_phases(GatherPhases<T> phases, const T* source, const float* bias, float* out,
                          cudaStream_t stream) {
  using Stages = GatherStages<Tile, T>;
  unsigned widest = 0, row_tiles = 0;
  for (int i = 0; i < phases.count; ++i) {
    const dim3 grid = gather_grid<Tile>(phases.s[i]);
    widest = std::max(widest, grid.x);
    row_tiles = std::max(row_tiles, grid.y);
    phases.s[i].slab_step = split_digits(Tile::kDepth, phases.s[i].w.taps, phases.s[i].channels);
  }
  if (widest == 0) return;
  WEFT_CHECK(row_tiles <= static_cast<unsigned>(kMaxGridY),
             "conv (tensor cores): too many channels");
  const dim3 grid(widest, row_tiles, static_cast<unsigned>(phases.count));
  if constexpr (kDynamicStages<Tile, Stages>) {
    WEFT_LAUNCH_LARGE_SHARED((conv_gather_phases_kernel<kBf16, Tile, T>), grid, Tile::kThreads,
                             (dynamic_stage_bytes<Tile, Stages>()), stream, phases, source, bias,
                             out);
  } else {
    WEFT_LAUNCH((conv_gather_phases_kernel<kBf16, Tile, T>), grid, Tile::kThreads, 0, stream,
                phases, source, bias, out);
  }
}

// gather_phases_channels_last on copies holding T: at most 16 GEMM rows, the skinny kernel per
// phase; otherwise the phases in one launch on the tile automatic_tile gives their grids side
// by side.
template <bool kBf16, class T>
void run_phases(const GatherShape* shapes, const void* const* filters, int count,
                const void* source_copy, const float* bias, float* out, cudaStream_t stream) {
  const auto* source = static_cast<const T*>(source_copy);
  if (skinny_gather(shapes[0], TensorCoreTile::automatic)) {
    for (int i = 0; i < count; ++i) {
      launch_skinny<kBf16>(shapes[i], source, static_cast<const T*>(filters[i]), bias, out,
                           stream);
    }
    return;
  }
  GatherPhases<T> phases{};
  phases.count = count;
  for (int i = 0; i < count; ++i) {
    phases.s[i] = shapes[i];
    phases.filter[i] = static_cast<const T*>(filters[i]);
  }
  const auto side_by_side = [&](auto tile) {
    int64_t blocks = 0;
    for (int i = 0; i < count; ++i) blocks += grid_blocks(gather_grid<decltype(tile)>(shapes[i]));
    return blocks;
  };
  switch (automatic_tile(TensorCoreTile::automatic, shapes[0].rows, side_by_side)) {
    case TensorCoreTile::wide:
      launch_gather_phases<kBf16, WideTileOf<T>>(phases, source, bias, out, stream);
      return;
    case TensorCoreTile::tall:
      launch_gather_phases<kBf16, TallTileOf<T>>(phases, source, bias, out, stream);
      return;
    default:
      launch_gather_phases<kBf16, SquareTileOf<T>>(phases, source, bias, out, stream);
  }
}

}  // namespace

bool channels_last_applies(const GatherShape& s) {
  const auto plain = [](const GatherAxis& a) { return a.filter_origin == 0 && a.filter_step == 1; };
  return s.depth() > 0 && s.channels % 4 == 0 && s.channels == s.source_channels &&
         plain(s.h) && plain(s.w) && s.filter_w == s.w.taps && s.filter_channel == s.taps() &&
         s.filter_row == s.depth();
}

// The source's copy (rounded to whole 16-byte pieces, so the filter's copy starts aligned), the
// filter's, and 4 floats to align the workspace's start.
int64_t channels_last_floats(const GatherShape& s) {
  return 4 + source_copy_floats(s) + int64_t{s.rows} * s.depth();
}

void gather_channels_last(bool bf16, TensorCoreTile tile, const GatherShape& s,
                          const float* source, const float* filter, const float* bias, float* out,
                          float* workspace, cudaStream_t stream) {
  if (bf16 && gather_copy_format(MathPrecision::bf16, s.channels) == CopyFormat::bf16) {
    // Half the bytes of the FP32 copies: within channels_last_floats, the filter's copy 16-byte
    // aligned after the source's (both counts multiples of 8 values).
    auto* source_copy = reinterpret_cast<uint16_t*>(aligned_up16(workspace));
    uint16_t* filter_copy = source_copy + int64_t{s.batch} * s.source_plane() * s.channels;
    copy_operands(s, source, source_copy, filter, filter_copy, false, stream);
    gather_on_copies(bf16, tile, s, source_copy, filter_copy, bias, out, stream);
    return;
  }
  float* source_copy = aligned_up16(workspace);
  float* filter_copy = source_copy + source_copy_floats(s);
  copy_operands(s, source, source_copy, filter, filter_copy, !bf16, stream);
  gather_on_copies(bf16, tile, s, source_copy, filter_copy, bias, out, stream);
}

void gather_on_copies(bool bf16, TensorCoreTile tile, const GatherShape& s, const void* source_copy,
                      const void* filter_copy, const float* bias, float* out, cudaStream_t stream) {
  WEFT_CHECK(channels_last_applies(s), "conv (tensor cores): a product with no channels-last form");
  if (bf16 && gather_copy_format(MathPrecision::bf16, s.channels) == CopyFormat::bf16) {
    run_on_copies<true>(tile, s, static_cast<const uint16_t*>(source_copy),
                        static_cast<const uint16_t*>(filter_copy), bias, out, stream);
  } else if (bf16) {
    run_on_copies<true>(tile, s, static_cast<const float*>(source_copy),
                        static_cast<const float*>(filter_copy), bias, out, stream);
  } else {
    run_on_copies<false>(tile, s, static_cast<const float*>(source_copy),
                         static_cast<const float*>(filter_copy), bias, out, stream);
  }
}

void gather_phases_channels_last(bool bf16, const GatherShape* shapes, const void* const* filters,
                                 int count, const void* source_copy, const float* bias, float* out,
                                 cudaStream_t stream) {
  if (count <= 0) return;
  WEFT_CHECK(count <= kPhasesPerLaunch, "conv (tensor cores): more phases than one launch takes");
  for (int i = 0; i < count; ++i) {
    WEFT_CHECK(channels_last_applies(shapes[i]) && shapes[i].rows == shapes[0].rows &&
                   shapes[i].channels == shapes[0].channels,
               "conv (tensor cores): phases that cannot share a channels-last launch");
  }
  // dy's copy and the filters were made in gather_copy_format's format (conv.cu).
  if (bf16 && gather_copy_format(MathPrecision::bf16, shapes[0].channels) == CopyFormat::bf16) {
    run_phases<true, uint16_t>(shapes, filters, count, source_copy, bias, out, stream);
  } else if (bf16) {
    run_phases<true, float>(shapes, filters, count, source_copy, bias, out, stream);
  } else {
    run_phases<false, float>(shapes, filters, count, source_copy, bias, out, stream);
  }
}

}  // namespace conv_gather

int64_t channels_last_tensor_floats(int batch, int channels, int plane) {
  return channels % 4 == 0 ? 4 + conv_gather::round_up4(int64_t{batch} * channels * plane) : 0;
}

CopyFormat gather_copy_format(MathPrecision precision, int channels) {
  switch (precision) {
    case MathPrecision::tf32:
      return CopyFormat::tf32;
    case MathPrecision::bf16:
      return channels % 8 == 0 ? CopyFormat::bf16 : CopyFormat::fp32;
    case MathPrecision::fp32:
      break;
  }
  return CopyFormat::fp32;
}

ChannelsLastCopies copy_with_phase_filters(int batch, int channels, int plane, const float* in,
                                           float* out, CopyFormat format, const Conv2dParams& p,
                                           const float* w, float* filter_room,
                                           cudaStream_t stream) {
  float* copy = conv_gather::aligned_up16(out);
  float* filters = conv_gather::aligned_up16(filter_room);
  if (format == CopyFormat::bf16) {
    auto* halves = reinterpret_cast<uint16_t*>(copy);
    auto* filter_halves = reinterpret_cast<uint16_t*>(filters);
    conv_gather::to_channels_last(batch, channels, plane, in, halves, false, stream,
                                  PhaseFilters<uint16_t>(p, w, filter_halves, true, false),
                                  p.weight_count());
    return ChannelsLastCopies{halves, filter_halves, 2};
  }
  const bool tf32 = format == CopyFormat::tf32;
  conv_gather::to_channels_last(batch, channels, plane, in, copy, tf32, stream,
                                PhaseFilters<float>(p, w, filters, true, tf32), p.weight_count());
  return ChannelsLastCopies{copy, filters, 4};
}

void* to_channels_last_tensor(int batch, int channels, int plane, const float* in, float* out,
                              CopyFormat format, cudaStream_t stream) {
  float* copy = conv_gather::aligned_up16(out);
  if (format == CopyFormat::bf16) {
    auto* halves = reinterpret_cast<uint16_t*>(copy);
    conv_gather::to_channels_last(batch, channels, plane, in, halves, false, stream);
    return halves;
  }
  conv_gather::to_channels_last(batch, channels, plane, in, copy, format == CopyFormat::tf32,
                                stream);
  return copy;
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
