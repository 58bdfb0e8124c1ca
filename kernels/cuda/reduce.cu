// Deterministic reductions (see reduce.h for the two-pass scheme): the second pass, the plain sum
// of a tensor built on the first, and the split-K products' slice sums.
#include "kernels/cuda/reduce.h"

#include "kernels/cuda/launch.h"
#include "kernels/cuda/tiled_product.h"  // SumSlices

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

// See reduce.h, sum_slices. Block: 8 rows x 32 lanes; shared memory: each row's sums of the
// block's 32 elements (padded to 33 floats a row), for row 0 to add in order.
constexpr int kSliceRows = 8;
constexpr int kSliceLanes = 32;
static_assert(kSliceRows * kSliceLanes == kBlockThreads, "one block of kBlockThreads threads");

__global__ void slice_sums_kernel(int slices, int64_t count, const float* partials, float* out) {
  __shared__ float sums[kSliceRows][kSliceLanes + 1];
  WEFT_SHARED_UNDEFINED(sums);
  const int lane = static_cast<int>(threadIdx.x) % kSliceLanes;
  const int row = static_cast<int>(threadIdx.x) / kSliceLanes;
  const int64_t groups = (count + kSliceLanes - 1) / kSliceLanes;
  for (int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
    const int64_t i = group * kSliceLanes + lane;
    float total = 0.0f;
    if (i < count) {
      for (int z = row; z < slices; z += kSliceRows) total += partials[z * count + i];
    }
    sums[row][lane] = total;
    __syncthreads();
    if (row == 0 && i < count) {
      float all = sums[0][lane];
      WEFT_UNROLL
      for (int r = 1; r < kSliceRows; ++r) all += sums[r][lane];
      out[i] = all;
    }
    __syncthreads();  // sums is rewritten by the next group
  }
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

void sum_slices(int slices, int64_t count, const float* partials, float* out,
                cudaStream_t stream) {
  if (count <= 0) return;
  if (slices < kSliceRowsFrom) {
    for_each(count, SumSlices{slices, count, partials, out}, stream);
    return;
  }
  // A block per group of 32 elements, at most kGridWaves waves of the card (grid-stride beyond).
  const int64_t groups = (count + kSliceLanes - 1) / kSliceLanes;
  const int64_t cap = int64_t{kGridWaves} * kBlocksPerSm * sm_count();
  const auto blocks = static_cast<unsigned>(groups < cap ? groups : cap);
  WEFT_LAUNCH(slice_sums_kernel, blocks, kBlockThreads, 0, stream, slices, count, partials, out);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
