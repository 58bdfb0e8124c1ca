// Tests of sum_slices (kernels/cuda/reduce.h), the second pass of every split-K product on the
// hand GPU path, under the host emulation: out[i] = the sum over slices z of partials[z * count
// + i]. Both of its kernels are checked bit for bit against a host replica of their fixed order
// (so a change of order, a missed slice or a slice added twice fails, not just a large error):
// one thread per element adding slices 0, 1, 2, ... below kSliceRowsFrom slices; from there 8
// rows of lanes, row r adding slices r, r + 8, ... and the rows added 0..7. Counts around the
// 32-element groups and slice counts around the switch and the 8 rows, with a partial buffer
// longer than the slices so that a read past them would show.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda/reduce.h"
#include "tests/kernel_test_util.h"

namespace {

// The order sum_slices promises, on the host.
std::vector<float> replica(int slices, int64_t count, const std::vector<float>& partials) {
  std::vector<float> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    if (slices < weft::cuda::kSliceRowsFrom) {
      float total = 0.0f;
      for (int z = 0; z < slices; ++z) total += partials[static_cast<size_t>(z * count + i)];
      out[static_cast<size_t>(i)] = total;
      continue;
    }
    float rows[8];
    for (int r = 0; r < 8; ++r) {
      rows[r] = 0.0f;
      for (int z = r; z < slices; z += 8) rows[r] += partials[static_cast<size_t>(z * count + i)];
    }
    float all = rows[0];
    for (int r = 1; r < 8; ++r) all += rows[r];
    out[static_cast<size_t>(i)] = all;
  }
  return out;
}

}  // namespace

TEST_CASE("sum_slices (emu): both orders, bit for bit, around the switch and the groups",
          "[emu]") {
  uint32_t seed = 90;
  for (int slices : {1, 2, 7, 15, 16, 17, 23, 64, 300}) {
    for (int64_t count : {int64_t{1}, int64_t{31}, int64_t{32}, int64_t{33}, int64_t{577},
                          int64_t{1000}}) {
      INFO(slices << " slices of " << count);
      // One slice more than asked for: its values (huge) must not reach any sum.
      std::vector<float> partials =
          weft::test::random_floats((slices + 1) * count, ++seed);
      for (int64_t i = 0; i < count; ++i) partials[static_cast<size_t>(slices * count + i)] = 1e30f;
      std::vector<float> out(static_cast<size_t>(count), -7.0f);
      weft::cuda::sum_slices(slices, count, partials.data(), out.data(), nullptr);
      const std::vector<float> want = replica(slices, count, partials);
      REQUIRE(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)) == 0);
    }
  }
  // Nothing to sum writes nothing.
  std::vector<float> untouched(4, 3.0f);
  weft::cuda::sum_slices(20, 0, untouched.data(), untouched.data(), nullptr);
  CHECK(untouched == std::vector<float>(4, 3.0f));
}
