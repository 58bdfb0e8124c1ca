// The narrow forward (declared in conv_forward_narrow.h):
//
//   y[n, o, oh, ow] = act(bias[o] + sum over (c, kh, kw) of w[o, c, kh, kw] * x[n, c, ih, iw]),
//   ih = oh * stride_h - pad_h + kh * dilation_h, iw = ow - pad_w + kw   (x = 0 outside)
//
// Work split. The output channels are cut into groups of at most G = 8; an *item* is one output
// row (n, group, oh) and one strip of P = 4 neighbouring columns ow0 .. ow0 + 3 of it. Items are
// numbered with the strip fastest, so a warp's 32 items are 128 neighbouring columns of one row.
// A wide layer of few taps (the Fashion-MNIST CNN's 1 -> 64, 3 x 3) has 8 groups: the items of one
// output row's groups are OH * strips apart and read the same input rows, which for 1-3 input
// channels are a small tensor that stays in L2; the kernel is then bound by storing y.
//
//   narrow_forward_kernel<KW>  a grid of a few waves of 256-thread blocks (card_grid_blocks).
//     Shared memory: the whole filter w[O, C, KH, KW] (at most 4096 floats, 16 KB), copied in by
//     the block's threads before anything else (one __syncthreads; nothing later synchronises).
//     Thread t then takes items t, t + T, ... (grid-stride, T threads in the grid). For each
//     item and each input (c, kh) whose row ih lies inside the image, it loads the window
//     x[n, c, ih, ow0 - pad_w .. ow0 - pad_w + P + KW - 2] into registers (zeros outside), and
//     for each of its channels i and taps kw multiplies the one shared-memory weight (the same
//     address for every thread of a group: a broadcast) into the P accumulators
//     acc[i][p] += w * window[p + kw]: P multiply-adds per shared load, P + KW - 1 global loads
//     per G * P * KW multiply-adds (8 loads for 80 at G = 4, KW = 5). The loops over i, kw and p
//     are unrolled at compile time (KW and the rounding are template parameters); 32
//     accumulators per thread.
//     Epilogue: bias and the fused activation, then the P results of each channel stored as one
//     16-byte store when the row's width is a multiple of 4 and y is 16-byte aligned (every
//     strip then aligned), else one by one with the row's end checked.
//
//   narrow_forward_max_pool_kernel<KW>  the same with a 2 x 2 max pool of stride 2 (no padding)
//     over the output, which is then never stored (conv2d_max_pool2d: the Fashion-MNIST and shoe
//     CNNs' Conv2d -> ReLU -> MaxPool2d(2)). An item is (n, group, pooled row ph, strip): the
//     strip's 4 columns ow0 = 4 strip .. + 3 of conv rows 2 ph and 2 ph + 1, which are the
//     windows of pooled columns 2 strip and 2 strip + 1. The thread computes each row's sums as
//     above (strip_sums, one row at a time: 32 accumulators live, not 64), adds the bias and
//     lets each window's cells compete as act(value) in row order with max_pool2d's rules (the
//     first cell takes the place; a greater value, or the first NaN after a number, replaces
//     it). Registers per pooled output: the running maximum and 2 bits for its cell (all 16
//     cells' bits in one word). Then y[n, o, ph, pw] and argmax (the cell's index in the conv
//     plane, as max_pool2d_forward writes it) for the item's pooled columns inside the output.
//     Shared memory as above. Bound by reading x and writing a quarter of the outputs (plus the
//     argmax) instead of all of them: for the Fashion CNN's first layer at batch 512, 44 MB
//     written where the convolution wrote 89 MB and the pool then read it again.
//
// Precision: FP32 multiply-adds throughout. At tf32 and bf16 (conv.cu takes this kernel there
// for at most 8 output channels or at most 32 taps per channel) the filter is rounded as it is
// copied into shared memory and each input as it is loaded (rounded_operand, warp_matrix.h), so
// the products are a tensor core's.
//
// Each output is one thread's sum in a fixed order, and both kernels add the same sums in the
// same order (strip_sums): the pooled kernel gives the narrow forward's values followed by
// max_pool2d_forward bit for bit. Deterministic.
#include "kernels/cuda/conv_forward_narrow.h"

#include "kernels/cuda/common.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/cuda/warp_matrix.h"    // rounded_operand
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr int kGroup = 8;          // output channels per item at most
constexpr int kStrip = 4;          // output columns per item
constexpr int kMaxWeights = 4096;  // floats of filter in shared memory
constexpr int kMaxOutChannels = 16;  // ... or any number, with at most kMaxFewTaps taps
constexpr int kMaxFewTaps = 32;

struct NarrowForwardPlan {
  int group;     // output channels per item (G, or O when fewer)
  int groups;    // ceil(O / group)
  int strips;    // ceil(OW / P)
  bool vector;   // OW % 4 == 0 and y 16-byte aligned: a strip is one aligned float4 of y
  int64_t items; // N * groups * OH * strips
};

NarrowForwardPlan plan_for(const ConvGeometry& g) {
  NarrowForwardPlan plan{};
  plan.group = g.out_channels < kGroup ? g.out_channels : kGroup;
  plan.groups = (g.out_channels + plan.group - 1) / plan.group;
  plan.strips = (g.out_w + kStrip - 1) / kStrip;
  plan.vector = g.out_w % kStrip == 0;
  plan.items = int64_t{g.batch} * plan.groups * g.out_h * plan.strips;
  return plan;
}

// The filter into shared memory (rounded as the tensor cores would read it at tf32 or bf16),
// by the block's threads, then one barrier.
template <OperandRounding kRounding>
__device__ __forceinline__ void load_filter(const ConvGeometry& g, const float* w,
                                            float* weights) {
  const int weight_count = g.out_channels * g.taps();
  for (int i = static_cast<int>(threadIdx.x); i < weight_count; i += kBlockThreads) {
    weights[i] = rounded_operand(w[i], kRounding);
  }
  __syncthreads();
}

// The sums of one item: acc[i][p] = sum over (c, kh, kw) of w[o0 + i, c, kh, kw] *
// x[n, c, ih, ow0 + p - pad_w + kw] for the item's `owned` channels, ih = oh * stride_h - pad_h +
// kh * dilation_h (rows outside the image skipped, columns outside read as 0).
template <int KW, OperandRounding kRounding>
__device__ __forceinline__ void strip_sums(const ConvGeometry& g, const float* x,
                                           const float* weights, int n, int oh, int o0,
                                           int owned, int ow0, float (&acc)[kGroup][kStrip]) {
  constexpr int kWindow = kStrip + KW - 1;
  const int64_t in_plane = int64_t{g.in_h} * g.in_w;
  WEFT_UNROLL
  for (int i = 0; i < kGroup; ++i) {
    WEFT_UNROLL
    for (int p = 0; p < kStrip; ++p) acc[i][p] = 0.0f;
  }
  for (int c = 0; c < g.in_channels; ++c) {
    const float* x_plane = x + (int64_t{n} * g.in_channels + c) * in_plane;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
      if (ih < 0 || ih >= g.in_h) continue;
      const float* x_row = x_plane + int64_t{ih} * g.in_w;
      float window[kWindow];
      WEFT_UNROLL
      for (int j = 0; j < kWindow; ++j) {
        const int iw = ow0 - g.pad_w + j;
        window[j] = iw >= 0 && iw < g.in_w ? rounded_operand(x_row[iw], kRounding) : 0.0f;
      }
      const float* tap_row = weights + (o0 * g.in_channels + c) * g.kernel_h * KW + kh * KW;
      WEFT_UNROLL
      for (int i = 0; i < kGroup; ++i) {
        if (i < owned) {
          WEFT_UNROLL
          for (int kw = 0; kw < KW; ++kw) {
            const float tap = tap_row[i * g.taps() + kw];
            WEFT_UNROLL
            for (int p = 0; p < kStrip; ++p) acc[i][p] += tap * window[p + kw];
          }
        }
      }
    }
  }
}

// Item `item` of `rows` output rows per (image, group), strips fastest: its strip, its row,
// image n and its channels o0 .. o0 + owned - 1.
struct NarrowItem {
  int strip, row, n, o0, owned;
};

__device__ __forceinline__ NarrowItem narrow_item(const NarrowForwardPlan& plan, int out_channels,
                                                  int rows, int strips, int64_t item) {
  const int strip = static_cast<int>(item % strips);
  const int64_t line = item / strips;
  const int row = static_cast<int>(line % rows);
  const int64_t image_group = line / rows;
  const int group = static_cast<int>(image_group % plan.groups);
  const int n = static_cast<int>(image_group / plan.groups);
  const int o0 = group * plan.group;
  const int owned = plan.group < out_channels - o0 ? plan.group : out_channels - o0;
  return NarrowItem{strip, row, n, o0, owned};
}

template <int KW, OperandRounding kRounding>
__global__ void __launch_bounds__(kBlockThreads)
    narrow_forward_kernel(ConvGeometry g, NarrowForwardPlan plan, const float* x, const float* w,
                          const float* bias, FusedActivation act, float* y) {
  __shared__ float weights[kMaxWeights];
  WEFT_SHARED_UNDEFINED(weights);
  load_filter<kRounding>(g, w, weights);
  const int64_t out_plane = int64_t{g.out_h} * g.out_w;
  for (int64_t item = grid_thread_index(); item < plan.items; item += grid_thread_count()) {
    const NarrowItem it = narrow_item(plan, g.out_channels, g.out_h, plan.strips, item);
    const int oh = it.row, n = it.n, o0 = it.o0, owned = it.owned;
    const int ow0 = it.strip * kStrip;

    float acc[kGroup][kStrip];
    strip_sums<KW, kRounding>(g, x, weights, n, oh, o0, owned, ow0, acc);
    float* y_row = y + (int64_t{n} * g.out_channels + o0) * out_plane + int64_t{oh} * g.out_w;
    WEFT_UNROLL
    for (int i = 0; i < kGroup; ++i) {
      if (i >= owned) continue;
      const float b = bias != nullptr ? bias[o0 + i] : 0.0f;
      float* out = y_row + i * out_plane + ow0;
      if (plan.vector) {
        store4(out, 0,
               make_float4(act.apply(acc[i][0] + b), act.apply(acc[i][1] + b),
                           act.apply(acc[i][2] + b), act.apply(acc[i][3] + b)));
      } else {
        WEFT_UNROLL
        for (int p = 0; p < kStrip; ++p) {
          if (ow0 + p < g.out_w) out[p] = act.apply(acc[i][p] + b);
        }
      }
    }
  }
}

// The 2 x 2 max pool (stride 2, no padding) of the narrow forward's output, which is never
// stored. An item is (n, group, pooled row ph, strip): conv rows 2 ph and 2 ph + 1, conv columns
// ow0 = 4 strip .. + 3, which are the windows of pooled columns 2 strip and 2 strip + 1.
struct PooledPlan {
  int out_h, out_w;  // the pool's output: OH / 2, OW / 2
  int strips;        // ceil(out_w / 2)
  int64_t items;     // N * groups * out_h * strips
};

PooledPlan pooled_plan_for(const NarrowForwardPlan& plan, const ConvGeometry& g) {
  PooledPlan pooled{};
  pooled.out_h = g.out_h / 2;
  pooled.out_w = g.out_w / 2;
  pooled.strips = (pooled.out_w + 1) / 2;
  pooled.items = int64_t{g.batch} * plan.groups * pooled.out_h * pooled.strips;
  return pooled;
}

template <int KW, OperandRounding kRounding>
__global__ void __launch_bounds__(kBlockThreads, 2)
    narrow_forward_max_pool_kernel(ConvGeometry g, NarrowForwardPlan plan, PooledPlan pooled,
                                   const float* x, const float* w, const float* bias,
                                   FusedActivation act, float* y, int32_t* argmax) {
  __shared__ float weights[kMaxWeights];
  WEFT_SHARED_UNDEFINED(weights);
  load_filter<kRounding>(g, w, weights);
  const int64_t pooled_plane = int64_t{pooled.out_h} * pooled.out_w;
  for (int64_t item = grid_thread_index(); item < pooled.items; item += grid_thread_count()) {
    const NarrowItem it = narrow_item(plan, g.out_channels, pooled.out_h, pooled.strips, item);
    const int strip = it.strip, ph = it.row, n = it.n, o0 = it.o0, owned = it.owned;
    const int ow0 = strip * kStrip;

    // best[i][q]: the running maximum of pooled column 2 strip + q of channel o0 + i; bits
    // 2 (2 i + q) .. + 1 of `cells`: which cell of its window holds it, 2 r + column (registers:
    // 16 floats and one word, where int32 indices would take 16 more). The cells compete in row
    // order, as in pool.cu: the first takes the place, a greater value or the first NaN after a
    // number replaces it.
    float best[kGroup][2];
    uint32_t cells = 0;
    WEFT_UNROLL
    for (int i = 0; i < kGroup; ++i) {
      best[i][0] = best[i][1] = 0.0f;
    }
    WEFT_NO_UNROLL
    for (int r = 0; r < 2; ++r) {
      float acc[kGroup][kStrip];
      strip_sums<KW, kRounding>(g, x, weights, n, 2 * ph + r, o0, owned, ow0, acc);
      WEFT_UNROLL
      for (int i = 0; i < kGroup; ++i) {
        if (i >= owned) continue;
        const float b = bias != nullptr ? bias[o0 + i] : 0.0f;
        WEFT_UNROLL
        for (int q = 0; q < 2; ++q) {
          const int shift = 2 * (2 * i + q);
          WEFT_UNROLL
          for (int column = 0; column < 2; ++column) {
            const float v = act.apply(acc[i][2 * q + column] + b);
            const float held = best[i][q];
            if ((r == 0 && column == 0) || v > held || (v != v && held == held)) {
              best[i][q] = v;
              cells = (cells & ~(3u << shift)) | (static_cast<uint32_t>(2 * r + column) << shift);
            }
          }
        }
      }
    }
    const int64_t out_row = (int64_t{n} * g.out_channels + o0) * pooled_plane +
                            int64_t{ph} * pooled.out_w + 2 * strip;
    WEFT_UNROLL
    for (int i = 0; i < kGroup; ++i) {
      if (i >= owned) continue;
      WEFT_UNROLL
      for (int q = 0; q < 2; ++q) {
        if (2 * strip + q >= pooled.out_w) continue;
        const uint32_t cell = (cells >> (2 * (2 * i + q))) & 3u;
        const int oh = 2 * ph + static_cast<int>(cell >> 1);
        const int ow = ow0 + 2 * q + static_cast<int>(cell & 1u);
        y[out_row + i * pooled_plane + q] = best[i][q];
        argmax[out_row + i * pooled_plane + q] = oh * g.out_w + ow;
      }
    }
  }
}

template <int KW, OperandRounding kRounding>
void launch_narrow_forward(const ConvGeometry& g, const NarrowForwardPlan& plan, const float* x,
                           const float* w, const float* bias, const FusedActivation& act,
                           float* y, cudaStream_t stream) {
  WEFT_LAUNCH((narrow_forward_kernel<KW, kRounding>), card_grid_blocks(plan.items), kBlockThreads,
              0, stream, g, plan, x, w, bias, act, y);
}

template <int KW, OperandRounding kRounding>
void launch_narrow_forward_max_pool(const ConvGeometry& g, const NarrowForwardPlan& plan,
                                    const PooledPlan& pooled, const float* x, const float* w,
                                    const float* bias, const FusedActivation& act, float* y,
                                    int32_t* argmax, cudaStream_t stream) {
  WEFT_LAUNCH((narrow_forward_max_pool_kernel<KW, kRounding>), card_grid_blocks(pooled.items),
              kBlockThreads, 0, stream, g, plan, pooled, x, w, bias, act, y, argmax);
}

}  // namespace

bool few_taps_forward(const Conv2dParams& p) {
  return int64_t{p.in_channels} * p.kernel_h * p.kernel_w <= kMaxFewTaps;
}

bool narrow_forward_applies(const Conv2dParams& p) {
  const ConvGeometry g = geometry(p);
  return narrow_kernel_width(g.kernel_w) && g.stride_w == 1 && g.dilation_w == 1 &&
         g.out_channels >= 1 && (g.out_channels <= kMaxOutChannels || few_taps_forward(p)) &&
         g.in_channels >= 1 && g.kernel_h >= 1 &&
         int64_t{g.out_channels} * g.taps() <= kMaxWeights && g.batch > 0 && g.out_h > 0 &&
         g.out_w > 0 && indexed_offsets_fit(g);
}

void conv2d_forward_narrow(const Conv2dParams& p, const float* x, const float* w,
                           const float* bias, float* y, cudaStream_t stream,
                           OperandRounding rounding) {
  WEFT_CHECK(narrow_forward_applies(p), "conv2d_forward_narrow: a layer it does not take");
  const ConvGeometry g = geometry(p);
  NarrowForwardPlan plan = plan_for(g);
  plan.vector = plan.vector && aligned16(y);
  with_narrow_instance(g.kernel_w, rounding, [&](auto kw, auto r) {
    launch_narrow_forward<decltype(kw)::value, decltype(r)::value>(g, plan, x, w, bias,
                                                                   p.activation, y, stream);
  });
}

bool narrow_forward_max_pool_applies(const Conv2dParams& p, const Pool2dParams& pool) {
  return narrow_forward_applies(p) && !p.activation.active() && pools_2x2_over(p, pool);
}

void conv2d_forward_max_pool_narrow(const Conv2dParams& p, const Pool2dParams& pool,
                                    const float* x, const float* w, const float* bias, float* y,
                                    int32_t* argmax, cudaStream_t stream,
                                    OperandRounding rounding) {
  WEFT_CHECK(narrow_forward_max_pool_applies(p, pool),
             "conv2d_forward_max_pool_narrow: a layer and pool it does not take");
  const ConvGeometry g = geometry(p);
  const NarrowForwardPlan plan = plan_for(g);
  const PooledPlan pooled = pooled_plan_for(plan, g);
  with_narrow_instance(g.kernel_w, rounding, [&](auto kw, auto r) {
    launch_narrow_forward_max_pool<decltype(kw)::value, decltype(r)::value>(
        g, plan, pooled, x, w, bias, pool.activation, y, argmax, stream);
  });
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
