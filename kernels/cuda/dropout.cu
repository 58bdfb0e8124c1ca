// Hand-written CUDA kernel for inverted dropout (declared in dropout.h).
//
// One Philox-4x32-10 call yields the uniforms of four consecutive stream positions (word w of
// counter k belongs to position 4k + w), so the kernel gives each thread one counter, not one
// element: thread k of the grid (grid-stride over counters) computes philox4x32_10(first + k,
// seed) and handles the up to four elements whose positions offset + i fall in that counter;
// the first and last counters may hold positions outside this tensor's stretch, which are
// skipped. Each thread writes 4 neighbouring floats, so a warp writes 512 contiguous bytes. No
// shared memory, no state: the mask is a pure function of (seed, offset + i). In a captured
// graph the offset is the captured one plus a word read from device memory (offset_shift).
//
// Bit-exact agreement with the CPU reference: the same Philox words, the same float comparison
// `uniform >= p`, and the same product x * scale with scale = 1 / (1 - p) computed once on the
// host in float. p <= 0 keeps everything with scale 1 and p >= 1 drops everything, which is what
// the reference's copy and zero-fill special cases produce.
#include "kernels/cuda/dropout.h"

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/philox.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

__global__ void dropout_kernel(int64_t count, uint64_t seed, uint64_t base_offset,
                               const uint64_t* offset_shift, float p, float scale,
                               const float* in, float* out) {
  const uint64_t offset = base_offset + (offset_shift != nullptr ? *offset_shift : 0);
  const uint64_t first = offset / 4;
  const uint64_t last = (offset + static_cast<uint64_t>(count) - 1) / 4;
  const int64_t counters = static_cast<int64_t>(last - first) + 1;
  for (int64_t k = grid_thread_index(); k < counters; k += grid_thread_count()) {
    const uint64_t counter = first + static_cast<uint64_t>(k);
    const Philox4x32 bits = philox4x32_10(counter, seed);
    for (int word = 0; word < 4; ++word) {
      const uint64_t position = counter * 4 + static_cast<uint64_t>(word);
      if (position < offset || position - offset >= static_cast<uint64_t>(count)) continue;
      const int64_t i = static_cast<int64_t>(position - offset);
      out[i] = philox_uniform(bits.v[word]) >= p ? in[i] * scale : 0.0f;
    }
  }
}

void apply_mask(const DropoutParams& p, const float* in, float* out, cudaStream_t stream) {
  if (p.count <= 0) return;
  const float scale = p.p <= 0.0f ? 1.0f : (p.p >= 1.0f ? 0.0f : 1.0f / (1.0f - p.p));
  // With a graph's shift the offset is known only on the device: size the grid for the most
  // counters `count` positions can touch (any alignment); the threads past the end do nothing.
  const uint64_t first = p.offset / 4;
  const uint64_t last = (p.offset + static_cast<uint64_t>(p.count) - 1) / 4;
  const int64_t counters = p.offset_shift != nullptr ? (p.count + 3) / 4 + 1
                                                     : static_cast<int64_t>(last - first) + 1;
  WEFT_LAUNCH(dropout_kernel, grid_blocks(counters), kBlockThreads, 0, stream, p.count, p.seed,
              p.offset, p.offset_shift, p.p, scale, in, out);
}

}  // namespace

void dropout_forward(const DropoutParams& p, const float* x, float* y, cudaStream_t stream) {
  apply_mask(p, x, y, stream);
}

void dropout_backward(const DropoutParams& p, const float* dy, float* dx, cudaStream_t stream) {
  apply_mask(p, dy, dx, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
