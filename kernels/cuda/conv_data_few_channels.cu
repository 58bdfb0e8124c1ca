// The backward-data of a convolution with few input channels (declared in
// conv_data_few_channels.h):
//
//   dx[n, c, h, w] = bias[c] + sum over (kh, kw, o) of W[o, c, kh, kw] * dy[n, o, oh, ow],
//   oh = (h + pad_h - kh * dilation_h) / stride_h where that divides exactly and lands inside dy
//   (likewise ow along the width); other terms are 0
//
// for C <= 4 input channels. bias is conv_transpose2d_forward's (null in a backward-data). At tf32
// and bf16 the filter is rounded as it is copied and each dy value as it is loaded, as a tensor
// core would read them (rounded_operand), the products and sums in FP32. conv.cu routes here
// every such layer but a stride-1 one that the narrow forward takes as its adjoint.
//
// conv2d_backward_data_phases_kernel<kC>
//   Work split. A thread computes the kC values of one dx pixel (n, h, w), every channel of it, so
//   each dy value it loads feeds kC multiply-adds. Pixels are numbered by phase, (n, ph, pw, i, j)
//   with j fastest, h = ph + stride_h * i and w = pw + stride_w * j: whether tap kh reaches dy,
//   (h + pad_h - kh * dilation_h) divisible by stride_h, depends on h only through ph, so the
//   threads of a warp (consecutive j of one phase, but where a phase's rows end) take the same
//   branches over the taps and read the same weights, and their dy loads are consecutive ow of one
//   row. Every phase has rows = ceil(in_h / stride_h) and cols = ceil(in_w / stride_w) numbers;
//   those past the image compute nothing (they still reach the barriers). The pixel loop is
//   block-uniform: the block's threads take pixels first + t, first stepping by the grid's size.
//   Shared memory: the filter as one float4 per (tap, o), weights[(kh * KW + kw) * count + o - o0]
//   = (W[o, 0, kh, kw], .., W[o, kC - 1, kh, kw], 0, ..), for `count` output channels o0 .. at a
//   time (at most kFilterQuads = 2048 quads, 32 KB): a (tap, o) step is one broadcast LDS.128, one
//   coalesced LDG of dy and kC FFMA. When the whole filter fits (every seed layer but ResNet's
//   7 x 7 stem, whose backward-data training never needs) it is copied once before the first
//   pixel; otherwise each turn of the pixel loop copies it chunk after chunk, between barriers.
//   Sums: one fmaf chain per pixel and channel, over the chunks of o, then the taps (kh, kw), then
//   o; with the whole filter resident that is conv2d_backward_data_direct_kernel's order, and the
//   two give the same dx bit for bit (tested).
//   Why: the direct kernel below, one thread per (n, c, h, w), found its element with four 64-bit
//   divisions, read every weight from global memory, did each dy load for one channel, and mixed
//   the phases of a stride-2 layer in every warp (half its lanes idle at each tap). On the H200
//   (second lease) it took 382 us for the DCGAN's disc1 backward-data and gen5 transposed forward
//   at batch 128, where cuDNN took 114-126 us.
//
// conv2d_backward_data_direct_kernel (the fallback, FewChannelsKernel::direct)
//   One thread per dx element (n, c, h, w), consecutive threads on consecutive w (grid-stride),
//   each visiting only the taps whose window lands on an output position and summing
//   W[o, c, kh, kw] * dy[n, o, oh, ow] over o in increasing order. No shared memory. Taken for a
//   filter of more than 2048 taps per channel pair, or 2^31 pixels and more.
#include "kernels/cuda/conv_data_few_channels.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/warp_matrix.h"  // rounded_operand
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr int kFilterQuads = 2048;

// The phase numbering of a launch: pixel p = ((plane * rows) + i) * cols + j with plane =
// n * phases + ph * stride_w + pw (phases = stride_h * stride_w).
struct PhasePixels {
  FastDivmod cols, rows, phases, stride_w;
  int pixels;  // batch * phases * rows * cols, below 2^31
  int chunk;   // output channels whose filter is in shared memory at once
};

// The output row (or column) that tap k puts on input row h, or -1 where none does: h + pad -
// k * dilation must be a multiple of the stride and land inside the output's `count` rows.
__device__ __forceinline__ int output_index(int h, int pad, int k, int dilation, int stride,
                                            int count) {
  const int row = h + pad - k * dilation;
  if (row < 0 || row % stride != 0) return -1;
  const int index = row / stride;
  return index < count ? index : -1;
}

// Copies W[o0 .. o0 + count, 0 .. kC, :, :] into weights (layout at the top); all threads of the
// block take part.
template <int kC, OperandRounding kRounding>
__device__ __forceinline__ void copy_filter(const ConvGeometry& g, const float* w, int o0,
                                            int count, float4* weights) {
  const int taps = g.kernel_h * g.kernel_w;
  for (int e = static_cast<int>(threadIdx.x); e < count * taps;
       e += static_cast<int>(blockDim.x)) {
    const int o = e / taps, tap = e - o * taps;
    const float* from = w + (int64_t{o0} + o) * g.in_channels * taps + tap;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    WEFT_UNROLL
    for (int c = 0; c < kC; ++c) v[c] = rounded_operand(from[c * taps], kRounding);
    weights[tap * count + o] = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// Adds the terms of output channels o0 .. o0 + count (dy_chunk: dy[n, o0]) to pixel (h, x)'s kC
// sums.
template <int kC, OperandRounding kRounding>
__device__ __forceinline__ void add_taps(const ConvGeometry& g, const float* dy_chunk,
                                         const float4* weights, int count, int h, int x,
                                         float (&acc)[kC]) {
  const int out_plane = g.out_h * g.out_w;
  for (int kh = 0; kh < g.kernel_h; ++kh) {
    const int oh = output_index(h, g.pad_h, kh, g.dilation_h, g.stride_h, g.out_h);
    if (oh < 0) continue;
    for (int kw = 0; kw < g.kernel_w; ++kw) {
      const int ow = output_index(x, g.pad_w, kw, g.dilation_w, g.stride_w, g.out_w);
      if (ow < 0) continue;
      const float4* tap = weights + (kh * g.kernel_w + kw) * count;
      const float* d = dy_chunk + oh * g.out_w + ow;
      for (int o = 0; o < count; ++o) {
        const float4 f = tap[o];
        const float v = rounded_operand(d[o * out_plane], kRounding);
        acc[0] = fmaf(f.x, v, acc[0]);
        if constexpr (kC > 1) acc[1] = fmaf(f.y, v, acc[1]);
        if constexpr (kC > 2) acc[2] = fmaf(f.z, v, acc[2]);
        if constexpr (kC > 3) acc[3] = fmaf(f.w, v, acc[3]);
      }
    }
  }
}

// Five blocks per SM (at most 48 registers; their 165 KB of shared memory would allow six): left
// to itself, ptxas gave the tf32 form for 3 channels 40 registers and spilled 4 bytes.
constexpr int kPhasesMinBlocks = 5;

template <int kC, OperandRounding kRounding>
__global__ void __launch_bounds__(kBlockThreads, kPhasesMinBlocks)
    conv2d_backward_data_phases_kernel(ConvGeometry g, PhasePixels plan, const float* dy,
                                       const float* w, const float* bias, float* dx) {
  __shared__ float4 weights[kFilterQuads];
  WEFT_SHARED_UNDEFINED(weights);
  const bool resident = plan.chunk >= g.out_channels;
  if (resident) {
    copy_filter<kC, kRounding>(g, w, 0, g.out_channels, weights);
    __syncthreads();
  }
  const int64_t in_plane = int64_t{g.in_h} * g.in_w;
  const int64_t out_plane = int64_t{g.out_h} * g.out_w;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t first = int64_t{blockIdx.x} * blockDim.x; first < plan.pixels; first += step) {
    const int64_t p = first + threadIdx.x;
    const uint32_t index = static_cast<uint32_t>(p < plan.pixels ? p : 0);
    const uint32_t line = plan.cols.div(index);  // plane * rows + i
    const uint32_t plane = plan.rows.div(line);
    const uint32_t n = plan.phases.div(plane);
    const uint32_t phase = plane - n * plan.phases.divisor;
    const uint32_t ph = plan.stride_w.div(phase);
    const int h = static_cast<int>(ph + g.stride_h * (line - plane * plan.rows.divisor));
    const int x = static_cast<int>(phase - ph * plan.stride_w.divisor +
                                   g.stride_w * (index - line * plan.cols.divisor));
    const bool active = p < plan.pixels && h < g.in_h && x < g.in_w;
    float acc[kC];
    WEFT_UNROLL
    for (int c = 0; c < kC; ++c) acc[c] = 0.0f;
    for (int o0 = 0; o0 < g.out_channels; o0 += plan.chunk) {
      const int count = plan.chunk < g.out_channels - o0 ? plan.chunk : g.out_channels - o0;
      if (!resident) {
        __syncthreads();
        copy_filter<kC, kRounding>(g, w, o0, count, weights);
        __syncthreads();
      }
      if (active) {
        add_taps<kC, kRounding>(g, dy + (int64_t{n} * g.out_channels + o0) * out_plane, weights,
                                count, h, x, acc);
      }
    }
    if (active) {
      float* out = dx + int64_t{n} * kC * in_plane + int64_t{h} * g.in_w + x;
      WEFT_UNROLL
      for (int c = 0; c < kC; ++c) {
        out[c * in_plane] = acc[c] + (bias != nullptr ? bias[c] : 0.0f);
      }
    }
  }
}

__global__ void conv2d_backward_data_direct_kernel(ConvGeometry g, const float* dy, const float* w,
                                                   const float* bias, float* dx) {
  const int64_t count = int64_t{g.batch} * g.in_channels * g.in_plane();
  const int64_t out_plane = g.out_plane();
  const int64_t filter = int64_t{g.in_channels} * g.kernel_h * g.kernel_w;  // W's stride over o
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const int x = static_cast<int>(i % g.in_w);
    const int y = static_cast<int>((i / g.in_w) % g.in_h);
    const int c = static_cast<int>((i / g.in_plane()) % g.in_channels);
    const int64_t n = i / (int64_t{g.in_plane()} * g.in_channels);
    const float* dy_image = dy + n * g.out_channels * out_plane;
    float sum = 0.0f;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      const int oh = output_index(y, g.pad_h, kh, g.dilation_h, g.stride_h, g.out_h);
      if (oh < 0) continue;
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const int ow = output_index(x, g.pad_w, kw, g.dilation_w, g.stride_w, g.out_w);
        if (ow < 0) continue;
        const float* w_tap = w + (int64_t{c} * g.kernel_h + kh) * g.kernel_w + kw;
        const float* dy_at = dy_image + int64_t{oh} * g.out_w + ow;
        for (int o = 0; o < g.out_channels; ++o) {
          sum = fmaf(w_tap[o * filter], dy_at[o * out_plane], sum);
        }
      }
    }
    dx[i] = sum + (bias != nullptr ? bias[c] : 0.0f);
  }
}

// The phase kernel's plan for g, or chunk 0 where it does not apply.
PhasePixels plan_phases(const ConvGeometry& g) {
  PhasePixels plan{};
  const int taps = g.kernel_h * g.kernel_w;
  const int rows = (g.in_h + g.stride_h - 1) / g.stride_h;
  const int cols = (g.in_w + g.stride_w - 1) / g.stride_w;
  const int64_t pixels = int64_t{g.batch} * g.stride_h * g.stride_w * rows * cols;
  const bool offsets = int64_t{g.out_channels} * g.out_plane() < (int64_t{1} << 31);
  if (taps > kFilterQuads || pixels >= (int64_t{1} << 31) || !offsets) return plan;
  plan.cols = FastDivmod(static_cast<uint32_t>(cols));
  plan.rows = FastDivmod(static_cast<uint32_t>(rows));
  plan.phases = FastDivmod(static_cast<uint32_t>(g.stride_h * g.stride_w));
  plan.stride_w = FastDivmod(static_cast<uint32_t>(g.stride_w));
  plan.pixels = static_cast<int>(pixels);
  plan.chunk = std::max(1, std::min(g.out_channels, kFilterQuads / std::max(taps, 1)));
  return plan;
}

template <int kC>
void launch_phases(const ConvGeometry& g, const PhasePixels& plan, const float* dy,
                   const float* w, const float* bias, float* dx, OperandRounding rounding,
                   cudaStream_t stream) {
  switch (rounding) {
    case OperandRounding::none:
      WEFT_LAUNCH((conv2d_backward_data_phases_kernel<kC, OperandRounding::none>),
                  card_grid_blocks(plan.pixels), kBlockThreads, 0, stream, g, plan, dy, w, bias,
                  dx);
      return;
    case OperandRounding::tf32:
      WEFT_LAUNCH((conv2d_backward_data_phases_kernel<kC, OperandRounding::tf32>),
                  card_grid_blocks(plan.pixels), kBlockThreads, 0, stream, g, plan, dy, w, bias,
                  dx);
      return;
    case OperandRounding::bf16:
      WEFT_LAUNCH((conv2d_backward_data_phases_kernel<kC, OperandRounding::bf16>),
                  card_grid_blocks(plan.pixels), kBlockThreads, 0, stream, g, plan, dy, w, bias,
                  dx);
      return;
  }
}

}  // namespace

bool few_channels_phases_apply(const Conv2dParams& p) {
  return p.in_channels >= 1 && p.in_channels <= kFewDataChannels &&
         plan_phases(geometry(p)).chunk > 0;
}

void conv2d_backward_data_few_channels(const Conv2dParams& p, const float* dy, const float* w,
                                       const float* bias, float* dx, cudaStream_t stream,
                                       OperandRounding rounding, FewChannelsKernel kernel) {
  WEFT_CHECK(p.in_channels >= 1 && p.in_channels <= kFewDataChannels,
             "conv2d backward-data (hand CUDA kernel, few channels): ", p.in_channels,
             " input channels, where it takes 1 to ", kFewDataChannels);
  const ConvGeometry g = geometry(p);
  if (int64_t{g.batch} * g.in_channels * g.in_plane() == 0) return;
  const PhasePixels plan = plan_phases(g);
  WEFT_CHECK(rounding == OperandRounding::none || (kernel == FewChannelsKernel::phases &&
                                                   plan.chunk > 0),
             "conv2d backward-data (hand CUDA kernel, few channels): the direct kernel multiplies "
             "at fp32 only");
  if (kernel == FewChannelsKernel::direct || plan.chunk == 0) {
    WEFT_LAUNCH(conv2d_backward_data_direct_kernel,
                grid_blocks(int64_t{g.batch} * g.in_channels * g.in_plane()), kBlockThreads, 0,
                stream, g, dy, w, bias, dx);
    return;
  }
  switch (g.in_channels) {
    case 1:
      launch_phases<1>(g, plan, dy, w, bias, dx, rounding, stream);
      break;
    case 2:
      launch_phases<2>(g, plan, dy, w, bias, dx, rounding, stream);
      break;
    case 3:
      launch_phases<3>(g, plan, dy, w, bias, dx, rounding, stream);
      break;
    default:
      launch_phases<4>(g, plan, dy, w, bias, dx, rounding, stream);
      break;
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
