// Hand-written CUDA kernels for softmax and log-softmax (declared in softmax.h).
//
// One warp per row. A block of kBlockThreads threads holds 8 warps and so 8 rows; warp w of
// block b takes row b * 8 + w (and, when there are more rows than the grid has warps, every
// row a grid's worth of warps further on). Lane l of the warp handles the columns l, l + 32,
// l + 64, ... of its row, so a warp reads 32 consecutive floats at a time (coalesced). The
// row's maximum and sums are combined across the 32 lanes with butterfly shuffles (warp_max,
// warp_sum in common.h), which leave the result in every lane: no shared memory and no
// __syncthreads, since a warp's lanes never need another warp's data.
//
// Stability as in the CPU reference: the row maximum m is subtracted before exponentiation, so
// every exponent is <= 0 and the sum is >= 1. Sums are in float (the reference uses double);
// with 32 lanes adding cols / 32 terms each and a 5-level tree the relative error stays near
// 1e-6 for the class counts the models use. Any rows, cols >= 1 (cols = 0 is a no-op).
#include "kernels/cuda/softmax.h"

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr unsigned kRowsPerBlock = kBlockThreads / kWarpSize;

__device__ __forceinline__ float row_max(int cols, const float* row, int lane) {
  float m = -INFINITY;
  for (int j = lane; j < cols; j += kLanes) m = fmaxf(m, row[j]);
  return warp_max(m);
}

// The loop bound `rows` is the same for every lane of a warp, so all 32 lanes always take part
// in the shuffles together.
__global__ void softmax_forward_kernel(int rows, int cols, const float* x, float* y) {
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < rows; r += walk.stride) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(cols, xr, walk.lane);
    float total = 0.0f;
    for (int j = walk.lane; j < cols; j += kLanes) {
      const float e = expf(xr[j] - m);
      yr[j] = e;
      total += e;
    }
    const float inv = 1.0f / warp_sum(total);
    for (int j = walk.lane; j < cols; j += kLanes) yr[j] *= inv;
  }
}

__global__ void log_softmax_forward_kernel(int rows, int cols, const float* x, float* y) {
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < rows; r += walk.stride) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(cols, xr, walk.lane);
    float total = 0.0f;
    for (int j = walk.lane; j < cols; j += kLanes) total += expf(xr[j] - m);
    // log_softmax(x)_j = x_j - m - log(sum_k exp(x_k - m))
    const float log_total = logf(warp_sum(total));
    for (int j = walk.lane; j < cols; j += kLanes) yr[j] = (xr[j] - m) - log_total;
  }
}

__global__ void softmax_backward_kernel(int rows, int cols, const float* y, const float* dy,
                                        float* dx) {
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < rows; r += walk.stride) {
    const int64_t base = r * cols;
    float dot = 0.0f;  // sum_j dy_j y_j
    for (int j = walk.lane; j < cols; j += kLanes) dot += dy[base + j] * y[base + j];
    dot = warp_sum(dot);
    for (int j = walk.lane; j < cols; j += kLanes) {
      dx[base + j] = y[base + j] * (dy[base + j] - dot);
    }
  }
}

__global__ void log_softmax_backward_kernel(int rows, int cols, const float* y, const float* dy,
                                            float* dx) {
  const WarpRows walk = warp_rows();
  for (int64_t r = walk.first; r < rows; r += walk.stride) {
    const int64_t base = r * cols;
    float total = 0.0f;  // sum_j dy_j
    for (int j = walk.lane; j < cols; j += kLanes) total += dy[base + j];
    total = warp_sum(total);
    // exp(y) is the softmax itself, recovered from the stored log-probabilities.
    for (int j = walk.lane; j < cols; j += kLanes) {
      dx[base + j] = dy[base + j] - expf(y[base + j]) * total;
    }
  }
}

unsigned row_blocks(int rows) { return grid_blocks(rows, kRowsPerBlock); }

}  // namespace

void softmax_forward(int rows, int cols, const float* x, float* y, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  WEFT_LAUNCH(softmax_forward_kernel, row_blocks(rows), kBlockThreads, 0, stream, rows, cols, x,
              y);
}

void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx,
                      cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  WEFT_LAUNCH(softmax_backward_kernel, row_blocks(rows), kBlockThreads, 0, stream, rows, cols, y,
              dy, dx);
}

void log_softmax_forward(int rows, int cols, const float* x, float* y, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  WEFT_LAUNCH(log_softmax_forward_kernel, row_blocks(rows), kBlockThreads, 0, stream, rows, cols,
              x, y);
}

void log_softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx,
                          cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  WEFT_LAUNCH(log_softmax_backward_kernel, row_blocks(rows), kBlockThreads, 0, stream, rows,
              cols, y, dy, dx);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
