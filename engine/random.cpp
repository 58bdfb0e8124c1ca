// Philox-backed Generator (see random.h).
#include "engine/random.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "kernels/philox.h"

namespace weft {

uint64_t Generator::reserve(uint64_t count) {
  const uint64_t first = offset_;
  // Keep offsets multiples of 4 so each reservation starts on a fresh Philox counter.
  offset_ += (count + 3) / 4 * 4;
  return first;
}

float Generator::uniform() {
  const uint64_t at = reserve(1);
  return philox_uniform_at(seed_, at, 0);
}

namespace {

// The uniform numbers of elements [0, count) of the stream (seed, offset), as philox_uniform_at
// gives them one by one, but computing each Philox block once for its four numbers (one block per
// number was most of the time of initialising a model's weights).
std::vector<float> uniform_run(uint64_t seed, uint64_t offset, uint64_t count) {
  std::vector<float> values(static_cast<size_t>(count));
  uint64_t i = 0;
  while (i < count) {
    const uint64_t position = offset + i;
    const Philox4x32 block = philox4x32_10(position / 4, seed);
    for (uint64_t word = position % 4; word < 4 && i < count; ++word, ++i) {
      values[i] = philox_uniform(block.v[word]);
    }
  }
  return values;
}

}  // namespace

std::vector<float> Generator::uniform(int64_t count, float low, float high) {
  const uint64_t at = reserve(static_cast<uint64_t>(count));
  std::vector<float> values = uniform_run(seed_, at, static_cast<uint64_t>(count));
  for (float& v : values) v = low + (high - low) * v;
  return values;
}

std::vector<float> Generator::normal(int64_t count, float mean, float stddev) {
  const uint64_t pairs = static_cast<uint64_t>((count + 1) / 2);
  const uint64_t at = reserve(2 * pairs);
  const std::vector<float> u = uniform_run(seed_, at, 2 * pairs);
  std::vector<float> values(static_cast<size_t>(count));
  for (uint64_t p = 0; p < pairs; ++p) {
    // u1 in (0, 1] so the logarithm is finite.
    const double u1 = 1.0 - u[2 * p];
    const double u2 = u[2 * p + 1];
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    values[2 * p] = static_cast<float>(mean + stddev * radius * std::cos(angle));
    if (2 * p + 1 < static_cast<uint64_t>(count)) {
      values[2 * p + 1] = static_cast<float>(mean + stddev * radius * std::sin(angle));
    }
  }
  return values;
}

uint64_t Generator::next_u64() {
  const uint64_t at = reserve(4);
  const Philox4x32 r = philox4x32_10(at / 4, seed_);
  return (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
}

int64_t Generator::randint(int64_t bound) {
  // Rejection sampling removes the modulo bias.
  const uint64_t range = static_cast<uint64_t>(bound);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t value = next_u64();
  while (value >= limit) value = next_u64();
  return static_cast<int64_t>(value % range);
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace weft
