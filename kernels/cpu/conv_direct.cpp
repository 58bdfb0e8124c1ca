// Full-window and direct convolutions for the hand CPU backend (conv_direct.h), and the choice
// between them and im2col.
#include "kernels/cpu/conv_direct.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/cpu_support.h"
#include "kernels/cpu/pool.h"
#include "kernels/error.h"

namespace weft::cpu {
namespace {

constexpr int kLanes = 16;        // output columns per block
constexpr int kChannelBlock = 4;  // output channels per block
constexpr int kFewChannels = 8;   // at most this many input or output channels: direct
// Winograd takes a 3x3 stride-1 layer when both sides have at least this many channels (below
// it the 16 products are too thin for SGEMM to pay for the transforms; measured in
// docs/benchmarks.md).
constexpr int kWinogradChannels = 16;

// One image's input, zero-padded: [C][PH][PW] with PH = H + 2 pad_h and PW = W + 2 pad_w plus
// kLanes columns of slack, so a block of kLanes columns never reads past its row.
struct Padded {
  int ph = 0, pw = 0;
  std::vector<float> data;

  void fill(const Conv2dParams& p, const float* image) {
    ph = p.in_h + 2 * p.pad_h;
    pw = p.in_w + 2 * p.pad_w + kLanes;
    data.assign(static_cast<size_t>(p.in_channels) * ph * pw, 0.0f);
    for (int c = 0; c < p.in_channels; ++c) {
      for (int h = 0; h < p.in_h; ++h) {
        const float* src = image + (static_cast<int64_t>(c) * p.in_h + h) * p.in_w;
        float* dst = data.data() + (static_cast<int64_t>(c) * ph + h + p.pad_h) * pw + p.pad_w;
        std::copy(src, src + p.in_w, dst);
      }
    }
  }
};

// kLanes floats as one value: GCC's generic vectors, which each clone lowers to its own
// registers (one zmm with AVX-512, two ymm with AVX2, four xmm otherwise). The loops below take
// the vector type as a parameter: Lanes on AVX-512, whose 32 registers hold their tiles, and
// Lanes8 (one ymm) elsewhere, where tiles of two-ymm values spilled (AVX2 has 16 registers).
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef float Lanes8 __attribute__((vector_size(8 * sizeof(float))));

// Floats in a vector of type V.
template <class V>
constexpr int width_of() {
  return static_cast<int>(sizeof(V) / sizeof(float));
}

// acc[b][o] += sum over the taps (c, kh, kw) of w[o0 + o, c, kh, kw] * row(c, kh)[kw dw + lane
// + first[b]], for OB output channels and CB blocks of W = width_of<V>() columns; `row` starts
// at column 0 of the output row's first input row in channel 0, and `w` at output channel o0.
template <class V, int OB, int CB>
[[gnu::always_inline]] inline void accumulate_block(const Conv2dParams& p, const Padded& xp,
                                                    const float* row, const int (&first)[CB],
                                                    const float* w, V (&acc)[CB][OB]) {
  const int64_t taps = static_cast<int64_t>(p.in_channels) * p.kernel_h * p.kernel_w;
  const int64_t plane = static_cast<int64_t>(xp.ph) * xp.pw;
  for (int c = 0; c < p.in_channels; ++c) {
    for (int kh = 0; kh < p.kernel_h; ++kh) {
      const float* r = row + c * plane + static_cast<int64_t>(kh) * p.dilation_h * xp.pw;
      const float* wk = w + (static_cast<int64_t>(c) * p.kernel_h + kh) * p.kernel_w;
      for (int kw = 0; kw < p.kernel_w; ++kw) {
        V v[CB];
        for (int b = 0; b < CB; ++b) {
          std::memcpy(&v[b], r + kw * p.dilation_w + first[b], sizeof v[b]);
        }
        for (int o = 0; o < OB; ++o) {
          const float weight = wk[o * taps + kw];
          for (int b = 0; b < CB; ++b) acc[b][o] += weight * v[b];
        }
      }
    }
  }
}

// One register tile: OB output channels from o0, CB blocks of W = width_of<V>() columns of
// output row oh, block b starting at column first[b]. kWhole: every block lies inside the row
// (first[b] + W <= out_w) and is stored as one vector; otherwise (a row narrower than W) a
// block's first out_w - first[b] lanes are stored one by one, which keeps the accumulators in
// memory, so only such rows take that copy of the loop.
template <class V, int OB, int CB, bool kWhole>
[[gnu::always_inline]] inline void output_block(const Conv2dParams& p, const Padded& xp,
                                                const float* w, const float* bias, int o0, int oh,
                                                const int (&first)[CB], float* y_image) {
  const int out_h = p.out_h(), out_w = p.out_w();
  V acc[CB][OB];
  for (int b = 0; b < CB; ++b) {
    for (int o = 0; o < OB; ++o) acc[b][o] = V{} + (bias != nullptr ? bias[o0 + o] : 0.0f);
  }
  const int64_t taps = static_cast<int64_t>(p.in_channels) * p.kernel_h * p.kernel_w;
  const float* row = xp.data.data() + static_cast<int64_t>(oh) * p.stride_h * xp.pw;
  accumulate_block<V, OB, CB>(p, xp, row, first, w + o0 * taps, acc);
  for (int b = 0; b < CB; ++b) {
    for (int o = 0; o < OB; ++o) {
      float* out = y_image + (static_cast<int64_t>(o0 + o) * out_h + oh) * out_w + first[b];
      if constexpr (kWhole) {
        std::memcpy(out, &acc[b][o], sizeof acc[b][o]);
      } else {
        for (int l = 0; l < out_w - first[b]; ++l) out[l] = acc[b][o][l];
      }
    }
  }
}

// The tiles of one output row whose blocks start at first[]: every output channel, 4 at a time
// and then one at a time.
template <class V, int CB, bool kWhole>
[[gnu::always_inline]] inline void output_tiles(const Conv2dParams& p, const Padded& xp,
                                                const float* w, const float* bias, int oh,
                                                const int (&first)[CB], float* y_image) {
  const int full = p.out_channels / kChannelBlock * kChannelBlock;
  for (int o0 = 0; o0 < full; o0 += kChannelBlock) {
    output_block<V, kChannelBlock, CB, kWhole>(p, xp, w, bias, o0, oh, first, y_image);
  }
  for (int o0 = full; o0 < p.out_channels; ++o0) {
    output_block<V, 1, CB, kWhole>(p, xp, w, bias, o0, oh, first, y_image);
  }
}

// One image of the direct forward with CB column blocks of vectors V per register tile. A row
// at least W columns wide is covered by whole blocks: where the last blocks would pass the
// row's end they start at out_w - W instead, overlapping the block before (those columns are
// computed twice, each time from the same products in the same order, so both stores write the
// same bits). Until 2026-12-08 a row's last, partial block was stored lane by lane, which kept
// every accumulator in memory; on rows of 26 (the Fashion CNN's first layer, 26 = 16 + 10
// lanes, now blocks at columns 0 and 10) that took about as long as the multiply-adds.
template <class V, int CB>
[[gnu::always_inline]] inline void forward_rows(const Conv2dParams& p, const Padded& xp,
                                                const float* w, const float* bias, float* y_image) {
  constexpr int W = width_of<V>();
  const int out_h = p.out_h(), out_w = p.out_w();
  if (out_w < W) {  // one partial block per row
    const int first[1] = {0};
    for (int oh = 0; oh < out_h; ++oh) {
      output_tiles<V, 1, false>(p, xp, w, bias, oh, first, y_image);
    }
    return;
  }
  const int last = out_w - W;  // the last whole block's first column
  for (int oh = 0; oh < out_h; ++oh) {
    int ow0 = 0;
    // Tiles of CB blocks while more than one block's columns remain.
    for (; CB > 1 && out_w - ow0 > W; ow0 += CB * W) {
      int first[CB];
      for (int b = 0; b < CB; ++b) first[b] = std::min(ow0 + b * W, last);
      output_tiles<V, CB, true>(p, xp, w, bias, oh, first, y_image);
    }
    for (; ow0 < out_w; ow0 += W) {
      const int first[1] = {std::min(ow0, last)};
      output_tiles<V, 1, true>(p, xp, w, bias, oh, first, y_image);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// With AVX-512's 32 vector registers a tile of two column blocks by four channels (8
// accumulators, the FMA units' latency times their count) fits; with AVX2's 16 (each Lanes is
// two ymm there) it would spill, so only AVX-512 processors call it (the baseline clone exists
// because GCC only inlines the tile code into clones, and is never taken).
__attribute__((target_clones("arch=x86-64-v4", "default"))) void forward_image_wide(
    const Conv2dParams& p, const Padded& xp, const float* w, const float* bias, float* y_image) {
  forward_rows<Lanes, 2>(p, xp, w, bias, y_image);
}
bool wide_tiles() {
  static const bool avx512 = __builtin_cpu_supports("x86-64-v4") != 0;
  return avx512;
}
#else
void forward_image_wide(const Conv2dParams& p, const Padded& xp, const float* w, const float* bias,
                        float* y_image) {
  forward_rows<Lanes8, 2>(p, xp, w, bias, y_image);
}
bool wide_tiles() {
  return false;
}
#endif

// One image of the direct forward, from its padded input.
WEFT_CPU_CLONES
void forward_image_narrow(const Conv2dParams& p, const Padded& xp, const float* w,
                          const float* bias, float* y_image) {
  forward_rows<Lanes8, 2>(p, xp, w, bias, y_image);
}

void forward_image(const Conv2dParams& p, const Padded& xp, const float* w, const float* bias,
                   float* y_image) {
  if (wide_tiles()) {
    forward_image_wide(p, xp, w, bias, y_image);
  } else {
    forward_image_narrow(p, xp, w, bias, y_image);
  }
}

// One image's contribution to dw[O, C, KH, KW] and to dbias[O] (when not null), added to `dw`
// and `dbias` (in double), for any kernel: a dot product of each dy row with the shifted input
// row, per weight.
[[gnu::always_inline]] inline void filter_image_any(const Conv2dParams& p, const Padded& xp,
                                                    const float* dy_image, double* dw,
                                                    double* dbias) {
  const int out_h = p.out_h(), out_w = p.out_w();
  const int64_t plane = static_cast<int64_t>(xp.ph) * xp.pw;
  for (int o = 0; o < p.out_channels; ++o) {
    const float* g = dy_image + static_cast<int64_t>(o) * out_h * out_w;
    if (dbias != nullptr) {
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < static_cast<int64_t>(out_h) * out_w; ++i) sum += g[i];
      dbias[o] += sum;
    }
    for (int c = 0; c < p.in_channels; ++c) {
      for (int kh = 0; kh < p.kernel_h; ++kh) {
        for (int kw = 0; kw < p.kernel_w; ++kw) {
          float sum = 0.0f;
          for (int oh = 0; oh < out_h; ++oh) {
            const float* gr = g + static_cast<int64_t>(oh) * out_w;
            const float* xr = xp.data.data() + c * plane +
                              (static_cast<int64_t>(oh) * p.stride_h + kh * p.dilation_h) * xp.pw +
                              kw * p.dilation_w;
            float row = 0.0f;
#pragma omp simd reduction(+ : row)
            for (int ow = 0; ow < out_w; ++ow) row += gr[ow] * xr[ow];
            sum += row;
          }
          dw[((static_cast<int64_t>(o) * p.in_channels + c) * p.kernel_h + kh) * p.kernel_w + kw] +=
              sum;
        }
      }
    }
  }
}

// The same for a KH x KW kernel known at compile time, one vector accumulator per weight: for
// each (o, c), each block of output columns costs one dy load and KH * KW shifted input loads
// for KH * KW multiply-adds, and the lanes are added once per (o, c). (The dot product per
// weight above spends most of its time starting and finishing reductions over rows of 28.)
// dy is read in place, a row's last, partial block through a vector whose missing lanes are 0,
// so that block adds nothing past the row's end; the input's kLanes columns of slack (zeros)
// keep its loads in range. (Until 2026-12-05 every image's dy was first copied into rows padded
// to whole blocks, a memcpy per row: 28% of the Fashion CNN first layer's backward-filter on the
// AVX2 EPYC.) The bias gradient (dbias, when not null) rides along: the first pass of each output
// channel adds the dy blocks it loads into one more accumulator, so dy is read once for both.
//
// V is the accumulators' vector: Lanes (16 floats, one zmm) where AVX-512's 32 registers hold a
// 5 x 5 kernel's 25 accumulators, or Lanes8 (8 floats, one ymm) elsewhere. With AVX2's 16
// registers, 16-float accumulators (two ymm each) spilled even for 3 x 3: 18 registers for the
// accumulators alone, stored and reloaded every block (the Fashion CNN's first layer, 1 -> 64
// at batch 512: 50 ms on an AVX2 EPYC, 6x the time of its forward). So kernel rows are taken
// `Rows` at a time, each group one pass over dy, keeping Rows * KW accumulators in registers.
//
// OB output channels share each pass over the input: every shifted input load then feeds OB
// multiply-adds instead of one, which matters because loads outnumbered them (one dy load and
// KH * KW input loads for KH * KW multiply-adds with OB = 1). With AVX-512: 3 x 3 two channels
// of three rows (18 accumulators), 5 x 5 four channels of one row (20; five passes over dy,
// 0.45 loads a multiply-add where one pass of all 25 took 1.04). Each channel's sums are formed
// in the same order whatever OB and Rows, so the results are the same bits. AVX2's 16
// registers keep one channel (not measured otherwise: this machine has AVX-512).
template <class V, int KH, int KW, int Rows, int OB>
[[gnu::always_inline]] inline void filter_channels_taps(const Conv2dParams& p, const Padded& xp,
                                                        const float* dy_image, double* dw,
                                                        double* dbias, int o0) {
  constexpr int kWidth = width_of<V>();
  const int out_h = p.out_h(), out_w = p.out_w();
  const int full_width = out_w / kWidth * kWidth;  // columns in whole blocks
  using LaneIndex = decltype(V{} < V{});           // the integer vector of V's comparisons
  LaneIndex lanes;
  for (int l = 0; l < kWidth; ++l) lanes[l] = l;
  const int64_t plane = static_cast<int64_t>(xp.ph) * xp.pw;
  const int64_t channel_step = static_cast<int64_t>(out_h) * out_w;  // dy's channel planes
  for (int c = 0; c < p.in_channels; ++c) {
    for (int kh0 = 0; kh0 < KH; kh0 += Rows) {
      const int rows = std::min(Rows, KH - kh0);
      const bool bias_pass = dbias != nullptr && c == 0 && kh0 == 0;
      V acc[OB][Rows * KW];
      V bias_acc[OB];
      for (int o = 0; o < OB; ++o) {
        for (int t = 0; t < Rows * KW; ++t) acc[o][t] = V{};
        bias_acc[o] = V{};
      }
      for (int oh = 0; oh < out_h; ++oh) {
        const float* g = dy_image + (static_cast<int64_t>(o0) * out_h + oh) * out_w;
        const float* xr = xp.data.data() + c * plane +
                          (static_cast<int64_t>(oh) * p.stride_h + kh0 * p.dilation_h) * xp.pw;
        // One block of dy per channel (gv) at column ow0 against the shifted input rows.
        const auto block = [&](const V (&gv)[OB], int ow0) __attribute__((always_inline)) {
          if (bias_pass) {
            for (int o = 0; o < OB; ++o) bias_acc[o] += gv[o];
          }
          for (int kh = 0; kh < Rows; ++kh) {
            if (kh >= rows) break;
            const float* r = xr + static_cast<int64_t>(kh) * p.dilation_h * xp.pw + ow0;
            for (int kw = 0; kw < KW; ++kw) {
              V xv;
              std::memcpy(&xv, r + kw * p.dilation_w, sizeof xv);
              for (int o = 0; o < OB; ++o) acc[o][kh * KW + kw] += gv[o] * xv;
            }
          }
        };
        for (int ow0 = 0; ow0 < full_width; ow0 += kWidth) {
          V gv[OB];
          for (int o = 0; o < OB; ++o) std::memcpy(&gv[o], g + o * channel_step + ow0, sizeof(V));
          block(gv, ow0);
        }
        if (full_width < out_w && out_w >= kWidth) {
          // The last whole window of the row, its lanes before full_width (counted by the
          // block before) set to 0: one load instead of a lane-by-lane copy.
          V gv[OB];
          for (int o = 0; o < OB; ++o) {
            std::memcpy(&gv[o], g + o * channel_step + out_w - kWidth, sizeof(V));
            gv[o] = lanes >= kWidth - (out_w - full_width) ? gv[o] : V{};
          }
          block(gv, out_w - kWidth);
        } else if (full_width < out_w) {
          V gv[OB] = {};
          for (int o = 0; o < OB; ++o) {
            for (int l = 0; l < out_w - full_width; ++l) {
              gv[o][l] = g[o * channel_step + full_width + l];
            }
          }
          block(gv, full_width);
        }
      }
      for (int o = 0; o < OB; ++o) {
        double* out = dw + (static_cast<int64_t>(o0 + o) * p.in_channels + c) * KH * KW;
        for (int t = 0; t < rows * KW; ++t) {
          float sum = 0.0f;
          for (int l = 0; l < kWidth; ++l) sum += acc[o][t][l];
          out[kh0 * KW + t] += sum;
        }
        if (bias_pass) {
          float sum = 0.0f;
          for (int l = 0; l < kWidth; ++l) sum += bias_acc[o][l];
          dbias[o0 + o] += sum;
        }
      }
    }
  }
}

// Every output channel, OB at a time and then one at a time.
template <class V, int KH, int KW, int Rows, int OB = 1>
[[gnu::always_inline]] inline void filter_image_taps(const Conv2dParams& p, const Padded& xp,
                                                     const float* dy_image, double* dw,
                                                     double* dbias) {
  const int grouped = p.out_channels / OB * OB;
  for (int o0 = 0; o0 < grouped; o0 += OB) {
    filter_channels_taps<V, KH, KW, Rows, OB>(p, xp, dy_image, dw, dbias, o0);
  }
  for (int o0 = grouped; o0 < p.out_channels; ++o0) {
    filter_channels_taps<V, KH, KW, Rows, 1>(p, xp, dy_image, dw, dbias, o0);
  }
}

WEFT_CPU_CLONES
void filter_image(const Conv2dParams& p, const Padded& xp, const float* dy_image, double* dw,
                  double* dbias) {
  // wide_tiles(): an AVX-512 processor, 32 vector registers (see forward_image_wide).
  const bool wide = wide_tiles();
  if (p.kernel_h == 3 && p.kernel_w == 3) {
    if (wide) {
      filter_image_taps<Lanes, 3, 3, 3, 2>(p, xp, dy_image, dw, dbias);
    } else {
      filter_image_taps<Lanes8, 3, 3, 3>(p, xp, dy_image, dw, dbias);
    }
  } else if (p.kernel_h == 5 && p.kernel_w == 5) {
    if (wide) {
      filter_image_taps<Lanes, 5, 5, 1, 4>(p, xp, dy_image, dw, dbias);
    } else {
      filter_image_taps<Lanes8, 5, 5, 2>(p, xp, dy_image, dw, dbias);
    }
  } else {
    filter_image_any(p, xp, dy_image, dw, dbias);
  }
}

// The direct loops run along output rows at stride 1. Forward pays off where the im2col GEMM
// is thin: few rows (at most 8 output channels), or a short depth (at most 16 input channels)
// with up to 64 rows. Measured with the AVX-512 clones, 1 thread: pair_stacked.conv3 (8 -> 16,
// 5x5) 48 -> 19 ms, apparel_cnn.conv1 (3 -> 32) 37 -> 12 ms, a 16 -> 16 3x3 layer 1.8 ms with
// Winograd, 1.4 ms direct; with 32 input channels (apparel_cnn.conv2) Winograd wins, 16 against
// 25 ms. Backward-data is the forward of the adjoint convolution, whose input channels are our
// output channels: with many of them (the first layers' 1 or 3 -> 32 or 64) its taps outnumber
// what the few output rows can reuse, and im2col wins (measured on the Fashion and apparel CNNs'
// first layers), so it also needs few of those. Backward-filter's GEMM is O x (C KH KW) deep
// over every output position, which OpenBLAS cannot split across threads when both sides are
// small, so there few channels on either side suffice.
bool rows_fit(const Conv2dParams& p) {
  return p.stride_w == 1 && p.out_w() >= 4;
}
bool forward_fits(const Conv2dParams& p) {
  return rows_fit(p) && (p.out_channels <= kFewChannels ||
                         (p.out_channels <= 8 * kFewChannels && p.in_channels <= 2 * kFewChannels));
}
bool adjoint_fits(const Conv2dParams& a) {
  return forward_fits(a) && a.in_channels <= 2 * kFewChannels;
}
bool filter_fits(const Conv2dParams& p) {
  return rows_fit(p) && (p.in_channels <= kFewChannels || p.out_channels <= kFewChannels);
}

// -1: WEFT_CPU_CONV not read yet; otherwise a ConvChoice.
std::atomic<int> choice_setting{-1};

ConvChoice parse_choice(const std::string& text) {
  if (text == "auto") return ConvChoice::automatic;
  if (text == "im2col") return ConvChoice::im2col;
  if (text == "winograd") return ConvChoice::winograd;
  WEFT_CHECK(false, "WEFT_CPU_CONV must be auto, im2col or winograd, got '", text, "'");
  return ConvChoice::automatic;
}

// The choice by shape alone (ConvChoice::automatic).
ConvAlgorithm automatic_algorithm(const Conv2dParams& p, ConvPass pass) {
  if (p.pad_h == 0 && p.pad_w == 0 && p.dilation_h == 1 && p.dilation_w == 1 &&
      p.kernel_h == p.in_h && p.kernel_w == p.in_w) {
    return ConvAlgorithm::full_window;
  }
  const bool winograd_fits = winograd::applies(p) && p.in_channels >= kWinogradChannels &&
                             p.out_channels >= kWinogradChannels;
  switch (pass) {
    case ConvPass::forward:
      if (forward_fits(p)) return ConvAlgorithm::direct;
      break;
    case ConvPass::backward_filter:
      if (filter_fits(p)) return ConvAlgorithm::direct;
      break;
    case ConvPass::backward_data: {
      const Conv2dParams a = backward_data_adjoint(p);
      const bool exact = p.stride_h == 1 && a.pad_h >= 0 && a.pad_w >= 0 && a.out_h() == p.in_h &&
                         a.out_w() == p.in_w;
      if (exact && adjoint_fits(a)) return ConvAlgorithm::direct;
      break;
    }
  }
  return winograd_fits ? ConvAlgorithm::winograd : ConvAlgorithm::im2col;
}

}  // namespace

void set_conv_choice(ConvChoice choice) {
  choice_setting = static_cast<int>(choice);
}

ConvChoice conv_choice() {
  int setting = choice_setting.load();
  if (setting < 0) {
    const char* value = std::getenv("WEFT_CPU_CONV");
    setting = static_cast<int>(parse_choice(value != nullptr ? value : "auto"));
    choice_setting = setting;
  }
  return static_cast<ConvChoice>(setting);
}

ConvAlgorithm conv_algorithm(const Conv2dParams& p, ConvPass pass) {
  if (p.batch <= 0 || p.in_channels <= 0 || p.out_channels <= 0 || p.out_h() <= 0 ||
      p.out_w() <= 0) {
    return ConvAlgorithm::im2col;  // its edge cases define what an empty call writes
  }
  switch (conv_choice()) {
    case ConvChoice::im2col:
      return ConvAlgorithm::im2col;
    case ConvChoice::winograd:
      if (winograd::applies(p)) return ConvAlgorithm::winograd;
      break;
    case ConvChoice::automatic:
      break;
  }
  return automatic_algorithm(p, pass);
}

const char* conv_algorithm_name(ConvAlgorithm algorithm) {
  switch (algorithm) {
    case ConvAlgorithm::im2col:
      return "im2col";
    case ConvAlgorithm::full_window:
      return "full_window";
    case ConvAlgorithm::direct:
      return "direct";
    case ConvAlgorithm::winograd:
      return "winograd";
  }
  return "?";
}

namespace direct {

// ---- full window: a linear layer on the flattened image ----

void full_window_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y) {
  const int k = p.in_channels * p.kernel_h * p.kernel_w;
  // y[N, O] = x[N, k] w[O, k]^T (+ bias): y is [N, O, 1, 1].
  if (bias != nullptr) {
    for (int n = 0; n < p.batch; ++n)
      std::copy(bias, bias + p.out_channels, y + n * p.out_channels);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.batch, p.out_channels, k, 1.0f, x, k, w, k,
              bias != nullptr ? 1.0f : 0.0f, y, p.out_channels);
}

void full_window_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  const int k = p.in_channels * p.kernel_h * p.kernel_w;
  // dx[N, k] = dy[N, O] w[O, k]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.batch, k, p.out_channels, 1.0f, dy,
              p.out_channels, w, k, 0.0f, dx, k);
}

void full_window_backward_filter(const Conv2dParams& p, const float* x, const float* dy,
                                 float* dw) {
  const int k = p.in_channels * p.kernel_h * p.kernel_w;
  // dw[O, k] = dy[N, O]^T x[N, k]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p.out_channels, k, p.batch, 1.0f, dy,
              p.out_channels, x, k, 0.0f, dw, k);
}

// ---- direct ----

void forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y) {
  const int64_t in_image = static_cast<int64_t>(p.in_channels) * p.in_h * p.in_w;
  const int64_t out_image = static_cast<int64_t>(p.out_channels) * p.out_h() * p.out_w();
#pragma omp parallel
  {
    Padded xp;
#pragma omp for schedule(static)
    for (int n = 0; n < p.batch; ++n) {
      xp.fill(p, x + n * in_image);
      forward_image(p, xp, w, bias, y + n * out_image);
    }
  }
}

void backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  const Conv2dParams a = backward_data_adjoint(p);
  // wa[C, O, KH, KW] = w[O, C, KH - 1 - kh, KW - 1 - kw]
  std::vector<float> wa(static_cast<size_t>(p.weight_count()));
  const int64_t window = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
  for (int o = 0; o < p.out_channels; ++o) {
    for (int c = 0; c < p.in_channels; ++c) {
      const float* src = w + (static_cast<int64_t>(o) * p.in_channels + c) * window;
      float* dst = wa.data() + (static_cast<int64_t>(c) * p.out_channels + o) * window;
      for (int64_t t = 0; t < window; ++t) dst[t] = src[window - 1 - t];
    }
  }
  forward(a, dy, wa.data(), nullptr, dx);
}

namespace {

// dw and dbias (when not null) from every image's dy, which `dy_of(n, scratch)` returns: the
// image's dy in place, or formed in `scratch` (out_channels x out_h x out_w floats of the
// calling thread).
template <class DyOfImage>
void backward_filter_images(const Conv2dParams& p, const float* x, float* dw, float* dbias,
                            const DyOfImage& dy_of) {
  const int64_t in_image = static_cast<int64_t>(p.in_channels) * p.in_h * p.in_w;
  const size_t weights = static_cast<size_t>(p.weight_count());
  // The sums dw[...] then dbias[...] (when asked for) in one vector.
  const size_t sums = weights + (dbias != nullptr ? static_cast<size_t>(p.out_channels) : 0);
  // One partial sum per thread, each over a fixed run of images (static schedule), added in
  // thread order: the same bits every run with the same number of threads.
  std::vector<std::vector<double>> partial(static_cast<size_t>(omp_get_max_threads()));
#pragma omp parallel
  {
    std::vector<double>& mine = partial[static_cast<size_t>(omp_get_thread_num())];
    mine.assign(sums, 0.0);
    double* bias_sums = dbias != nullptr ? mine.data() + weights : nullptr;
    Padded xp;
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int n = 0; n < p.batch; ++n) {
      xp.fill(p, x + n * in_image);
      filter_image(p, xp, dy_of(n, scratch), mine.data(), bias_sums);
    }
  }
  for (size_t i = 0; i < sums; ++i) {
    double sum = 0.0;
    for (const std::vector<double>& part : partial) sum += part.empty() ? 0.0 : part[i];
    if (i < weights) {
      dw[i] = static_cast<float>(sum);
    } else {
      dbias[i - weights] = static_cast<float>(sum);
    }
  }
}

// One image's pool parameters: pool's, batch 1.
Pool2dParams one_image(const Pool2dParams& pool) {
  Pool2dParams one = pool;
  one.batch = 1;
  return one;
}

// Whether `pool` pools c's output with windows that do not overlap, and c has no activation of
// its own (the fused loops' common condition).
bool pool_of(const Conv2dParams& c, const Pool2dParams& pool) {
  return !c.activation.active() && !pool.windows_overlap() && pool.batch == c.batch &&
         pool.channels == c.out_channels && pool.in_h == c.out_h() && pool.in_w == c.out_w();
}

}  // namespace

void backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                     float* dbias) {
  const int64_t out_image = static_cast<int64_t>(p.out_channels) * p.out_h() * p.out_w();
  backward_filter_images(p, x, dw, dbias, [&](int n, std::vector<float>&) {
    return dy + n * out_image;
  });
}

bool fuses_max_pool(const Conv2dParams& c, const Pool2dParams& pool) {
  return pool_of(c, pool) && conv_algorithm(c, ConvPass::forward) == ConvAlgorithm::direct;
}

bool fuses_max_pool_filter(const Conv2dParams& c, const Pool2dParams& pool) {
  return pool_of(c, pool) && conv_algorithm(c, ConvPass::backward_filter) == ConvAlgorithm::direct;
}

void forward_max_pool(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                      const float* w, const float* bias, float* y, int32_t* argmax) {
  const int64_t in_image = static_cast<int64_t>(c.in_channels) * c.in_h * c.in_w;
  const int64_t conv_image = static_cast<int64_t>(c.out_channels) * c.out_h() * c.out_w();
  const int64_t pooled_image = static_cast<int64_t>(pool.channels) * pool.out_h() * pool.out_w();
  const Pool2dParams one = one_image(pool);
#pragma omp parallel
  {
    Padded xp;
    std::vector<float> conv(static_cast<size_t>(conv_image));
#pragma omp for schedule(static)
    for (int n = 0; n < c.batch; ++n) {
      xp.fill(c, x + n * in_image);
      forward_image(c, xp, w, bias, conv.data());
      max_pool2d_forward_serial(one, conv.data(), y + n * pooled_image, argmax + n * pooled_image);
    }
  }
}

void backward_filter_max_pool(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                              const float* dy, const float* y, const int32_t* argmax, float* dw,
                              float* dbias) {
  const int64_t conv_image = static_cast<int64_t>(c.out_channels) * c.out_h() * c.out_w();
  const int64_t pooled_image = static_cast<int64_t>(pool.channels) * pool.out_h() * pool.out_w();
  const Pool2dParams one = one_image(pool);
  backward_filter_images(c, x, dw, dbias, [&](int n, std::vector<float>& scratch) {
    scratch.resize(static_cast<size_t>(conv_image));
    max_pool2d_backward_serial(one, dy + n * pooled_image,
                               y != nullptr ? y + n * pooled_image : nullptr,
                               argmax + n * pooled_image, scratch.data());
    return static_cast<const float*>(scratch.data());
  });
}

}  // namespace direct
}  // namespace weft::cpu
