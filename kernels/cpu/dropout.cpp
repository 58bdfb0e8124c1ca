// CPU reference for inverted dropout, alone and after an activation. Element i is kept when
// philox_uniform_at(seed, offset, i) >= p and then scaled by 1 / (1 - p), so the expected value
// of every output equals its input. The mask is never stored: backward draws it again.
// activation_dropout applies relu / leaky_relu to x before the mask in the same loop, and its
// backward multiplies the masked, scaled dy by the activation's derivative at x: the same
// floats, in the same order, as activation_forward then dropout_forward (and dropout_backward
// then activation_backward).
//
// One Philox call yields the uniforms of four consecutive stream positions (word w of counter k
// belongs to position 4k + w), so the loops below walk counters, not elements, and use all four
// words of each call: the same numbers philox_uniform_at gives, for a quarter of the work.
#include "kernels/cpu/dropout.h"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 reports its own AVX-512 shift and multiply intrinsics as reading an uninitialised
// value (the `_mm512_undefined_epi32()` they pass as the unused merge source, a known GCC 12 false
// positive), at their lines in this header: those lines alone are exempt.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "kernels/error.h"
#include "kernels/philox.h"

namespace weft::cpu {
namespace {

// Philox-4x32-10 (kernels/philox.h) for kLanes consecutive counters at once, and the mask it
// gives applied to their 4 * kLanes elements. The arithmetic is philox4x32_10's, lane by lane:
// philox_lanes_generic as loops over plain arrays of lanes that the compiler turns into SIMD
// instructions, philox_lanes_avx2 in AVX2 intrinsics where the CPU has AVX2 (2.5x faster on a
// 2-core AMD EPYC: the compiler's version spent its time in cross-lane permutes). The
// one-counter version stays scalar code. On x86-64, target_clones builds an AVX2 copy of the
// masking beside the baseline one and picks one at load time, so the binary still runs on any
// x86-64 CPU; elsewhere the baseline alone is built. Where the CPU has AVX-512,
// mask_lanes_avx512 (below) takes sixteen counters at a time instead, Philox and mask in one.
constexpr int kLanes = 8;

#if defined(__x86_64__) && defined(__GNUC__)
#define WEFT_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define WEFT_AVX2_CLONE
#endif

// What a kept element becomes (a dropped one is 0), with scale = 1 / (1 - p):
//   scaled      in * scale                              dropout forward and backward
//   activated   act(in) * scale                         activation_dropout forward
//   gated       act'(gate) times in * scale             activation_dropout backward (gate: x)
struct MaskMap {
  enum class Kind : uint8_t { scaled, activated, gated };
  Kind kind = Kind::scaled;
  FusedActivation act;
  const float* gate = nullptr;  // gated: indexed as the input

  float kept(const float* in, int64_t i, float scale) const {
    switch (kind) {
      case Kind::scaled:
        break;
      case Kind::activated:
        return act.apply(in[i]) * scale;
      case Kind::gated:
        return act.gradient_at_input(gate[i], in[i] * scale);
    }
    return in[i] * scale;
  }
};

// out[i] = uniform[i] >= drop ? what `map` keeps of element i : 0, for i < kCount. The kept
// values are gathered into a local array first, so that the last loop reads only locals (in and
// out may be the same buffer) and compiles to SIMD compares and blends; one loop per map, so
// that each stays a plain SIMD loop. Shared by mask_lanes and mask_lanes_avx512.
template <int kCount>
[[gnu::always_inline]] inline void mask_elements(const MaskMap& map, float drop, float scale,
                                                 const float* uniform, const float* in,
                                                 const float* gate, float* out) {
  float kept[kCount];
  switch (map.kind) {
    case MaskMap::Kind::scaled:
      for (int i = 0; i < kCount; ++i) kept[i] = in[i] * scale;
      break;
    case MaskMap::Kind::activated:
      for (int i = 0; i < kCount; ++i) kept[i] = map.act.apply(in[i]) * scale;
      break;
    case MaskMap::Kind::gated:
      for (int i = 0; i < kCount; ++i) kept[i] = map.act.gradient_at_input(gate[i], in[i] * scale);
      break;
  }
  for (int i = 0; i < kCount; ++i) out[i] = uniform[i] >= drop ? kept[i] : 0.0f;
}

// The four words of philox4x32_10(first_counter + l, seed) for each lane l < kLanes, in
// words[w][l]: each step a loop over plain arrays of lanes (the compiler vectorises it, with
// cross-lane permutes around its 32 x 32 -> 64-bit multiplies).
void philox_lanes_generic(uint64_t first_counter, uint64_t seed, uint32_t (&words)[4][kLanes]) {
  uint32_t(&c0)[kLanes] = words[0];
  uint32_t(&c1)[kLanes] = words[1];
  uint32_t(&c2)[kLanes] = words[2];
  uint32_t(&c3)[kLanes] = words[3];
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
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same with AVX2 intrinsics, 8 lanes per register. A 32 x 32 -> 64-bit product of all 8
// lanes is two vpmuludq (the even lanes as they are, the odd ones shifted down) and two blends
// that put the high and the low words back in their lanes: no cross-lane permute. The same
// words, bit for bit (the op table and the dropout tests compare them with the scalar Philox).
__attribute__((target("avx2"))) void philox_lanes_avx2(uint64_t first_counter, uint64_t seed,
                                                       uint32_t (&words)[4][kLanes]) {
  static_assert(kLanes == 8, "one AVX2 register per word");
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t counter = first_counter + static_cast<uint64_t>(l);
    words[0][l] = static_cast<uint32_t>(counter);
    words[1][l] = static_cast<uint32_t>(counter >> 32);
  }
  __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words[0]));
  __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words[1]));
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    // product0 = M0 * c0 and product1 = M1 * c2, lane by lane: the even lanes' 64-bit
    // products, then the odd lanes' (shifted down first), blended back into high and low words.
    const __m256i even0 = _mm256_mul_epu32(c0, m0);
    const __m256i odd0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
    const __m256i even1 = _mm256_mul_epu32(c2, m1);
    const __m256i odd1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
    const __m256i lo0 = _mm256_blend_epi32(even0, _mm256_slli_epi64(odd0, 32), 0xAA);
    const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(even0, 32), odd0, 0xAA);
    const __m256i lo1 = _mm256_blend_epi32(even1, _mm256_slli_epi64(odd1, 32), 0xAA);
    const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(even1, 32), odd1, 0xAA);
    const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i key1 = _mm256_set1_epi32(static_cast<int>(k1));
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), key0);
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), key1);
    c1 = lo1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words[0]), c0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words[1]), c1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words[2]), c2);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words[3]), c3);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
// Where the CPU has AVX-512: sixteen counters per register, and the mask applied in the same
// function (64 elements, element 4 l + w taking word w of counter first_counter + l). Philox's
// rounds are the AVX2 version's on 16 lanes (the blends by mask register). The four words of a
// counter sit in four registers, lane l; the elements want them side by side, so they are
// transposed: 32-bit and 64-bit unpacks put counter 4q + r's four words in 128-bit lane q of
// register r, and two rounds of 128-bit shuffles gather lane j of the four registers, the
// counters 4j .. 4j + 3, into the register of elements 16j .. 16j + 15. The uniforms are
// philox_uniform's ((bits >> 8) * 2^-24, exact), compared as `>= drop`, and a kept element of
// the plain map is in * scale by one multiply with the dropped lanes zeroed: the same floats as
// mask_lanes, bit for bit (the dropout tests compare every element with philox_uniform_at).
// The activation maps take mask_elements' loops on the 64 uniforms, as mask_lanes does. On
// the Fashion CNN's dropout (5.5 million values, Xeon family 6 model 207) Philox and the masking
// were a fifth of the CPU training step with 8 lanes.
constexpr int kWideCounters = 16;

__attribute__((target("avx512f"))) void mask_lanes_avx512(uint64_t first_counter, uint64_t seed,
                                                          float drop, float scale,
                                                          const MaskMap& map, const float* in,
                                                          const float* gate, float* out) {
  alignas(64) uint32_t low[kWideCounters], high[kWideCounters];
  for (int l = 0; l < kWideCounters; ++l) {
    const uint64_t counter = first_counter + static_cast<uint64_t>(l);
    low[l] = static_cast<uint32_t>(counter);
    high[l] = static_cast<uint32_t>(counter >> 32);
  }
  __m512i c0 = _mm512_load_si512(low), c1 = _mm512_load_si512(high);
  __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  constexpr __mmask16 kOdd = 0xAAAA;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m512i even0 = _mm512_mul_epu32(c0, m0);
    const __m512i odd0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
    const __m512i even1 = _mm512_mul_epu32(c2, m1);
    const __m512i odd1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
    const __m512i lo0 = _mm512_mask_blend_epi32(kOdd, even0, _mm512_slli_epi64(odd0, 32));
    const __m512i hi0 = _mm512_mask_blend_epi32(kOdd, _mm512_srli_epi64(even0, 32), odd0);
    const __m512i lo1 = _mm512_mask_blend_epi32(kOdd, even1, _mm512_slli_epi64(odd1, 32));
    const __m512i hi1 = _mm512_mask_blend_epi32(kOdd, _mm512_srli_epi64(even1, 32), odd1);
    c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(k0)));
    c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(k1)));
    c1 = lo1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Register r: counter 4q + r's words 0-3 in 128-bit lane q.
  const __m512i low01 = _mm512_unpacklo_epi32(c0, c1), high01 = _mm512_unpackhi_epi32(c0, c1);
  const __m512i low23 = _mm512_unpacklo_epi32(c2, c3), high23 = _mm512_unpackhi_epi32(c2, c3);
  const __m512i by_counter[4] = {
      _mm512_unpacklo_epi64(low01, low23), _mm512_unpackhi_epi64(low01, low23),
      _mm512_unpacklo_epi64(high01, high23), _mm512_unpackhi_epi64(high01, high23)};
  // Lanes 0-1 and 2-3 of registers 0-1 and 2-3, then lane j of each register side by side.
  const __m512i front01 = _mm512_shuffle_i32x4(by_counter[0], by_counter[1], 0x44);
  const __m512i front23 = _mm512_shuffle_i32x4(by_counter[2], by_counter[3], 0x44);
  const __m512i back01 = _mm512_shuffle_i32x4(by_counter[0], by_counter[1], 0xEE);
  const __m512i back23 = _mm512_shuffle_i32x4(by_counter[2], by_counter[3], 0xEE);
  const __m512i words[4] = {_mm512_shuffle_i32x4(front01, front23, 0x88),
                            _mm512_shuffle_i32x4(front01, front23, 0xDD),
                            _mm512_shuffle_i32x4(back01, back23, 0x88),
                            _mm512_shuffle_i32x4(back01, back23, 0xDD)};
  const __m512 unit = _mm512_set1_ps(1.0f / 16777216.0f), drop_v = _mm512_set1_ps(drop);
  __m512 uniform[4];
  for (int j = 0; j < 4; ++j) {
    uniform[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(words[j], 8)), unit);
  }
  if (map.kind == MaskMap::Kind::scaled) {
    const __m512 scale_v = _mm512_set1_ps(scale);
    for (int j = 0; j < 4; ++j) {
      const __mmask16 keep = _mm512_cmp_ps_mask(uniform[j], drop_v, _CMP_GE_OQ);
      const __m512 x = _mm512_loadu_ps(in + 16 * j);
      _mm512_storeu_ps(out + 16 * j, _mm512_maskz_mul_ps(keep, x, scale_v));
    }
    return;
  }
  alignas(64) float u[4 * kWideCounters];
  for (int j = 0; j < 4; ++j) _mm512_store_ps(u + 16 * j, uniform[j]);
  mask_elements<4 * kWideCounters>(map, drop, scale, u, in, gate, out);
}

bool has_avx512() {
  static const bool available = __builtin_cpu_supports("avx512f");
  return available;
}
#endif

using PhiloxLanes = void (*)(uint64_t, uint64_t, uint32_t (&)[4][kLanes]);

bool has_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool available = __builtin_cpu_supports("avx2");
  return available;
#else
  return false;
#endif
}

// The AVX2 version where the CPU has AVX2 (asked once), else the generic one.
PhiloxLanes philox_lanes() {
#if defined(__x86_64__) && defined(__GNUC__)
  return has_avx2() ? philox_lanes_avx2 : philox_lanes_generic;
#else
  return philox_lanes_generic;
#endif
}

WEFT_AVX2_CLONE void mask_lanes(uint64_t first_counter, uint64_t seed, float drop, float scale,
                                const MaskMap& map, const float* in, const float* gate,
                                float* out) {
  uint32_t words[4][kLanes];
  philox_lanes()(first_counter, seed, words);
  const uint32_t(&c0)[kLanes] = words[0];
  const uint32_t(&c1)[kLanes] = words[1];
  const uint32_t(&c2)[kLanes] = words[2];
  const uint32_t(&c3)[kLanes] = words[3];
  // Element 4 * l + w takes word w of lane l.
  float uniform[4 * kLanes];
  for (int l = 0; l < kLanes; ++l) {
    uniform[4 * l + 0] = philox_uniform(c0[l]);
    uniform[4 * l + 1] = philox_uniform(c1[l]);
    uniform[4 * l + 2] = philox_uniform(c2[l]);
    uniform[4 * l + 3] = philox_uniform(c3[l]);
  }
  mask_elements<4 * kLanes>(map, drop, scale, uniform, in, gate, out);
}

constexpr int64_t kParallelThreshold = 1 << 14;

// out[i] = keep(i) ? map.kept(in, i, scale) : 0 for i < p.count.
void apply_mask(const DropoutParams& p, const MaskMap& map, const float* in, float* out) {
  const int64_t count = p.count;
  if (count <= 0) return;
  if (p.p <= 0.0f) {  // every uniform is >= 0: all kept, scale 1
    if (map.kind == MaskMap::Kind::scaled) {
      if (in != out) std::copy(in, in + count, out);
      return;
    }
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
    for (int64_t i = 0; i < count; ++i) out[i] = map.kept(in, i, 1.0f);
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
    out[i] = philox_uniform(bits.v[position % 4]) >= drop ? map.kept(in, i, scale) : 0.0f;
  };
  if (inner_begin >= inner_end) {  // a short stretch within one or two counters
    for (uint64_t position = begin; position < end; ++position) one_position(position);
    return;
  }
  for (uint64_t position = begin; position < inner_begin * 4; ++position) one_position(position);
  // The inner counters go a group at a time (16 counters with AVX-512, else kLanes); the few
  // left over, like the edges, one by one.
#if defined(__x86_64__) && defined(__GNUC__)
  const bool wide = has_avx512();
#else
  const bool wide = false;
#endif
  const int group = wide ? 16 : kLanes;
  const int64_t groups = static_cast<int64_t>(inner_end - inner_begin) / group;
  const uint64_t grouped_end = inner_begin + static_cast<uint64_t>(groups * group);
  const uint64_t skipped = inner_begin * 4 - begin;
  const float* in_inner = in + skipped;
  const float* gate_inner = map.gate != nullptr ? map.gate + skipped : nullptr;
  float* out_inner = out + skipped;
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t first = g * group * 4;
    const uint64_t counter = inner_begin + static_cast<uint64_t>(g * group);
    const float* gate_first = gate_inner != nullptr ? gate_inner + first : nullptr;
#if defined(__x86_64__) && defined(__GNUC__)
    if (wide) {
      mask_lanes_avx512(counter, p.seed, drop, scale, map, in_inner + first, gate_first,
                        out_inner + first);
      continue;
    }
#endif
    mask_lanes(counter, p.seed, drop, scale, map, in_inner + first, gate_first,
               out_inner + first);
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

void philox_lanes_for_test(uint64_t first_counter, uint64_t seed, bool avx2,
                           uint32_t (&words)[4][8]) {
  static_assert(kLanes == 8, "the test interface has 8 lanes");
#if defined(__x86_64__) && defined(__GNUC__)
  if (avx2) {
    WEFT_CHECK(has_avx2(), "philox_lanes_for_test: this CPU has no AVX2");
    philox_lanes_avx2(first_counter, seed, words);
    return;
  }
#else
  WEFT_CHECK(!avx2, "philox_lanes_for_test: no AVX2 path in this build");
#endif
  philox_lanes_generic(first_counter, seed, words);
}

bool philox_avx2_available() { return has_avx2(); }

void dropout_forward(const DropoutParams& p, const float* x, float* y) {
  apply_mask(shifted(p), MaskMap{}, x, y);
}

void dropout_backward(const DropoutParams& p, const float* dy, float* dx) {
  apply_mask(shifted(p), MaskMap{}, dy, dx);
}

void activation_dropout_forward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                float* y) {
  apply_mask(shifted(p), MaskMap{MaskMap::Kind::activated, act, nullptr}, x, y);
}

void activation_dropout_backward(const DropoutParams& p, const FusedActivation& act, const float* x,
                                 const float* dy, float* dx) {
  apply_mask(shifted(p), MaskMap{MaskMap::Kind::gated, act, x}, dy, dx);
}

}  // namespace weft::cpu
