// The narrow backward-filter (declared in conv_filter_narrow.h):
//
//   dW[o, c, kh, kw] = sum over (n, oh, ow) of dy[n, o, oh, ow] * x[n, c, ih, iw],
//   ih = oh * stride_h - pad_h + kh * dilation_h, iw = ow * stride_w - pad_w + kw * dilation_w
//   (x = 0 outside the image).
//
// Work split. A *slice* is one (c, kh) and a group of at most G = 32 / KW consecutive output
// channels o0 .. o0 + G - 1: the G * KW weights dW[o, c, kh, 0 .. KW - 1] of those channels.
// Slices are numbered s = (c * KH + kh) * groups + group. The batch's output rows (n, oh),
// N * OH of them, are cut into `chunks` ranges of consecutive rows.
//
//   narrow_filter_kernel<KW>  grid (chunks, ceil(slices / 8)), 8 warps of 32 threads. Warp w of
//     block (x, y) takes slice y * 8 + w (a warp past the last slice exits at once; nothing in
//     the kernel synchronises the block) and chunk x's rows. Lane l walks the columns
//     ow = l, l + 32, ... of each row: it reads dy[n, o, oh, ow] of the group's channels and the
//     KW inputs x[n, c, ih, iw(kw)] that meet them, and adds the G * KW products to its own
//     accumulators (registers: G * KW <= 32 floats, loops unrolled at compile time since KW is a
//     template parameter). Neighbouring lanes read neighbouring columns, so a warp's loads
//     coalesce; the 8 warps of a block read the same rows of dy and of x's channels, which L1
//     and L2 serve after the first. A row whose ih falls outside the image adds nothing and is
//     skipped. At the end a butterfly shuffle sums each accumulator over the 32 lanes (no
//     shared memory), and lane 0 writes the slice's G * KW sums to partial[chunk][o][c][kh][kw].
//   sum_slices (reduce.h)  adds each dW element's chunk partials in a fixed order.
//
// Precision: FP32 multiply-adds. At tf32 and bf16 (conv.cu takes this kernel there for at most 8
// output channels) x and dy are rounded as they are loaded (rounded_operand, warp_matrix.h), so
// the products are a tensor core's.
//
// A fixed order everywhere and no atomics: deterministic, the same result in every run.
// Per position a lane does G * KW multiply-adds for KW + G loads (30 for 11 at KW = 5, G = 6).
#include "kernels/cuda/conv_filter_narrow.h"

#include <algorithm>

#include "kernels/cuda/common.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"         // sum_slices
#include "kernels/cuda/tiled_product.h"  // WEFT_UNROLL
#include "kernels/cuda/warp_matrix.h"    // rounded_operand
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kAccumulators = 32;  // G * KW per lane at most

struct NarrowPlan {
  int group;           // output channels per slice (G, or O when fewer)
  int groups;          // ceil(O / group)
  int slices;          // C * KH * groups
  int rows_per_chunk;  // of the N * OH output rows
  int chunks;
};

int group_for(int kernel_w, int out_channels) {
  const int g = kAccumulators / std::max(kernel_w, 1);
  return std::min(g, out_channels);
}

NarrowPlan plan_for(const ConvGeometry& g) {
  NarrowPlan plan{};
  plan.group = std::max(group_for(g.kernel_w, g.out_channels), 1);
  plan.groups = (g.out_channels + plan.group - 1) / plan.group;
  plan.slices = g.in_channels * g.kernel_h * plan.groups;
  const int64_t rows = int64_t{g.batch} * g.out_h;
  const int64_t slice_blocks = (plan.slices + kWarpsPerBlock - 1) / kWarpsPerBlock;
  // About four waves of the card in all; each chunk at least one row.
  const int64_t wanted = std::max<int64_t>(
      1, int64_t{4} * kBlocksPerSm * sm_count() / std::max<int64_t>(slice_blocks, 1));
  const int64_t chunks = std::clamp<int64_t>(wanted, 1, std::max<int64_t>(rows, 1));
  plan.rows_per_chunk = static_cast<int>((rows + chunks - 1) / chunks);
  plan.chunks = static_cast<int>((rows + plan.rows_per_chunk - 1) / plan.rows_per_chunk);
  return plan;
}

template <int KW, OperandRounding kRounding>
__global__ void narrow_filter_kernel(ConvGeometry g, NarrowPlan plan, const float* x,
                                     const float* dy, float* partials) {
  constexpr int G = kAccumulators / KW;
  const int warp = static_cast<int>(threadIdx.x / kWarpSize);
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const int slice = static_cast<int>(blockIdx.y) * kWarpsPerBlock + warp;
  if (slice >= plan.slices) return;
  const int group = slice % plan.groups;
  const int kh = slice / plan.groups % g.kernel_h;
  const int c = slice / plan.groups / g.kernel_h;
  const int o0 = group * plan.group;
  const int owned = plan.group < g.out_channels - o0 ? plan.group : g.out_channels - o0;

  float acc[G][KW];
  WEFT_UNROLL
  for (int i = 0; i < G; ++i) {
    WEFT_UNROLL
    for (int k = 0; k < KW; ++k) acc[i][k] = 0.0f;
  }
  const int64_t out_plane = int64_t{g.out_h} * g.out_w;
  const int first_row = static_cast<int>(blockIdx.x) * plan.rows_per_chunk;
  const int rows = g.batch * g.out_h;
  const int last_row =
      first_row + plan.rows_per_chunk < rows ? first_row + plan.rows_per_chunk : rows;
  for (int row = first_row; row < last_row; ++row) {
    const int n = row / g.out_h, oh = row - n * g.out_h;
    const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
    if (ih < 0 || ih >= g.in_h) continue;
    const float* x_row = x + ((int64_t{n} * g.in_channels + c) * g.in_h + ih) * g.in_w;
    const float* dy_row =
        dy + (int64_t{n} * g.out_channels + o0) * out_plane + int64_t{oh} * g.out_w;
    for (int ow = lane; ow < g.out_w; ow += kLanes) {
      // The window's first column; a window wholly inside the row (all but the few columns
      // the padding reaches) loads its KW inputs without bounds checks.
      const int iw0 = ow * g.stride_w - g.pad_w;
      float in[KW];
      if (iw0 >= 0 && iw0 + (KW - 1) * g.dilation_w < g.in_w) {
        const float* window = x_row + iw0;
        WEFT_UNROLL
        for (int k = 0; k < KW; ++k) in[k] = rounded_operand(window[k * g.dilation_w], kRounding);
      } else {
        WEFT_UNROLL
        for (int k = 0; k < KW; ++k) {
          const int iw = iw0 + k * g.dilation_w;
          in[k] = iw >= 0 && iw < g.in_w ? rounded_operand(x_row[iw], kRounding) : 0.0f;
        }
      }
      // dy of the group's channels at this position, one plane apart: a pointer stepped by a
      // plane (a 64-bit add) rather than a product per channel. Past the group's last channel
      // (i >= owned) it is stepped but never read; guarding the step cost 15 instructions per
      // position at KW = 5 (static table).
      const float* grad_at = dy_row + ow;
      WEFT_UNROLL
      for (int i = 0; i < G; ++i, grad_at += out_plane) {
        if (i < owned) {
          const float grad = rounded_operand(*grad_at, kRounding);
          WEFT_UNROLL
          for (int k = 0; k < KW; ++k) acc[i][k] += grad * in[k];
        }
      }
    }
  }
  // partial[chunk][o][c][kh][kw], summed over the warp's lanes.
  float* out = partials + int64_t{blockIdx.x} * g.out_channels * g.taps() +
               (int64_t{o0} * g.in_channels + c) * g.kernel_h * KW + int64_t{kh} * KW;
  WEFT_UNROLL
  for (int i = 0; i < G; ++i) {
    WEFT_UNROLL
    for (int k = 0; k < KW; ++k) {
      const float total = warp_sum(acc[i][k]);
      if (lane == 0 && i < owned) out[int64_t{i} * g.taps() + k] = total;
    }
  }
}

template <int KW, OperandRounding kRounding>
void launch_narrow(const ConvGeometry& g, const NarrowPlan& plan, const float* x, const float* dy,
                   float* partials, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.chunks),
                  static_cast<unsigned>((plan.slices + kWarpsPerBlock - 1) / kWarpsPerBlock));
  WEFT_LAUNCH((narrow_filter_kernel<KW, kRounding>), grid, kWarpsPerBlock * kWarpSize, 0, stream, g,
              plan, x, dy, partials);
}

}  // namespace

bool narrow_filter_applies(const Conv2dParams& p) {
  const ConvGeometry g = geometry(p);
  return narrow_kernel_width(g.kernel_w) && g.out_channels >= 1 && g.out_channels <= 16 &&
         g.in_channels >= 1 && int64_t{g.in_channels} * g.kernel_h <= 64 && g.batch > 0 &&
         g.out_h > 0 && g.out_w > 0 && int64_t{g.batch} * g.out_h < (int64_t{1} << 31) &&
         indexed_offsets_fit(g);
}

int64_t narrow_filter_workspace_floats(const Conv2dParams& p) {
  const ConvGeometry g = geometry(p);
  return int64_t{plan_for(g).chunks} * g.out_channels * g.taps();
}

void conv2d_backward_filter_narrow(const Conv2dParams& p, const float* x, const float* dy,
                                   float* dw, float* workspace, cudaStream_t stream,
                                   OperandRounding rounding) {
  WEFT_CHECK(narrow_filter_applies(p), "conv2d_backward_filter_narrow: a layer it does not take");
  WEFT_CHECK(workspace != nullptr, "conv2d_backward_filter (narrow hand CUDA kernel): a workspace ",
             "of ", narrow_filter_workspace_floats(p), " floats is required");
  const ConvGeometry g = geometry(p);
  const NarrowPlan plan = plan_for(g);
  with_narrow_instance(g.kernel_w, rounding, [&](auto kw, auto r) {
    launch_narrow<decltype(kw)::value, decltype(r)::value>(g, plan, x, dy, workspace, stream);
  });
  const int64_t count = int64_t{g.out_channels} * g.taps();
  sum_slices(plan.chunks, count, workspace, dw, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
