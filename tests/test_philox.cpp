// Tests of kernels/philox.h: Philox-4x32-10 against the known-answer vectors published with
// Random123 (kat_vectors, "philox4x32 10" lines), the round keys computed once (the GPU
// dropout's form) against the per-call schedule, the element-to-word mapping that dropout
// relies on, the CPU dropout's 8-lane Philox (generic and AVX2) against the scalar one, and the
// Generator's runs of numbers (engine/random.h) against the element-by-element mapping.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "engine/random.h"
#include "kernels/cpu/dropout.h"
#include "kernels/philox.h"

using weft::Philox4x32;

namespace {

struct KnownAnswer {
  Philox4x32 counter;
  uint32_t k0, k1;
  Philox4x32 expected;
};

}  // namespace

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors", "[philox][cpu]") {
  const KnownAnswer vectors[] = {
      {{{0u, 0u, 0u, 0u}}, 0u, 0u, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       0xffffffffu,
       0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       0xa4093822u,
       0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (int v = 0; v < 3; ++v) {
    const KnownAnswer& kat = vectors[v];
    const Philox4x32 got = weft::philox4x32_10(kat.counter, kat.k0, kat.k1);
    for (int w = 0; w < 4; ++w) {
      INFO("vector " << v << " word " << w << std::hex << " got 0x" << got.v[w] << " expected 0x"
                     << kat.expected.v[w]);
      CHECK(got.v[w] == kat.expected.v[w]);
    }
  }
}

TEST_CASE("philox 64-bit form puts the counter in the low words and the seed in the key",
          "[philox][cpu]") {
  const uint64_t counter = 0x0123456789abcdefull, seed = 0xfedcba9876543210ull;
  const Philox4x32 a = weft::philox4x32_10(counter, seed);
  const Philox4x32 b =
      weft::philox4x32_10(Philox4x32{{0x89abcdefu, 0x01234567u, 0u, 0u}}, 0x76543210u, 0xfedcba98u);
  for (int w = 0; w < 4; ++w) CHECK(a.v[w] == b.v[w]);
}

TEST_CASE("philox: the round keys computed once give the same words as the 64-bit form",
          "[philox][cpu]") {
  // Keys whose halves wrap around 2^32 within the ten rounds, and counters that use the high word.
  for (uint64_t key : {uint64_t{0}, uint64_t{2026}, uint64_t{0xfffffff0fffffff0u},
                       uint64_t{0x9E3779B9BB67AE85u}, ~uint64_t{0}}) {
    const weft::PhiloxKeys keys = weft::philox_keys(key);
    CHECK(keys.k0[0] == static_cast<uint32_t>(key));
    CHECK(keys.k1[0] == static_cast<uint32_t>(key >> 32));
    for (uint64_t counter : {uint64_t{0}, uint64_t{1}, uint64_t{12345678901ull},
                             uint64_t{0xffffffffu}, ~uint64_t{0}}) {
      const Philox4x32 a = weft::philox4x32_10(counter, key);
      const Philox4x32 b = weft::philox4x32_10(counter, keys);
      INFO("key " << key << " counter " << counter);
      for (int w = 0; w < 4; ++w) CHECK(a.v[w] == b.v[w]);
    }
  }
}

TEST_CASE("philox_uniform_at uses word i % 4 of counter (offset + i) / 4, in 0 <= u < 1",
          "[philox][cpu]") {
  const uint64_t seed = 42, offset = 7;
  for (uint64_t i = 0; i < 64; ++i) {
    const uint64_t position = offset + i;
    const Philox4x32 r = weft::philox4x32_10(position / 4, seed);
    const float expected = weft::philox_uniform(r.v[position % 4]);
    const float u = weft::philox_uniform_at(seed, offset, i);
    CAPTURE(i);
    CHECK(u == expected);
    CHECK(u >= 0.0f);
    CHECK(u < 1.0f);
  }
  // The extremes of the 24-bit mapping.
  CHECK(weft::philox_uniform(0u) == 0.0f);
  CHECK(weft::philox_uniform(0xffffffffu) < 1.0f);
  CHECK(weft::philox_uniform(0xffffffffu) == 1.0f - 1.0f / 16777216.0f);
}

TEST_CASE("philox: the CPU dropout's 8-lane words, generic and AVX2, are philox4x32_10's",
          "[philox][cpu]") {
  // Counters whose low word wraps inside the group of 8 (the high word differs across lanes),
  // counters past 2^32, and a seed with both halves set.
  const uint64_t seed = 0x0123456789ABCDEFull;
  for (const uint64_t first : {uint64_t{0}, uint64_t{1000}, uint64_t{0xFFFFFFFCull},
                               uint64_t{0x5DEECE66Dull}, ~uint64_t{0} - 20}) {
    for (const bool avx2 : {false, true}) {
      if (avx2 && !weft::cpu::philox_avx2_available()) continue;
      INFO("first counter " << first << (avx2 ? ", AVX2" : ", generic"));
      uint32_t words[4][8];
      weft::cpu::philox_lanes_for_test(first, seed, avx2, words);
      for (int l = 0; l < 8; ++l) {
        const Philox4x32 want = weft::philox4x32_10(first + static_cast<uint64_t>(l), seed);
        for (int w = 0; w < 4; ++w) CHECK(words[w][l] == want.v[w]);
      }
    }
  }
}

TEST_CASE("philox: a Generator's runs of uniform and normal numbers are philox_uniform_at's",
          "[philox][cpu]") {
  // The Generator computes each Philox block once for its four numbers; the numbers must be
  // those of philox_uniform_at, element by element, whatever the count (not a multiple of 4
  // here) and wherever the run starts in the stream (after a reservation of 3, rounded to 4).
  const uint64_t seed = 0x5eed;
  weft::Generator generator(seed);
  const std::vector<float> first = generator.uniform(3, 0.0f, 1.0f);
  const std::vector<float> uniform = generator.uniform(11, -2.0f, 3.0f);
  const std::vector<float> normal = generator.normal(7, 0.5f, 2.0f);
  for (uint64_t i = 0; i < 3; ++i) CHECK(first[i] == weft::philox_uniform_at(seed, 0, i));
  for (uint64_t i = 0; i < 11; ++i) {
    CHECK(uniform[i] == -2.0f + 5.0f * weft::philox_uniform_at(seed, 4, i));
  }
  // Box-Muller on pairs of the stream's numbers from offset 4 + 12 = 16.
  for (uint64_t i = 0; i < 7; ++i) {
    const double u1 = 1.0 - weft::philox_uniform_at(seed, 16, i / 2 * 2);
    const double u2 = weft::philox_uniform_at(seed, 16, i / 2 * 2 + 1);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    const double z = i % 2 == 0 ? radius * std::cos(angle) : radius * std::sin(angle);
    CHECK(normal[i] == static_cast<float>(0.5 + 2.0 * z));
  }
}
