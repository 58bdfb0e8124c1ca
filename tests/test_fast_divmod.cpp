// Tests of FastDivmod (kernels/cuda/common.h), the multiply-high division the memory-bound
// kernels use to find an element's channel or row: against the / and % of the host for the
// divisors the seed layers give (planes of 49, 196, 784, 3136 values, channel counts), powers of
// two, primes, the largest divisors, and dividends at the edges of its range (0, d - 1, d,
// 2^31 - 1) and spread over it. __umulhi is the emulation's (kernels/cuda/emulation.h), the
// same integer function as the GPU instruction.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cuda/common.h"

namespace {

using weft::cuda::FastDivmod;

void check_divisor(uint32_t d, std::mt19937& random) {
  const FastDivmod fast(d);
  std::vector<uint32_t> dividends = {
      0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, (uint32_t{1} << 31) - 1, (uint32_t{1} << 31) - d};
  std::uniform_int_distribution<uint32_t> any(0, (uint32_t{1} << 31) - 1);
  for (int k = 0; k < 2000; ++k) dividends.push_back(any(random));
  for (uint32_t n : dividends) {
    if (n >= (uint32_t{1} << 31)) continue;
    INFO("divisor " << d << ", dividend " << n);
    REQUIRE(fast.div(n) == n / d);
    REQUIRE(fast.mod(n) == n % d);
  }
}

}  // namespace

TEST_CASE("fast divmod: multiply-high division matches / and % below 2^31", "[emu]") {
  std::mt19937 random(7);
  std::vector<uint32_t> divisors = {1,
                                    2,
                                    3,
                                    4,
                                    5,
                                    7,
                                    10,
                                    16,
                                    49,
                                    64,
                                    96,
                                    196,
                                    256,
                                    784,
                                    1000,
                                    1024,
                                    3136,
                                    4096,
                                    6272,
                                    12544,
                                    65537,
                                    999983,
                                    1u << 30,
                                    (1u << 30) + 1,
                                    (1u << 31) - 1,
                                    1u << 31};
  std::uniform_int_distribution<uint32_t> any_divisor(1, 1u << 31);
  for (int k = 0; k < 200; ++k) divisors.push_back(any_divisor(random));
  for (uint32_t d : divisors) check_divisor(d, random);
}

TEST_CASE("fast divmod: a divisor of 0 is taken as 1", "[emu]") {
  const FastDivmod fast(0);
  CHECK(fast.divisor == 1);
  CHECK(fast.div(12345) == 12345);
  CHECK(fast.mod(12345) == 0);
}
