// The conversions of bf16.h: common.h's elementwise pattern (for_each: one element per thread
// per grid-stride step, no shared memory) with the conversion as its op. These are plain
// streaming kernels (8 bytes moved per element converted down, 6 per element converted up);
// their cost beside a convolution is what keeping FP32 tensors costs the cuDNN BF16 path, and
// the kernel benchmark's vendor rows include it.
#include "kernels/cuda_vendor/bf16.h"

#include <cuda_bf16.h>

#include "kernels/cuda/common.h"

namespace weft::vendor {
namespace {

struct ToBf16 {
  const float* x;
  __nv_bfloat16* out;
  __device__ void operator()(int64_t i) const { out[i] = __float2bfloat16_rn(x[i]); }
};

struct FromBf16 {
  const __nv_bfloat16* x;
  float* out;
  __device__ void operator()(int64_t i) const { out[i] = __bfloat162float(x[i]); }
};

}  // namespace

void to_bf16(Context& ctx, const float* x, int64_t count, void* out) {
  cuda::for_each(count, ToBf16{x, static_cast<__nv_bfloat16*>(out)}, ctx.stream());
}

void from_bf16(Context& ctx, const void* x, int64_t count, float* out) {
  cuda::for_each(count, FromBf16{static_cast<const __nv_bfloat16*>(x), out}, ctx.stream());
}

}  // namespace weft::vendor
