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

// Philox-4x32-10 (kernels/philox.h) for kLanes consecutive counters at once, and the mask it
// gives applied to their 4 * kLanes elements. The arithmetic is philox4x32_10's, but each step
// is a loop over plain arrays of lanes, which the compiler turns into SIMD instructions (the
// 32x32 -> 64-bit multiplies become vpmuludq). The one-counter version stays scalar code.
// On x86-64, target_clones builds an AVX2 copy beside the baseline one and picks one at load
// time, so the binary still runs on any x86-64 CPU; elsewhere the baseline alone is built.
constexpr int kLanes = 8;

#if defined(__x86_64__) && defined(__GNUC__)
#define WEFT_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define WEFT_AVX2_CLONE
#endif

WEFT_AVX2_CLONE void mask_lanes(
    uint64_t first_counter, uint64_t seed, float drop, float scale, const float* in, float* out) {
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t counter = first_counter + static_cast<uint64_t>(l);
    c0[l] = static_cast<uint32_t>(counter);
    c1[l] = static_cast<uint32_t>(counter >> 32);
    c2[l] = 0;
    c3[l] = 0;
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t product0 = uint64_t{0xD2511F53u} * c0[l];
      const uint64_t product1 = uint64_t{0xCD9E8D57u} * c2[l];
      const uint32_t next0 = static_cast<uint32_t>(product1 >> 32) ^ c1[l] ^ k0;
      const uint32_t next2 = static_cast<uint32_t>(product0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<uint32_t>(product1);
      c3[l] = static_cast<uint32_t>(product0);
      c0[l] = next0;
      c2[l] = next2;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Element 4 * l + w takes word w of lane l. The scaled inputs are gathered into a local array
  // first, so that the last loop reads only locals (in and out may be the same buffer) and
  // compiles to SIMD compares and blends.
  float uniform[4 * kLanes], kept[4 * kLanes];
  for (int l = 0; l < kLanes; ++l) {
    uniform[4 * l + 0] = philox_uniform(c0[l]);
    uniform[4 * l + 1] = philox_uniform(c1[l]);
    uniform[4 * l + 2] = philox_uniform(c2[l]);
    uniform[4 * l + 3] = philox_uniform(c3[l]);
  }
  for (int i = 0; i < 4 * kLanes; ++i) kept[i] = in[i] * scale;
  for (int i = 0; i < 4 * kLanes; ++i) out[i] = uniform[i] >= drop ? kept[i] : 0.0f;
}

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
  // The inner counters go kLanes at a time; the few left over, like the edges, one by one.
  const int64_t groups = static_cast<int64_t>(inner_end - inner_begin) / kLanes;
  const uint64_t grouped_end = inner_begin + static_cast<uint64_t>(groups) * kLanes;
  const float* in_inner = in + (inner_begin * 4 - begin);
  float* out_inner = out + (inner_begin * 4 - begin);
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t g = 0; g < groups; ++g) {
    mask_lanes(inner_begin + static_cast<uint64_t>(g) * kLanes, p.seed, drop, scale,
               in_inner + g * kLanes * 4, out_inner + g * kLanes * 4);
  }
  for (uint64_t position = grouped_end * 4; position < end; ++position) one_position(position);
}

// The params with a graph's offset shift (DropoutParams::offset_shift) added in.
DropoutParams shifted(const DropoutParams& p) {
  DropoutParams q = p;
  if (q.offset_shift != nullptr) q.offset += *q.offset_shift;
  q.offset_shift = nullptr;
  return q;
}

}  // namespace

void dropout_forward(const DropoutParams& p, const float* x, float* y) {
  apply_mask(shifted(p), x, y);
}

void dropout_backward(const DropoutParams& p, const float* dy, float* dx) {
  apply_mask(shifted(p), dy, dx);
}

}  // namespace weft::cpu
