// Deterministic full reductions on the GPU: the sum of a tensor, and the machinery the losses use
// to turn per-element terms into one number written to a device buffer.
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

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
