// The hand convolutions on tensor cores (declared in conv_tensor_core.h): the implicit GEMMs of
// conv.cu (forward, backward-data as a gather, backward-filter with split-K) on the tiles,
// multistage pipeline and fragments of tensor_core_pipeline.h, which gemm_tensor_core.cu shares:
// operands rounded to TF32 (mma m16n8k8) or BF16 (m16n8k16) as they enter the tensor cores,
// FP32 accumulation. Used by conv.cu when the math precision of kernels/selection.h is tf32 or
// bf16; conv_transpose2d follows through as_conv().
// Notation as in conv.cu: C, H, W input channels and size; O, OH, OW output channels and size;
// T = C * KH * KW taps; a "position" is (image, row, column) of a plane.
//
// Common to both kernels. One block of 128 threads (4 warps) per tile of the product: 64 x 64
//   (SquareTile, 4 stages) or 128 x 64 (TallTile, 3 stages), 16-deep slabs, warp w owning a
//   quarter as 2 x 4 (or 4 x 4) mma tiles of 16 x 8 (tensor_core_pipeline.h). Shared memory
//   (static, 41-48 KiB): the stages of an R x 16 slab of A (GEMM rows, k along the row) and a
//   C x 16 slab of B^T (GEMM columns, k along the row), FP32, filled with cp.async while the
//   tensor cores work on an older stage; plus the index tables below. The tall tile does twice
//   the products per staged B element and per B fragment; the gather takes it for at least 128
//   GEMM rows when its grid still fills the card twice (tall_gather), backward-filter for at
//   least 128 output channels (tall_filter; its split-K keeps the grid full).
//   The image operands are gathered element by element (cp.async.ca, 4 bytes) and zero-filled
//   (src-size 0) in the padding, outside the image and past the edges of the product, so the
//   mma work needs no masking.
//
// Index arithmetic: no integer division per staged element. Each staged element is a (GEMM row
//   or column, k) pair whose address splits into a part that depends only on the row or column
//   and a part that depends only on k:
//   - the fixed part is decoded once per thread (the thread always stages the same row or
//     column of a slab) or once per block (backward-filter's 64 taps, a shared table);
//   - the k part lives in a shared "slab table" of one entry per k of the slab, one buffer
//     per stage, written by warp 0 as tensor_core_pipeline.h's "Slab tables" says: the table
//     of slab s + kStages while the mma work of slab s runs, into the buffer slab s was staged
//     from.
//   An entry's k is decoded into digits (the gather's (ch, j, jw), backward-filter's (n, oh, ow))
//   by divisions once per thread as the block starts; each later entry of the thread is the one
//   before it stepped by kDepth with a carry per digit (IndexDigits, digits.h), so the main loop
//   divides nothing. The staging is adds, multiplies and one unsigned compare per axis for the
//   bounds.
//
// conv_gather_kernel   out[rows, positions] = A[rows, (ch, j, jw)] * gather[(ch, j, jw), positions]
//   One kernel for the forward and for backward-data; a GatherShape says which.
//   Forward: rows = output channels o, positions = (n, oh, ow), reduction channels ch = input
//   channels c with taps (j, jw) = (kh, kw): A = w[o, c, kh, kw] and the gathered operand
//   x[n, c, oh * stride - pad + kh * dilation, ...], 0 in the padding; epilogue y[n, o, oh, ow] =
//   act(acc + bias[o]) (kernels/params.h FusedActivation).
//   Backward-data (a gather: each dx element is written by one thread, no atomics): split by
//   phase as conv.cu does for stride > 1, generalised to any dilation. For the input rows
//   h = first + stride * i with (h + pad) mod stride = ph, the kernel rows that reach them are
//   kh = kh0 + (stride / g) j (g = gcd(stride, dilation), kh0 the smallest kh with
//   kh * dilation = ph mod stride), and row i meets output row base + i - (dilation / g) j under
//   tap j, base = (first + pad - kh0 dilation) / stride (exact). So each phase (ph, pw) is an
//   implicit GEMM with no structurally zero terms: rows = input channels c, positions =
//   (n, i, iw), reduction (o, j, jw), A = w[o, c, kh, kw], gathered dy[n, o, base + i - .., ..]
//   (0 outside the output). Stride 1 is one phase with first = 0, kh0 = 0, base = pad, which is
//   the plain gather dx[c, (n, h, w)] = sum w[o, c, kh, kw] dy[n, o, h + pad - kh d, ..]. The
//   epilogue writes dx[n, c, first + stride i, ..] = acc (+ bias[c]: conv_transpose2d's).
//   Strided layers without dilation and with more than 4 input channels come here another way
//   (conv.cu, "Strided backward-data"): each phase as this kernel's forward on dy, with padding
//   taps - 1 - base and a filter conv.cu has reordered per phase into a row-major
//   [C, O * taps] matrix (conv2d_backward_data_phase_tensor_core, phase_forward_axis), which
//   moves in 16-byte copies like the forward's; on channels-last operands the filter is written
//   [C, taps, O] and four phases share a launch (conv_gather_phases_kernel, conv_channels_last.cu).
//   Staging: the gathered operand (B^T, one position per row of the slab): thread q stages the
//   position 64 bx + q % 64 (decoded once: its image base address and source row / column
//   origin) at k = q / 64 + 2 s, s = 0..7, so a warp covers 32 consecutive positions of one k
//   (coalesced along the row of the image); the slab table gives, per k, the source offset
//   ch * plane + dh * width + dw and the shifts (dh, dw) for the bounds. The filter operand A:
//   thread q stages k = q % 16 of rows q / 16 + 8 s, its address row * row_stride + the slab
//   table's filter offset; the forward's filter is a plain row-major [O, T] matrix and moves in
//   16-byte copies (cp.async.cg) when T is a multiple of 4 and w is 16-byte aligned.
//
// conv_gather_channels_last_kernel   the same product on channels-last copies
//   (conv_channels_last.cu; the types both gathers use are in conv_gather.h)
//   When the reduction channels are a multiple of 4 and the caller gives a workspace (the
//   forward; the phases of a strided backward-data, which share one copy of dy),
//   to_channels_last_kernel copies the source to [N, H, W, C] and the filter to [rows, taps, C],
//   and the reduction runs in the order (kh, kw, c): each 16-byte piece of a slab row is 4
//   channels of one tap, inside the image or not as a whole, staged by one cp.async.cg with one
//   address and one bounds test (docs/kernels.md, "The tensor-core gather on channels-last
//   copies"). WEFT_CONV_CHANNELS_LAST=0 (kernels/selection.h) keeps the NCHW kernel. Besides
//   the two tiles above it has a 128 x 128 one (WideTile: warps of 64 x 64, 4 stages in 80 KiB
//   of dynamic shared memory, 2 blocks per SM), taken for at least 128 GEMM rows when its grid
//   still fills the card twice (channels_last_tile).
//
// conv_filter_kernel   dW[O, T] = dy[O, (n, oh, ow)] * col^T[(n, oh, ow), T], split-K
//   Rows = output channels, columns = taps, reduction over positions R = N * OH * OW, split into
//   `slices` ranges of whole slabs: block (bx, by, bz) computes tile (by, bx) over slice
//   bz and writes it to workspace[bz][O][T] (or straight to dW with one slice);
//   a second pass (sum_slices, reduce.h) adds the slices in a fixed order per element:
//   deterministic, no atomics. Both operands are k-contiguous
//   (positions): thread q stages k = q % 16 of rows q / 16 + 8 s, a warp covering 16 consecutive
//   positions (64 bytes) of each of two rows. When the output plane is whole 16-byte pieces and
//   dy is 16-byte aligned, dy moves in pieces instead: thread q copies positions 4 (q % 4) .. + 3
//   of rows q / 4 + 32 s (a piece never leaves its image, nor its slice: slices are whole slabs).
//   The slab table holds per position the dy offset n * O * OH * OW + pixel, x's image, the
//   window origin's offset inside it and the origin (oh * stride - pad, ow * stride - pad); a
//   second shared table, written once per block, holds per tap of the block's 64 columns the
//   offset c * H * W + kh d W + kw d and the shifts (kh d, kw d). The tall tile is held to 4
//   blocks per SM here (TallFilterTile), which its shared memory allows. Where C is a multiple
//   of 4 and the caller asks for channels-last, the same product runs on a channels-last copy of
//   x instead, 4 channels of one tap per copy (conv_filter_channels_last.cu).
//
// Supported shapes: those of conv.cu (indices int, addresses int64; one image of x, dy or dx
// below 2^31 floats). Degenerate sizes are conv.cu's business; it calls these with a non-empty
// output.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/conv_gather.h"
#include "kernels/cuda/digits.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"  // sum_slices
#include "kernels/cuda/tensor_core_pipeline.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
using namespace conv_gather;  // NOLINT: the file's own shared types (conv_gather.h)
namespace {

// ---- forward and backward-data: the NCHW gather kernel -----------------------------------------

// The gather's entry of reduction index c.k: digits (ch, j, jw) of radices (-, taps along h,
// taps along w).
__device__ __forceinline__ TapEntry tap_entry(const GatherShape& s, const IndexDigits& c) {
  if (c.k >= s.depth()) return TapEntry{-1, 0, kOutside, kOutside};
  const int ch = c.d.hi, j = c.d.mid, jw = c.d.lo;
  const int kh = s.h.filter_origin + s.h.filter_step * j;
  const int kw = s.w.filter_origin + s.w.filter_step * jw;
  const int dh = s.h.tap_step * j, dw = s.w.tap_step * jw;
  return TapEntry{ch * s.filter_channel + kh * s.filter_w + kw,
                  ch * s.source_plane() + dh * s.w.source_size + dw, dh, dw};
}

// Registers: at most those of Tile::kMinBlocks blocks per SM (128 for the square tile, 170 for
// the tall one); none spills (docs/kernels.md, static table).
template <bool kBf16, class Tile>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks)
    conv_gather_kernel(GatherShape s, const float* source, const float* filter, const float* bias,
                       float* out, bool filter_vector) {
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads;
  constexpr int kRows = Tile::kRows, kCols = Tile::kCols;
  __shared__ TensorStages<Tile> stages;
  __shared__ TapEntry table[Tile::kStages][kDepth];
  WEFT_SHARED_UNDEFINED(stages);
  WEFT_SHARED_UNDEFINED(table);
  const int thread = static_cast<int>(threadIdx.x);
  const int m0 = static_cast<int>(blockIdx.y) * kRows, n0 = static_cast<int>(blockIdx.x) * kCols;
  const int positions = s.batch * s.grid_plane();

  // This thread's gathered position (fixed for the whole reduction): its image, the offset of
  // the window origin inside it (an int: one image is below 2^31 floats) and the origin's source
  // row and column. A copy's address is then image + (inside ? origin + entry : 0), an unsigned
  // offset (never negative inside the image): one 32-bit select and one widening multiply-add,
  // where a signed 64-bit offset took six instructions.
  int row0 = kOutside, col0 = kOutside, origin = 0;
  const float* image = source;
  {
    const int position = n0 + thread % kCols;
    if (position < positions) {
      const int n = position / s.grid_plane();
      const int pixel = position - n * s.grid_plane();
      const int i = pixel / s.w.count, iw = pixel - i * s.w.count;
      row0 = s.h.source_origin + s.h.source_step * i;
      col0 = s.w.source_origin + s.w.source_step * iw;
      image = source + int64_t{n} * s.source_channels * s.source_plane();
      origin = row0 * s.w.source_size + col0;
    }
  }

  // Thread q < kDepth writes entry q of slabs 0 .. kStages - 1, stepping its index as
  // after_barrier does, and keeps the index (kStages + slab) kDepth + q of the entry it writes
  // after slab `slab` (no taps: no slab, and nothing to count).
  IndexDigits tap{};
  if (s.depth() > 0 && thread < kDepth) {
    tap = IndexDigits{thread, split_digits(thread, s.h.taps, s.w.taps)};
    for (int slab = 0; slab < Tile::kStages; ++slab) {
      table[slab][thread] = tap_entry(s, tap);
      tap.k += kDepth;
      add_digits(tap.d, s.slab_step, s.h.taps, s.w.taps);
    }
  }
  __syncthreads();

  const auto stage = [&](int slab, int buffer) {
    const int k0 = slab * kDepth;
    float(*a_tile)[Tile::kRowFloats] = stages.a[buffer];
    float(*b_tile)[Tile::kRowFloats] = stages.b[buffer];
    // Every loop below has a compile-time trip count (each thread's copies sit at fixed places
    // of the slab), so it unrolls with no loop control or remainder code.
    if (filter_vector) {  // the forward's W[O, T], k-contiguous and 16-byte aligned rows
      stage_pieces<Tile, kRows>(filter + int64_t{m0} * s.filter_row, s.filter_row, s.rows - m0,
                                k0, s.depth(), a_tile);
    } else {
      const int q = thread % kDepth;
      const int a_offset = table[buffer][q].filter;
      WEFT_UNROLL
      for (int i = 0; i < kRows * kDepth / kThreads; ++i) {
        const int r = thread / kDepth + i * (kThreads / kDepth), row = m0 + r;
        const bool inside = a_offset >= 0 && row < s.rows;
        cp_async_ca<4>(&a_tile[r][q],
                       filter + (inside ? int64_t{row} * s.filter_row + a_offset : 0),
                       inside ? 4 : 0);
      }
    }
    const int r = thread % kCols;
    WEFT_UNROLL
    for (int i = 0; i < kCols * kDepth / kThreads; ++i) {
      const int q = thread / kCols + i * (kThreads / kCols);
      const TapEntry e = table[buffer][q];
      const bool inside =
          static_cast<unsigned>(row0 + e.dh) < static_cast<unsigned>(s.h.source_size) &&
          static_cast<unsigned>(col0 + e.dw) < static_cast<unsigned>(s.w.source_size);
      const unsigned offset = inside ? origin + e.source : 0;  // >= 0 inside the image
      cp_async_ca<4>(&b_tile[r][q], image + offset, inside ? 4 : 0);
    }
  };
  // Slab `slab` was staged from table[slab % kStages]: that buffer now takes the entries of
  // slab + kStages (tensor_core_pipeline.h, "Slab tables").
  const auto after_barrier = [&](int slab) {
    if (thread < kDepth) {
      table[slab % Tile::kStages][thread] = tap_entry(s, tap);
      tap.k += kDepth;
      add_digits(tap.d, s.slab_step, s.h.taps, s.w.taps);
    }
  };

  TensorAccumulators<Tile> acc;
  zero<Tile>(acc);
  main_loop<kBf16, Tile>((s.depth() + kDepth - 1) / kDepth, stages, stage, after_barrier, acc);
  store_gather_tile<Tile>(s, acc, bias, out, m0, n0);
}

// ---- backward-filter ---------------------------------------------------------------------------

// Per tap (c, kh, kw) of the block's columns: x offset c * H * W + kh d W + kw d and the
// shifts (kh d, kw d); kOutside past the taps.
struct alignas(16) FilterTap {
  int offset, dh, dw;
};

// Slice blockIdx.z covers positions [z * slice_depth, min(R, (z + 1) * slice_depth)).
template <bool kBf16, class Tile>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks)
    conv_filter_kernel(FilterShape s, const float* x, const float* dy, int slice_depth,
                       bool dy_pieces, float* out) {
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads;
  constexpr int kRows = Tile::kRows, kCols = Tile::kCols;
  static_assert(kCols <= kThreads && kDepth <= kThreads, "one table entry per thread");
  __shared__ TensorStages<Tile> stages;
  __shared__ PositionEntry<> table[Tile::kStages][kDepth];
  __shared__ FilterTap taps[kCols];
  WEFT_SHARED_UNDEFINED(stages);
  WEFT_SHARED_UNDEFINED(table);
  WEFT_SHARED_UNDEFINED(taps);
  const int thread = static_cast<int>(threadIdx.x);
  const int m0 = static_cast<int>(blockIdx.y) * kRows, n0 = static_cast<int>(blockIdx.x) * kCols;
  const int positions = s.batch * s.out_plane();
  const int begin = static_cast<int>(blockIdx.z) * slice_depth;
  const int end = positions - begin < slice_depth ? positions : begin + slice_depth;

  if (thread < kCols) {
    const int tap = n0 + thread;
    FilterTap e{0, kOutside, kOutside};
    if (tap < s.taps()) {
      const int per_channel = s.kernel_h * s.kernel_w;
      const int c = tap / per_channel;
      const int rest = tap - c * per_channel;
      const int kh = rest / s.kernel_w, kw = rest - kh * s.kernel_w;
      e.dh = kh * s.dilation_h;
      e.dw = kw * s.dilation_w;
      e.offset = c * s.in_plane() + e.dh * s.in_w + e.dw;
    }
    taps[thread] = e;
  }
  // Thread q < kDepth writes entry q of slabs 0 .. kStages - 1, stepping its position as
  // after_barrier does, and keeps the position begin + (kStages + slab) kDepth + q of the entry
  // it writes after slab `slab`.
  IndexDigits position{};
  if (thread < kDepth) {
    position = IndexDigits{begin + thread, split_digits(begin + thread, s.out_h, s.out_w)};
    for (int slab = 0; slab < Tile::kStages; ++slab) {
      table[slab][thread] = position_entry(s, x, position, end, 1);
      position.k += kDepth;
      add_digits(position.d, s.slab_step, s.out_h, s.out_w);
    }
  }
  __syncthreads();

  const auto stage = [&](int, int buffer) {  // the slab's positions are in table[buffer]
    float(*b_tile)[Tile::kRowFloats] = stages.b[buffer];
    const int q = thread % kDepth;
    const PositionEntry<> e = table[buffer][q];
    const auto stage_b = [&](int r) {  // x at tap n0 + r of the position's window
      const FilterTap tap = taps[r];
      const bool in_x = static_cast<unsigned>(e.row0 + tap.dh) < static_cast<unsigned>(s.in_h) &&
                        static_cast<unsigned>(e.col0 + tap.dw) < static_cast<unsigned>(s.in_w);
      // As the gather's copies: an unsigned offset inside the image, never negative there.
      const unsigned offset = in_x ? e.origin + tap.offset : 0;
      cp_async_ca<4>(&b_tile[r][q], e.image + offset, in_x ? 4 : 0);
    };
    stage_dy<Tile>(s, dy, table[buffer], dy_pieces, m0, stages.a[buffer]);
    // Compile-time trip counts: each thread's copies sit at fixed places of the slab.
    constexpr int kRowsPerPass = kThreads / kDepth;
    WEFT_UNROLL
    for (int i = 0; i < kCols / kRowsPerPass; ++i) stage_b(thread / kDepth + i * kRowsPerPass);
  };
  const auto after_barrier = [&](int slab) {
    if (thread < kDepth) {
      table[slab % Tile::kStages][thread] = position_entry(s, x, position, end, 1);
      position.k += kDepth;
      add_digits(position.d, s.slab_step, s.out_h, s.out_w);
    }
  };

  TensorAccumulators<Tile> acc;
  zero<Tile>(acc);
  main_loop<kBf16, Tile>((end - begin + kDepth - 1) / kDepth, stages, stage, after_barrier, acc);

  const int warp = thread / 32, lane = thread % 32;
  const int warp_row = Tile::kWarpRows * (warp / 2), warp_col = Tile::kWarpCols * (warp % 2);
  const int g = lane / 4, t = lane % 4;
  float* slice = out + int64_t{blockIdx.z} * s.out_channels * s.taps();
  WEFT_UNROLL
  for (int mi = 0; mi < Tile::kMi; ++mi) {
    WEFT_UNROLL
    for (int ni = 0; ni < Tile::kNi; ++ni) {
      WEFT_UNROLL
      for (int i = 0; i < 4; ++i) {
        const int o = m0 + warp_row + 16 * mi + g + (i >= 2 ? 8 : 0);
        const int tap = n0 + warp_col + 8 * ni + 2 * t + (i & 1);
        if (o < s.out_channels && tap < s.taps())
          slice[int64_t{o} * s.taps() + tap] = acc[mi][ni][i];
      }
    }
  }
}

// ---- host side ---------------------------------------------------------------------------------

GatherAxis forward_axis(int in, int out, int kernel, int stride, int pad, int dilation) {
  return GatherAxis{out, -pad, stride, in, kernel, dilation, 0, 1, 0, 1, out};
}

int gcd(int a, int b) {
  return b == 0 ? a : gcd(b, a % b);
}

// The backward-data phase `phase` of one axis (see the file comment): input indices
// first + stride * i, filter indices kh0 + (stride / g) j, output indices base + i - (d / g) j.
GatherAxis phase_axis(int in, int out, int kernel, int stride, int pad, int dilation, int phase) {
  const int first = ((phase - pad) % stride + stride) % stride;
  const int count = first < in ? (in - first + stride - 1) / stride : 0;
  const int g = gcd(stride, dilation);
  int kh0 = -1;
  for (int kh = 0; kh < std::min(kernel, stride); ++kh) {
    if ((kh * dilation - phase) % stride == 0) {
      kh0 = kh;
      break;
    }
  }
  const int filter_step = stride / g;
  const int taps = kh0 < 0 ? 0 : (kernel - kh0 + filter_step - 1) / filter_step;
  const int base = kh0 < 0 ? 0 : (first + pad - kh0 * dilation) / stride;
  return GatherAxis{count,       base,  1,      out, taps, -(dilation / g), std::max(kh0, 0),
                    filter_step, first, stride, in};
}

// An axis of a backward-data phase as a forward convolution's (conv_tensor_core.h, PhaseAxis).
GatherAxis phase_forward_axis(const PhaseAxis& a) {
  return GatherAxis{a.count, -a.pad, 1, a.source, a.taps, 1, 0, 1, a.first, a.stride, a.size};
}

template <bool kBf16, class Tile>
void launch_gather(const GatherShape& s, const float* source, const float* filter,
                   const float* bias, float* out, bool filter_vector, cudaStream_t stream) {
  const dim3 grid = gather_grid<Tile>(s);
  if (grid.x == 0) return;
  WEFT_CHECK(grid.y <= kMaxGridY, "conv (tensor cores): too many channels");
  GatherShape shape = s;
  if (s.depth() > 0) shape.slab_step = split_digits(Tile::kDepth, s.h.taps, s.w.taps);
  WEFT_LAUNCH((conv_gather_kernel<kBf16, Tile>), grid, Tile::kThreads, 0, stream, shape, source,
              filter, bias, out, filter_vector);
}

// The gather on `tile` (automatic: tall_gather's choice), on channels-last copies when a
// workspace is given and the shape allows (channels_last_applies), from NCHW otherwise.
void gather(MathPrecision precision, const GatherShape& s, const float* source, const float* filter,
            const float* bias, float* out, bool filter_vector, cudaStream_t stream,
            TensorCoreTile tile = TensorCoreTile::automatic, float* workspace = nullptr) {
  const bool bf16 = precision == MathPrecision::bf16;
  tile = requested_tile(tile);
  if (workspace != nullptr && channels_last_applies(s)) {
    gather_channels_last(bf16, tile, s, source, filter, bias, out, workspace, stream);
    return;
  }
  // The wide tile is the channels-last kernel's: here the tall one stands in for it.
  const bool tall = tile == TensorCoreTile::tall || tile == TensorCoreTile::wide ||
                    (tile == TensorCoreTile::automatic &&
                     tall_gather(s.rows, grid_blocks(gather_grid<TallTile>(s))));
  if (tall) {
    if (bf16) {
      launch_gather<true, TallTile>(s, source, filter, bias, out, filter_vector, stream);
    } else {
      launch_gather<false, TallTile>(s, source, filter, bias, out, filter_vector, stream);
    }
  } else if (bf16) {
    launch_gather<true, SquareTile>(s, source, filter, bias, out, filter_vector, stream);
  } else {
    launch_gather<false, SquareTile>(s, source, filter, bias, out, filter_vector, stream);
  }
}

FilterShape filter_shape(const Conv2dParams& p) {
  return FilterShape{p.batch,    p.in_channels, p.in_h,     p.in_w,       p.out_channels,
                     p.out_h(),  p.out_w(),     p.kernel_h, p.kernel_w,   p.stride_h,
                     p.stride_w, p.pad_h,       p.pad_w,    p.dilation_h, p.dilation_w,
                     Digits{}};
}

// Split-K of backward-filter: enough blocks for one full wave of the card (Tile::kMinBlocks per
// SM, what the registers allow), slices of at least kMinSliceDepth positions (a multiple of the
// slab), at most kMaxSlices (reduce.h's sum_slices adds hundreds quickly), partials at most
// 64 Mi floats. (Until the tenth session: 264 blocks and at most 64 slices, which left a
// one-tile layer such as the apparel CNN's first, 32 x 27 weights over 589,824 positions, 64
// blocks.)
constexpr int kMinSliceDepth = 512;
constexpr int kMaxSlices = 1024;
constexpr int64_t kMaxWorkspaceFloats = int64_t{1} << 26;

struct Split {
  int slices, slice_depth;
};

// Backward-filter takes the tall tile (rows: output channels) for at least 128 output channels;
// its split-K then plans twice the slices on half the tiles.
bool tall_filter(const FilterShape& s, TensorCoreTile tile) {
  tile = requested_tile(tile);
  return tile == TensorCoreTile::tall || tile == TensorCoreTile::wide ||
         (tile == TensorCoreTile::automatic && s.out_channels >= TallTile::kRows);
}

template <class Tile>
Split plan_split(const FilterShape& s) {
  const int positions = s.batch * s.out_plane();
  const int64_t outputs = int64_t{s.out_channels} * s.taps();
  if (positions <= kMinSliceDepth || outputs <= 0) return Split{1, positions};
  const int64_t tiles = int64_t{(s.out_channels + Tile::kRows - 1) / Tile::kRows} *
                        ((s.taps() + Tile::kCols - 1) / Tile::kCols);
  const int64_t target_blocks = int64_t{Tile::kMinBlocks} * sm_count();
  int64_t slices = (target_blocks + tiles - 1) / tiles;
  slices = std::min<int64_t>(slices, (positions + kMinSliceDepth - 1) / kMinSliceDepth);
  slices = std::min<int64_t>(slices, kMaxSlices);
  slices = std::min<int64_t>(slices, kMaxWorkspaceFloats / outputs);
  if (slices <= 1) return Split{1, positions};
  int64_t depth = (positions + slices - 1) / slices;
  depth = (depth + Tile::kDepth - 1) / Tile::kDepth * Tile::kDepth;
  slices = (positions + depth - 1) / depth;  // no empty slice
  return Split{static_cast<int>(slices), static_cast<int>(depth)};
}

}  // namespace

namespace conv_gather {

// The gather's tile: the tall one once the GEMM rows fill one (at least 128 output channels for
// the forward, input channels for backward-data) and its grid still fills the card twice over
// (kTallBlocksPerSm: 3 blocks of the tall kernel fit an SM, by its registers in the static
// table); otherwise the square one, whose grid has twice the blocks.
constexpr int kTallBlocksPerSm = 3;

bool tall_gather(int rows, int64_t tall_blocks) {
  return rows >= TallTile::kRows && tall_blocks >= 2 * kTallBlocksPerSm * sm_count();
}

}  // namespace conv_gather

namespace {

GatherShape forward_shape(const Conv2dParams& p) {
  const int taps = p.in_channels * p.kernel_h * p.kernel_w;
  return GatherShape{
      forward_axis(p.in_h, p.out_h(), p.kernel_h, p.stride_h, p.pad_h, p.dilation_h),
      forward_axis(p.in_w, p.out_w(), p.kernel_w, p.stride_w, p.pad_w, p.dilation_w),
      p.batch,
      p.out_channels,
      p.in_channels,
      p.in_channels,
      p.kernel_w,
      taps,
      p.kernel_h * p.kernel_w,
      p.activation,
      Digits{}};
}

}  // namespace

int64_t conv2d_forward_tensor_core_workspace_floats(const Conv2dParams& p) {
  const GatherShape s = forward_shape(p);
  return channels_last_applies(s) ? channels_last_floats(s) : 0;
}

void conv2d_forward_tensor_core(const Conv2dParams& p, MathPrecision precision, const float* x,
                                const float* w, const float* bias, float* y, cudaStream_t stream,
                                TensorCoreTile tile, float* workspace) {
  const GatherShape s = forward_shape(p);
  const bool filter_vector = s.filter_row % 4 == 0 && s.depth() % 4 == 0 && aligned16(w);
  gather(precision, s, x, w, bias, y, filter_vector, stream, tile, workspace);
}

void conv2d_forward_tensor_core_on_copies(const Conv2dParams& p, MathPrecision precision,
                                          const void* x_copy, const void* filter_copy,
                                          const float* bias, float* y, cudaStream_t stream) {
  WEFT_CHECK(precision != MathPrecision::fp32,
             "conv2d forward (tensor cores) on copies: tf32 or bf16");
  gather_on_copies(precision == MathPrecision::bf16, TensorCoreTile::automatic, forward_shape(p),
                   x_copy, filter_copy, bias, y, stream);
}

void conv2d_backward_data_tensor_core(const Conv2dParams& p, MathPrecision precision,
                                      const float* dy, const float* w, const float* bias, float* dx,
                                      cudaStream_t stream) {
  const int out_h = p.out_h(), out_w = p.out_w();
  // An empty output reaches nothing: an empty reduction, dx = 0 or the bias.
  const int channels = out_h > 0 && out_w > 0 ? p.out_channels : 0;
  for (int ph = 0; ph < p.stride_h; ++ph) {
    for (int pw = 0; pw < p.stride_w; ++pw) {
      GatherShape s{phase_axis(p.in_h, out_h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, ph),
                    phase_axis(p.in_w, out_w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, pw),
                    p.batch,
                    p.in_channels,
                    channels,
                    p.out_channels,
                    p.kernel_w,
                    p.kernel_h * p.kernel_w,
                    p.in_channels * p.kernel_h * p.kernel_w,
                    FusedActivation{},
                    Digits{}};
      gather(precision, s, dy, w, bias, dx, false, stream);
    }
  }
}

namespace {

// One phase's gather as the forward convolution of conv.cu's "Strided backward-data".
GatherShape phase_shape(int batch, int in_channels, int out_channels, const PhaseAxis& h,
                        const PhaseAxis& w) {
  const int taps = h.taps * w.taps;
  return GatherShape{phase_forward_axis(h),
                     phase_forward_axis(w),
                     batch,
                     in_channels,
                     taps > 0 ? out_channels : 0,
                     out_channels,
                     w.taps,
                     out_channels * taps,
                     taps,
                     FusedActivation{},
                     Digits{}};
}

}  // namespace

void conv2d_backward_data_phase_tensor_core(MathPrecision precision, int batch, int in_channels,
                                            int out_channels, const PhaseAxis& h,
                                            const PhaseAxis& w, const float* dy,
                                            const float* filter, const float* bias, float* dx,
                                            cudaStream_t stream) {
  const GatherShape s = phase_shape(batch, in_channels, out_channels, h, w);
  const bool filter_vector = s.filter_row % 4 == 0 && s.depth() % 4 == 0 && aligned16(filter);
  gather(precision, s, dy, filter, bias, dx, filter_vector, stream);
}

bool phases_channels_last_apply(int out_channels) {
  return out_channels % 4 == 0 && conv_channels_last();
}

void conv2d_backward_data_phases_channels_last(MathPrecision precision, int batch,
                                               int in_channels, int out_channels,
                                               const TensorCorePhase* phases, int count,
                                               const float* dy, const void* dy_copy,
                                               const float* bias, float* dx,
                                               cudaStream_t stream) {
  WEFT_CHECK(phases_channels_last_apply(out_channels) && precision != MathPrecision::fp32,
             "conv2d backward-data phases (tensor cores): channels-last phases need tf32 or "
             "bf16 and output channels in fours");
  GatherShape shapes[kPhasesPerLaunch];
  const void* filters[kPhasesPerLaunch];
  int waiting = 0;
  for (int i = 0; i < count; ++i) {
    const GatherShape s = phase_shape(batch, in_channels, out_channels, phases[i].h, phases[i].w);
    if (!channels_last_applies(s)) {
      // No tap reaches the phase (an empty reduction: dx = 0, or the bias); the NCHW gather
      // writes it and reads no filter.
      gather(precision, s, dy, static_cast<const float*>(nullptr), bias, dx, false, stream);
      continue;
    }
    shapes[waiting] = s;
    filters[waiting] = phases[i].filter;
    if (++waiting == kPhasesPerLaunch) {
      gather_phases_channels_last(precision == MathPrecision::bf16, shapes, filters, waiting,
                                  dy_copy, bias, dx, stream);
      waiting = 0;
    }
  }
  if (waiting > 0) {
    gather_phases_channels_last(precision == MathPrecision::bf16, shapes, filters, waiting,
                                dy_copy, bias, dx, stream);
  }
}

namespace {

// The split-K slices' floats: the most any tile needs (the workspace starts with them).
int64_t slice_floats(const FilterShape& s) {
  const int slices = std::max({plan_split<SquareTile>(s).slices,
                               plan_split<TallFilterTile>(s).slices,
                               plan_split<SquareHalfTile>(s).slices,
                               plan_split<TallFilterHalfTile>(s).slices});
  return slices > 1 ? int64_t{slices} * s.out_channels * s.taps() : 0;
}

// The floats of x's channels-last copy (after the slices), 0 where there is none.
int64_t x_copy_floats(const Conv2dParams& p, bool channels_last) {
  return channels_last ? channels_last_tensor_floats(p.batch, p.in_channels, p.in_h * p.in_w) : 0;
}

// Whether backward-filter runs on BF16 copies of x and dy: at bf16, channels-last, x's channels
// in eights and dy's planes too (pieces of 8 values never leave an image).
bool bf16_copies(const Conv2dParams& p, MathPrecision precision, bool channels_last) {
  return channels_last && precision == MathPrecision::bf16 && p.in_channels % 8 == 0 &&
         int64_t{p.out_h()} * p.out_w() % 8 == 0;
}

// The floats of dy's BF16 copy (after x's copy), room to align it included.
int64_t dy_copy_floats(const Conv2dParams& p) {
  return 4 + (int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w() + 1) / 2;
}

}  // namespace

int64_t conv2d_backward_filter_tensor_core_workspace_floats(const Conv2dParams& p,
                                                            bool channels_last,
                                                            MathPrecision precision) {
  if (p.batch <= 0 || p.out_h() <= 0 || p.out_w() <= 0 || p.out_channels <= 0) return 0;
  const FilterShape s = filter_shape(p);
  if (s.taps() <= 0) return 0;
  return slice_floats(s) + x_copy_floats(p, channels_last) +
         (bf16_copies(p, precision, channels_last) ? dy_copy_floats(p) : 0);
}

int64_t conv2d_backward_filter_tensor_core_workspace_floats(const Conv2dParams& p) {
  return conv2d_backward_filter_tensor_core_workspace_floats(p, false, MathPrecision::fp32);
}

namespace {

// Backward-filter of p on tile Tile: returns the split it ran with. With x_copy (x
// channels-last), the channels-last kernel; with dy_half too, the BF16 copies' kernel (x_copy
// then holds BF16).
template <class Tile>
Split launch_filter(const Conv2dParams& p, MathPrecision precision, const float* x,
                    const void* x_copy, const float* dy, const uint16_t* dy_half, float* dw,
                    float* workspace, cudaStream_t stream) {
  FilterShape s = filter_shape(p);
  s.slab_step = split_digits(Tile::kDepth, s.out_h, s.out_w);
  const Split split = plan_split<Tile>(s);
  const dim3 grid(static_cast<unsigned>((s.taps() + Tile::kCols - 1) / Tile::kCols),
                  static_cast<unsigned>((s.out_channels + Tile::kRows - 1) / Tile::kRows),
                  static_cast<unsigned>(split.slices));
  WEFT_CHECK(grid.y <= kMaxGridY, "conv backward-filter (tensor cores): too many channels");
  float* out = dw;
  if (split.slices > 1) {
    WEFT_CHECK(workspace != nullptr, "conv2d_backward_filter (tensor cores): a workspace of ",
               conv2d_backward_filter_tensor_core_workspace_floats(p, x_copy != nullptr,
                                                                   precision),
               " floats is required");
    out = workspace;
  }
  // dy in 16-byte pieces: a plane of whole pieces (so are the slices, multiples of the slab)
  // and an aligned dy.
  const bool dy_pieces = s.out_plane() % 4 == 0 && aligned16(dy);
  if constexpr (std::is_same_v<Tile, SquareHalfTile> || std::is_same_v<Tile, TallFilterHalfTile>) {
    launch_filter_channels_last_half(std::is_same_v<Tile, TallFilterHalfTile>, s, grid,
                                     static_cast<const uint16_t*>(x_copy), dy_half,
                                     split.slice_depth, out, stream);
  } else if (x_copy != nullptr) {
    launch_filter_channels_last(precision == MathPrecision::bf16,
                                std::is_same_v<Tile, TallFilterTile>, s, grid,
                                static_cast<const float*>(x_copy), dy, split.slice_depth,
                                dy_pieces, out, stream);
  } else if (precision == MathPrecision::bf16) {
    WEFT_LAUNCH((conv_filter_kernel<true, Tile>), grid, Tile::kThreads, 0, stream, s, x, dy,
                split.slice_depth, dy_pieces, out);
  } else {
    WEFT_LAUNCH((conv_filter_kernel<false, Tile>), grid, Tile::kThreads, 0, stream, s, x, dy,
                split.slice_depth, dy_pieces, out);
  }
  return split;
}

}  // namespace

void conv2d_backward_filter_tensor_core(const Conv2dParams& p, MathPrecision precision,
                                        const float* x, const float* dy, float* dw,
                                        float* workspace, cudaStream_t stream,
                                        TensorCoreTile tile, bool channels_last) {
  const FilterShape s = filter_shape(p);
  const void* x_copy = nullptr;
  uint16_t* dy_half = nullptr;
  const bool half = bf16_copies(p, precision, channels_last);
  if (x_copy_floats(p, channels_last) > 0) {
    WEFT_CHECK(workspace != nullptr, "conv2d_backward_filter (tensor cores): a workspace of ",
               conv2d_backward_filter_tensor_core_workspace_floats(p, channels_last, precision),
               " floats is required");
    // BF16 copies of x and dy, or x in FP32 (rounded to TF32 at tf32) for the k-major B of
    // FP32 values.
    const CopyFormat format = half                              ? CopyFormat::bf16
                              : precision == MathPrecision::tf32 ? CopyFormat::tf32
                                                                 : CopyFormat::fp32;
    float* x_room = workspace + slice_floats(s);
    if (half) {  // both copies in one launch
      auto* x_half = reinterpret_cast<uint16_t*>(aligned_up16(x_room));
      dy_half = reinterpret_cast<uint16_t*>(
          aligned_up16(x_room + x_copy_floats(p, channels_last)));
      to_bf16_copies(p.batch, p.in_channels, p.in_h * p.in_w, x, x_half, p.out_channels,
                     p.out_h() * p.out_w(), dy, dy_half, stream);
      x_copy = x_half;
    } else {
      x_copy = to_channels_last_tensor(p.batch, p.in_channels, p.in_h * p.in_w, x, x_room,
                                       format, stream);
    }
  }
  const bool tall = tall_filter(s, tile);
  Split split{};
  if (half) {
    split = tall ? launch_filter<TallFilterHalfTile>(p, precision, x, x_copy, dy, dy_half, dw,
                                                     workspace, stream)
                 : launch_filter<SquareHalfTile>(p, precision, x, x_copy, dy, dy_half, dw,
                                                 workspace, stream);
  } else {
    split = tall ? launch_filter<TallFilterTile>(p, precision, x, x_copy, dy, nullptr, dw,
                                                 workspace, stream)
                 : launch_filter<SquareTile>(p, precision, x, x_copy, dy, nullptr, dw, workspace,
                                             stream);
  }
  if (split.slices > 1) {
    const int64_t count = int64_t{s.out_channels} * s.taps();
    sum_slices(split.slices, count, workspace, dw, stream);
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
