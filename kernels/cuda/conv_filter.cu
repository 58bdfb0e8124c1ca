// Hand-written CUDA kernel for the convolution's backward-filter (declared in conv.h; the
// forward and backward-data are conv.cu's, whose notes on the implicit GEMM, the notation and
// the supported shapes apply here too).
//
// conv2d_backward_filter_kernel   dW[O, T] = dy[O, (n, oh, ow)] * col^T[(n, oh, ow), T]
//   GEMM rows = output channels, GEMM columns = taps, reduction over every output position of
//   the batch: R = N * OH * OW, often far longer than O * T is wide. So the reduction is split
//   into `slices` ranges of whole 16-deep slabs (split-K): block (bx, by, bz) computes the
//   64 x 64 tile (by, bx) of dW over slice bz's positions only, and writes it to
//   workspace[bz][O][T]; a second pass (sum_slices, reduce.h) adds the slices in a fixed order
//   for each element of dW (no atomics: deterministic). With one slice the tile is written
//   straight to dW. On the indexed core with the 64 x 64 tile (SmallTile, the tile plan_split_k
//   counts with), or, for at most 16 taps (a 3 x 3 or 4 x 4 filter on one input channel: the
//   Fashion-MNIST nets' and the grey DCGAN's first layers), the 64 x 16 ThinTile: one column of
//   blocks either way, a quarter of the multiply-adds (SmallTile's 4 x 4 micro-tile spent 55 of
//   every 64 columns on padding at 9 taps). Either way split into a full wave of the card's
//   blocks (plan_slices: hundreds of slices for a one-tile product, where the general plan stops
//   at 64), whose warps hide each other's loads (a second ThinTile buffer cost 122 more
//   instructions per slab). Shared
//   memory: a slab of dy (OutputGradientIndexed) and a slab of the column matrix (ImageTaps,
//   read along positions).
//
//   Narrow layers (at most 16 output channels, in_channels * kernel_h at most 64, kernel width
//   3, 4, 5 or 7: the shoe-pair CNNs' first layers, the ResNet stem, the DCGAN discriminator's
//   first) take conv_filter_narrow.cu instead, which keeps a warp's filter slice in registers.
//
//   dbias: where the taps leave ThinTile a spare column (T < 16), the columns operand carries one
//   more row of ones (ImageTapsAndOnes, conv_operands.h), so column T of the product is
//   dbias[o] = sum of dy[o, :] and no pass of its own reads dy again; split over slices, its
//   partials follow dW's in the workspace and a second sum_slices adds them. Otherwise
//   channel_sums below.
//
//   Under a 2 x 2 max pool (conv2d_max_pool2d_backward_filter_fused, the engine's
//   conv2d_max_pool2d for a first layer of at most 15 taps on ThinTile), dy's operand is
//   PooledGradientIndexed (conv_operands.h) instead: each dy element is formed from the pool's
//   gradient, argmax and y as the staging reads it, exactly as max_pool2d_backward would have
//   stored it, so the full-size dy is never written nor read (for the Fashion CNN at batch 512:
//   89 MB each way, against 3 reads of a quarter of it).
//
// channel_sums (bias.h)   dbias[o] = sum of dy[n, o, :, :], for the layers whose product does
//   not carry it.
//
// Precision: this kernel is FP32 (FFMA). At tf32 and bf16 every product goes to the
// tensor-core kernels of conv_tensor_core.cu and conv_filter_channels_last.cu instead, except
// narrow layers of at most 8 output channels (narrow_at), whose kernel rounds its operands as
// the tensor cores would; the bias sums stay FP32.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/bias.h"
#include "kernels/cuda/common.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/conv_filter_narrow.h"
#include "kernels/cuda/conv_full_window.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/tiled_product.h"
#include "kernels/cuda/tiled_product_large.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// Slice blockIdx.z covers positions [z * slice_depth, min(R, (z + 1) * slice_depth)). Tile:
// SmallTile, or ThinTile for at most 16 taps. kBias: the columns carry one more, column T of
// ones, whose sums are the slice's dbias, written to bias_out[z * O + o]. Gradient: dy's
// operand, OutputGradientIndexed over a stored dy, or PooledGradientIndexed (conv2d_max_pool2d).
template <class Tile, bool kBias, class Gradient>
__global__ void __launch_bounds__(kProductThreads, Tile::kMinBlocks)
    conv2d_backward_filter_kernel(ConvGeometry g, const float* x, Gradient gradient,
                                  int slice_depth, float* out, float* bias_out) {
  const ImageTaps image_taps{g, x};
  const auto columns = [&] {
    if constexpr (kBias) {
      return ImageTapsAndOnes{image_taps};
    } else {
      return image_taps;
    }
  }();
  const int positions = g.batch * g.out_plane();
  const int taps = g.taps(), cols = kBias ? taps + 1 : taps;
  const SliceRange range = this_slice(positions, slice_depth);
  float acc[Tile::kMicroM][Tile::kMicroN];
  indexed_tile_product<Tile>(gradient, g.out_channels, columns, cols, range.begin, range.end, acc);
  float* slice = out + int64_t{blockIdx.z} * g.out_channels * taps;
  float* bias_slice = kBias ? bias_out + int64_t{blockIdx.z} * g.out_channels : nullptr;
  store_tile<Tile>(acc, g.out_channels, cols, [&](int o, int tap, float sum) {
    if (kBias && tap == taps) {
      bias_slice[o] = sum;
    } else {
      slice[int64_t{o} * taps + tap] = sum;
    }
  });
}

// How backward-filter splits its reduction over R = N * OH * OW positions (tiled_product.h,
// plan_split_k).
constexpr int kMinSliceDepth = 512;

// A backward-filter product has few tiles of dW and a long reduction (the Fashion CNN's first
// layer at batch 512: 64 x 9 weights over 346,112 positions, one tile; the apparel CNN's: 32 x 27
// over 589,824): its slices fill one full wave of the card (ThinTile's and SmallTile's 64
// registers fit kFilterBlocksPerSm blocks of 256 threads per SM), up to kMaxFilterSlices. The
// general plan's cap of 64 slices left such a layer 64 blocks on 132 SMs, each walking thousands
// of positions one slab at a time; reduce.h's sum_slices adds hundreds of slices quickly.
constexpr int kFilterBlocksPerSm = 4;
constexpr int kMaxFilterSlices = 1024;

SplitK plan_slices(const ConvGeometry& g) {
  return plan_split_k(g.out_channels, g.taps(), g.batch * g.out_plane(), kMinSliceDepth,
                      int64_t{kFilterBlocksPerSm} * sm_count(), kMaxFilterSlices);
}

}  // namespace

namespace {

// The backward-filter's own workspace (split-K or narrow partials), without the bias sums'.
// ThinTile has a column to spare for the bias (ImageTapsAndOnes) when the taps do not fill its
// 16: then dbias comes out of the same product and the pass of channel_sums over dy is saved.
// (SmallTile's spare columns are not used: the ones row's register costs it a spill at its
// 64-register bound, the static table showed.)
bool bias_column_fits(const ConvGeometry& g) {
  return g.taps() < ThinTile::kN;
}

// Which implementation computes dW (conv2d_backward_filter): nothing (no taps), zeros (an
// empty reduction), or one of the kernels, in this order of preference.
enum class FilterPath { nothing, zeros, full_window, narrow, tensor_core, simt };

FilterPath filter_path(const Conv2dParams& p, const ConvGeometry& g, MathPrecision precision) {
  if (g.taps() <= 0) return FilterPath::nothing;
  if (g.batch <= 0 || g.out_h <= 0 || g.out_w <= 0) return FilterPath::zeros;
  if (full_window(p)) return FilterPath::full_window;
  if (narrow_filter_applies(p) && narrow_at(precision, p)) return FilterPath::narrow;
  if (precision != MathPrecision::fp32) return FilterPath::tensor_core;
  return FilterPath::simt;
}

int64_t filter_workspace_floats(const Conv2dParams& p) {
  const ConvGeometry g = geometry(p);
  if (g.out_channels <= 0) return 0;
  switch (filter_path(p, g, math_precision())) {
    case FilterPath::nothing:
    case FilterPath::zeros:
      return 0;
    case FilterPath::full_window:
      return full_window_workspace_floats(p);
    case FilterPath::narrow:
      return narrow_filter_workspace_floats(p);
    case FilterPath::tensor_core:
      return conv2d_backward_filter_tensor_core_workspace_floats(p, conv_channels_last(),
                                                                 math_precision());
    case FilterPath::simt:
      break;
  }
  // The slices' partial dW, then (where the tile has a spare column for it) their partial dbias.
  const SplitK plan = plan_slices(g);
  const int64_t bias_partials = bias_column_fits(g) ? g.out_channels : 0;
  return plan.slices > 1 ? int64_t{plan.slices} * (g.out_channels * g.taps() + bias_partials) : 0;
}

// dW (and dbias, when given: it then rides in ThinTile's spare column, bias_column_fits) on the
// SIMT core, split-K as plan_slices says, from dy's operand `gradient`.
template <class Gradient>
void simt_backward_filter(const Conv2dParams& p, const float* x, const Gradient& gradient,
                          float* dw, float* dbias, float* workspace, cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  check_offsets(g);
  const SplitK plan = plan_slices(g);
  WEFT_CHECK(plan.slices == 1 || workspace != nullptr,
             "conv2d_backward_filter (hand CUDA kernel): a workspace of ",
             filter_workspace_floats(p), " floats is required");
  float* out = plan.slices == 1 ? dw : workspace;
  const int64_t count = int64_t{g.out_channels} * g.taps();
  float* bias_out = plan.slices == 1 ? dbias : workspace + plan.slices * count;
  // ThinTile is taken only where SmallTile's grid would also be one column of blocks, so the
  // split planned on 64 x 64 tiles (plan_split_k) holds for it. The bias column lies inside
  // the tile's last column block (bias_column_fits), so it adds no block.
  const auto launch = [&](auto tile, auto bias) {
    using Tile = decltype(tile);
    WEFT_LAUNCH((conv2d_backward_filter_kernel<Tile, decltype(bias)::value, Gradient>),
                tile_grid<Tile>(g.out_channels, g.taps(), plan.slices), kProductThreads, 0,
                stream, g, x, gradient, plan.slice_depth, out, bias_out);
  };
  if (dbias != nullptr) {
    launch(ThinTile{}, std::true_type{});
  } else if (g.taps() <= ThinTile::kN) {
    launch(ThinTile{}, std::false_type{});
  } else if constexpr (std::is_same_v<Gradient, OutputGradientIndexed>) {
    launch(SmallTile{}, std::false_type{});  // (the pooled gradient is for few taps only)
  } else {
    WEFT_CHECK(false, "conv2d_max_pool2d_backward_filter_fused: more taps than ThinTile holds");
  }
  if (plan.slices == 1) return;
  sum_slices(plan.slices, count, workspace, dw, stream);
  if (dbias != nullptr) {
    sum_slices(plan.slices, g.out_channels, bias_out, dbias, stream);
  }
}

int out_plane_of(const ConvGeometry& g) {
  return g.out_h > 0 && g.out_w > 0 ? g.out_plane() : 0;
}

}  // namespace

// Layout: the bias sums' partials (doubles) first, then the filter's own part.
int64_t conv2d_backward_filter_workspace_floats(const Conv2dParams& p) {
  const ConvGeometry g = geometry(p);
  return channel_sums_workspace_floats(g.batch, g.out_channels, out_plane_of(g)) +
         filter_workspace_floats(p);
}

void conv2d_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                            float* dbias, float* workspace, cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  if (g.out_channels <= 0) return;
  const int out_plane = out_plane_of(g);
  const MathPrecision precision = math_precision();
  const FilterPath path = filter_path(p, g, precision);
  // dbias in the product's spare column, or by its own pass over dy.
  const bool bias_in_product =
      dbias != nullptr && path == FilterPath::simt && bias_column_fits(g);
  if (dbias != nullptr && !bias_in_product) {
    channel_sums(g.batch, g.out_channels, out_plane, dy, dbias, workspace, stream);
  }
  if (workspace != nullptr) {
    workspace += channel_sums_workspace_floats(g.batch, g.out_channels, out_plane);
  }
  switch (path) {
    case FilterPath::nothing:
      return;
    case FilterPath::zeros:
      fill(int64_t{g.out_channels} * g.taps(), 0.0f, dw, stream);
      return;
    case FilterPath::full_window:
      full_window_backward_filter(p, x, dy, dw, workspace, stream);
      return;
    case FilterPath::narrow:
      conv2d_backward_filter_narrow(p, x, dy, dw, workspace, stream, rounding_of(precision));
      return;
    case FilterPath::tensor_core:
      conv2d_backward_filter_tensor_core(p, precision, x, dy, dw, workspace, stream,
                                         TensorCoreTile::automatic, conv_channels_last());
      return;
    case FilterPath::simt:
      break;
  }
  simt_backward_filter(p, x, OutputGradientIndexed{g, dy}, dw, bias_in_product ? dbias : nullptr,
                       workspace, stream);
}

bool conv2d_max_pool2d_filter_fuses(const Conv2dParams& p, const Pool2dParams& pool) {
  const ConvGeometry g = geometry(p);
  return g.out_channels > 0 && !p.activation.active() &&
         filter_path(p, g, math_precision()) == FilterPath::simt && bias_column_fits(g) &&
         pools_2x2_over(p, pool);
}

int64_t conv2d_max_pool2d_filter_workspace_floats(const Conv2dParams& p) {
  return filter_workspace_floats(p);
}

void conv2d_max_pool2d_backward_filter_fused(const Conv2dParams& p, const Pool2dParams& pool,
                                             const float* x, const float* dy, const float* y,
                                             const int32_t* argmax, float* dw, float* dbias,
                                             float* workspace, cudaStream_t stream) {
  WEFT_CHECK(conv2d_max_pool2d_filter_fuses(p, pool),
             "conv2d_max_pool2d_backward_filter_fused: a layer and pool it does not take");
  WEFT_CHECK(!pool.activation.active() || y != nullptr,
             "conv2d_max_pool2d_backward_filter_fused: a fused activation needs the pool's y");
  const ConvGeometry g = geometry(p);
  const PooledGradientIndexed gradient{g, pool.out_h(), pool.out_w(), dy, y, argmax,
                                       pool.activation};
  simt_backward_filter(p, x, gradient, dw, dbias, workspace, stream);
}
}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
