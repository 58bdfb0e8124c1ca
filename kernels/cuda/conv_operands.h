// What the convolution kernels of conv.cu and the kernel lab (conv_lab.cu) share: the geometry
// of a convolution as the kernels take it, the indexed operands of their implicit GEMMs for the
// core of tiled_product_large.h, the NCHW epilogue, and the forward with a chosen tile. Included
// by those .cu files only.
//
// Indexed operands (the interface is described at the top of tiled_product_large.h): the two
// decoded kinds of index of a convolution are
//   a tap t = (c, kh, kw), digits of t in radix (KH, KW), decoded to TapOffsets: the offset
//     c*H*W + kh*dil_h*W + kw*dil_w of the tap's pixel from the window origin, and kh*dil_h,
//     kw*dil_w for the bounds check;
//   a position p = (n, oh, ow), digits of p in radix (OH, OW), decoded to WindowOrigin: the input
//     row and column ih0 = oh*stride_h - pad_h, iw0 = ow*stride_w - pad_w of the window's corner
//     and the offset n*C*H*W + ih0*W + iw0 of that (possibly padding) pixel in x.
// The im2col element (t, p) is then x[origin.base + tap.offset] when 0 <= ih0 + kh*dil_h < H and
// 0 <= iw0 + kw*dil_w < W, else 0: one addition, two unsigned compares and a load. Offsets within
// an image are int: the dispatch keeps these operands to images of C*H*W < 2^31 (and output
// gradients of O*OH*OW < 2^31) floats.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/tiled_product_large.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/error.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

// Conv2dParams with the output size computed on the host (its member functions are host code).
struct ConvGeometry {
  int batch, in_channels, in_h, in_w, out_channels, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;

  __host__ __device__ int taps() const { return in_channels * kernel_h * kernel_w; }
  __host__ __device__ int out_plane() const { return out_h * out_w; }
  __host__ __device__ int in_plane() const { return in_h * in_w; }
};

inline ConvGeometry geometry(const Conv2dParams& p) {
  return ConvGeometry{p.batch,    p.in_channels, p.in_h,     p.in_w,       p.out_channels,
                      p.out_h(),  p.out_w(),     p.kernel_h, p.kernel_w,   p.stride_h,
                      p.stride_w, p.pad_h,       p.pad_w,    p.dilation_h, p.dilation_w};
}

// Whether the int offsets of the indexed operands hold for g (see the top of this file).
inline bool indexed_offsets_fit(const ConvGeometry& g) {
  constexpr int64_t kLimit = int64_t{1} << 31;
  return int64_t{g.in_channels} * g.in_plane() < kLimit &&
         int64_t{g.out_channels} * g.out_plane() < kLimit;
}

// The same as a check: an error naming the sizes where they do not hold.
inline void check_offsets(const ConvGeometry& g) {
  WEFT_CHECK(indexed_offsets_fit(g), "conv2d (hand CUDA kernel): an image of ", g.in_channels,
             " x ", g.in_plane(), " or ", g.out_channels, " x ", g.out_plane(),
             " floats is beyond the 2^31 the kernels index");
}

struct TapOffsets {
  int offset, dh, dw;
};

struct WindowOrigin {
  int64_t base;
  int ih, iw;
};

__device__ __forceinline__ TapOffsets tap_offsets(const ConvGeometry& g, const Digits& tap) {
  const int dh = tap.mid * g.dilation_h, dw = tap.lo * g.dilation_w;
  return TapOffsets{tap.hi * g.in_plane() + dh * g.in_w + dw, dh, dw};
}

__device__ __forceinline__ WindowOrigin window_origin(const ConvGeometry& g,
                                                      const Digits& position) {
  const int ih = position.mid * g.stride_h - g.pad_h, iw = position.lo * g.stride_w - g.pad_w;
  return WindowOrigin{
      int64_t{position.hi} * g.in_channels * g.in_plane() + int64_t{ih} * g.in_w + iw, ih, iw};
}

__device__ __forceinline__ float image_at(const ConvGeometry& g, const float* x,
                                          const WindowOrigin& o, const TapOffsets& t) {
  const bool inside = static_cast<unsigned>(o.ih + t.dh) < static_cast<unsigned>(g.in_h) &&
                      static_cast<unsigned>(o.iw + t.dw) < static_cast<unsigned>(g.in_w);
  return inside ? x[o.base + t.offset] : 0.0f;
}

// The column matrix of the forward: rows are output positions, the reduction runs over taps.
// Consecutive positions are (mostly) consecutive pixels, so it is staged along rows.
struct ImageWindows {
  static constexpr bool kAlongK = false;
  ConvGeometry g;
  const float* x;
  using Row = WindowOrigin;
  struct Col {
    Digits tap;
    TapOffsets at;
  };
  using Step = Digits;
  __device__ __forceinline__ Row row(int position) const {
    return window_origin(g, split_digits(position, g.out_h, g.out_w));
  }
  __device__ __forceinline__ Col col(int tap) const {
    const Digits d = split_digits(tap, g.kernel_h, g.kernel_w);
    return Col{d, tap_offsets(g, d)};
  }
  __device__ __forceinline__ Step step(int depth) const {
    return split_digits(depth, g.kernel_h, g.kernel_w);
  }
  __device__ __forceinline__ void advance(Col& c, const Step& s) const {
    add_digits(c.tap, s, g.kernel_h, g.kernel_w);
    c.at = tap_offsets(g, c.tap);
  }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    return image_at(g, x, r, c.at);
  }
};

// The column matrix of backward-filter: rows are taps, the reduction runs over output positions
// (consecutive in memory along k).
struct ImageTaps {
  static constexpr bool kAlongK = true;
  ConvGeometry g;
  const float* x;
  using Row = TapOffsets;
  struct Col {
    Digits position;
    WindowOrigin at;
  };
  using Step = Digits;
  __device__ __forceinline__ Row row(int tap) const {
    return tap_offsets(g, split_digits(tap, g.kernel_h, g.kernel_w));
  }
  __device__ __forceinline__ Col col(int position) const {
    const Digits d = split_digits(position, g.out_h, g.out_w);
    return Col{d, window_origin(g, d)};
  }
  __device__ __forceinline__ Step step(int depth) const {
    return split_digits(depth, g.out_h, g.out_w);
  }
  __device__ __forceinline__ void advance(Col& c, const Step& s) const {
    add_digits(c.position, s, g.out_h, g.out_w);
    c.at = window_origin(g, c.position);
  }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    return image_at(g, x, c.at, r);
  }
};

// ImageTaps with one more row after the taps, row T, that reads 1.0 at every position:
// backward-filter's bias column (its sums against dy are dbias), which rides in a column the
// block tile would otherwise fill with padding.
struct ImageTapsAndOnes : ImageTaps {
  static constexpr int kOnesRow = -1;  // the dh that marks row T (a real tap's dh is >= 0)
  __device__ __forceinline__ Row row(int tap) const {
    return tap == g.taps() ? Row{0, kOnesRow, 0} : ImageTaps::row(tap);
  }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    return r.dh == kOnesRow ? 1.0f : ImageTaps::load(r, c);
  }
};

// (output channel o, output position (n, oh, ow)) -> dy[n, o, oh, ow]: backward-filter's A.
struct OutputGradientIndexed {
  static constexpr bool kAlongK = true;
  ConvGeometry g;
  const float* dy;
  struct Row {
    int offset;  // o * OH * OW
  };
  struct Col {
    Digits position;
    int64_t offset;  // n * O * OH * OW + oh * OW + ow
  };
  using Step = Digits;
  __device__ __forceinline__ int64_t offset(const Digits& p) const {
    return int64_t{p.hi} * g.out_channels * g.out_plane() + p.mid * g.out_w + p.lo;
  }
  __device__ __forceinline__ Row row(int o) const { return Row{o * g.out_plane()}; }
  __device__ __forceinline__ Col col(int position) const {
    const Digits d = split_digits(position, g.out_h, g.out_w);
    return Col{d, offset(d)};
  }
  __device__ __forceinline__ Step step(int depth) const {
    return split_digits(depth, g.out_h, g.out_w);
  }
  __device__ __forceinline__ void advance(Col& c, const Step& s) const {
    add_digits(c.position, s, g.out_h, g.out_w);
    c.offset = offset(c.position);
  }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    return dy[c.offset + r.offset];
  }
};

// (output channel o, output position (n, oh, ow)) -> what max_pool2d_backward would have written
// to dconv[n, o, oh, ow] for a 2 x 2 max pool of stride 2 over the convolution's output, read
// from the pooled gradient instead of a stored dconv: 0 + dy_pool of the window (ph, pw) =
// (oh / 2, ow / 2) when its argmax is this cell, times the fused activation's slope at the
// window's y (pool.cu's rule, the same floats), else 0; 0 too for a last odd row or column that
// no window covers. Backward-filter's A for conv2d_max_pool2d (conv_filter.cu), in place of
// OutputGradientIndexed over the stored dconv: the same values, so the same sums.
struct PooledGradientIndexed {
  static constexpr bool kAlongK = true;
  ConvGeometry g;
  int pooled_h, pooled_w;
  const float* dy;         // [N, O, pooled_h, pooled_w]
  const float* y;          // the pool's output, read only with `act`
  const int32_t* argmax;   // the pool's, cells numbered oh * OW + ow in each plane
  FusedActivation act;
  struct Row {
    int offset;  // o * pooled_h * pooled_w
  };
  struct Col {
    Digits position;
    int64_t offset;  // n * O * pooled plane + (oh / 2) * pooled_w + ow / 2; -1: in no window
    int cell;        // oh * OW + ow
  };
  using Step = Digits;
  __device__ __forceinline__ Col col_at(const Digits& d) const {
    const int ph = d.mid >> 1, pw = d.lo >> 1;
    const bool covered = ph < pooled_h && pw < pooled_w;
    const int64_t offset =
        int64_t{d.hi} * g.out_channels * pooled_h * pooled_w + ph * pooled_w + pw;
    return Col{d, covered ? offset : -1, d.mid * g.out_w + d.lo};
  }
  __device__ __forceinline__ Row row(int o) const { return Row{o * pooled_h * pooled_w}; }
  __device__ __forceinline__ Col col(int position) const {
    return col_at(split_digits(position, g.out_h, g.out_w));
  }
  __device__ __forceinline__ Step step(int depth) const {
    return split_digits(depth, g.out_h, g.out_w);
  }
  __device__ __forceinline__ void advance(Col& c, const Step& s) const {
    Digits d = c.position;
    add_digits(d, s, g.out_h, g.out_w);
    c = col_at(d);
  }
  __device__ __forceinline__ float load(const Row& r, const Col& c) const {
    if (c.offset < 0) return 0.0f;
    const int64_t i = c.offset + r.offset;
    if (argmax[i] != c.cell) return 0.0f;
    const float total = 0.0f + dy[i];
    return act.active() ? act.gradient_at_input(y[i], total) : total;
  }
};

// The epilogue of forward and backward-data: out[n, channel, pixel] = act(sum (+ bias[channel]))
// for the GEMM column position = n * plane + pixel (act: the forward's fused activation, none
// for backward-data).
__device__ __forceinline__ void store_nchw(float* out, int channels, int plane, int channel,
                                           int position, float sum, const float* bias,
                                           FusedActivation act = {}) {
  const int n = position / plane;
  const int pixel = position - n * plane;
  out[(int64_t{n} * channels + channel) * plane + pixel] =
      act.apply(sum + (bias != nullptr ? bias[channel] : 0.0f));
}

// conv2d_forward on the indexed core with the given tile (conv.cu); conv2d_forward itself picks
// the tile with choose_tile, the kernel lab forces one.
void conv2d_forward_with_tile(TileChoice tile, const Conv2dParams& p, const float* x,
                              const float* w, const float* bias, float* y, cudaStream_t stream);
// The same on SmallRunTile (tiled_product_large.h; the lab's v5).
void conv2d_forward_small_runs(const Conv2dParams& p, const float* x, const float* w,
                               const float* bias, float* y, cudaStream_t stream);

// ---- the narrow kernels' instances (conv_forward_narrow.cu, conv_filter_narrow.cu) ---------
// Both are templates on the kernel width KW (3, 4, 5 or 7: every loop over the taps of a row
// unrolled) and on how they round their operands (warp_matrix.h, OperandRounding).

inline bool narrow_kernel_width(int kernel_w) {
  return kernel_w == 3 || kernel_w == 4 || kernel_w == 5 || kernel_w == 7;
}

template <int KW, class Launch>
void with_rounding_instance(OperandRounding rounding, Launch& launch) {
  using R = OperandRounding;
  using Width = std::integral_constant<int, KW>;
  switch (rounding) {
    case R::none: launch(Width{}, std::integral_constant<R, R::none>{}); return;
    case R::tf32: launch(Width{}, std::integral_constant<R, R::tf32>{}); return;
    case R::bf16: launch(Width{}, std::integral_constant<R, R::bf16>{}); return;
  }
}

// Calls launch(kw, r) with kw and r as std::integral_constants for a narrow kernel width and a
// rounding known only at run time, so `launch` can name the instance <decltype(kw)::value,
// decltype(r)::value> (as with_grid does for the grid kinds, common.h).
template <class Launch>
void with_narrow_instance(int kernel_w, OperandRounding rounding, Launch&& launch) {
  switch (kernel_w) {
    case 3: with_rounding_instance<3>(rounding, launch); return;
    case 4: with_rounding_instance<4>(rounding, launch); return;
    case 5: with_rounding_instance<5>(rounding, launch); return;
    default: with_rounding_instance<7>(rounding, launch); return;
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
