// Seeded random numbers for initialisers, dropout and data shuffling.
//
// A Generator is (seed, offset): every draw of n numbers uses Philox-4x32-10 counters
// offset .. offset + n - 1 (kernels/philox.h) and advances the offset by n. Its whole state is
// two integers, so a checkpoint stores it and a resumed run draws exactly the numbers an
// uninterrupted run would have drawn; and a dropout kernel on any device can draw the same mask
// from (seed, offset) alone.
#pragma once

#include <cstdint>
#include <vector>

namespace weft {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

  // Reserve `count` numbers and return the offset of the first (for kernels that draw them).
  uint64_t reserve(uint64_t count);

  float uniform();                                         // [0, 1)
  std::vector<float> uniform(int64_t count, float low, float high);
  std::vector<float> normal(int64_t count, float mean, float stddev);  // Box-Muller
  uint64_t next_u64();
  int64_t randint(int64_t bound);  // uniform in [0, bound)
  template <typename T>
  void shuffle(std::vector<T>& values) {  // Fisher-Yates
    for (int64_t i = static_cast<int64_t>(values.size()) - 1; i > 0; --i) {
      std::swap(values[i], values[randint(i + 1)]);
    }
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide generator used when an op or initialiser is given none.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace weft
