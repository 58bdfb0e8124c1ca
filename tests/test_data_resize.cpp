// Tests of engine/data/resize.h: against stb_image_resize (Debian's libstb, which weft used
// before and whose default filters resize.h follows) on seeded random images, shrinking,
// enlarging and both at once; an axis of unchanged size copied exactly; flat images staying flat.
#include <catch2/catch.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/data/resize.h"

using weft::data::resize_pixels;

namespace {

std::vector<uint8_t> random_image(int w, int h, int channels, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * channels);
  for (uint8_t& v : px) v = static_cast<uint8_t>(byte(rng));
  return px;
}

}  // namespace

TEST_CASE("resize: within two units of stb_image_resize, shrinking and enlarging",
          "[data][resize]") {
  struct Case {
    int in_w, in_h, out_w, out_h, channels;
  };
  const Case cases[] = {{37, 23, 11, 7, 3},     {20, 20, 50, 33, 1},   {136, 102, 64, 48, 3},
                        {102, 102, 128, 128, 3}, {300, 200, 40, 90, 3}, {60, 80, 224, 224, 1},
                        {450, 450, 224, 224, 3}, {5, 3, 2, 9, 3}};
  unsigned seed = 1;
  for (const Case& c : cases) {
    CAPTURE(c.in_w, c.in_h, c.out_w, c.out_h, c.channels);
    const std::vector<uint8_t> in = random_image(c.in_w, c.in_h, c.channels, seed++);
    const size_t count = static_cast<size_t>(c.out_w) * c.out_h * c.channels;
    std::vector<uint8_t> ours(count), stb(count);
    resize_pixels(in.data(), c.in_w, c.in_h, c.channels, ours.data(), c.out_w, c.out_h);
    REQUIRE(stbir_resize_uint8(in.data(), c.in_w, c.in_h, 0, stb.data(), c.out_w, c.out_h, 0,
                               c.channels) == 1);
    int worst = 0;
    double total = 0;
    for (size_t i = 0; i < count; ++i) {
      const int d = std::abs(ours[i] - stb[i]);
      worst = std::max(worst, d);
      total += d;
    }
    CHECK(worst <= 2);
    CHECK(total / static_cast<double>(count) < 0.25);
  }
}

TEST_CASE("resize: an axis of unchanged size is copied; flat images stay flat", "[data][resize]") {
  // Columns of distinct values, rows all alike: shrinking the height leaves each row as it was.
  const int w = 9, h = 30;
  std::vector<uint8_t> in(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) in[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(x * 28);
  }
  std::vector<uint8_t> out(static_cast<size_t>(w) * 7);
  resize_pixels(in.data(), w, h, 1, out.data(), w, 7);
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < w; ++x) CHECK(out[static_cast<size_t>(y) * w + x] == x * 28);
  }
  // A flat RGB picture, shrunk 8 times and enlarged 3 times: every value unchanged.
  const std::vector<uint8_t> flat(static_cast<size_t>(64) * 48 * 3, 173);
  std::vector<uint8_t> small(8 * 6 * 3), large(192 * 144 * 3);
  resize_pixels(flat.data(), 64, 48, 3, small.data(), 8, 6);
  resize_pixels(flat.data(), 64, 48, 3, large.data(), 192, 144);
  const auto is_173 = [](uint8_t v) { return v == 173; };
  CHECK(std::all_of(small.begin(), small.end(), is_173));
  CHECK(std::all_of(large.begin(), large.end(), is_173));
}
