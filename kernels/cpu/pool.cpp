// CPU reference for 2-d max pooling, average pooling and global average pooling.
//
// Every (image, channel) plane is pooled independently, so the planes are shared out across
// OpenMP threads and each thread reads and writes only its own plane. A window starts at
// (oh * stride_h - pad_h, ow * stride_w - pad_w); the part of it that lies in the padding is
// clipped away before the loop, so padded cells are never read.
//
// Max pooling stores, for each output, the flat index h * W + w of the winning input cell in its
// plane; backward adds each output gradient to that one cell. With a fused activation
// (Pool2dParams::activation) the cells compete as act(x), and backward multiplies the winner's
// gradient by the activation's derivative read at y. Average pooling spreads each output
// gradient evenly over the window it averaged.
//
// Write rule: every function overwrites its outputs.
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

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

// The 2x2, stride-2, unpadded window that every seed model uses: its four cells are always
// inside the plane, so no clipping and no loops over the window. The rule is take_if_larger's
// over the cells in row order, the winner kept as its number 0..3 in the window until the index
// is written; with the activation chosen once per plane (Act) and every step a select, the
// compiler turns each output row into SIMD instructions. Scalar, with the rule's compares as
// branches, the forward was 7x slower than the backward (41-46 ms against 6.5 ms for the Fashion
// CNN's pool at batch 512 on a 2-core AMD EPYC).
template <class Act>
void max_pool_2x2_plane(const float* in, int in_w, int oh_size, int ow_size, Act act, float* out,
                        int32_t* out_index) {
  for (int oh = 0; oh < oh_size; ++oh) {
    const float* top = in + int64_t{2} * oh * in_w;
    const float* bottom = top + in_w;
    float* out_row = out + int64_t{oh} * ow_size;
    int32_t* index_row = out_index + int64_t{oh} * ow_size;
    const int32_t row_base = 2 * oh * in_w;
    for (int ow = 0; ow < ow_size; ++ow) {
      const float c1 = act(top[2 * ow + 1]), c2 = act(bottom[2 * ow]);
      const float c3 = act(bottom[2 * ow + 1]);
      float best = act(top[2 * ow]);
      int32_t winner = 0;
      // take_if_larger, spelled so that GCC vectorises it (an int select, then the value
      // selected by it; bool temporaries or reference parameters kept the loop scalar).
      winner = (best == best && !(c1 <= best)) ? 1 : winner;
      best = winner == 1 ? c1 : best;
      winner = (best == best && !(c2 <= best)) ? 2 : winner;
      best = winner == 2 ? c2 : best;
      winner = (best == best && !(c3 <= best)) ? 3 : winner;
      best = winner == 3 ? c3 : best;
      out_row[ow] = best;
      index_row[ow] = row_base + 2 * ow + (winner >> 1) * in_w + (winner & 1);
    }
  }
}

void max_pool_2x2_plane(const float* in, int in_w, int oh_size, int ow_size,
                        const FusedActivation& act, float* out, int32_t* out_index) {
  switch (act.kind) {
    case FusedActivation::Kind::none:
      max_pool_2x2_plane(in, in_w, oh_size, ow_size, [](float v) { return v; }, out, out_index);
      return;
    case FusedActivation::Kind::relu:
      max_pool_2x2_plane(
          in, in_w, oh_size, ow_size, [](float v) { return v > 0.0f ? v : 0.0f; }, out,
          out_index);
      return;
    case FusedActivation::Kind::leaky_relu: {
      const float alpha = act.alpha;
      max_pool_2x2_plane(
          in, in_w, oh_size, ow_size, [alpha](float v) { return v > 0.0f ? v : alpha * v; },
          out, out_index);
      return;
    }
  }
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(oh_size) * ow_size;
  const int64_t planes = static_cast<int64_t>(p.batch) * p.channels;
  const int64_t work = planes * (in_plane + out_plane);
  const bool two_by_two = p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 &&
                          p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0;
#pragma omp parallel for schedule(static) if (work > kParallelThreshold)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = x + plane * in_plane;
    float* out = y + plane * out_plane;
    int32_t* out_index = argmax + plane * out_plane;
    if (two_by_two) {
      max_pool_2x2_plane(in, p.in_w, oh_size, ow_size, p.activation, out, out_index);
      continue;
    }
    for (int oh = 0; oh < oh_size; ++oh) {
      const WindowSpan hs = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.in_h);
      for (int ow = 0; ow < ow_size; ++ow) {
        const WindowSpan ws = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.in_w);
        // Only real cells compete, so padding never wins. A window made only of padding
        // (possible only when pad > kernel / 2, which PyTorch rejects) gives 0 and index -1.
        float best = 0.0f;
        int32_t best_index = -1;
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
        out[oh * ow_size + ow] = best;
        out_index[oh * ow_size + ow] = best_index;
      }
    }
  }
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, float* dx) {
  check_pool_activation(p, y);
  const FusedActivation act = p.activation;
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(p.out_h()) * p.out_w();
  const int64_t planes = static_cast<int64_t>(p.batch) * p.channels;
  const int64_t work = planes * (in_plane + out_plane);
#pragma omp parallel for schedule(static) if (work > kParallelThreshold)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* grad_in = dx + plane * in_plane;
    const float* grad_out = dy + plane * out_plane;
    const int32_t* index = argmax + plane * out_plane;
    std::fill(grad_in, grad_in + in_plane, 0.0f);
    // Overlapping windows (stride < kernel) can route several outputs to one cell, hence +=.
    for (int64_t i = 0; i < out_plane; ++i) {
      if (index[i] >= 0) grad_in[index[i]] += grad_out[i];
    }
    if (act.active()) {  // one window per cell: each winner's sum is final, scale it once
      const float* out = y + plane * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) {
        if (index[i] >= 0) grad_in[index[i]] = act.gradient_at_input(out[i], grad_in[index[i]]);
      }
    }
  }
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(oh_size) * ow_size;
  const int64_t planes = static_cast<int64_t>(p.batch) * p.channels;
  const int64_t work = planes * (in_plane + out_plane);
#pragma omp parallel for schedule(static) if (work > kParallelThreshold)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = x + plane * in_plane;
    float* out = y + plane * out_plane;
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
  }
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) {
  const int oh_size = p.out_h(), ow_size = p.out_w();
  const int64_t in_plane = static_cast<int64_t>(p.in_h) * p.in_w;
  const int64_t out_plane = static_cast<int64_t>(oh_size) * ow_size;
  const int64_t planes = static_cast<int64_t>(p.batch) * p.channels;
  const int64_t work = planes * (in_plane + out_plane);
#pragma omp parallel for schedule(static) if (work > kParallelThreshold)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* grad_in = dx + plane * in_plane;
    const float* grad_out = dy + plane * out_plane;
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
  }
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
