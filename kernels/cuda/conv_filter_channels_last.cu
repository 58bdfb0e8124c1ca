// Backward-filter on tensor cores from a channels-last copy of x (docs/kernels.md, "Backward-filter
// on a channels-last x"): the product of conv_tensor_core.cu's conv_filter_kernel, dW[O, T] =
// dy[O, (n, oh, ow)] * col^T[(n, oh, ow), T] split-K over the positions, with the gathered
// operand in 16-byte pieces. Declared in conv_gather.h (private); conv_tensor_core.cu's
// conv2d_backward_filter_tensor_core copies x ([N, C, H, W] -> [N, H, W, C],
// to_channels_last_tensor) and calls it when C is a multiple of 4.
//
// conv_filter_channels_last_kernel
//   Block tile, grid, split-K, slab table of positions and dy's staging (stage_dy) are the NCHW
//   kernel's; what differs is the order of the columns and the gathered operand. The columns run
//   over the taps in the order (kh, kw, c), so 4 consecutive columns from a multiple of 4 are 4
//   channels of one tap, 16 contiguous bytes of the copy at any position, inside the image or
//   outside it as a whole. Such a piece lies along the GEMM columns, not along k, so B is staged
//   k-major (KMajorStages, tensor_core_pipeline.h: Depth rows of Cols columns, whose fragments
//   the lanes load themselves; at TF32 the copy of x was rounded as it was made, so they go to
//   the tensor cores as loaded).
//   Thread q owns piece q % 16 of the block's 64 columns for the whole reduction (its tap's
//   shifts (kh d, kw d) and offset ((kh d) W + kw d) C + c are worked out once, in registers; no
//   tap table) and copies it for positions q / 16 + 8 i, i = 0, 1, of every slab: per slab and
//   thread 2 copies of x where the NCHW kernel makes 8 (one float each), each an LDS of the
//   position's entry, two unsigned compares and one cp.async.cg of 16 bytes (zero-filled outside
//   the image, past the taps and past the slice). A warp copies 16 pieces of each of 2 positions:
//   256 contiguous bytes where a tap has at least 64 channels.
//   Shared memory (static): the stages (square tile 4 x (64 x 20 + 16 x 72) floats, 38 KiB; tall
//   3 x (128 x 20 + 16 x 72), 43.5 KiB) and the slab tables of positions (2 KiB, 1.5 KiB).
//   Epilogue: accumulator column (tile ni, 2 t + c) is storage column
//   kmajor_column<kBf16>(ni, t, c) of the warp's columns, tap column j = (kh KW + kw) C + c of
//   the block, written to dW's own index c KH KW + kh KW + kw, so the slices and their sum are
//   in dW's layout.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_gather.h"
#include "kernels/cuda/digits.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tensor_core_pipeline.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace conv_gather {
namespace {

// Slice blockIdx.z covers positions [z * slice_depth, min(R, (z + 1) * slice_depth)). T: the
// copies' element, float, or uint16_t for BF16 copies of x and dy (kBf16 only).
template <bool kBf16, class Tile, class T = float>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks)
    conv_filter_channels_last_kernel(FilterShape s, const T* x, const T* dy, int slice_depth,
                                     bool dy_pieces, float* out) {
  using Stages = std::conditional_t<sizeof(T) == 4, KMajorStages<Tile>, HalfKMajorStages<Tile>>;
  constexpr int kDepth = Tile::kDepth, kThreads = Tile::kThreads;
  constexpr int kRows = Tile::kRows, kCols = Tile::kCols;
  constexpr int kPerPiece = 16 / static_cast<int>(sizeof(T));  // channels of one piece
  constexpr int kPieces = kCols / kPerPiece;        // pieces along a row of B's slab
  constexpr int kRowsPerPass = kThreads / kPieces;  // positions per pass of the block
  constexpr int kPasses = kDepth / kRowsPerPass;    // positions per thread and slab
  static_assert(kThreads % kPieces == 0 && kDepth % kRowsPerPass == 0, "whole passes of pieces");
  static_assert(kDepth <= kThreads, "one table entry per thread");
  __shared__ Stages stages;
  __shared__ PositionEntry<T> table[Tile::kStages][kDepth];
  WEFT_SHARED_UNDEFINED(stages);
  WEFT_SHARED_UNDEFINED(table);
  const int thread = static_cast<int>(threadIdx.x);
  const int m0 = static_cast<int>(blockIdx.y) * kRows, n0 = static_cast<int>(blockIdx.x) * kCols;
  const int positions = s.batch * s.out_plane();
  const int begin = static_cast<int>(blockIdx.z) * slice_depth;
  const int end = positions - begin < slice_depth ? positions : begin + slice_depth;
  const int taps = s.taps();

  // This thread's piece: channels c .. c + kPerPiece - 1 of tap (kh, kw), column
  // n0 + kPerPiece (q % kPieces).
  const int piece = thread % kPieces;
  int tap_dh = kOutside, tap_dw = kOutside, tap_offset = 0;
  if (n0 + kPerPiece * piece < taps) {
    const int column = n0 + kPerPiece * piece;
    const int kk = column / s.in_channels, c = column - kk * s.in_channels;
    const int kh = kk / s.kernel_w, kw = kk - kh * s.kernel_w;
    tap_dh = kh * s.dilation_h;
    tap_dw = kw * s.dilation_w;
    tap_offset = (tap_dh * s.in_w + tap_dw) * s.in_channels + c;
  }

  // As the NCHW kernel: thread q < kDepth writes entry q of the slab tables, stepping its
  // position by the slab's digits.
  IndexDigits position{};
  if (thread < kDepth) {
    position = IndexDigits{begin + thread, split_digits(begin + thread, s.out_h, s.out_w)};
    for (int slab = 0; slab < Tile::kStages; ++slab) {
      table[slab][thread] = position_entry(s, x, position, end, s.in_channels);
      position.k += kDepth;
      add_digits(position.d, s.slab_step, s.out_h, s.out_w);
    }
  }
  __syncthreads();

  const auto stage = [&](int, int buffer) {  // the slab's positions are in table[buffer]
    stage_dy<Tile, T, Stages::kRowElements>(s, dy, table[buffer], dy_pieces, m0,
                                            stages.a[buffer]);
    WEFT_UNROLL
    for (int i = 0; i < kPasses; ++i) {
      const int r = thread / kPieces + i * kRowsPerPass;
      const PositionEntry<T>& e = table[buffer][r];
      // Both bounds evaluated (&, not &&): a short-circuit made ptxas branch around the second
      // and lose the copy's size as a predicate (a ZFILL copy and 8 more instructions a piece).
      const bool inside =
          (static_cast<unsigned>(e.row0 + tap_dh) < static_cast<unsigned>(s.in_h)) &
          (static_cast<unsigned>(e.col0 + tap_dw) < static_cast<unsigned>(s.in_w));
      const unsigned offset = inside ? e.origin + tap_offset : 0;  // >= 0 inside the image
      cp_async_cg16(&stages.b[buffer][r][kPerPiece * piece], e.image + offset, inside ? 16 : 0);
    }
  };
  const auto after_barrier = [&](int slab) {
    if (thread < kDepth) {
      table[slab % Tile::kStages][thread] = position_entry(s, x, position, end, s.in_channels);
      position.k += kDepth;
      add_digits(position.d, s.slab_step, s.out_h, s.out_w);
    }
  };

  TensorAccumulators<Tile> acc;
  zero<Tile>(acc);
  // x's copy was rounded to TF32 as it was made (at tf32); dy is read as it is.
  main_loop<kBf16, Tile, false, !kBf16>((end - begin + kDepth - 1) / kDepth, stages, stage,
                                        after_barrier, acc);

  const int warp = thread / 32, lane = thread % 32;
  const int warp_row = Tile::kWarpRows * (warp / 2), warp_col = Tile::kWarpCols * (warp % 2);
  const int g = lane / 4, t = lane % 4;
  const int kernel_taps = s.kernel_h * s.kernel_w;
  float* slice = out + int64_t{blockIdx.z} * s.out_channels * taps;
  WEFT_UNROLL
  for (int ni = 0; ni < Tile::kNi; ++ni) {
    WEFT_UNROLL
    for (int c = 0; c < 2; ++c) {
      // BF16 copies: ldmatrix.trans leaves the columns in their natural order.
      const int column = n0 + warp_col +
                         (sizeof(T) == 2 ? 8 * ni + 2 * t + c : kmajor_column<kBf16>(ni, t, c));
      if (column >= taps) continue;
      const int kk = column / s.in_channels, channel = column - kk * s.in_channels;
      const int tap = channel * kernel_taps + kk;  // dW's [C, KH, KW] index
      WEFT_UNROLL
      for (int mi = 0; mi < Tile::kMi; ++mi) {
        WEFT_UNROLL
        for (int half = 0; half < 2; ++half) {
          const int o = m0 + warp_row + 16 * mi + g + 8 * half;
          if (o < s.out_channels) slice[int64_t{o} * taps + tap] = acc[mi][ni][2 * half + c];
        }
      }
    }
  }
}

template <bool kBf16, class Tile, class T = float>
void launch(const FilterShape& s, dim3 grid, const T* x_copy, const T* dy, int slice_depth,
            bool dy_pieces, float* out, cudaStream_t stream) {
  WEFT_LAUNCH((conv_filter_channels_last_kernel<kBf16, Tile, T>), grid, Tile::kThreads, 0,
              stream, s, x_copy, dy, slice_depth, dy_pieces, out);
}

}  // namespace

void launch_filter_channels_last_half(bool tall, const FilterShape& s, dim3 grid,
                                      const uint16_t* x_copy, const uint16_t* dy_copy,
                                      int slice_depth, float* out, cudaStream_t stream) {
  if (tall) {
    launch<true, TallFilterHalfTile>(s, grid, x_copy, dy_copy, slice_depth, true, out, stream);
  } else {
    launch<true, SquareHalfTile>(s, grid, x_copy, dy_copy, slice_depth, true, out, stream);
  }
}

void launch_filter_channels_last(bool bf16, bool tall, const FilterShape& s, dim3 grid,
                                 const float* x_copy, const float* dy, int slice_depth,
                                 bool dy_pieces, float* out, cudaStream_t stream) {
  if (tall) {
    if (bf16) {
      launch<true, TallFilterTile>(s, grid, x_copy, dy, slice_depth, dy_pieces, out, stream);
    } else {
      launch<false, TallFilterTile>(s, grid, x_copy, dy, slice_depth, dy_pieces, out, stream);
    }
  } else if (bf16) {
    launch<true, SquareTile>(s, grid, x_copy, dy, slice_depth, dy_pieces, out, stream);
  } else {
    launch<false, SquareTile>(s, grid, x_copy, dy, slice_depth, dy_pieces, out, stream);
  }
}

}  // namespace conv_gather
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
