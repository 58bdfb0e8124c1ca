// Deterministic reductions on the GPU: the sum of a tensor, the machinery the losses use to turn
// per-element terms into one number written to a device buffer, and the second pass of the
// split-K products (sum_slices, at the end).
//
// Two passes, no atomics, so the result is the same on every run:
//   pass 1  partial_sums_kernel: grid of B <= kMaxPartials blocks of kBlockThreads threads.
//           Thread t of the grid adds term(i) for i = t, t + T, t + 2T, ... (T threads in the
//           grid) in a register; each block sums its threads' values with block_sum (shuffles
//           within warps, one shared-memory slot per warp) and thread 0 writes partials[block].
//   pass 2  finish_partial_sums: one block of kBlockThreads threads; thread t adds partials
//           t, t + 256, ... in double, block_sum gives the total, thread 0 writes
//           out[0] = total / divisor (or total / the sum of a second set of partials, for the
//           weighted mean of cross-entropy).
// The caller provides `scratch` of kReduceScratchFloats floats of device memory for the partials.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

constexpr int kMaxPartials = 1024;
constexpr int64_t kReduceScratchFloats = 2 * kMaxPartials;

// Blocks of the first pass over `count` items: each thread gets at least 4 items before another
// block is added, at most kMaxPartials blocks.
inline unsigned partial_sum_blocks(int64_t count) {
  const int64_t per_block = int64_t{kBlockThreads} * 4;
  const int64_t blocks = (count + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxPartials ? kMaxPartials : blocks));
}

// Pass 1 for partials[blockIdx.x] = sum of term(i) over the items of this block's threads.
// `Term` is a small struct with `__device__ float operator()(int64_t i) const`.
template <class Term>
__global__ void partial_sums_kernel(int64_t count, Term term, float* partials) {
  float sum = 0.0f;
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) sum += term(i);
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// Pass 2: out[0] = sum(partials[0..count)) / (denominators ? sum(denominators[0..count))
// : divisor). Accumulates in double.
void finish_partial_sums(const float* partials, int count, const float* denominators,
                         double divisor, float* out, cudaStream_t stream);

// out[0] = sum of x[0..count), deterministic. count 0 gives 0.
void sum(int64_t count, const float* x, float* out, float* scratch, cudaStream_t stream);

// The second pass of a split-K product: out[i] = the sum over z of partials[z * count + i], for
// i < count, in a fixed order (deterministic, no atomics). Two kernels, by the number of slices:
//   below kSliceRowsFrom slices  SumSlices (tiled_product.h) by for_each: one thread per element
//                                adds slices 0, 1, 2, ... in order (count threads, each reading
//                                `slices` values: fine while the slices are few);
//   from kSliceRowsFrom slices   slice_sums_kernel: a block of 256 threads per 32 consecutive
//                                elements (grid-stride over such groups), as 8 rows of 32 lanes:
//                                row r, lane l adds slices r, r + 8, r + 16, ... of element
//                                32 g + l in order (each row's loads are 32 consecutive floats of
//                                one slice: coalesced), writes its sum to shared memory
//                                (sums[8][33]), and row 0 adds the 8 rows in order 0..7. A split
//                                into hundreds of slices of a small output (a first layer's
//                                backward-filter: 64 x 9 weights) so has 8 x 32 loads in flight
//                                per block instead of one chain of hundreds per thread.
constexpr int kSliceRowsFrom = 16;
void sum_slices(int slices, int64_t count, const float* partials, float* out,
                cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
