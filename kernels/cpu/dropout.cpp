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
  const float drop = p.p;
  // Stream positions offset .. offset + count - 1 live in Philox counters first .. last; the
  // counters whose four positions all lie inside the stretch (inner_begin .. inner_end - 1)
  // need no bounds checks.
  const uint64_t begin = p.offset, end = p.offset + static_cast<uint64_t>(count);
  const uint64_t inner_begin = (begin + 3) / 4, inner_end = end / 4;
  auto one_position = [&](uint64_t position) {
    const Philox4x32 bits = philox4x32_10(position / 4, p.seed);
    const int64_t i = static_cast<int64_t>(position - begin);
    out[i] = philox_uniform(bits.v[position % 4]) >= drop ? in[i] * scale : 0.0f;
  };
  if (inner_begin >= inner_end) {  // a short stretch within one or two counters
    for (uint64_t position = begin; position < end; ++position) one_position(position);
    return;
  }
  for (uint64_t position = begin; position < inner_begin * 4; ++position) one_position(position);
  const int64_t inner = static_cast<int64_t>(inner_end - inner_begin);
  const float* in_inner = in + (inner_begin * 4 - begin);
  float* out_inner = out + (inner_begin * 4 - begin);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t k = 0; k < inner; ++k) {
    const Philox4x32 bits = philox4x32_10(inner_begin + static_cast<uint64_t>(k), p.seed);
    for (int word = 0; word < 4; ++word) {
      const int64_t i = 4 * k + word;
      out_inner[i] = philox_uniform(bits.v[word]) >= drop ? in_inner[i] * scale : 0.0f;
    }
  }
  for (uint64_t position = inner_end * 4; position < end; ++position) one_position(position);
}

}  // namespace

void dropout_forward(const DropoutParams& p, const float* x, float* y) { apply_mask(p, x, y); }

void dropout_backward(const DropoutParams& p, const float* dy, float* dx) { apply_mask(p, dy, dx); }

}  // namespace weft::cpu
