// Hand-written CUDA kernels for 2-d convolution and transposed convolution (declared in conv.h):
// the forward and backward-data here, the backward-filter in conv_filter.cu.
//
// Every pass is an implicit GEMM: the same three matrix products as the CPU reference's im2col
// formulation (kernels/cpu/conv.cpp), but the column matrix is never stored. Its elements are
// computed from the image while the tiles of the product are staged into shared memory, by
// operand structs. Forward and backward-filter run on the indexed core of
// tiled_product_large.h (operands in conv_operands.h: each thread decodes its rows once and its
// taps or positions once per block, then advances them by carries, no division per staged
// element); the backward-data kernels on the 64 x 64 core of tiled_product.h (256 threads with a
// 4 x 4 register micro-tile each, 16-deep slabs of both factors in shared memory). Edge tiles
// are padded with zeros in both. Notation: C, H, W input channels and size; O, OH, OW output
// channels and size; T = C * KH * KW the filter taps; a "tap" is (c, kh, kw); a "position" is
// (image, row, column) of an output (or input) plane.
//
// conv2d_forward_kernel<Tile>   y[O, (n, oh, ow)] = W[O, T] * col[T, (n, oh, ow)]
//   GEMM rows = output channels o, GEMM columns = output positions (n, oh, ow) over the whole
//   batch, reduction over the T taps. Block (bx, by) computes output channels Tile::kM by ..
//   + kM - 1 at output positions Tile::kN bx .. + kN - 1; which thread holds which of them, and
//   the shared-memory slabs (kK taps of kM filters, W read as a row-major matrix, IndexedMatrix;
//   the same kK taps read from the image at kN output positions, ImageWindows: x[n, c,
//   oh * stride - pad + kh * dilation, ...], 0 in the padding), are described in
//   tiled_product_large.h. The tile is chosen per shape by choose_tile there: 128 x 128 for
//   large problems, 64 x 128 for few output channels, 64 x 64 for small ones (run with float4
//   runs, SmallRunTile: launch_dispatch_forward).
//   Epilogue: y[n, o, oh, ow] = act(acc + bias[o]) (bias and the params' activation fused,
//   kernels/params.h FusedActivation). Neighbouring threads hold neighbouring positions, so the
//   stores coalesce along the output row (in runs of 4 for the larger tiles).
//   The kernel lab (conv_lab.h) keeps this kernel's earlier versions runnable beside it.
//   Narrow layers (at most 16 output channels or at most 32 taps per output channel, a filter of
//   at most 4096 floats, kernel width 3, 4, 5 or 7 at stride and dilation 1 along the width: the
//   shoe-pair CNNs' layers, the first layers of the Fashion-MNIST and apparel CNNs) take
//   conv_forward_narrow.cu instead, which keeps the filter in shared memory and a strip of
//   outputs per thread in registers.
//
// conv2d_backward_data_kernel   dx[C, (n, h, w)] = W^T[C, O*KH*KW] * dy-gather[.., (n, h, w)]
//   A gather, not a scatter: thread (ty, tx) of block (bx, by) owns input channels
//   c = 64 by + ty + 16 i at input positions 64 bx + tx + 16 j and sums, over every (o, kh, kw),
//   W[o, c, kh, kw] * dy[n, o, oh, ow] for the output position (oh, ow) whose window puts tap
//   (kh, kw) on (h, w): oh = (h + pad - kh * dilation) / stride when that divides exactly and
//   lands inside the output, else the term is 0. Every dx element is written by exactly one
//   thread, so no atomics and no zero-fill are needed and the result is deterministic.
//   Shared memory: W^T slab (TransposedFilter) and dy slab (OutputGradientGather).
//   With stride s only 1 in s^2 of the gathered terms is non-zero, and at stride 1 the sums are a
//   forward convolution, so both run as forward convolutions instead (below); this kernel takes
//   what those do not (a dilated strided layer, a padding past "full").
//   An optional per-channel bias is added in the epilogue: that is conv_transpose2d_forward's.
//
// Strided backward-data as one forward convolution per phase (data_by_phases, fp32). The input
//   rows h with (h + pad_h) mod stride_h = ph are reached only by the kernel rows kh = ph +
//   stride_h * j (j < Th, the phase's taps), and row h = first + stride_h * i meets output row
//   oh = base + i - j under tap j (AxisPhase below); the same along w. With the taps reversed,
//   j' = Th - 1 - j, that is dy row i - (Th - 1 - base) + j': a stride-1 convolution of dy
//   (O channels) with padding Th - 1 - base (negative when the phase starts inside dy, the far
//   side cut by the output count instead of a padding) and the filter
//   w'[c, o, j', jw'] = w[o, c, ph + stride_h (Th-1-j'), pw + stride_w (Tw-1-jw')]. So each phase
//   (ph, pw) runs the forward kernel's body (the indexed core), with no structurally zero terms,
//   the epilogue placing sum (+ bias[c]) at dx[n, c, first_h + stride_h i, first_w + stride_w iw]
//   (PhaseOutput). One launch (PhaseFilters) first writes every phase's filter into the workspace;
//   then conv2d_phases_kernel covers every dx element once, up to 4 phases per launch (block z runs
//   phase z; the tile chosen for the phases side by side). A phase no tap reaches (kernel smaller
//   than the stride) has an empty reduction: dx = 0, or the bias. Before (second lease, H200): the
//   same phases on the 64 x 64 core with divisions per staged element ran the DCGAN's 4x4 stride-2
//   layers at 0.33-0.49x cuDNN. At tf32 and bf16 the phases run on the tensor-core gather, also
//   four to a launch where dy's channels come in fours (channels_last_phases: the filters
//   written channels-last, PhaseFilters in the launch that copies dy: copy_with_phase_filters),
//   else a launch per phase.
//
// Stride-1 backward-data as a forward convolution (data_as_forward). With stride 1 the gather
//   above is itself a convolution: dx = conv(dy, w') with the filter's channel roles exchanged
//   and its taps reversed, w'[c, o, kh, kw] = w[o, c, KH-1-kh, KW-1-kw] (PhaseFilters with its one
//   phase, into the workspace), and padding dilation * (K - 1) - pad, which must be
//   >= 0 (it is for every padding up to "full"); same dilation, stride 1, the bias (the
//   transposed convolution's) as that convolution's bias. Input row h - pad' + d * kh' of dy
//   with kh' = K-1-kh is h + pad - d * kh: exactly the gather's output row. So the whole
//   forward dispatch serves it (the tiled SIMT kernel, the narrow kernel for at most 16 input
//   channels, the tensor-core kernel at tf32/bf16), faster than the gather kernel (on the H200,
//   second lease, a 3x3 32 -> 32 layer at batch 512: forward 0.52 ms, backward-data 1.77 ms by
//   the gather). Used for stride 1 with more than kFewDataChannels input channels, and for
//   fewer where the narrow forward takes the adjoint (data_direct; the rest of the image layers
//   go to conv_data_few_channels.cu); other sums order than the gather's, within the same
//   tolerances. The phases above likewise.
//
// Few input channels (C <= 4), at every precision: conv_data_few_channels.cu (one thread per
//   pixel and all its channels, the filter in shared memory), where the tiled kernel's 64-row
//   tiles would be C rows and 64 - C of padding, unless the narrow forward takes the adjoint
//   of a stride-1 layer (data_direct).
//
// Transposed convolution is the adjoint of the convolution p.as_conv(), so its three passes are
// the three above with that convolution's geometry (the same substitution as the CPU
// reference): its forward is conv backward-data with the bias fused, its backward-data is conv
// forward, its backward-filter is conv backward-filter (conv_filter.cu) with x and dy exchanged,
// plus channel_sums (bias.h) for its bias.
//
// Precision: the kernels above are FP32 (FFMA). When the math precision (kernels/selection.h) is
// tf32 or bf16, the three launchers (and so the transposed convolution's, through as_conv())
// hand every product to the tensor-core kernels of conv_tensor_core.cu instead, backward-data
// at any stride and channel count included; the bias sums stay FP32. The exceptions: narrow
// layers of at most 8 output channels keep their narrow forward and backward-filter kernels, and
// layers of at most 32 taps per output channel their narrow forward, which then round their
// operands as the tensor cores would (narrow_at, narrow_forward_at, rounding_of).
//
// Supported shapes: any batch, channels, image size, kernel size, stride, padding and dilation
// (no groups). GEMM indices are int, addresses int64: the position counts N * H * W and
// N * OH * OW and the reduction lengths C * KH * KW and O * KH * KW must each stay below 2^31;
// the tensors themselves may be larger, but one image of x and of y (C * H * W and O * OH * OW
// floats) must also stay below 2^31 for forward and backward-filter (conv_operands.h; an error
// says so otherwise). Degenerate sizes (an empty output) give zeros where the
// reference gives zeros.
#include "kernels/cuda/conv.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/bias.h"
#include "kernels/cuda/common.h"
#include "kernels/cuda/conv_data_few_channels.h"
#include "kernels/cuda/conv_filter_narrow.h"
#include "kernels/cuda/conv_forward_narrow.h"
#include "kernels/cuda/conv_full_window.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/conv_tensor_core.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/phase_filters.h"
#include "kernels/cuda/tiled_product.h"
#include "kernels/cuda/tiled_product_large.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// ---- operands of the implicit GEMMs (see tiled_product.h for the interface) -------------------

// W^T: (input channel c, (o, kh, kw)) -> w[o, c, kh, kw]. Taps of one (o, c) are contiguous.
struct TransposedFilter {
  static constexpr bool kAlongK = true;
  ConvGeometry g;
  const float* w;
  __device__ __forceinline__ float at(int c, int k) const {
    const int taps_per_channel = g.kernel_h * g.kernel_w;
    const int o = k / taps_per_channel;
    const int kernel_pos = k - o * taps_per_channel;
    return w[(int64_t{o} * g.in_channels + c) * taps_per_channel + kernel_pos];
  }
};

// (input position (n, h, w), (o, kh, kw)) -> dy[n, o, oh, ow] for the output position whose
// window puts tap (kh, kw) on (h, w), or 0 when there is none.
struct OutputGradientGather {
  static constexpr bool kAlongK = false;
  ConvGeometry g;
  const float* dy;
  __device__ __forceinline__ float at(int position, int k) const {
    const int n = position / g.in_plane();
    const int pixel = position - n * g.in_plane();
    const int h = pixel / g.in_w, w = pixel % g.in_w;
    const int taps_per_channel = g.kernel_h * g.kernel_w;
    const int o = k / taps_per_channel;
    const int kernel_pos = k - o * taps_per_channel;
    const int kh = kernel_pos / g.kernel_w, kw = kernel_pos % g.kernel_w;
    // h = oh * stride - pad + kh * dilation, solved for oh.
    const int oh_scaled = h + g.pad_h - kh * g.dilation_h;
    const int ow_scaled = w + g.pad_w - kw * g.dilation_w;
    if (oh_scaled < 0 || ow_scaled < 0) return 0.0f;
    if (oh_scaled % g.stride_h != 0 || ow_scaled % g.stride_w != 0) return 0.0f;
    const int oh = oh_scaled / g.stride_h, ow = ow_scaled / g.stride_w;
    if (oh >= g.out_h || ow >= g.out_w) return 0.0f;
    return dy[((int64_t{n} * g.out_channels + o) * g.out_h + oh) * g.out_w + ow];
  }
};

// One axis of a backward-data phase (see "Strided backward-data" at the top): input indices
// first + stride * i for i < count, reached by kernel indices phase + stride * j for j < taps,
// index i under tap j meeting output index base + i - j.
struct AxisPhase {
  int phase, first, count, taps, base;
};

AxisPhase axis_phase(int in, int kernel, int stride, int pad, int phase) {
  AxisPhase a;
  a.phase = phase;
  a.first = ((phase - pad) % stride + stride) % stride;  // (first + pad) mod stride == phase
  a.count = a.first < in ? (in - a.first + stride - 1) / stride : 0;
  a.taps = phase_taps(kernel, stride, phase);
  a.base = (a.first + pad - phase) / stride;  // exact, and >= 0 since phase < stride
  return a;
}

// Where the forward kernel's sums go: (channel, GEMM column position, sum) -> memory.
// DenseOutput: y[n, o, oh, ow] = act(sum + bias[o]), position = n * OH * OW + oh * OW + ow, the
// forward's own output.
struct DenseOutput {
  float* y;
  int channels, plane;
  const float* bias;
  FusedActivation act;
  __device__ __forceinline__ void operator()(int o, int position, float sum) const {
    store_nchw(y, channels, plane, o, position, sum, bias, act);
  }
};

// PhaseOutput: a backward-data phase's sums, position = n * count_h * count_w + i * count_w + iw
// of the phase convolution, land at dx[n, c, first_h + stride_h * i, first_w + stride_w * iw]
// (+ bias[c], the transposed convolution's).
struct PhaseOutput {
  float* dx;
  int channels, in_h, in_w;
  AxisPhase h, w;
  int stride_h, stride_w;
  const float* bias;
  __device__ __forceinline__ void operator()(int c, int position, float sum) const {
    const int plane = h.count * w.count;
    const int n = position / plane;
    const int rest = position - n * plane;
    const int i = rest / w.count, iw = rest - i * w.count;
    const int row = h.first + stride_h * i, col = w.first + stride_w * iw;
    dx[((int64_t{n} * channels + c) * in_h + row) * in_w + col] =
        sum + (bias != nullptr ? bias[c] : 0.0f);
  }
};

// ---- kernels ----------------------------------------------------------------------------------

__global__ void __launch_bounds__(kProductThreads)
    conv2d_backward_data_kernel(ConvGeometry g, const float* dy, const float* w, const float* bias,
                                float* dx) {
  const TransposedFilter filters{g, w};
  const OutputGradientGather gathered{g, dy};
  const int positions = g.batch * g.in_plane();
  const int depth = g.out_channels * g.kernel_h * g.kernel_w;
  float acc[kMicroTile][kMicroTile];
  tile_product(filters, g.in_channels, gathered, positions, 0, depth, acc);

  store_micro_tile(acc, g.in_channels, positions, [&](int c, int position, float sum) {
    store_nchw(dx, g.in_channels, g.in_plane(), c, position, sum, bias);
  });
}

// Block (blockIdx.x, blockIdx.y)'s tile of the forward on the indexed core with block tile Tile
// (tiled_product_large.h); `out` places the sums (DenseOutput, PhaseOutput).
template <class Tile, class Output>
__device__ __forceinline__ void forward_tile(const ConvGeometry& g, const float* x, const float* w,
                                             const Output& out) {
  const IndexedMatrix<true> filters{w, g.taps()};
  const ImageWindows columns{g, x};
  const int positions = g.batch * g.out_plane();
  float acc[Tile::kMicroM][Tile::kMicroN];
  indexed_tile_product<Tile>(filters, g.out_channels, columns, positions, 0, g.taps(), acc);
  store_tile<Tile>(acc, g.out_channels, positions, out);
}

template <class Tile, class Output>
__global__ void __launch_bounds__(kProductThreads, Tile::kMinBlocks)
    conv2d_forward_kernel(ConvGeometry g, const float* x, const float* w, Output out) {
  forward_tile<Tile>(g, x, w, out);
}

// Up to kPhasesPerLaunch phases of one strided backward-data in one launch: block z runs phase
// z, a forward convolution of dy with its own geometry, filter and PhaseOutput. Grid x covers
// the largest phase's positions; a block past a smaller phase's last position returns before
// it reaches a barrier. One launch per 4 phases instead of one per phase, and a grid 4 times a
// phase's: alone, a phase of the DCGAN discriminator's layers at batch 128 is a grid of under
// one block per SM of an H200.
constexpr int kPhasesPerLaunch = 4;
struct PhaseBatch {
  int count;
  ConvGeometry g[kPhasesPerLaunch];
  const float* w[kPhasesPerLaunch];
  PhaseOutput out[kPhasesPerLaunch];
};

template <class Tile>
__global__ void __launch_bounds__(kProductThreads, Tile::kMinBlocks)
    conv2d_phases_kernel(PhaseBatch phases, const float* dy) {
  const int z = static_cast<int>(blockIdx.z);
  const ConvGeometry g = phases.g[z];
  if (static_cast<int>(blockIdx.x) * Tile::kN >= g.batch * g.out_plane()) return;
  forward_tile<Tile>(g, dy, phases.w[z], phases.out[z]);
}

// ---- host side --------------------------------------------------------------------------------

// PhaseFilters (phase_filters.h) alone in FP32 and the layout of the NCHW gathers: one launch.
void phase_filters(const Conv2dParams& p, const float* w, float* phased, cudaStream_t stream) {
  for_each(p.weight_count(), PhaseFilters<float>(p, w, phased, false, false), stream);
}

// The same for the narrow forward, which at tf32 and bf16 also takes layers of at most 32 taps
// per output channel: their forward is bound by storing y, which both kernels do alike, and the
// tensor-core kernel's tile would run one 32-deep reduction stage (9 of its 32 taps used for the
// Fashion-MNIST CNN's first layer) per staging of its operands and epilogue.
bool narrow_forward_at(MathPrecision precision, const Conv2dParams& p) {
  return narrow_at(precision, p) || few_taps_forward(p);
}

// Whether p's stride-1 backward-data runs as its adjoint forward convolution on the narrow
// forward kernel (whose output channels are p's input channels): at most 8 of them, or few taps.
bool data_as_narrow_forward(const Conv2dParams& p, MathPrecision precision) {
  if (p.stride_h != 1 || p.stride_w != 1) return false;
  if (p.pad_h > p.dilation_h * (p.kernel_h - 1) || p.pad_w > p.dilation_w * (p.kernel_w - 1)) {
    return false;
  }
  const Conv2dParams adjoint = backward_data_adjoint(p);
  return narrow_forward_applies(adjoint) && narrow_forward_at(precision, adjoint);
}

// Whether p's backward-data is left to conv_data_few_channels.cu: at most 4 input channels, at
// any precision (its products of tensor-core-rounded operands at tf32 and bf16, as the narrow
// kernels', where a 16-row tensor-core tile would hold 4 rows or fewer), except a stride-1 layer
// that the narrow forward takes as its adjoint (the pair CNNs' conv2: a strip of pixels per
// thread, the input row window in registers, several times the multiply-adds per load). At tf32
// and bf16 only where its phase kernel applies (the direct fallback multiplies at fp32).
bool data_direct(const Conv2dParams& p, MathPrecision precision) {
  return p.in_channels <= kFewDataChannels && !data_as_narrow_forward(p, precision) &&
         (precision == MathPrecision::fp32 || few_channels_phases_apply(p));
}

// Whether p's backward-data runs as the forward convolution backward_data_adjoint(p).
bool data_as_forward(const Conv2dParams& p, MathPrecision precision) {
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= p.dilation_h * (p.kernel_h - 1) &&
         p.pad_w <= p.dilation_w * (p.kernel_w - 1) && !data_direct(p, precision) &&
         p.out_channels > 0 && p.out_h() > 0 && p.out_w() > 0 &&
         p.weight_count() < (int64_t{1} << 31);
}

// The stride-1 convolution of phase (h, w) of p's backward-data: dy in, the phase's rows and
// columns of dx out, the phase's taps, padding taps - 1 - base (negative where the phase's
// first output lies inside dy).
ConvGeometry phase_geometry(const Conv2dParams& p, const AxisPhase& h, const AxisPhase& w) {
  ConvGeometry g = geometry(p);
  g.in_channels = p.out_channels;
  g.in_h = g.out_h;
  g.in_w = g.out_w;
  g.out_channels = p.in_channels;
  g.out_h = h.count;
  g.out_w = w.count;
  g.kernel_h = h.taps;
  g.kernel_w = w.taps;
  g.stride_h = g.stride_w = 1;
  g.pad_h = h.taps - 1 - h.base;
  g.pad_w = w.taps - 1 - w.base;
  return g;  // dilation 1, as data_by_phases requires
}

// Whether p's strided backward-data runs as one forward convolution per phase.
bool data_by_phases(const Conv2dParams& p, MathPrecision precision) {
  if (p.stride_h == 1 && p.stride_w == 1) return false;
  if (p.dilation_h != 1 || p.dilation_w != 1 || data_direct(p, precision)) return false;
  if (p.out_channels <= 0 || p.out_h() <= 0 || p.out_w() <= 0) return false;
  if (p.weight_count() >= (int64_t{1} << 31)) return false;
  // The phases' outputs are parts of dx, their input is dy: the offsets of a whole dx and dy.
  ConvGeometry whole = geometry(p);
  std::swap(whole.in_channels, whole.out_channels);
  std::swap(whole.in_h, whole.out_h);
  std::swap(whole.in_w, whole.out_w);
  return indexed_offsets_fit(whole);
}

// The forward kernel on block tile Tile over geometry g, its sums placed by `out`.
template <class Tile, class Output>
void launch_forward_on(const ConvGeometry& g, const float* x, const float* w, const Output& out,
                       cudaStream_t stream) {
  WEFT_LAUNCH((conv2d_forward_kernel<Tile, Output>),
              tile_grid<Tile>(g.out_channels, g.batch * g.out_plane()), kProductThreads, 0, stream,
              g, x, w, out);
}

// The phases of `phases` in one launch, on the tile choose_tile gives their positions side by
// side (with_dispatch_tile: the small one on SmallRunTile, as launch_dispatch_forward).
template <class Tile>
void launch_phases_on(const PhaseBatch& phases, int positions, const float* dy,
                      cudaStream_t stream) {
  WEFT_LAUNCH(conv2d_phases_kernel<Tile>,
              tile_grid<Tile>(phases.g[0].out_channels, positions, phases.count), kProductThreads,
              0, stream, phases, dy);
}

void launch_phases(const PhaseBatch& phases, const float* dy, cudaStream_t stream) {
  int widest = 0;
  int64_t side_by_side = 0;
  for (int i = 0; i < phases.count; ++i) {
    const int positions = phases.g[i].batch * phases.g[i].out_plane();
    widest = std::max(widest, positions);
    side_by_side += positions;
  }
  const int columns = static_cast<int>(std::min<int64_t>(side_by_side, INT32_MAX));
  with_dispatch_tile(choose_tile(phases.g[0].out_channels, columns), [&](auto tile) {
    launch_phases_on<decltype(tile)>(phases, widest, dy, stream);
  });
}

// The same with the tile chosen at run time.
template <class Output>
void launch_forward(TileChoice tile, const ConvGeometry& g, const float* x, const float* w,
                    const Output& out, cudaStream_t stream) {
  switch (tile) {
    case TileChoice::large:
      launch_forward_on<LargeTile>(g, x, w, out, stream);
      return;
    case TileChoice::medium:
      launch_forward_on<MediumTile>(g, x, w, out, stream);
      return;
    case TileChoice::small:
      launch_forward_on<SmallTile>(g, x, w, out, stream);
      return;
  }
}

// The dispatch's forward (and so its backward-data as forward, and its phases): choose_tile's
// tile, its 64 x 64 choice on SmallRunTile (the lab's v5) rather than SmallTile (v3).
// choose_tile takes the 64 x 64 tile only where the 64 x 128 tile's grid is under one block per
// SM of the card, so the 64 x 64 grid is under two per SM, and SmallRunTile's limit of three
// blocks per SM (80 registers) against SmallTile's four never binds; per 16-deep slab it issues
// 454 instructions for the 256 FFMA where SmallTile issues 554 (32 LDS.128 against 128 LDS).
// Both sum in the same order: the same output bit for bit.
template <class Output>
void launch_dispatch_forward(const ConvGeometry& g, const float* x, const float* w,
                             const Output& out, cudaStream_t stream) {
  with_dispatch_tile(choose_tile(g.out_channels, g.batch * g.out_plane()), [&](auto tile) {
    launch_forward_on<decltype(tile)>(g, x, w, out, stream);
  });
}

// Whether a strided backward-data's phases run on tensor cores over channels-last operands
// (channels_last_phases): at tf32 or bf16, unless they gather from NCHW (dy's channels not in
// fours, or WEFT_CONV_CHANNELS_LAST=0).
bool channels_last_phases_apply(const Conv2dParams& p, MathPrecision precision) {
  return precision != MathPrecision::fp32 && phases_channels_last_apply(p.out_channels);
}

// The workspace of the backward-data paths whose filters dy_and_filters_copied writes
// (channels_last_phases, adjoint_on_copies): the filters' room (KH KW C O + 4 floats, to start
// them at a 16-byte boundary), then dy's channels-last copy.
int64_t copied_filters_floats(const Conv2dParams& p) {
  return p.weight_count() + 4;
}

int64_t filters_and_dy_copy_floats(const Conv2dParams& p) {
  return copied_filters_floats(p) +
         channels_last_tensor_floats(p.batch, p.out_channels, p.out_h() * p.out_w());
}

// dy's channels-last copy (after the filters' room: filters_and_dy_copy_floats) and the
// channels-last phase filters (at the first 16-byte boundary of the workspace), both in the
// gather's copy format for dy's channels (gather_copy_format), by one launch
// (copy_with_phase_filters).
ChannelsLastCopies dy_and_filters_copied(const Conv2dParams& p, MathPrecision precision,
                                         const float* dy, const float* w, float* workspace,
                                         cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  return copy_with_phase_filters(g.batch, g.out_channels, g.out_plane(), dy,
                                 workspace + copied_filters_floats(p),
                                 gather_copy_format(precision, g.out_channels), p, w, workspace,
                                 stream);
}

// Calls f(h, w, phase, before) for each phase of p's backward-data that has an output (an empty
// axis is left out): its axes, its convolution (phase_geometry) and `before`, the weights of the
// phases before it in PhaseFilters' buffer, where its filter starts.
template <class F>
void for_each_phase(const Conv2dParams& p, const F& f) {
  const ConvGeometry g = geometry(p);
  int64_t before = 0;
  for (int ph = 0; ph < g.stride_h; ++ph) {
    const AxisPhase h = axis_phase(g.in_h, g.kernel_h, g.stride_h, g.pad_h, ph);
    for (int pw = 0; pw < g.stride_w; ++pw) {
      const AxisPhase w = axis_phase(g.in_w, g.kernel_w, g.stride_w, g.pad_w, pw);
      const ConvGeometry phase = phase_geometry(p, h, w);
      if (phase.out_plane() > 0) f(h, w, phase, before);
      before += int64_t{h.taps} * w.taps * g.out_channels * g.in_channels;
    }
  }
}

// The phases of p as the tensor-core kernels take them, each one's filter in a buffer of
// PhaseFilters' layout at `filters`, of `element` bytes per weight.
std::vector<TensorCorePhase> tensor_core_phases(const Conv2dParams& p, const void* filters,
                                                int element) {
  const ConvGeometry g = geometry(p);
  std::vector<TensorCorePhase> phases;
  const auto* start = static_cast<const char*>(filters);
  for_each_phase(p, [&](const AxisPhase& h, const AxisPhase& w, const ConvGeometry& phase,
                        int64_t before) {
    phases.push_back(TensorCorePhase{
        PhaseAxis{h.count, h.first, g.stride_h, g.in_h, h.taps, phase.pad_h, g.out_h},
        PhaseAxis{w.count, w.first, g.stride_w, g.in_w, w.taps, phase.pad_w, g.out_w},
        start + before * element});
  });
  return phases;
}

// Strided backward-data at tf32 or bf16 on channels-last operands (where
// channels_last_phases_apply): one launch copies dy channels-last and writes every phase's
// filter channels-last in the gather's copy format (dy_and_filters_copied; every phase's
// O * C * taps weights are whole 16-byte pieces, O in fours, in eights for BF16 copies, so each
// starts at a boundary), and the phases run four to a launch (conv_tensor_core.h). Two
// launches for a stride-2 layer where a filter reordering, a dy copy and a filter copy and a
// gather per phase made ten. Workspace: filters_and_dy_copy_floats.
void channels_last_phases(const Conv2dParams& p, MathPrecision precision, const float* dy,
                          const float* w, const float* bias, float* dx, float* workspace,
                          cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  const ChannelsLastCopies copies = dy_and_filters_copied(p, precision, dy, w, workspace, stream);
  const std::vector<TensorCorePhase> phases =
      tensor_core_phases(p, copies.filters, copies.element);
  conv2d_backward_data_phases_channels_last(precision, g.batch, g.in_channels, g.out_channels,
                                            phases.data(), static_cast<int>(phases.size()), dy,
                                            copies.tensor, bias, dx, stream);
}

// The channels-last copies' floats when conv2d_forward takes the tensor-core path.
int64_t tensor_core_forward_floats(const Conv2dParams& p, MathPrecision precision) {
  if (precision == MathPrecision::fp32 || !conv_channels_last() ||
      (narrow_forward_applies(p) && narrow_forward_at(precision, p))) {
    return 0;
  }
  return conv2d_forward_tensor_core_workspace_floats(p);
}

// Whether p's stride-1 backward-data (data_as_forward) runs its adjoint forward on the
// channels-last tensor-core gather with the filter PhaseFilters wrote channels-last
// (adjoint_on_copies, whose workspace is filters_and_dy_copy_floats).
bool adjoint_filter_copied(const Conv2dParams& p, MathPrecision precision) {
  const Conv2dParams adjoint = backward_data_adjoint(p);
  return !full_window(adjoint) && tensor_core_forward_floats(adjoint, precision) > 0;
}

// The adjoint forward of p's stride-1 backward-data at tf32 or bf16 on channels-last operands:
// one launch copies dy channels-last and writes the reversed filter [C, KH, KW, O] in the
// gather's copy format (dy_and_filters_copied; conv2d_forward would write w' as [C, O, KH, KW]
// and then copy it and dy), one runs the gather: two launches where there were four.
void adjoint_on_copies(const Conv2dParams& p, MathPrecision precision, const float* dy,
                       const float* w, const float* bias, float* dx, float* workspace,
                       cudaStream_t stream) {
  const ChannelsLastCopies copies = dy_and_filters_copied(p, precision, dy, w, workspace, stream);
  conv2d_forward_tensor_core_on_copies(backward_data_adjoint(p), precision, copies.tensor,
                                       copies.filters, bias, dx, stream);
}

void require_workspace(const Conv2dParams& p, const float* workspace) {
  WEFT_CHECK(workspace != nullptr, "conv2d_backward_data (hand CUDA kernel): a workspace of ",
             conv2d_backward_data_workspace_floats(p), " floats is required");
}

// conv2d_backward_data with an optional bias per input channel added in the epilogue.
void backward_data_with_bias(const Conv2dParams& p, const float* dy, const float* w,
                             const float* bias, float* dx, float* workspace, cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  if (g.batch <= 0 || g.in_channels <= 0 || g.in_plane() <= 0) return;
  if (full_window(p)) {
    full_window_backward_data(p, dy, w, bias, dx, workspace, stream);
    return;
  }
  const MathPrecision precision = math_precision();
  if (data_as_forward(p, precision)) {
    require_workspace(p, workspace);
    if (adjoint_filter_copied(p, precision)) {
      adjoint_on_copies(p, precision, dy, w, bias, dx, workspace, stream);
      return;
    }
    phase_filters(p, w, workspace, stream);
    conv2d_forward(backward_data_adjoint(p), dy, workspace, bias, dx, workspace + p.weight_count(),
                   stream);
    return;
  }
  if (data_by_phases(p, precision)) {
    require_workspace(p, workspace);
    if (channels_last_phases_apply(p, precision)) {
      channels_last_phases(p, precision, dy, w, bias, dx, workspace, stream);
      return;
    }
    phase_filters(p, w, workspace, stream);
    if (precision != MathPrecision::fp32) {  // tf32, bf16 on dy as it is, a launch per phase
      const int element = static_cast<int>(sizeof(float));
      for (const TensorCorePhase& phase : tensor_core_phases(p, workspace, element)) {
        conv2d_backward_data_phase_tensor_core(
            precision, g.batch, g.in_channels, g.out_channels, phase.h, phase.w, dy,
            static_cast<const float*>(phase.filter), bias, dx, stream);
      }
      return;
    }
    PhaseBatch batch{};  // the phases waiting for their launch
    for_each_phase(p, [&](const AxisPhase& h, const AxisPhase& w_axis, const ConvGeometry& phase,
                          int64_t before) {
      batch.g[batch.count] = phase;
      batch.w[batch.count] = workspace + before;
      batch.out[batch.count] = PhaseOutput{dx,     g.in_channels, g.in_h,     g.in_w, h,
                                           w_axis, g.stride_h,    g.stride_w, bias};
      if (++batch.count == kPhasesPerLaunch) {
        launch_phases(batch, dy, stream);
        batch.count = 0;
      }
    });
    if (batch.count > 0) launch_phases(batch, dy, stream);
    return;
  }
  // An empty output (or no output channels) needs no special case: every gathered term is 0
  // (or the reduction is empty), so dx becomes 0, or the bias alone, as in the reference.
  if (data_direct(p, precision)) {
    conv2d_backward_data_few_channels(p, dy, w, bias, dx, stream, rounding_of(precision));
    return;
  }
  if (precision != MathPrecision::fp32) {
    conv2d_backward_data_tensor_core(p, precision, dy, w, bias, dx, stream);
    return;
  }
  WEFT_LAUNCH(conv2d_backward_data_kernel, product_grid(g.in_channels, g.batch * g.in_plane()),
              kProductThreads, 0, stream, g, dy, w, bias, dx);
}

Conv2dParams checked_as_conv(const ConvTranspose2dParams& p) {
  const Conv2dParams c = p.as_conv();
  WEFT_CHECK(c.out_h() == p.in_h && c.out_w() == p.in_w,
             "conv_transpose2d (hand CUDA kernel): output padding must be smaller than the "
             "stride, so that the output size maps back to the input size");
  return c;
}

}  // namespace

namespace {

// launch(g, out) for p's forward with its output written densely into y (the kernel lab's entry
// points below), unless the output is empty.
template <class Launch>
void dense_forward(const Conv2dParams& p, const float* bias, float* y, const Launch& launch) {
  const ConvGeometry g = geometry(p);
  if (g.batch <= 0 || g.out_h <= 0 || g.out_w <= 0 || g.out_channels <= 0) return;
  check_offsets(g);
  launch(g, DenseOutput{y, g.out_channels, g.out_plane(), bias, p.activation});
}

}  // namespace

void conv2d_forward_with_tile(TileChoice tile, const Conv2dParams& p, const float* x,
                              const float* w, const float* bias, float* y, cudaStream_t stream) {
  dense_forward(p, bias, y, [&](const ConvGeometry& g, const DenseOutput& out) {
    launch_forward(tile, g, x, w, out, stream);
  });
}

void conv2d_forward_small_runs(const Conv2dParams& p, const float* x, const float* w,
                               const float* bias, float* y, cudaStream_t stream) {
  dense_forward(p, bias, y, [&](const ConvGeometry& g, const DenseOutput& out) {
    launch_forward_on<SmallRunTile>(g, x, w, out, stream);
  });
}

int64_t conv2d_forward_workspace_floats(const Conv2dParams& p) {
  if (full_window(p)) return full_window_workspace_floats(p);
  return tensor_core_forward_floats(p, math_precision());
}

int64_t conv2d_backward_data_workspace_floats(const Conv2dParams& p) {
  if (full_window(p)) return full_window_workspace_floats(p);
  const MathPrecision precision = math_precision();
  if (data_as_forward(p, precision)) {
    if (adjoint_filter_copied(p, precision)) return filters_and_dy_copy_floats(p);
    return p.weight_count() + conv2d_forward_workspace_floats(backward_data_adjoint(p));
  }
  // The phase filters, and on tensor cores over channels-last operands dy's copy too.
  if (data_by_phases(p, precision)) {
    return channels_last_phases_apply(p, precision) ? filters_and_dy_copy_floats(p)
                                                    : p.weight_count();
  }
  return 0;
}

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y, float* workspace, cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  if (g.batch <= 0 || g.out_h <= 0 || g.out_w <= 0 || g.out_channels <= 0) return;
  if (full_window(p)) {
    full_window_forward(p, x, w, bias, y, workspace, stream);
    return;
  }
  const MathPrecision precision = math_precision();
  if (narrow_forward_applies(p) && narrow_forward_at(precision, p)) {
    conv2d_forward_narrow(p, x, w, bias, y, stream, rounding_of(precision));
    return;
  }
  if (precision != MathPrecision::fp32) {
    const bool copies = workspace != nullptr && tensor_core_forward_floats(p, precision) > 0;
    conv2d_forward_tensor_core(p, precision, x, w, bias, y, stream, TensorCoreTile::automatic,
                               copies ? workspace : nullptr);
    return;
  }
  dense_forward(p, bias, y, [&](const ConvGeometry& dense, const DenseOutput& out) {
    launch_dispatch_forward(dense, x, w, out, stream);
  });
}

bool conv2d_max_pool2d_fuses(const Conv2dParams& p, const Pool2dParams& pool) {
  return !full_window(p) && narrow_forward_max_pool_applies(p, pool) &&
         narrow_forward_at(math_precision(), p);
}

void conv2d_max_pool2d_forward_fused(const Conv2dParams& p, const Pool2dParams& pool,
                                     const float* x, const float* w, const float* bias, float* y,
                                     int32_t* argmax, cudaStream_t stream) {
  WEFT_CHECK(conv2d_max_pool2d_fuses(p, pool),
             "conv2d_max_pool2d_forward_fused: a layer and pool it does not take");
  conv2d_forward_max_pool_narrow(p, pool, x, w, bias, y, argmax, stream,
                                 rounding_of(math_precision()));
}

void conv2d_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx,
                          float* workspace, cudaStream_t stream) {
  backward_data_with_bias(p, dy, w, nullptr, dx, workspace, stream);
}

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y, float* workspace, cudaStream_t stream) {
  // y = A^T x for the convolution A = as_conv(): its backward-data, whose input-channel bias is
  // our output-channel bias.
  backward_data_with_bias(checked_as_conv(p), x, w, bias, y, workspace, stream);
}

void conv_transpose2d_backward_data(const ConvTranspose2dParams& p, const float* dy, const float* w,
                                    float* dx, float* workspace, cudaStream_t stream) {
  conv2d_forward(checked_as_conv(p), dy, w, nullptr, dx, workspace, stream);
}

// Layout: the bias sums' partials (doubles, over our output channels) first, then the
// convolution's workspace.
int64_t conv_transpose2d_backward_filter_workspace_floats(const ConvTranspose2dParams& p) {
  return channel_sums_workspace_floats(p.batch, p.out_channels, p.out_h() * p.out_w()) +
         conv2d_backward_filter_workspace_floats(p.as_conv());
}

void conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias, float* workspace,
                                      cudaStream_t stream) {
  const int plane = p.out_h() * p.out_w();
  if (dbias != nullptr) channel_sums(p.batch, p.out_channels, plane, dy, dbias, workspace, stream);
  if (workspace != nullptr) {
    workspace += channel_sums_workspace_floats(p.batch, p.out_channels, plane);
  }
  // The convolution's input is our output gradient and its output gradient is our input.
  conv2d_backward_filter(checked_as_conv(p), dy, x, dw, nullptr, workspace, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
