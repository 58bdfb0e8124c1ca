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
// inside the plane, so no clipping, no loops - the same rule as the general loop, unrolled.
void max_pool_2x2_plane(const float* in, int in_w, int oh_size, int ow_size,
                        const FusedActivation& act, float* out, int32_t* out_index) {
  for (int oh = 0; oh < oh_size; ++oh) {
    for (int ow = 0; ow < ow_size; ++ow) {
      const int32_t i = 2 * oh * in_w + 2 * ow;
      float best = act.apply(in[i]);
      int32_t best_index = i;
      take_if_larger(act.apply(in[i + 1]), i + 1, best, best_index);
      take_if_larger(act.apply(in[i + in_w]), i + in_w, best, best_index);
      take_if_larger(act.apply(in[i + in_w + 1]), i + in_w + 1, best, best_index);
      out[oh * ow_size + ow] = best;
      out_index[oh * ow_size + ow] = best_index;
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
