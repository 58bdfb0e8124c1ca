// The filters of a backward-data's phase convolutions (PhaseFilters), shared by conv.cu, which
// runs them alone (for_each) or describes them, and conv_channels_last.cu, whose copy kernel
// writes them in the same launch as dy's channels-last copy. conv.cu's comment "Strided
// backward-data" says what a phase is.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/warp_matrix.h"  // pack_bf16x2, tf32_value
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Taps of kernel index class `phase` (the kernel indices phase + stride * j) along one axis, and
// how many kernel indices lie in the classes before it, given kernel / stride (`whole`) and
// kernel % stride (`rest`).
__host__ __device__ __forceinline__ int phase_taps(int kernel, int stride, int phase) {
  return kernel > phase ? (kernel - phase + stride - 1) / stride : 0;
}
__host__ __device__ __forceinline__ int taps_before_phase(int whole, int rest, int phase) {
  return whole * phase + (rest < phase ? rest : phase);
}

// The filters of the phase convolutions of p's backward-data, every phase's in one buffer of
// O * C * KH * KW elements, phase (ph, pw) after those before it in row-major order:
// w'[c, o, Th-1-j, Tw-1-jw] = w[o, c, ph + sh j, pw + sw jw], with Th, Tw the phase's taps per
// axis. With stride 1 there is one phase and w' is the filter of backward_data_adjoint(p):
// channel roles exchanged, taps reversed (any dilation). Call i moves w's element i (32-bit
// indices: callers take fewer than 2^31 weights). With `channels_last` each phase's filter is
// [C, Th, Tw, O] instead, the tensor-core gather's channels-last operand, in its copy format:
// T float (rounded to TF32 with `tf32`) or uint16_t (the BF16 bits, rounded to nearest even as
// cvt.rn.bf16x2), so no per-phase copy follows.
template <class T>
struct PhaseFilters {
  int out_channels, in_channels, kernel_h, kernel_w, stride_h, stride_w;
  // The divisors, fixed at launch (FastDivmod, common.h: every index is below 2^31), and
  // kernel / stride and kernel % stride per axis (taps_before_phase).
  FastDivmod taps_div, in_channels_div, kernel_w_div, stride_h_div, stride_w_div;
  int whole_h, rest_h, whole_w, rest_w;
  bool channels_last, tf32;
  const float* w;
  T* phased;

  PhaseFilters() = default;
  PhaseFilters(const Conv2dParams& p, const float* weights, T* out, bool last, bool round_tf32)
      : out_channels(p.out_channels),
        in_channels(p.in_channels),
        kernel_h(p.kernel_h),
        kernel_w(p.kernel_w),
        stride_h(p.stride_h),
        stride_w(p.stride_w),
        taps_div(static_cast<uint32_t>(p.kernel_h * p.kernel_w)),
        in_channels_div(static_cast<uint32_t>(p.in_channels)),
        kernel_w_div(static_cast<uint32_t>(p.kernel_w)),
        stride_h_div(static_cast<uint32_t>(p.stride_h)),
        stride_w_div(static_cast<uint32_t>(p.stride_w)),
        whole_h(p.kernel_h / p.stride_h),
        rest_h(p.kernel_h % p.stride_h),
        whole_w(p.kernel_w / p.stride_w),
        rest_w(p.kernel_w % p.stride_w),
        channels_last(last),
        tf32(round_tf32),
        w(weights),
        phased(out) {}

  __device__ __forceinline__ void operator()(int64_t i) const {
    const uint32_t index = static_cast<uint32_t>(i);
    const uint32_t plane = taps_div.div(index);
    const int t = static_cast<int>(index - plane * taps_div.divisor);
    const uint32_t o = in_channels_div.div(plane);
    const int c = static_cast<int>(plane - o * in_channels_div.divisor);
    const uint32_t kh = kernel_w_div.div(static_cast<uint32_t>(t));
    const int kw = t - static_cast<int>(kh * kernel_w_div.divisor);
    const int j = static_cast<int>(stride_h_div.div(kh)), ph = static_cast<int>(kh) - j * stride_h;
    const int jw = static_cast<int>(stride_w_div.div(static_cast<uint32_t>(kw)));
    const int pw = kw - jw * stride_w;
    // phase_taps(kernel, stride, phase) with the division by the stride a FastDivmod.
    const int th = static_cast<int>(
        stride_h_div.div(static_cast<uint32_t>(kernel_h - ph + stride_h - 1)));
    const int tw = static_cast<int>(
        stride_w_div.div(static_cast<uint32_t>(kernel_w - pw + stride_w - 1)));
    const int before = taps_before_phase(whole_h, rest_h, ph) * kernel_w +
                       th * taps_before_phase(whole_w, rest_w, pw);
    T* to = phased + int64_t{before} * out_channels * in_channels;
    const int tap = (th - 1 - j) * tw + tw - 1 - jw;
    const int64_t at = channels_last ? (int64_t{c} * th * tw + tap) * out_channels + o
                                     : (int64_t{c} * out_channels + o) * th * tw + tap;
    const float v = w[index];
    if constexpr (sizeof(T) == 2) {
      to[at] = static_cast<T>(pack_bf16x2(v, 0.0f) & 0xffffu);
    } else {
      to[at] = tf32 ? tf32_value(v) : v;
    }
  }
};

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
