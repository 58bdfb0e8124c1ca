// CPU reference for 2-d max pooling, average pooling and global average pooling.
//
// Every (image, channel) plane is pooled independently, so the planes are shared out across
// OpenMP threads and each thread reads and writes only its own plane. A window starts at
// (oh * stride_h - pad_h, ow * stride_w - pad_w); the part of it that lies in the padding is
// clipped away before the loop, so padded cells are never read.
//
// Max pooling stores, for each output, the flat index h * W + w of the winning input cell in its
// plane; backward writes each output gradient to that one cell (adds, where windows overlap). With
// a fused activation (Pool2dParams::activation) the cells compete as act(x), and backward
// multiplies the winner's gradient by the activation's derivative read at y. Average pooling
// spreads each output gradient evenly over the window it averaged.
//
// Write rule: every function overwrites its outputs.
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/cpu_support.h"
#include "kernels/cpu/lane_sum.h"

namespace weft::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a parallel region costs more
// than the work saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// The input rows (or columns) [begin, end) that window `o` covers once its padded part is
// clipped away.
struct WindowSpan {
  int begin, end;
};

WindowSpan window_span(int o, int kernel, int stride, int pad, int in_size) {
  const int start = o * stride - pad;
  return {std::max(start, 0), std::min(start + kernel, in_size)};
}

// The number an average-pooling window is divided by. With out_h()/out_w() as defined in
// Pool2dParams a window never reaches past the padding, so including the padding always gives
// the full kernel area.
int avg_divisor(const Pool2dParams& p, WindowSpan hs, WindowSpan ws) {
  if (p.count_include_pad) return p.kernel_h * p.kernel_w;
  return (hs.end - hs.begin) * (ws.end - ws.begin);
}

// The max-pooling rule for one candidate: strictly greater keeps the first maximum on ties; a
// NaN wins over any number and then stays (the first NaN), so NaN propagates as in PyTorch.
inline void take_if_larger(float v, int32_t index, float& best, int32_t& best_index) {
  if (v > best || (std::isnan(v) && !std::isnan(best))) {
    best = v;
    best_index = index;
  }
}

// One max-pool window clipped to the plane, the general way: the cells in row order under
// take_if_larger. Only real cells compete, so padding never wins. A window made only of padding
// (possible only when pad > kernel / 2, which PyTorch rejects) gives 0 and index -1.
void max_pool_window(const Pool2dParams& p, const float* in, int oh, int ow, float& best,
                     int32_t& best_index) {
  const WindowSpan hs = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.in_h);
  const WindowSpan ws = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.in_w);
  best = 0.0f;
  best_index = -1;
  for (int h = hs.begin; h < hs.end; ++h) {
    for (int w = ws.begin; w < ws.end; ++w) {
      const int32_t index = h * p.in_w + w;
      const float v = p.activation.apply(in[index]);
      if (best_index < 0) {
        best = v;
        best_index = index;
      } else {
        take_if_larger(v, index, best, best_index);
      }
    }
  }
}

// The windows of output row oh whose K x K cells (stride S) all lie inside the plane,
// [ow_begin, ow_end), with K and S known at compile time and the activation chosen once (Act).
// The rule is take_if_larger's over the cells in row order, the winner kept as its number
// 0 .. K * K - 1 in the window until the index is written. Spelled as the window's cells loaded
// first, then per cell an int select and the value selected by it (a loop over the cells, bool
// temporaries or reference parameters kept the row scalar), GCC vectorises the row with SSE
// for strides 1 and 2 (not 3: it has no vector form for loads 3 apart without AVX2). Scalar,
// with the rule's compares as branches, the 2 x 2 forward was 7x slower than its backward
// (41-46 ms against 6.5 ms for the Fashion CNN's pool at batch 512 on a 2-core AMD EPYC).
template <int K, int S, class Act>
[[gnu::always_inline]] inline void max_pool_row_inside(const Pool2dParams& p, const float* in,
                                                       int oh, int ow_begin, int ow_end, Act act,
                                                       float* out_row, int32_t* index_row) {
  const int h0 = oh * S - p.pad_h, in_w = p.in_w, pad_w = p.pad_w;  // locals: not re-read
  const float* rows[K];
  for (int kh = 0; kh < K; ++kh) rows[kh] = in + int64_t{h0 + kh} * in_w;
  for (int ow = ow_begin; ow < ow_end; ++ow) {
    const int w0 = ow * S - pad_w;
    [&]<int... C>(std::integer_sequence<int, C...>) __attribute__((always_inline)) {
      const float cells[] = {act(rows[C / K][w0 + C % K])...};
      float best = cells[0];
      int32_t winner = 0;
      ((winner = (C > 0 && best == best && !(cells[C] <= best)) ? C : winner,
        best = winner == C ? cells[C] : best),
       ...);
      out_row[ow] = best;
      index_row[ow] = (h0 + winner / K) * in_w + w0 + winner % K;
    }(std::make_integer_sequence<int, K * K>{});
  }
}

// 8 floats, and 8 int32 lanes, as GCC generic vectors (one ymm with AVX2, two xmm otherwise).
typedef float Floats8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t Ints8 __attribute__((vector_size(8 * sizeof(int32_t))));

// The pool's activation on eight cells in place, as the scalar loop's lambdas compute it.
[[gnu::always_inline]] inline void activate(const FusedActivation& act, Floats8& v) {
  switch (act.kind) {
    case FusedActivation::Kind::none:
      return;
    case FusedActivation::Kind::relu:
      v = v > 0.0f ? v : Floats8{};
      return;
    case FusedActivation::Kind::leaky_relu:
      v = v > 0.0f ? v : act.alpha * v;
      return;
  }
}

// max_pool_row_inside for 2 x 2 windows at stride 2, eight windows at a time: each input row's
// 16 cells are two vector loads, split into even and odd columns (the windows' left and right
// cells), and take_if_larger's rule runs lane by lane over the four cells in row order, with
// the same comparisons, so the values and indices are the scalar loop's. A row's last group of
// fewer than eight is its last eight windows again (rewritten with the same values), so a row of
// at least eight windows has no scalar tail; shorter rows take the scalar loop. The scalar loop
// (SSE) spent 46% of the fused Fashion CNN first layer's forward on rows of 13 windows.
template <class Act>
[[gnu::always_inline]] inline void max_pool_row_2x2s2(const Pool2dParams& p, const float* in,
                                                      int oh, int ow_begin, int ow_end, Act act,
                                                      float* out_row, int32_t* index_row) {
  if (ow_end - ow_begin < 8) {
    max_pool_row_inside<2, 2>(p, in, oh, ow_begin, ow_end, act, out_row, index_row);
    return;
  }
  const int h0 = oh * 2 - p.pad_h, in_w = p.in_w, pad_w = p.pad_w;
  const float* row0 = in + int64_t{h0} * in_w;
  const float* row1 = row0 + in_w;
  const Ints8 lanes = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int ow = ow_begin;; ow += 8) {
    ow = std::min(ow, ow_end - 8);
    const int w0 = ow * 2 - pad_w;
    Floats8 a0, b0, a1, b1;
    std::memcpy(&a0, row0 + w0, sizeof a0);
    std::memcpy(&b0, row0 + w0 + 8, sizeof b0);
    std::memcpy(&a1, row1 + w0, sizeof a1);
    std::memcpy(&b1, row1 + w0 + 8, sizeof b1);
    Floats8 cells[4] = {__builtin_shufflevector(a0, b0, 0, 2, 4, 6, 8, 10, 12, 14),
                        __builtin_shufflevector(a0, b0, 1, 3, 5, 7, 9, 11, 13, 15),
                        __builtin_shufflevector(a1, b1, 0, 2, 4, 6, 8, 10, 12, 14),
                        __builtin_shufflevector(a1, b1, 1, 3, 5, 7, 9, 11, 13, 15)};
    for (Floats8& cell : cells) activate(p.activation, cell);
    // The winner's index is carried along the comparisons (top-left cell, then right, below,
    // below right): forming it afterwards from the winner's number took a vector multiply
    // whose latency the stores waited on (perf: a fifth of the Fashion CNN pool's loop).
    const Ints8 top_left = Ints8{} + (h0 * in_w + w0) + 2 * lanes;
    const int offsets[4] = {0, 1, in_w, in_w + 1};
    Floats8 best = cells[0];
    Ints8 index = top_left;
    for (int c = 1; c < 4; ++c) {
      const Ints8 take = (best == best) & ~(cells[c] <= best);
      best = take ? cells[c] : best;
      index = take ? top_left + offsets[c] : index;
    }
    std::memcpy(out_row + ow, &best, sizeof best);
    std::memcpy(index_row + ow, &index, sizeof index);
    if (ow + 8 >= ow_end) return;
  }
}

// The plane's outputs: the windows wholly inside by max_pool_row_inside, the rest (rows and
// columns that reach into the padding or past the edge) by max_pool_window.
template <int K, int S, class Act>
[[gnu::always_inline]] inline void max_pool_plane(const Pool2dParams& p, const float* in, Act act,
                                                  float* out, int32_t* out_index) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  // Output columns whose window starts at or after column 0 and ends at or before in_w.
  const int ow_begin = std::min((p.pad_w + S - 1) / S, ow_size);
  const int ow_end = std::clamp((p.in_w - K + p.pad_w) / S + 1, ow_begin, ow_size);
  for (int oh = 0; oh < oh_size; ++oh) {
    float* out_row = out + int64_t{oh} * ow_size;
    int32_t* index_row = out_index + int64_t{oh} * ow_size;
    const int h0 = oh * S - p.pad_h;
    const bool row_inside = h0 >= 0 && h0 + K <= p.in_h;
    const int inside_begin = row_inside ? ow_begin : ow_size;
    const int inside_end = row_inside ? ow_end : ow_size;
    for (int ow = 0; ow < inside_begin; ++ow) {
      max_pool_window(p, in, oh, ow, out_row[ow], index_row[ow]);
    }
    if constexpr (K == 2 && S == 2) {
      max_pool_row_2x2s2(p, in, oh, inside_begin, inside_end, act, out_row, index_row);
    } else {
      max_pool_row_inside<K, S>(p, in, oh, inside_begin, inside_end, act, out_row, index_row);
    }
    for (int ow = inside_end; ow < ow_size; ++ow) {
      max_pool_window(p, in, oh, ow, out_row[ow], index_row[ow]);
    }
  }
}

template <int K, int S>
[[gnu::always_inline]] inline void max_pool_plane(const Pool2dParams& p, const float* in,
                                                  float* out, int32_t* out_index) {
  switch (p.activation.kind) {
    case FusedActivation::Kind::none:
      max_pool_plane<K, S>(p, in, [](float v) { return v; }, out, out_index);
      return;
    case FusedActivation::Kind::relu:
      max_pool_plane<K, S>(p, in, [](float v) { return v > 0.0f ? v : 0.0f; }, out, out_index);
      return;
    case FusedActivation::Kind::leaky_relu: {
      const float alpha = p.activation.alpha;
      max_pool_plane<K, S>(
          p, in, [alpha](float v) { return v > 0.0f ? v : alpha * v; }, out, out_index);
      return;
    }
  }
}

// The vectorised planes, each built once per x86-64 vector width (WEFT_CPU_CLONES: the
// templates above are forced inline so that each clone compiles them for its own width). With
// AVX2 GCC also vectorises the 3 x 3 stride-3 row, whose loads 3 apart SSE has no form for.
WEFT_CPU_CLONES void max_pool_plane_2x2s2(const Pool2dParams& p, const float* in, float* out,
                                          int32_t* out_index) {
  max_pool_plane<2, 2>(p, in, out, out_index);
}
WEFT_CPU_CLONES void max_pool_plane_3x3s3(const Pool2dParams& p, const float* in, float* out,
                                          int32_t* out_index) {
  max_pool_plane<3, 3>(p, in, out, out_index);
}
// Not cloned: its AVX2 copy was slower than the SSE one (ResNet-50's pool at batch 32, 2-core
// AMD EPYC: 21.8-24.0 ms against 19.6).
void max_pool_plane_3x3s2(const Pool2dParams& p, const float* in, float* out,
                          int32_t* out_index) {
  max_pool_plane<3, 2>(p, in, out, out_index);
}

// One plane of max_pool2d_forward: the seed models' pools (2 x 2 stride 2; 3 x 3 stride 3;
// ResNet's 3 x 3 stride 2 with padding) vectorised, any other window cell by cell.
void max_pool_forward_plane(const Pool2dParams& p, const float* in, float* out,
                            int32_t* out_index) {
  const bool square = p.kernel_h == p.kernel_w && p.stride_h == p.stride_w;
  const int k = square ? p.kernel_h : 0, s = square ? p.stride_h : 0;
  if (k == 2 && s == 2) {
    max_pool_plane_2x2s2(p, in, out, out_index);
  } else if (k == 3 && s == 3) {
    max_pool_plane_3x3s3(p, in, out, out_index);
  } else if (k == 3 && s == 2) {
    max_pool_plane_3x3s2(p, in, out, out_index);
  } else {
    const int oh_size = p.out_h(), ow_size = p.out_w();
    for (int oh = 0; oh < oh_size; ++oh) {
      for (int ow = 0; ow < ow_size; ++ow) {
        max_pool_window(p, in, oh, ow, out[oh * ow_size + ow], out_index[oh * ow_size + ow]);
      }
    }
  }
}

// max_pool2d_backward of one plane for 2 x 2 windows at stride 2 without padding, at least eight
// windows a row: the windows tile the input, so instead of zeroing the plane and scattering
// each winner's gradient, every cell is written once. For eight windows of pooled row oh, g is
// each window's gradient (the activation's slope at y applied, as the scatter applies it), and
// each of the 32 cells of input rows 2 oh and 2 oh + 1 takes g where its window's argmax names
// it, else 0: the four cell positions are compared with the argmax lane by lane, and the even
// and odd cells interleaved into each row's 16 values. A row's last group of fewer than eight
// is its last eight windows again (the same values rewritten); a last column or row that no
// window covers (odd sizes) is zeroed. The same floats as the scatter into a zeroed plane.
template <class Act>
[[gnu::always_inline]] inline void max_pool_backward_plane_2x2s2(const Pool2dParams& p,
                                                                 const float* grad_out,
                                                                 const float* y,
                                                                 const int32_t* index, Act act,
                                                                 float* grad_in) {
  const int oh_size = p.out_h(), ow_size = p.out_w(), in_w = p.in_w;
  const Ints8 lanes = {0, 2, 4, 6, 8, 10, 12, 14};
  for (int oh = 0; oh < oh_size; ++oh) {
    float* row0 = grad_in + int64_t{2 * oh} * in_w;
    float* row1 = row0 + in_w;
    for (int ow = 0;; ow += 8) {
      ow = std::min(ow, ow_size - 8);
      const int64_t at = int64_t{oh} * ow_size + ow;
      Floats8 dy, out{}, g;
      Ints8 winner;
      std::memcpy(&dy, grad_out + at, sizeof dy);
      std::memcpy(&winner, index + at, sizeof winner);
      if (y != nullptr) std::memcpy(&out, y + at, sizeof out);
      act(out, dy, g);
      const Ints8 top_left = Ints8{} + (2 * oh * in_w + 2 * ow) + lanes;
      const Floats8 zero{};
      const Floats8 c00 = winner == top_left ? g : zero;
      const Floats8 c01 = winner == top_left + 1 ? g : zero;
      const Floats8 c10 = winner == top_left + in_w ? g : zero;
      const Floats8 c11 = winner == top_left + in_w + 1 ? g : zero;
      // Four separate stores: one memcpy of a two-vector array went through the stack as a
      // 64-byte reload of two 32-byte writes, which store forwarding cannot serve (perf: 70%
      // of the loop stalled there).
      const Floats8 top0 = __builtin_shufflevector(c00, c01, 0, 8, 1, 9, 2, 10, 3, 11);
      const Floats8 top1 = __builtin_shufflevector(c00, c01, 4, 12, 5, 13, 6, 14, 7, 15);
      const Floats8 bottom0 = __builtin_shufflevector(c10, c11, 0, 8, 1, 9, 2, 10, 3, 11);
      const Floats8 bottom1 = __builtin_shufflevector(c10, c11, 4, 12, 5, 13, 6, 14, 7, 15);
      std::memcpy(row0 + 2 * ow, &top0, sizeof top0);
      std::memcpy(row0 + 2 * ow + 8, &top1, sizeof top1);
      std::memcpy(row1 + 2 * ow, &bottom0, sizeof bottom0);
      std::memcpy(row1 + 2 * ow + 8, &bottom1, sizeof bottom1);
      if (ow + 8 >= ow_size) break;
    }
    for (int w = 2 * ow_size; w < in_w; ++w) row0[w] = row1[w] = 0.0f;
  }
  const int64_t covered = int64_t{2 * oh_size} * in_w;
  std::fill(grad_in + covered, grad_in + int64_t{p.in_h} * in_w, 0.0f);
}

WEFT_CPU_CLONES void max_pool_backward_2x2s2(const Pool2dParams& p, const float* grad_out,
                                             const float* y, const int32_t* index,
                                             float* grad_in) {
  const FusedActivation act = p.activation;
  switch (act.kind) {
    // g = the gradient at the winner, as act.gradient_at_input(y, dy) gives it (vectors by
    // reference: GCC warns that returning one from the baseline clone changes the ABI).
    case FusedActivation::Kind::none:
      max_pool_backward_plane_2x2s2(
          p, grad_out, nullptr, index,
          [](const Floats8&, const Floats8& dy, Floats8& g) { g = dy; }, grad_in);
      return;
    case FusedActivation::Kind::relu:
      max_pool_backward_plane_2x2s2(
          p, grad_out, y, index,
          [](const Floats8& out, const Floats8& dy, Floats8& g) {
            g = out > 0.0f ? dy : Floats8{};
          },
          grad_in);
      return;
    case FusedActivation::Kind::leaky_relu: {
      const float alpha = act.alpha;
      max_pool_backward_plane_2x2s2(
          p, grad_out, y, index,
          [alpha](const Floats8& out, const Floats8& dy, Floats8& g) {
            g = out > 0.0f ? dy : alpha * dy;
          },
          grad_in);
      return;
    }
  }
}

// One plane of max_pool2d_backward (y: that plane's forward output, read with an activation).
void max_pool_backward_plane(const Pool2dParams& p, const float* grad_out, const float* y,
                             const int32_t* index, float* grad_in) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 &&
      p.pad_w == 0 && p.out_w() >= 8) {
    max_pool_backward_2x2s2(p, grad_out, y, index, grad_in);
    return;
  }
  std::fill(grad_in, grad_in + in_plane, 0.0f);
  const FusedActivation act = p.activation;
  if (!p.windows_overlap()) {
    // One window per cell: each winner's gradient is written once, scaled by the activation's
    // slope there (one pass; the sum below read every winner back, and a second pass scaled it).
    if (act.active()) {
      for (int64_t i = 0; i < out_plane; ++i) {
        if (index[i] >= 0) grad_in[index[i]] = act.gradient_at_input(y[i], grad_out[i]);
      }
    } else {
      for (int64_t i = 0; i < out_plane; ++i) {
        if (index[i] >= 0) grad_in[index[i]] = grad_out[i];
      }
    }
    return;
  }
  // Overlapping windows (stride < kernel) can route several outputs to one cell, hence +=
  // (no activation: check_pool_activation refuses one with overlapping windows).
  for (int64_t i = 0; i < out_plane; ++i) {
    if (index[i] >= 0) grad_in[index[i]] += grad_out[i];
  }
}

// plane_fn(in, out) for every (image, channel) plane of p, `in` and `out` the offsets of its
// input and output plane, on OpenMP threads when `parallel` and the work pays for the region.
template <class PlaneFn>
void for_each_plane(const Pool2dParams& p, bool parallel, const PlaneFn& plane_fn) {
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t planes = static_cast<int64_t>(p.batch) * p.channels;
  const int64_t work = planes * (in_plane + out_plane);
#pragma omp parallel for schedule(static) if (parallel && work > kParallelThreshold)
  for (int64_t plane = 0; plane < planes; ++plane) plane_fn(plane * in_plane, plane * out_plane);
}

void max_pool_forward_planes(const Pool2dParams& p, const float* x, float* y, int32_t* argmax,
                             bool parallel) {
  for_each_plane(p, parallel, [&](int64_t in, int64_t out) {
    max_pool_forward_plane(p, x + in, y + out, argmax + out);
  });
}

void max_pool_backward_planes(const Pool2dParams& p, const float* dy, const float* y,
                              const int32_t* argmax, float* dx, bool parallel) {
  check_pool_activation(p, y);
  for_each_plane(p, parallel, [&](int64_t in, int64_t out) {
    max_pool_backward_plane(p, dy + out, y != nullptr ? y + out : nullptr, argmax + out, dx + in);
  });
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax) {
  max_pool_forward_planes(p, x, y, argmax, true);
}

void max_pool2d_forward_serial(const Pool2dParams& p, const float* x, float* y,
                               int32_t* argmax) {
  max_pool_forward_planes(p, x, y, argmax, false);
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, float* dx) {
  max_pool_backward_planes(p, dy, y, argmax, dx, true);
}

void max_pool2d_backward_serial(const Pool2dParams& p, const float* dy, const float* y,
                                const int32_t* argmax, float* dx) {
  max_pool_backward_planes(p, dy, y, argmax, dx, false);
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  for_each_plane(p, true, [&](int64_t in_offset, int64_t out_offset) {
    const float* in = x + in_offset;
    float* out = y + out_offset;
    for (int oh = 0; oh < oh_size; ++oh) {
      const WindowSpan hs = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.in_h);
      for (int ow = 0; ow < ow_size; ++ow) {
        const WindowSpan ws = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.in_w);
        float sum = 0.0f;
        for (int h = hs.begin; h < hs.end; ++h) {
          for (int w = ws.begin; w < ws.end; ++w) sum += in[h * p.in_w + w];
        }
        const int divisor = avg_divisor(p, hs, ws);
        out[oh * ow_size + ow] = divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
      }
    }
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  for_each_plane(p, true, [&](int64_t in_offset, int64_t out_offset) {
    float* grad_in = dx + in_offset;
    const float* grad_out = dy + out_offset;
    std::fill(grad_in, grad_in + in_plane, 0.0f);
    for (int oh = 0; oh < oh_size; ++oh) {
      const WindowSpan hs = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.in_h);
      for (int ow = 0; ow < ow_size; ++ow) {
        const WindowSpan ws = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.in_w);
        const int divisor = avg_divisor(p, hs, ws);
        if (divisor <= 0) continue;
        const float share = grad_out[oh * ow_size + ow] / static_cast<float>(divisor);
        for (int h = hs.begin; h < hs.end; ++h) {
          for (int w = ws.begin; w < ws.end; ++w) grad_in[h * p.in_w + w] += share;
        }
      }
    }
  });
}

void global_avg_pool_forward(int batch, int channels, int plane, const float* x, float* y) {
  const int64_t planes = static_cast<int64_t>(batch) * channels;
#pragma omp parallel for schedule(static) if (planes * plane > kParallelThreshold)
  for (int64_t i = 0; i < planes; ++i) {
    const double sum = sum_run(plane, x + i * plane);
    y[i] = plane > 0 ? static_cast<float>(sum / plane) : 0.0f;
  }
}

void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, float* dx) {
  const int64_t planes = static_cast<int64_t>(batch) * channels;
#pragma omp parallel for schedule(static) if (planes * plane > kParallelThreshold)
  for (int64_t i = 0; i < planes; ++i) {
    const float share = dy[i] / static_cast<float>(plane);
    float* out = dx + i * plane;
    std::fill(out, out + plane, share);
  }
}

}  // namespace weft::cpu
