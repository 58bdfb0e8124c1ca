// Tests of engine/data/augment.h: each geometric augmentation's exact output on tiny images,
// the Keras fill modes at the border, seeded draws, normalisation, and warp_affine's fast path
// against the plain sampler, bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "engine/data/augment.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;

namespace {

// A single-channel h x w image that is 0 except for value 1 at (row, col).
std::vector<float> one_pixel(int h, int w, int row, int col) {
  std::vector<float> image(static_cast<size_t>(h * w), 0.0f);
  image[static_cast<size_t>(row * w + col)] = 1.0f;
  return image;
}

std::vector<float> run(const AugmentParams& params, const std::vector<float>& src, int h, int w,
                       FillMode fill = FillMode::constant, float fill_value = 0) {
  std::vector<float> dst(src.size(), -1.0f);
  apply_augmentation(params, src.data(), dst.data(), 1, h, w, fill, fill_value);
  return dst;
}

// Row-major 1 x 4 image "a b c d" = 10 20 30 40, shifted right by `shift` with `fill`.
std::vector<float> shifted_row(float shift, FillMode fill) {
  const std::vector<float> row = {10, 20, 30, 40};
  AugmentParams p;
  p.shift_x = shift;
  return run(p, row, 1, 4, fill, -5.0f);
}

}  // namespace

TEST_CASE("horizontal and vertical flips mirror a single bright pixel", "[data][augment]") {
  // 3x3, bright pixel at row 0, column 0.
  const std::vector<float> src = one_pixel(3, 3, 0, 0);
  AugmentParams h;
  h.flip_horizontal = true;
  CHECK(run(h, src, 3, 3) == one_pixel(3, 3, 0, 2));
  AugmentParams v;
  v.flip_vertical = true;
  CHECK(run(v, src, 3, 3) == one_pixel(3, 3, 2, 0));
  AugmentParams both = h;
  both.flip_vertical = true;
  CHECK(run(both, src, 3, 3) == one_pixel(3, 3, 2, 2));
}

TEST_CASE("rotation by 90 degrees turns the content counter-clockwise", "[data][augment]") {
  // Top-middle pixel: a counter-clockwise quarter turn on screen moves it to the middle-left.
  AugmentParams p;
  p.rotation_degrees = 90;
  CHECK(run(p, one_pixel(3, 3, 0, 1), 3, 3) == one_pixel(3, 3, 1, 0));
  // The right-middle pixel goes to the top-middle; -90 brings it to the bottom-middle.
  CHECK(run(p, one_pixel(3, 3, 1, 2), 3, 3) == one_pixel(3, 3, 0, 1));
  p.rotation_degrees = -90;
  CHECK(run(p, one_pixel(3, 3, 1, 2), 3, 3) == one_pixel(3, 3, 2, 1));
  // 180 degrees: corner to opposite corner; the centre stays.
  p.rotation_degrees = 180;
  CHECK(run(p, one_pixel(3, 3, 0, 0), 3, 3) == one_pixel(3, 3, 2, 2));
  CHECK(run(p, one_pixel(3, 3, 1, 1), 3, 3) == one_pixel(3, 3, 1, 1));
}

TEST_CASE("whole-pixel translation moves the pixel and fills the uncovered border",
          "[data][augment]") {
  AugmentParams p;
  p.shift_x = 1;  // right
  p.shift_y = 2;  // down
  CHECK(run(p, one_pixel(4, 4, 0, 0), 4, 4) == one_pixel(4, 4, 2, 1));
  // Half a pixel: bilinear sampling splits the pixel over two neighbours.
  AugmentParams half;
  half.shift_x = 0.5f;
  const std::vector<float> out = run(half, one_pixel(1, 4, 0, 1), 1, 4);
  CHECK(out == std::vector<float>{0.0f, 0.5f, 0.5f, 0.0f});
}

TEST_CASE("fill modes give Keras' border values", "[data][augment]") {
  // Content "a b c d" = 10 20 30 40 moved right by 2: the two left pixels are uncovered.
  CHECK(shifted_row(2, FillMode::constant) == std::vector<float>{-5, -5, 10, 20});
  CHECK(shifted_row(2, FillMode::nearest) == std::vector<float>{10, 10, 10, 20});
  CHECK(shifted_row(2, FillMode::reflect) == std::vector<float>{20, 10, 10, 20});  // ba|ab
  CHECK(shifted_row(2, FillMode::wrap) == std::vector<float>{30, 40, 10, 20});     // cd|ab
  // Moved left by 3: three pixels uncovered on the right.
  CHECK(shifted_row(-3, FillMode::constant) == std::vector<float>{40, -5, -5, -5});
  CHECK(shifted_row(-3, FillMode::nearest) == std::vector<float>{40, 40, 40, 40});
  CHECK(shifted_row(-3, FillMode::reflect) == std::vector<float>{40, 40, 30, 20});  // dc b
  CHECK(shifted_row(-3, FillMode::wrap) == std::vector<float>{40, 10, 20, 30});
}

TEST_CASE("zoom magnifies about the centre", "[data][augment]") {
  // 5x5 with a pixel one step right of the centre. Zoom 2 along x: output column 4 samples
  // input column 2 + (4 - 2) / 2 = 3 (the pixel), column 3 samples 2.5 (half of it).
  AugmentParams p;
  p.zoom_x = 2;
  std::vector<float> expected(25, 0.0f);
  expected[2 * 5 + 3] = 0.5f;
  expected[2 * 5 + 4] = 1.0f;
  CHECK(run(p, one_pixel(5, 5, 2, 3), 5, 5) == expected);
  // Zoom 0.5: output x samples input 2 + 2 * (x - 2); the centre stays, corners fall outside.
  p.zoom_x = p.zoom_y = 0.5f;
  CHECK(run(p, one_pixel(5, 5, 2, 3), 5, 5) == std::vector<float>(25, 0.0f));
  const std::vector<float> out = run(p, one_pixel(5, 5, 2, 4), 5, 5);
  CHECK(out[2 * 5 + 3] == 1.0f);  // input column 4 = 2 + 2 * (3 - 2)
  CHECK(out[0] == 0.0f);
}

TEST_CASE("shear moves rows in proportion to their distance from the centre",
          "[data][augment]") {
  // tan(45 deg) = 1: the row one above the centre moves one pixel left, the centre row stays.
  AugmentParams p;
  p.shear_degrees = 45;
  CHECK(run(p, one_pixel(3, 3, 0, 1), 3, 3) == one_pixel(3, 3, 0, 0));
  CHECK(run(p, one_pixel(3, 3, 1, 1), 3, 3) == one_pixel(3, 3, 1, 1));
  CHECK(run(p, one_pixel(3, 3, 2, 1), 3, 3) == one_pixel(3, 3, 2, 2));
}

TEST_CASE("random draws follow the generator and respect the ranges", "[data][augment]") {
  AugmentOptions options;
  options.horizontal_flip = true;
  options.rotation_degrees = 45;
  options.shear_degrees = 10;
  options.width_shift = 0.1f;
  options.height_shift = 0.2f;
  options.zoom = 0.2f;
  options.crop_padding = 2;
  Generator a(7), b(7), c(8);
  bool any_flip = false, any_plain = false, differs = false;
  for (int i = 0; i < 50; ++i) {
    const AugmentParams pa = draw_params(options, 28, 20, a);
    const AugmentParams pb = draw_params(options, 28, 20, b);
    const AugmentParams pc = draw_params(options, 28, 20, c);
    CHECK(pa.rotation_degrees == pb.rotation_degrees);
    CHECK(pa.shift_x == pb.shift_x);
    CHECK(pa.flip_horizontal == pb.flip_horizontal);
    differs = differs || pa.rotation_degrees != pc.rotation_degrees;
    any_flip = any_flip || pa.flip_horizontal;
    any_plain = any_plain || !pa.flip_horizontal;
    CHECK(std::abs(pa.rotation_degrees) <= 45);
    CHECK(std::abs(pa.shear_degrees) <= 10);
    CHECK(std::abs(pa.shift_x) <= 0.1f * 20 + 2);
    CHECK(std::abs(pa.shift_y) <= 0.2f * 28 + 2);
    CHECK((pa.zoom_x >= 0.8f && pa.zoom_x <= 1.2f));
    CHECK(!pa.flip_vertical);
  }
  CHECK(differs);
  CHECK(any_flip);
  CHECK(any_plain);
}

TEST_CASE("random crop with padding is a whole-pixel shift within the padding",
          "[data][augment]") {
  AugmentOptions options;
  options.crop_padding = 1;
  Generator generator(3);
  std::set<std::pair<int, int>> seen;
  for (int i = 0; i < 200; ++i) {
    const AugmentParams p = draw_params(options, 8, 8, generator);
    CHECK(p.shift_x == std::round(p.shift_x));
    CHECK(std::abs(p.shift_x) <= 1);
    CHECK(std::abs(p.shift_y) <= 1);
    seen.insert({static_cast<int>(p.shift_x), static_cast<int>(p.shift_y)});
  }
  CHECK(seen.size() == 9);  // every offset of the 3x3 window occurs
}

TEST_CASE("augment on tensors keeps the shape and is reproducible", "[data][augment]") {
  AugmentOptions options;
  options.rotation_degrees = 30;
  options.horizontal_flip = true;
  std::vector<float> values(2 * 3 * 6 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 17);
  const Tensor images = Tensor::from_vector(values, {2, 3, 6, 5});
  Generator a(11), b(11);
  const Tensor out_a = augment(images, options, a);
  const Tensor out_b = augment(images, options, b);
  CHECK(out_a.shape() == images.shape());
  CHECK(out_a.to_vector<float>() == out_b.to_vector<float>());
  CHECK(out_a.to_vector<float>() != values);
  CHECK_THROWS_AS(augment(Tensor::zeros({5, 5}), options, a), Error);
}

TEST_CASE("normalisation applies scale, mean and std per channel", "[data][augment]") {
  std::vector<float> pixels = {0, 255, 51, 102};  // 2 channels x 2 pixels
  Normalize n;
  n.mean = {0.5f, 0.0f};
  n.std = {1.0f, 0.2f};
  normalize_in_place(n, pixels.data(), 2, 2);
  CHECK(pixels[0] == Approx(-0.5f));
  CHECK(pixels[1] == Approx(0.5f));
  CHECK(pixels[2] == Approx(1.0f));
  CHECK(pixels[3] == Approx(2.0f));
  Normalize wrong;
  wrong.mean = {0.1f, 0.2f, 0.3f};
  CHECK_THROWS_WITH(normalize_in_place(wrong, pixels.data(), 2, 2),
                    Catch::Contains("3 mean values for 2 channels"));
}

namespace {

// The bilinear sampler as it was written first, every position through the fill-mode lookup
// and the library's floor and round: the reference for warp_affine's interior fast path.
void reference_warp(const float* src, float* dst, int channels, int height, int width,
                    const AffineMap& map, FillMode fill, float fill_value) {
  const auto index = [&](int64_t i, int64_t n) -> int64_t {
    if (i >= 0 && i < n) return i;
    switch (fill) {
      case FillMode::constant: return -1;
      case FillMode::nearest: return i < 0 ? 0 : n - 1;
      case FillMode::reflect: {
        int64_t k = i % (2 * n);
        if (k < 0) k += 2 * n;
        return k < n ? k : 2 * n - 1 - k;
      }
      case FillMode::wrap: {
        const int64_t k = i % n;
        return k < 0 ? k + n : k;
      }
    }
    return -1;
  };
  const auto snap = [](double v) {
    const double nearest = std::round(v);
    return std::abs(v - nearest) < 1e-6 ? nearest : v;
  };
  const int64_t plane = int64_t{height} * width;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double sx = snap(map.m[0] * x + map.m[1] * y + map.m[2]);
      const double sy = snap(map.m[3] * x + map.m[4] * y + map.m[5]);
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      const auto wx = static_cast<float>(sx - fx0), wy = static_cast<float>(sy - fy0);
      const auto x0 = static_cast<int64_t>(std::clamp(fx0, -1e9, 1e9));
      const auto y0 = static_cast<int64_t>(std::clamp(fy0, -1e9, 1e9));
      const int64_t xs[2] = {index(x0, width), index(x0 + 1, width)};
      const int64_t ys[2] = {index(y0, height), index(y0 + 1, height)};
      const float weights[2][2] = {{(1 - wy) * (1 - wx), (1 - wy) * wx},
                                   {wy * (1 - wx), wy * wx}};
      for (int c = 0; c < channels; ++c) {
        float value = 0;
        for (int j = 0; j < 2; ++j) {
          for (int i = 0; i < 2; ++i) {
            if (weights[j][i] == 0) continue;
            const float sample = (xs[i] < 0 || ys[j] < 0)
                                     ? fill_value
                                     : src[c * plane + ys[j] * width + xs[i]];
            value += weights[j][i] * sample;
          }
        }
        dst[c * plane + int64_t{y} * width + x] = value;
      }
    }
  }
}

}  // namespace

TEST_CASE("warp_affine gives the reference sampler's bits: random, exact and far-away maps, "
          "every fill mode",
          "[data][augment]") {
  Generator generator(7);
  AugmentOptions options;
  options.rotation_degrees = 45;
  options.shear_degrees = 12;
  options.width_shift = options.height_shift = 0.2f;
  options.zoom = 0.3f;
  options.horizontal_flip = options.vertical_flip = true;
  std::vector<AffineMap> maps;
  for (int i = 0; i < 40; ++i) {
    maps.push_back(inverse_map(draw_params(options, 13, 17, generator), 13, 17));
  }
  AugmentParams exact;  // a 90-degree turn, a flip and a whole-pixel shift: pixel centres
  exact.rotation_degrees = 90;
  exact.flip_horizontal = true;
  exact.shift_x = 2;
  maps.push_back(inverse_map(exact, 13, 17));
  AffineMap far;  // positions beyond the int64-safe range: the general path
  far.m[2] = 5e9;
  maps.push_back(far);
  AffineMap negative;  // far to the other side, and straddling 0 along y
  negative.m[2] = -3e12;
  negative.m[5] = -0.5;
  maps.push_back(negative);

  for (const int channels : {1, 3}) {
    std::vector<float> src(static_cast<size_t>(channels) * 13 * 17);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>((i * 37) % 101) - 20.5f;
    for (const FillMode fill :
         {FillMode::constant, FillMode::nearest, FillMode::reflect, FillMode::wrap}) {
      int differing = 0;
      for (const AffineMap& map : maps) {
        std::vector<float> ours(src.size()), theirs(src.size());
        warp_affine(src.data(), ours.data(), channels, 13, 17, map, fill, 3.25f);
        reference_warp(src.data(), theirs.data(), channels, 13, 17, map, fill, 3.25f);
        differing += std::memcmp(ours.data(), theirs.data(), sizeof(float) * ours.size()) != 0;
      }
      INFO(channels << " channels, fill mode " << static_cast<int>(fill));
      CHECK(differing == 0);
    }
  }
}
