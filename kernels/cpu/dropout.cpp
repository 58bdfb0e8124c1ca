// CPU reference for inverted dropout. Element i is kept when
// philox_uniform_at(seed, offset, i) >= p and then scaled by 1 / (1 - p), so the expected value
// of every output equals its input. The mask is never stored: backward draws it again.
//
// One Philox call yields the uniforms of four consecutive stream positions (word w of counter k
// belongs to position 4k + w), so the loops below walk counters, not elements, and use all four
// words of each call: the same numbers philox_uniform_at gives, for a quarter of the work.
#include "kernels/cpu/dropout.h"

#include <algorithm>
#include <cstdint>

#include "kernels/philox.h"

namespace weft::cpu {
namespace {

constexpr int64_t kParallelThreshold = 1 << 14;

// out[i] = keep(i) ? in[i] * scale : 0 for i < p.count.
void apply_mask(const DropoutParams& p, const float* in, float* out) {
  const int64_t count = p.count;
  if (count <= 0) return;
  if (p.p <= 0.0f) {  // every uniform is >= 0: all kept, scale 1
    if (in != out) std::copy(in, in + count, out);
    return;
  }
  if (p.p >= 1.0f) {  // every uniform is < 1: all dropped (and 1 / (1 - p) is never formed)
    std::fill(out, out + count, 0.0f);
    return;
  }
  const float scale = 1.0f / (1.0f - p.p);
  // Stream positions offset .. offset + count - 1 live in counters first .. last.
  const uint64_t first = p.offset / 4;
  const uint64_t last = (p.offset + static_cast<uint64_t>(count) - 1) / 4;
  const int64_t counters = static_cast<int64_t>(last - first) + 1;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t k = 0; k < counters; ++k) {
    const uint64_t counter = first + static_cast<uint64_t>(k);
    const Philox4x32 bits = philox4x32_10(counter, p.seed);
    for (int word = 0; word < 4; ++word) {
      const uint64_t position = counter * 4 + static_cast<uint64_t>(word);
      // The first and last counters may hold positions outside this tensor's stretch.
      if (position < p.offset || position - p.offset >= static_cast<uint64_t>(count)) continue;
      const int64_t i = static_cast<int64_t>(position - p.offset);
      out[i] = philox_uniform(bits.v[word]) >= p.p ? in[i] * scale : 0.0f;
    }
  }
}

}  // namespace

void dropout_forward(const DropoutParams& p, const float* x, float* y) { apply_mask(p, x, y); }

void dropout_backward(const DropoutParams& p, const float* dy, float* dx) { apply_mask(p, dy, dx); }

}  // namespace weft::cpu
