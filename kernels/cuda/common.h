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

#include <atomic>
#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

// Asks nvcc to unroll the loop that follows (loops over a per-thread array must be fully unrolled
// for the array to live in registers: the micro-tiles of tiled_product.h, batch norm's resident
// values); the host compiler has no such pragma and needs none.
// WEFT_NO_UNROLL keeps the loop that follows a loop, where unrolling would only duplicate a large
// body (and its registers' live ranges) without making any array register-resident.
#if defined(__CUDACC__)
#define WEFT_UNROLL _Pragma("unroll")
#define WEFT_NO_UNROLL _Pragma("unroll 1")
#else
#define WEFT_UNROLL
#define WEFT_NO_UNROLL
#endif

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
  return static_cast<unsigned>(blocks < 1 ? 1
                                          : (blocks > kMaxGridBlocks ? kMaxGridBlocks : blocks));
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

// ---- division by a divisor fixed at launch ---------------------------------------------------
// An integer division by a value only known at run time is a long instruction sequence on a GPU
// (about 20 instructions for 32 bits, several times that for 64), and a memory-bound kernel that
// divides per element to find its channel or row spends more time dividing than moving data.
// FastDivmod divides by d with one multiply-high, an add and a shift (Granlund and Montgomery's
// round-up method): with l = ceil(log2 d) and m = floor(2^32 (2^l - d) / d) + 1, computed once on
// the host,
//   n / d = (umulhi(n, m) + n) >> l       for every 0 <= n < 2^31
// (the sum stays below 2^32 because n < 2^31 and umulhi(n, m) < n). Kernels use it when every
// index they divide is below 2^31 and keep plain 64-bit division otherwise.
struct FastDivmod {
  uint32_t divisor = 1, multiplier = 1, shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(uint32_t d) : divisor(d < 1 ? 1 : d) {
    while ((uint64_t{1} << shift) < divisor) ++shift;
    multiplier = static_cast<uint32_t>(
        ((uint64_t{1} << 32) * ((uint64_t{1} << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return (__umulhi(n, multiplier) + n) >> shift;
  }
  __device__ __forceinline__ uint32_t mod(uint32_t n) const { return n - div(n) * divisor; }
};

// Whether every index below `count` may go through FastDivmod.
inline bool fits_fast_divmod(int64_t count) {
  return count <= (int64_t{1} << 31);
}

// Element i of a row-major [planes, rows, cols] array as (plane, row, col): GridFast with two
// FastDivmods (every index below 2^31), GridWide with 64-bit division (larger arrays). A kernel
// is instantiated with both; with_grid picks one for the launch. (Batch norm's [N, C, S] is
// planes N, rows C, cols S: an element's channel is its row.)
struct Cell {
  int64_t plane;
  int row, col;
};
struct GridFast {
  FastDivmod cols, rows;
  __device__ __forceinline__ Cell operator()(int64_t i) const {
    const uint32_t index = static_cast<uint32_t>(i);
    const uint32_t line = cols.div(index);  // plane * rows + row
    const uint32_t plane = rows.div(line);
    return Cell{plane, static_cast<int>(line - plane * rows.divisor),
                static_cast<int>(index - line * cols.divisor)};
  }
};
struct GridWide {
  int cols, rows;
  __device__ __forceinline__ Cell operator()(int64_t i) const {
    return Cell{i / (int64_t{cols} * rows), static_cast<int>(i / cols % rows),
                static_cast<int>(i % cols)};
  }
};

// Calls launch(grid) with the grid of a [planes, rows, cols] array of `count` elements.
template <class Launch>
void with_grid(int64_t count, int cols, int rows, Launch&& launch) {
  if (fits_fast_divmod(count)) {
    launch(GridFast{FastDivmod(static_cast<uint32_t>(cols)),
                    FastDivmod(static_cast<uint32_t>(rows))});
  } else {
    launch(GridWide{cols, rows});
  }
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

// ---- grids sized to the card, and 16-byte vector access ------------------------------------
// The memory-bound kernels (elementwise.cu, dropout.cu, pool.cu) launch a grid of a few waves:
// at most kGridWaves x (the SM count) x (the blocks of kBlockThreads one SM holds at full
// occupancy, 2048 / 256 = 8), fewer when the work is smaller, and loop grid-stride over the
// rest, so each thread handles several items and no block starts only to find nothing to do.
constexpr int kGridWaves = 4;
constexpr int kBlocksPerSm = 2048 / kBlockThreads;

#if defined(__CUDACC__)
// The SM count of the current device (the launchers run with their device current), read once
// per device from cudaDevAttrMultiProcessorCount; 132 (an H100/H200) if it cannot be read.
inline int sm_count() {
  constexpr int kMaxDevices = 64, kFallback = 132;
  static std::atomic<int> cached[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) {
    return kFallback;
  }
  int count = cached[device].load(std::memory_order_relaxed);
  if (count == 0) {
    if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        count <= 0) {
      count = kFallback;
    }
    cached[device].store(count, std::memory_order_relaxed);
  }
  return count;
}
#else
// Under emulation there is no card. Two SMs keep the grids small (fewer fibers to run) and make
// the grid-stride loops turn at sizes the tests can afford (64 blocks of 256 threads).
inline int sm_count() {
  return 2;
}
#endif

// Blocks for `items` work items of one thread each, at most kGridWaves waves of the card.
inline unsigned card_grid_blocks(int64_t items) {
  const int64_t needed = (items + kBlockThreads - 1) / kBlockThreads;
  const int64_t cap = int64_t{kGridWaves} * kBlocksPerSm * sm_count();
  return static_cast<unsigned>(needed < 1 ? 1 : (needed > cap ? cap : needed));
}

// Whether p may be read or written as float4 (16-byte aligned).
__host__ __device__ __forceinline__ bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Elements 4 * quad .. 4 * quad + 3 of base as one 16-byte access (the emulation checks the
// alignment a GPU requires).
__device__ __forceinline__ float4 load4(const float* base, int64_t quad) {
#if !defined(__CUDACC__)
  ::weft::emu::check_vector_access(base + 4 * quad, sizeof(float4));
#endif
  return reinterpret_cast<const float4*>(base)[quad];
}
// Elements 2 * pair and 2 * pair + 1 of base as one 8-byte access.
__device__ __forceinline__ float2 load2(const float* base, int64_t pair) {
#if !defined(__CUDACC__)
  ::weft::emu::check_vector_access(base + 2 * pair, sizeof(float2));
#endif
  return reinterpret_cast<const float2*>(base)[pair];
}
__device__ __forceinline__ void store4(float* base, int64_t quad, float4 v) {
#if !defined(__CUDACC__)
  ::weft::emu::check_vector_access(base + 4 * quad, sizeof(float4));
#endif
  reinterpret_cast<float4*>(base)[quad] = v;
}

// The vectorised elementwise pattern. Op has op(i) for element i and op.quad(q) for elements
// 4q .. 4q + 3 with float4 loads and stores. Thread t of a grid of T threads calls op.quad(q)
// for q = t, t + T, ... < count / 4 (a warp moves 512 contiguous bytes per access), then
// op(i) for the count % 4 elements of the tail, one thread each. No shared memory.
template <class Op>
__global__ void for_each_quad_kernel(int64_t count, Op op) {
  const int64_t quads = count / 4;
  for (int64_t q = grid_thread_index(); q < quads; q += grid_thread_count()) op.quad(q);
  const int64_t tail = quads * 4 + grid_thread_index();
  if (tail < count) op(tail);
}

// Runs op over [0, count): with float4 accesses when every pointer the op touches is 16-byte
// aligned (`aligned`), else one element per step (for_each_kernel); either way on a grid of a
// few waves of the card (card_grid_blocks).
template <class Op>
void for_each_vectorised(int64_t count, Op op, bool aligned, cudaStream_t stream) {
  if (count <= 0) return;
  if (aligned) {
    WEFT_LAUNCH(for_each_quad_kernel<Op>, card_grid_blocks((count + 3) / 4), kBlockThreads, 0,
                stream, count, op);
  } else {
    WEFT_LAUNCH(for_each_kernel<Op>, card_grid_blocks(count), kBlockThreads, 0, stream, count, op);
  }
}

// ---- per-channel maps over [outer, channels, inner] ------------------------------------------
// An elementwise pass whose op also needs each element's channel c = (i / inner) % channels
// (batch norm's normalisation and input gradient over [N, C, S]; bias.cu's bias and activation
// over NCHW or the rows of a linear layer). The channel comes from the grid of with_grid (two
// FastDivmods below 2^31 elements) as the row of a [outer, channels, inner] array.
// channel_map_kernel: thread t of a grid of T threads calls op(i, channel of i) for i = t,
//   t + T, ... < count.
// channel_quads_kernel: the same over quads of four consecutive elements, op.quad(q, channel of
//   4q) with float4 loads and stores: for callers whose quads the op can place (the caller says
//   so: `quads`, with count a multiple of 4 and every array the op touches per element 16-byte
//   aligned). The channel is found once per quad.
// Both on a grid of a few waves of the card (card_grid_blocks); no shared memory.
template <class Grid, class Op>
__global__ void channel_map_kernel(int64_t count, Grid grid, Op op) {
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) op(i, grid(i).row);
}

template <class Grid, class Op>
__global__ void channel_quads_kernel(int64_t quads, Grid grid, Op op) {
  for (int64_t q = grid_thread_index(); q < quads; q += grid_thread_count()) {
    op.quad(q, grid(4 * q).row);
  }
}

// Runs op over the count = outer * channels * inner elements, by quads where `quads`.
template <class Op>
void channel_pass(int64_t count, int channels, int inner, bool quads, const Op& op,
                  cudaStream_t stream) {
  with_grid(count, inner, channels, [&](auto grid) {
    using Grid = decltype(grid);
    if (quads) {
      WEFT_LAUNCH((channel_quads_kernel<Grid, Op>), card_grid_blocks(count / 4), kBlockThreads, 0,
                  stream, count / 4, grid, op);
    } else {
      WEFT_LAUNCH((channel_map_kernel<Grid, Op>), card_grid_blocks(count), kBlockThreads, 0,
                  stream, count, grid, op);
    }
  });
}

// ---- warp reductions ---------------------------------------------------------------------------
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

// ---- block reduction ---------------------------------------------------------------------------

// The sum of `value` over all threads of the block, returned to every thread.
// Shared memory: one partial sum per warp (32 slots, enough for 1024 threads).
// Each warp reduces its 32 values with shuffles; lane 0 stores the warp's sum; after a barrier
// every warp reduces the per-warp sums the same way (so all threads get the total without a
// second broadcast); a final barrier lets the slots be reused by the next call. Every thread of
// the block must call it (it contains __syncthreads()).
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[kWarpSize];
  WEFT_SHARED_UNDEFINED(warp_sums);
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
