// The conversions of bf16.h. One thread converts one element per grid-stride step; there is no
// shared memory. These are plain streaming kernels (8 bytes moved per element converted down, 6
// per element converted up); their cost beside a convolution is what keeping FP32 tensors costs
// the cuDNN BF16 path, and the kernel benchmark's vendor rows include it.
#include "kernels/cuda_vendor/bf16.h"

#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda_runtime/check.h"
#include "kernels/runtime_counters.h"

namespace weft::vendor {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    to_bf16_kernel(const float* __restrict__ x, int64_t count, __nv_bfloat16* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += step) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

__global__ void __launch_bounds__(kThreads)
    from_bf16_kernel(const __nv_bfloat16* __restrict__ x, int64_t count, float* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += step) {
    out[i] = __bfloat162float(x[i]);
  }
}

// Enough blocks to fill the card several times over, and no more than the elements need.
unsigned blocks_for(int64_t count) {
  const int64_t needed = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<int64_t>(needed, 4096));
}

}  // namespace

void to_bf16(Context& ctx, const float* x, int64_t count, void* out) {
  if (count <= 0) return;
  count::launch("to_bf16_kernel");
  to_bf16_kernel<<<blocks_for(count), kThreads, 0, ctx.stream()>>>(
      x, count, static_cast<__nv_bfloat16*>(out));
  WEFT_CUDA_CHECK(cudaGetLastError());
}

void from_bf16(Context& ctx, const void* x, int64_t count, float* out) {
  if (count <= 0) return;
  count::launch("from_bf16_kernel");
  from_bf16_kernel<<<blocks_for(count), kThreads, 0, ctx.stream()>>>(
      static_cast<const __nv_bfloat16*>(x), count, out);
  WEFT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace weft::vendor
