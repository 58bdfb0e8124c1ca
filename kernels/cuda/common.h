// Device-side building blocks shared by the kernel families in kernels/cuda/: grid-stride
// indexing, the elementwise map kernel, warp and block reductions, and the grid sizes the
// families use.
//
// Conventions of the kernels built on these helpers:
//   * blocks are one-dimensional (threadIdx.x only) and their size is a multiple of 32, so every
//     warp is full and the warp functions below may use the full mask;
//   * elementwise kernels use grid-stride loops: thread t of the grid handles items t, t + T,
//     t + 2T, ... where T is the number of threads in the grid, so any count fits a grid of
//     bounded size;
//   * reductions are deterministic: they use a fixed tree (shuffles inside a warp, shared memory
//     across warps), never the arrival order of atomics, so a result does not change between
//     runs.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

constexpr unsigned kFullWarpMask = 0xffffffffu;
constexpr unsigned kWarpSize = 32;
constexpr int kLanes = 32;  // the same, for loops over int column indices

// Threads per block of the elementwise and reduction kernels: 8 warps, enough to hide memory
// latency with several blocks per SM.
constexpr unsigned kBlockThreads = 256;

// Upper bound on the grid of a grid-stride kernel. A larger grid would only add blocks that
// start, find their work already covered and exit.
constexpr int64_t kMaxGridBlocks = 8192;

// Blocks of `threads_per_block` needed to give every one of `count` items its own thread,
// capped at kMaxGridBlocks (the grid-stride loop covers the rest); at least one block.
inline unsigned grid_blocks(int64_t count, unsigned threads_per_block = kBlockThreads) {
  const int64_t blocks = (count + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGridBlocks ? kMaxGridBlocks : blocks));
}

// ---- indexing -----------------------------------------------------------------------------------

// The index of this thread in the grid, and the number of threads in the grid (the stride of a
// grid-stride loop).
__device__ __forceinline__ int64_t grid_thread_index() {
  return int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_thread_count() {
  return int64_t{gridDim.x} * blockDim.x;
}

// One warp per row: warp w of the grid takes rows w, w + W, w + 2W, ... (W warps in the grid),
// and lane l of the warp takes the columns l, l + 32, ... of each row.
struct WarpRows {
  int64_t first, stride;
  int lane;
};
__device__ __forceinline__ WarpRows warp_rows() {
  return WarpRows{grid_thread_index() / kWarpSize, grid_thread_count() / kWarpSize,
                  static_cast<int>(threadIdx.x % kWarpSize)};
}

// ---- map kernels ------------------------------------------------------------------------------

// The elementwise pattern: thread t of a grid of T threads calls op(i) for i = t, t + T, ...
// < count; op(i) reads its inputs at i and writes its output at i, so neighbouring threads
// touch neighbouring elements and a warp's accesses coalesce. No shared memory.
template <class Op>
__global__ void for_each_kernel(int64_t count, Op op) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) op(i);
}

template <class Op>
void for_each(int64_t count, Op op, cudaStream_t stream) {
  if (count <= 0) return;
  WEFT_LAUNCH(for_each_kernel<Op>, grid_blocks(count), kBlockThreads, 0, stream, count, op);
}

// ---- warp reductions ------------------------------------------------------------------------------
// Butterfly reductions: at step `offset` lane l adds the value of lane l ^ offset, so after five
// steps every lane of the warp holds the total (no broadcast needed afterwards).

template <class T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(kFullWarpMask, value, offset);
  }
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value = fmaxf(value, __shfl_xor_sync(kFullWarpMask, value, offset));
  }
  return value;
}

// ---- block reduction -----------------------------------------------------------------------------

// The sum of `value` over all threads of the block, returned to every thread.
// Shared memory: one partial sum per warp (32 slots, enough for 1024 threads).
// Each warp reduces its 32 values with shuffles; lane 0 stores the warp's sum; after a barrier
// every warp reduces the per-warp sums the same way (so all threads get the total without a
// second broadcast); a final barrier lets the slots be reused by the next call. Every thread of
// the block must call it (it contains __syncthreads()).
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[kWarpSize];
  const unsigned lane = threadIdx.x % kWarpSize;
  const unsigned warp = threadIdx.x / kWarpSize;
  const unsigned warps = blockDim.x / kWarpSize;
  value = warp_sum(value);
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  T total = lane < warps ? warp_sums[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
