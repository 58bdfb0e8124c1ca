// Deterministic full reductions (see reduce.h for the two-pass scheme): the second pass, and the
// plain sum of a tensor built on the first.
#include "kernels/cuda/reduce.h"

#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// One block. Thread t adds partials t, t + blockDim.x, ... (and the same denominators) in
// double; block_sum combines the threads; thread 0 writes the quotient.
// Shared memory: block_sum's 32 per-warp slots (one use per sum).
__global__ void finish_partial_sums_kernel(const float* partials, int count,
                                           const float* denominators, double divisor,
                                           float* out) {
  double numerator = 0.0, denominator = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) {
    numerator += partials[i];
    if (denominators != nullptr) denominator += denominators[i];
  }
  numerator = block_sum(numerator);
  if (denominators != nullptr) {
    denominator = block_sum(denominator);
  } else {
    denominator = divisor;
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(numerator / denominator);
}

struct Identity {
  const float* x;
  __device__ float operator()(int64_t i) const { return x[i]; }
};

}  // namespace

void finish_partial_sums(const float* partials, int count, const float* denominators,
                         double divisor, float* out, cudaStream_t stream) {
  WEFT_LAUNCH(finish_partial_sums_kernel, 1, kBlockThreads, 0, stream, partials, count,
              denominators, divisor, out);
}

void sum(int64_t count, const float* x, float* out, float* scratch, cudaStream_t stream) {
  const unsigned blocks = partial_sum_blocks(count);
  WEFT_LAUNCH(partial_sums_kernel<Identity>, blocks, kBlockThreads, 0, stream, count,
              Identity{x}, scratch);
  finish_partial_sums(scratch, static_cast<int>(blocks), nullptr, 1.0, out, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
