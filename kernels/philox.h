// Philox-4x32-10: the counter-based random number generator of Salmon et al., "Parallel Random
// Numbers: As Easy as 1, 2, 3" (SC'11). A pure function (key, counter) -> four 32-bit words, so
// any thread on any backend can draw the numbers for element i without shared state: dropout
// masks are reproducible from (seed, offset) on the CPU, under host emulation and on the GPU.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WEFT_HOST_DEVICE __host__ __device__
#else
#define WEFT_HOST_DEVICE
#endif

namespace weft {

struct Philox4x32 {
  uint32_t v[4];
};

WEFT_HOST_DEVICE inline uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// The key of each of the ten rounds: (k0, k1), then bumped by 0x9E3779B9 and 0xBB67AE85 per
// round (constants from the paper). A kernel that draws many counters with one key takes them
// as a launch parameter (in the GPU's constant bank, where an XOR reads them directly) instead
// of adding them up again in every call.
struct PhiloxKeys {
  uint32_t k0[10];
  uint32_t k1[10];
};

WEFT_HOST_DEVICE inline PhiloxKeys philox_keys(uint32_t k0, uint32_t k1) {
  PhiloxKeys keys{};
  for (int round = 0; round < 10; ++round) {
    keys.k0[round] = k0;
    keys.k1[round] = k1;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return keys;
}

// A 64-bit seed as the key: its low word is k0.
WEFT_HOST_DEVICE inline PhiloxKeys philox_keys(uint64_t key) {
  return philox_keys(static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
}

// Ten rounds of Philox on a 128-bit counter with the round keys of a 64-bit key; multipliers
// from the paper. Known-answer vectors from Random123's kat_vectors are checked in tests/.
WEFT_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 counter, const PhiloxKeys& keys) {
  uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c2, &hi1);
    c0 = hi1 ^ c1 ^ keys.k0[round];
    c1 = lo1;
    c2 = hi0 ^ c3 ^ keys.k1[round];
    c3 = lo0;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

WEFT_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t k0, uint32_t k1) {
  return philox4x32_10(counter, philox_keys(k0, k1));
}

// The form weft uses: a 64-bit counter (upper two words zero) and a 64-bit seed as the key, or
// that key's round keys computed once.
WEFT_HOST_DEVICE inline Philox4x32 philox4x32_10(uint64_t counter, const PhiloxKeys& keys) {
  const Philox4x32 c{
      {static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}};
  return philox4x32_10(c, keys);
}

WEFT_HOST_DEVICE inline Philox4x32 philox4x32_10(uint64_t counter, uint64_t key) {
  return philox4x32_10(counter, philox_keys(key));
}

// Uniform float in [0, 1) from 24 random bits.
WEFT_HOST_DEVICE inline float philox_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// The uniform number that belongs to element `index` of a stream identified by (seed, offset),
// the seed given as its round keys. Each Philox call yields four numbers; element i uses word
// i % 4 of counter (offset + i) / 4.
WEFT_HOST_DEVICE inline float philox_uniform_at(const PhiloxKeys& keys, uint64_t offset,
                                                uint64_t index) {
  const uint64_t position = offset + index;
  const Philox4x32 r = philox4x32_10(position / 4, keys);
  return philox_uniform(r.v[position % 4]);
}

WEFT_HOST_DEVICE inline float philox_uniform_at(uint64_t seed, uint64_t offset, uint64_t index) {
  return philox_uniform_at(philox_keys(seed), offset, index);
}

}  // namespace weft
