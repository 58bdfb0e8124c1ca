// The hand convolutions on tensor cores: implicit GEMMs with the operands rounded to TF32 or BF16
// on their way into mma.sync and the products accumulated in FP32. conv.cu's launchers call
// these when the math precision (kernels/selection.h) is tf32 or bf16, for convolution and,
// through ConvTranspose2dParams::as_conv(), transposed convolution. The kernels are described in
// conv_tensor_core.cu. Device pointers; work queued on `stream`; every function overwrites its
// outputs.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// The kernels' block tile (conv_tensor_core.cu): chosen per shape (automatic: on channels-last
// copies 128 x 128 for at least 128 GEMM rows when its grid fills the card twice; else 128 x 64
// for at least 128 GEMM rows when the gather's grid fills the card twice; 64 x 64 otherwise), or
// fixed, for the tests and benchmarks that compare tiles on one problem (WEFT_TENSOR_CORE_TILE,
// kernels/selection.h, fixes it for every call left automatic). The wide tile is the
// channels-last gather's only: elsewhere the tall one stands in for it. One enum with that
// setting's, so a forced tile needs no translation.
using TensorCoreTile = ::weft::TensorCoreTileSetting;

// Floats of workspace conv2d_forward_tensor_core needs to run on channels-last copies of x and
// w (input channels a multiple of 4; see conv_tensor_core.cu), 0 where it cannot.
int64_t conv2d_forward_tensor_core_workspace_floats(const Conv2dParams& p);

// y[N, O, OH, OW] = act(conv(x, w) + bias[O]) with act = p.activation (bias may be null). With a
// workspace of the size above (when not 0) the product runs on channels-last copies; without
// one it gathers from x as it is.
void conv2d_forward_tensor_core(const Conv2dParams& p, MathPrecision precision, const float* x,
                                const float* w, const float* bias, float* y, cudaStream_t stream,
                                TensorCoreTile tile = TensorCoreTile::automatic,
                                float* workspace = nullptr);

// The same on copies already made (copy_with_phase_filters makes a stride-1 backward-data's
// so): `x_copy` x channels-last [N, H, W, C] and `filter_copy` [O, KH, KW, C], both in
// gather_copy_format(precision, C) at 16-byte boundaries. Where
// conv2d_forward_tensor_core_workspace_floats(p) > 0 (the channels-last form applies); tf32 or
// bf16.
void conv2d_forward_tensor_core_on_copies(const Conv2dParams& p, MathPrecision precision,
                                          const void* x_copy, const void* filter_copy,
                                          const float* bias, float* y, cudaStream_t stream);

// dx[N, C, H, W] (+ bias[C] when not null: conv_transpose2d's forward) from dy and w; any
// stride, padding and dilation.
void conv2d_backward_data_tensor_core(const Conv2dParams& p, MathPrecision precision,
                                      const float* dy, const float* w, const float* bias, float* dx,
                                      cudaStream_t stream);

// One axis of a strided backward-data phase run as a stride-1 forward convolution (conv.cu,
// "Strided backward-data"): `count` dx indices first + stride * i (of `size` per image), dx index
// i reading dy index i - pad + j (of `source`) under tap j < taps.
struct PhaseAxis {
  int count, first, stride, size, taps, pad, source;
};

// That phase's sums: dx[n, c, first_h + stride_h i, first_w + stride_w iw] = sum over (o, j, jw)
// of filter[c, o, j, jw] * dy[n, o, i - pad_h + j, iw - pad_w + jw] (+ bias[c] when not null),
// `filter` the phase's [C, O, taps_h, taps_w] (conv.cu, PhaseFilters); dx's other elements are
// left alone. Gathers from dy as it is (NCHW).
void conv2d_backward_data_phase_tensor_core(MathPrecision precision, int batch, int in_channels,
                                            int out_channels, const PhaseAxis& h,
                                            const PhaseAxis& w, const float* dy,
                                            const float* filter, const float* bias, float* dx,
                                            cudaStream_t stream);

// The same sums on channels-last operands, where phases_channels_last_apply: dy's copy
// (to_channels_last_tensor, in gather_copy_format(precision, O)) shared by the phases, and per
// phase its filter as [C, taps_h, taps_w, O] in the same format (PhaseFilters writes it so, at
// a 16-byte boundary). The phases run four to a launch (a phase no tap reaches, alone in the
// NCHW gather); precision tf32 or bf16.
struct TensorCorePhase {
  PhaseAxis h, w;
  const void* filter;
};
bool phases_channels_last_apply(int out_channels);
void conv2d_backward_data_phases_channels_last(MathPrecision precision, int batch,
                                               int in_channels, int out_channels,
                                               const TensorCorePhase* phases, int count,
                                               const float* dy, const void* dy_copy,
                                               const float* bias, float* dx, cudaStream_t stream);

// The floats of a channels-last copy [N, H * W, C] of an NCHW tensor, room to align it
// included; 0 when C is not a multiple of 4 (no channels-last path takes it).
int64_t channels_last_tensor_floats(int batch, int channels, int plane);

// How a channels-last copy holds its values: FP32 as they are, FP32 rounded to TF32 (as the
// tensor cores round it: the kernels that read such a copy skip that conversion), or BF16 (the
// 16 bits of each value rounded to BF16, half the bytes).
enum class CopyFormat { fp32, tf32, bf16 };

// The format the channels-last gather wants for its operands at `precision`, `channels` being
// the reduction's channels: TF32 at tf32; at bf16, BF16 for channels in whole 8-value pieces
// (every tile, the skinny one included, has a BF16 kernel), FP32 otherwise.
CopyFormat gather_copy_format(MathPrecision precision, int channels);

// Writes that copy into `out` (channels_last_tensor_floats of room, enough for any format) in
// `format`, returns where it starts.
void* to_channels_last_tensor(int batch, int channels, int plane, const float* in, float* out,
                              CopyFormat format, cudaStream_t stream);

// A backward-data's dy copy and its phase filters, made by one launch: dy ([N, channels,
// plane]) copied channels-last into `out` as to_channels_last_tensor does, and p's phase
// filters (PhaseFilters, phase_filters.h: every phase's [C, taps_h, taps_w, O]; at stride 1 the
// adjoint's reversed filter) from `w` into `filter_room`, both in `format` and each at the first
// 16-byte boundary of its room. `element` is the bytes of one value (4, or 2 for BF16).
struct ChannelsLastCopies {
  const void* tensor;
  const void* filters;
  int element;
};
ChannelsLastCopies copy_with_phase_filters(int batch, int channels, int plane, const float* in,
                                           float* out, CopyFormat format, const Conv2dParams& p,
                                           const float* w, float* filter_room,
                                           cudaStream_t stream);

// Floats of workspace conv2d_backward_filter_tensor_core needs (its split-K slices, the most
// any tile needs; with channels_last a channels-last copy of x where C is a multiple of 4, and
// at bf16 where C and OH * OW are multiples of 8 a BF16 copy of dy too), 0 if none.
// The call must pass the flag and the precision it will run with.
int64_t conv2d_backward_filter_tensor_core_workspace_floats(const Conv2dParams& p,
                                                            bool channels_last,
                                                            MathPrecision precision);
// The same without channels_last (the split-K slices alone).
int64_t conv2d_backward_filter_tensor_core_workspace_floats(const Conv2dParams& p);

// dw[O, C, KH, KW] from x and dy (dbias is conv_filter.cu's, in FP32). Needs a non-empty output.
// With channels_last and C a multiple of 4, x is copied channels-last into the workspace (sized
// with the same flag and precision) and gathered in 16-byte pieces (conv_filter_channels_last.cu);
// at bf16 with C and OH * OW multiples of 8 both copies hold BF16.
void conv2d_backward_filter_tensor_core(const Conv2dParams& p, MathPrecision precision,
                                        const float* x, const float* dy, float* dw,
                                        float* workspace, cudaStream_t stream,
                                        TensorCoreTile tile = TensorCoreTile::automatic,
                                        bool channels_last = false);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
