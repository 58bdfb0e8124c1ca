// Hand-written CUDA kernels for pooling (declared in pool.h).
//
// Pooling reads each input a few times and does almost no arithmetic, so these kernels are
// about memory access, not tiling: no shared memory, one thread per output element of the pass
// (grid-stride loop over the flattened NCHW index), neighbouring threads on neighbouring
// elements of a row so that a warp's accesses coalesce. Windows are small (2x2, 3x3), and the
// overlapping reads of neighbouring windows are served by the L1/L2 caches.
//
// A window of output (oh, ow) starts at (oh * stride_h - pad_h, ow * stride_w - pad_w); its part
// in the padding is clipped away before the loop (WindowSpan), so padded cells are never read
// and never win a maximum.
//
// max_pool2d_forward_kernel: thread for output (n, c, oh, ow) scans its clipped window in row
//   order and keeps the first strictly greater value (a NaN beats any number, then stays), the
//   CPU reference's rule exactly, so values and argmax indices match it bit for bit. With a
//   fused activation (Pool2dParams::activation) each cell competes as act(x).
//   max_pool2d_forward_pairs_kernel: the same for 2 x 2 windows of stride 2 over rows of even
//   width, each window row one 8-byte load (half the load instructions).
// avg_pool2d_forward_kernel: thread for output (n, c, oh, ow) adds its clipped window in row
//   order (the reference's order, so the sums match bit for bit) and divides by the kernel area
//   (count_include_pad) or by the number of real cells.
//
// Backward passes are gathers, not scatters: the thread for input cell (n, c, h, w) visits the
// outputs whose windows cover it,
//   oh in [ceil((h + pad_h - kernel_h + 1) / stride_h), floor((h + pad_h) / stride_h)]
//   (clipped to [0, OH)), and the same for ow,
// and adds their contributions in increasing (oh, ow) order: for max pooling dy of the outputs
// whose argmax is this cell, for average pooling dy / divisor of each covering window. Each dx
// element is written once by one thread: no atomics even when windows overlap (stride <
// kernel), no zero-fill pass, a deterministic result, and the same summation order as the
// reference's scatter, so the result matches it bit for bit.
//
// Index arithmetic: the max-pool kernels split a flat index into (plane, row, column) with two
// multiply-high divisions (GridFast, common.h) when the tensor has fewer than 2^31
// elements, instead of three 64-bit divisions, and the backward's covering_outputs divides by
// the stride the same way; larger tensors take GridWide (plain 64-bit division). Grids of a few
// waves of the card (card_grid_blocks).
//
// max_pool2d_backward_quad_kernel: the same gather, four neighbouring cells of a row per thread
//   (when in_w is a multiple of 4 and dx is 16-byte aligned, so a quad never crosses a row and
//   every quad's store is aligned): thread for quad q (grid-stride over count / 4 quads)
//   recovers (plane, h, w0) once for cells w0 .. w0 + 3 instead of once per cell, gathers each
//   cell's sum in the same order as above and writes the four with one float4 store. Otherwise
//   max_pool2d_backward_kernel, one cell per step. Both on a grid of a few waves of the card
//   (card_grid_blocks, common.h).
// With a fused activation (windows that do not overlap, so a cell has at most one window) every
// backward kernel multiplies the winner's gradient by the activation's derivative read at its
// window's y (FusedActivation::gradient_at_input, as activation_backward would on the unpooled
// gradient): dy, y and argmax are all [N, C, OH, OW], so that is one more small read.
// max_pool2d_backward_tiles_kernel: when the windows tile the input exactly (kernel = stride,
//   no padding, in = out * kernel along both axes: the 2 x 2 and 3 x 3 pools of the seed CNNs),
//   every cell lies in exactly one window and the gather reduces to 0 + dy[o] at the window's
//   argmax and 0 elsewhere. Thread for output o (grid-stride over the outputs) reads dy[o] and
//   argmax[o] once and writes its whole window, kernel_h x kernel_w cells; neighbouring threads
//   write neighbouring windows of the same rows. Each dx element is written once, with the value
//   the gather gives, bit for bit (0 + dy turns a -0 into +0 as the gather's sum does), and the
//   per-cell search for covering outputs is gone: one index split per window, not per cell.
//
// global_avg_pool_forward_kernel: one warp per (n, c) plane (warp_rows in common.h); lane l
//   adds elements l, l + 32, ... in double, warp_sum combines the lanes with shuffles (no shared
//   memory), lane 0 writes the mean. global_avg_pool_backward: one thread per input element,
//   dx = dy[plane] / plane_size.
//
// Supported shapes: any Pool2dParams with an output of at least one position; N*C*H*W up to
// 2^63 - 1 elements, each plane's H*W below 2^31 (argmax is int32).
#include "kernels/cuda/pool.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// Pool2dParams with the output size computed on the host, and the strides as FastDivmods
// (common.h) for the backward's covering_outputs.
struct PoolGeometry {
  int in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool count_include_pad;
  FastDivmod by_stride_h, by_stride_w;
  FusedActivation activation;  // max pooling only
};

PoolGeometry geometry(const Pool2dParams& p) {
  PoolGeometry g{p.in_h,     p.in_w,     p.out_h(), p.out_w(), p.kernel_h,         p.kernel_w,
                 p.stride_h, p.stride_w, p.pad_h,   p.pad_w,   p.count_include_pad, {},
                 {},         p.activation};
  g.by_stride_h = FastDivmod(static_cast<uint32_t>(std::max(p.stride_h, 1)));
  g.by_stride_w = FastDivmod(static_cast<uint32_t>(std::max(p.stride_w, 1)));
  return g;
}

// The input rows (or columns) [begin, end) of window `o` once its padded part is clipped away.
struct WindowSpan {
  int begin, end;
};

__device__ __forceinline__ WindowSpan window_span(int o, int kernel, int stride, int pad,
                                                  int in_size) {
  const int start = o * stride - pad;
  return WindowSpan{start < 0 ? 0 : start, start + kernel < in_size ? start + kernel : in_size};
}

// The outputs [begin, end) along one axis whose windows cover input index i.
__device__ __forceinline__ WindowSpan covering_outputs(int i, int kernel, int stride,
                                                       const FastDivmod& by_stride, int pad,
                                                       int out_size) {
  const int lowest = i + pad - kernel + 1;  // o * stride >= lowest
  const int first =
      lowest <= 0 ? 0 : static_cast<int>(by_stride.div(static_cast<uint32_t>(lowest + stride - 1)));
  const int last = static_cast<int>(by_stride.div(static_cast<uint32_t>(i + pad)));
  return WindowSpan{first, last + 1 < out_size ? last + 1 : out_size};
}

// The average pooling divisor of window (hs, ws); as in the reference.
__device__ __forceinline__ int avg_divisor(const PoolGeometry& g, WindowSpan hs, WindowSpan ws) {
  if (g.count_include_pad) return g.kernel_h * g.kernel_w;
  return (hs.end - hs.begin) * (ws.end - ws.begin);
}

__device__ __forceinline__ bool is_nan(float v) {
  return v != v;
}

template <class Grid>
__global__ void max_pool2d_forward_kernel(PoolGeometry g, Grid grid, int64_t count, const float* x,
                                          float* y, int32_t* argmax) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const Cell out = grid(i);
    const int oh = out.row, ow = out.col;
    const float* in = x + out.plane * g.in_h * g.in_w;
    const WindowSpan hs = window_span(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
    const WindowSpan ws = window_span(ow, g.kernel_w, g.stride_w, g.pad_w, g.in_w);
    // A window made only of padding (pad > kernel / 2, which PyTorch rejects) gives 0 and -1.
    float best = 0.0f;
    int32_t best_index = -1;
    for (int h = hs.begin; h < hs.end; ++h) {
      for (int w = ws.begin; w < ws.end; ++w) {
        const int32_t index = h * g.in_w + w;
        const float v = g.activation.apply(in[index]);
        if (best_index < 0 || v > best || (is_nan(v) && !is_nan(best))) {
          best = v;
          best_index = index;
        }
      }
    }
    y[i] = best;
    argmax[i] = best_index;
  }
}

// The 2 x 2 windows of stride 2 without padding over rows of even width, x 8-byte aligned
// (pair_windows): a window's two cells in a row are one aligned float2, so the thread of output
// (n, c, oh, ow) loads its window with two 8-byte loads instead of four 4-byte ones; the cells
// compete in row order under the same rule as max_pool2d_forward_kernel.
template <class Grid>
__global__ void max_pool2d_forward_pairs_kernel(PoolGeometry g, Grid grid, int64_t count,
                                                const float* x, float* y, int32_t* argmax) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const Cell out = grid(i);
    const float* in = x + out.plane * g.in_h * g.in_w;
    const int32_t top = 2 * out.row * g.in_w + 2 * out.col;
    const float2 upper = load2(in, top / 2), lower = load2(in, (top + g.in_w) / 2);
    const float cells[4] = {upper.x, upper.y, lower.x, lower.y};
    float best = g.activation.apply(cells[0]);
    int32_t best_index = top;
    for (int c = 1; c < 4; ++c) {
      const float v = g.activation.apply(cells[c]);
      if (v > best || (is_nan(v) && !is_nan(best))) {
        best = v;
        best_index = top + (c >> 1) * g.in_w + (c & 1);
      }
    }
    y[i] = best;
    argmax[i] = best_index;
  }
}

// Whether max_pool2d_forward_pairs_kernel takes the pool: 2 x 2 windows of stride 2, no padding,
// an even row width and x 8-byte aligned (every window's row pair then aligned).
bool pair_windows(const PoolGeometry& g, const float* x) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 &&
         g.pad_h == 0 && g.pad_w == 0 && g.in_w % 2 == 0 &&
         reinterpret_cast<uintptr_t>(x) % 8 == 0;
}

// The max-pool gradient of input cell (h, w) of the plane whose outputs start at out_base.
// `y` is read only with a fused activation, when the cell has at most one window.
__device__ __forceinline__ float max_pool_cell_gradient(const PoolGeometry& g, WindowSpan ohs,
                                                        int h, int w, int64_t out_base,
                                                        const float* dy, const float* y,
                                                        const int32_t* argmax) {
  const int32_t me = h * g.in_w + w;
  const WindowSpan ows =
      covering_outputs(w, g.kernel_w, g.stride_w, g.by_stride_w, g.pad_w, g.out_w);
  float total = 0.0f;
  for (int oh = ohs.begin; oh < ohs.end; ++oh) {
    for (int ow = ows.begin; ow < ows.end; ++ow) {
      const int64_t o = out_base + int64_t{oh} * g.out_w + ow;
      if (argmax[o] == me) {
        total += dy[o];
        if (g.activation.active()) total = g.activation.gradient_at_input(y[o], total);
      }
    }
  }
  return total;
}

template <class Grid>
__global__ void max_pool2d_backward_kernel(PoolGeometry g, Grid grid, int64_t count,
                                           const float* dy, const float* y, const int32_t* argmax,
                                           float* dx) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const Cell cell = grid(i);
    const int h = cell.row, w = cell.col;
    const int64_t out_base = cell.plane * g.out_h * g.out_w;
    const WindowSpan ohs =
        covering_outputs(h, g.kernel_h, g.stride_h, g.by_stride_h, g.pad_h, g.out_h);
    dx[i] = max_pool_cell_gradient(g, ohs, h, w, out_base, dy, y, argmax);
  }
}

// `grid` splits a quad's index as a cell of [planes, in_h, in_w / 4].
template <class Grid>
__global__ void max_pool2d_backward_quad_kernel(PoolGeometry g, Grid grid, int64_t quads,
                                                const float* dy, const float* y,
                                                const int32_t* argmax, float* dx) {
  for (int64_t q = grid_thread_index(); q < quads; q += grid_thread_count()) {
    const Cell cell = grid(q);
    const int w0 = cell.col * 4;
    const int h = cell.row;
    const int64_t out_base = cell.plane * g.out_h * g.out_w;
    const WindowSpan ohs =
        covering_outputs(h, g.kernel_h, g.stride_h, g.by_stride_h, g.pad_h, g.out_h);
    store4(dx, q,
           make_float4(max_pool_cell_gradient(g, ohs, h, w0, out_base, dy, y, argmax),
                       max_pool_cell_gradient(g, ohs, h, w0 + 1, out_base, dy, y, argmax),
                       max_pool_cell_gradient(g, ohs, h, w0 + 2, out_base, dy, y, argmax),
                       max_pool_cell_gradient(g, ohs, h, w0 + 3, out_base, dy, y, argmax)));
  }
}

// `grid` splits an output index as a cell of [planes, out_h, out_w].
template <class Grid>
__global__ void max_pool2d_backward_tiles_kernel(PoolGeometry g, Grid grid, int64_t count,
                                                 const float* dy, const float* y,
                                                 const int32_t* argmax, float* dx) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const Cell out = grid(i);
    float gradient = 0.0f + dy[i];
    if (g.activation.active()) gradient = g.activation.gradient_at_input(y[i], gradient);
    const int32_t winner = argmax[i];
    float* plane = dx + out.plane * g.in_h * g.in_w;
    const int h0 = out.row * g.kernel_h, w0 = out.col * g.kernel_w;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const int32_t index = (h0 + kh) * g.in_w + w0 + kw;
        plane[index] = index == winner ? gradient : 0.0f;
      }
    }
  }
}

// Whether the windows tile the input exactly (max_pool2d_backward_tiles_kernel).
bool windows_tile_input(const PoolGeometry& g) {
  return g.kernel_h == g.stride_h && g.kernel_w == g.stride_w && g.pad_h == 0 && g.pad_w == 0 &&
         g.out_h > 0 && g.out_w > 0 && g.in_h == g.out_h * g.kernel_h &&
         g.in_w == g.out_w * g.kernel_w;
}

__global__ void avg_pool2d_forward_kernel(PoolGeometry g, int64_t count, const float* x, float* y) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const int ow = static_cast<int>(i % g.out_w);
    const int oh = static_cast<int>(i / g.out_w % g.out_h);
    const int64_t plane = i / (int64_t{g.out_w} * g.out_h);
    const float* in = x + plane * g.in_h * g.in_w;
    const WindowSpan hs = window_span(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
    const WindowSpan ws = window_span(ow, g.kernel_w, g.stride_w, g.pad_w, g.in_w);
    float sum = 0.0f;
    for (int h = hs.begin; h < hs.end; ++h) {
      for (int w = ws.begin; w < ws.end; ++w) sum += in[h * g.in_w + w];
    }
    const int divisor = avg_divisor(g, hs, ws);
    y[i] = divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
  }
}

__global__ void avg_pool2d_backward_kernel(PoolGeometry g, int64_t count, const float* dy,
                                           float* dx) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const int w = static_cast<int>(i % g.in_w);
    const int h = static_cast<int>(i / g.in_w % g.in_h);
    const int64_t plane = i / (int64_t{g.in_w} * g.in_h);
    const int64_t out_base = plane * g.out_h * g.out_w;
    const WindowSpan ohs =
        covering_outputs(h, g.kernel_h, g.stride_h, g.by_stride_h, g.pad_h, g.out_h);
    const WindowSpan ows =
        covering_outputs(w, g.kernel_w, g.stride_w, g.by_stride_w, g.pad_w, g.out_w);
    float total = 0.0f;
    for (int oh = ohs.begin; oh < ohs.end; ++oh) {
      const WindowSpan hs = window_span(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
      for (int ow = ows.begin; ow < ows.end; ++ow) {
        const WindowSpan ws = window_span(ow, g.kernel_w, g.stride_w, g.pad_w, g.in_w);
        const int divisor = avg_divisor(g, hs, ws);
        if (divisor <= 0) continue;
        total += dy[out_base + int64_t{oh} * g.out_w + ow] / static_cast<float>(divisor);
      }
    }
    dx[i] = total;
  }
}

// The loop bound `planes` is the same for every lane of a warp, so all 32 lanes always take
// part in warp_sum together.
__global__ void global_avg_pool_forward_kernel(int64_t planes, int plane, const float* x,
                                               float* y) {
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < planes; r += walk.stride) {
    const float* in = x + r * plane;
    double sum = 0.0;
    for (int j = walk.lane; j < plane; j += kLanes) sum += in[j];
    sum = warp_sum(sum);
    if (walk.lane == 0) y[r] = plane > 0 ? static_cast<float>(sum / plane) : 0.0f;
  }
}

struct GlobalAvgPoolBackward {
  int plane;
  const float* dy;
  float* dx;
  __device__ void operator()(int64_t i) const { dx[i] = dy[i / plane] / static_cast<float>(plane); }
};

bool empty_output(const PoolGeometry& g) {
  return g.out_h <= 0 || g.out_w <= 0;
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax,
                        cudaStream_t stream) {
  const PoolGeometry g = geometry(p);
  if (empty_output(g)) return;
  const int64_t count = int64_t{p.batch} * p.channels * g.out_h * g.out_w;
  if (count <= 0) return;
  const bool pairs = pair_windows(g, x);
  with_grid(count, g.out_w, g.out_h, [&](auto grid) {
    using Grid = decltype(grid);
    if (pairs) {
      WEFT_LAUNCH(max_pool2d_forward_pairs_kernel<Grid>, card_grid_blocks(count), kBlockThreads,
                  0, stream, g, grid, count, x, y, argmax);
    } else {
      WEFT_LAUNCH(max_pool2d_forward_kernel<Grid>, card_grid_blocks(count), kBlockThreads, 0,
                  stream, g, grid, count, x, y, argmax);
    }
  });
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const float* y,
                         const int32_t* argmax, float* dx, cudaStream_t stream) {
  check_pool_activation(p, y);
  const PoolGeometry g = geometry(p);
  const int64_t count = int64_t{p.batch} * p.channels * p.in_h * p.in_w;
  if (count <= 0) return;
  if (windows_tile_input(g)) {
    const int64_t outputs = int64_t{p.batch} * p.channels * g.out_h * g.out_w;
    with_grid(outputs, g.out_w, g.out_h, [&](auto grid) {
      using Grid = decltype(grid);
      WEFT_LAUNCH(max_pool2d_backward_tiles_kernel<Grid>, card_grid_blocks(outputs),
                  kBlockThreads, 0, stream, g, grid, outputs, dy, y, argmax, dx);
    });
    return;
  }
  // With an empty output no window covers any cell: the gather writes zeros.
  const bool quads = g.in_w % 4 == 0 && aligned16(dx);
  const int cols = quads ? g.in_w / 4 : g.in_w;
  with_grid(count, cols, g.in_h, [&](auto grid) {
    using Grid = decltype(grid);
    if (quads) {
      WEFT_LAUNCH(max_pool2d_backward_quad_kernel<Grid>, card_grid_blocks(count / 4),
                  kBlockThreads, 0, stream, g, grid, count / 4, dy, y, argmax, dx);
    } else {
      WEFT_LAUNCH(max_pool2d_backward_kernel<Grid>, card_grid_blocks(count), kBlockThreads, 0,
                  stream, g, grid, count, dy, y, argmax, dx);
    }
  });
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream) {
  const PoolGeometry g = geometry(p);
  if (empty_output(g)) return;
  const int64_t count = int64_t{p.batch} * p.channels * g.out_h * g.out_w;
  if (count <= 0) return;
  WEFT_LAUNCH(avg_pool2d_forward_kernel, grid_blocks(count), kBlockThreads, 0, stream, g, count, x,
              y);
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream) {
  const PoolGeometry g = geometry(p);
  const int64_t count = int64_t{p.batch} * p.channels * p.in_h * p.in_w;
  if (count <= 0) return;
  WEFT_LAUNCH(avg_pool2d_backward_kernel, grid_blocks(count), kBlockThreads, 0, stream, g, count,
              dy, dx);
}

void global_avg_pool_forward(int batch, int channels, int plane, const float* x, float* y,
                             cudaStream_t stream) {
  const int64_t planes = int64_t{batch} * channels;
  if (planes <= 0) return;
  WEFT_LAUNCH(global_avg_pool_forward_kernel, grid_blocks(planes, kBlockThreads / kWarpSize),
              kBlockThreads, 0, stream, planes, plane, x, y);
}

void global_avg_pool_backward(int batch, int channels, int plane, const float* dy, float* dx,
                              cudaStream_t stream) {
  if (plane <= 0) return;
  for_each(int64_t{batch} * channels * plane, GlobalAvgPoolBackward{plane, dy, dx}, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
