// Shoe-like test images for the pair tests (test_pairs_*.cpp): each image is a few filled
// rectangles of random size, place and brightness on black, so no image equals its own mirror
// and a mirrored, slightly shifted copy still looks like the same "shoe".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/random.h"

namespace weft::test {

// `classes` x `per_class` grayscale images of side x side, labels 0..classes-1 in blocks,
// class names "shoe0", "shoe1", ...
inline data::LabeledImages rectangle_shoes(int classes, int per_class, int side, uint64_t seed) {
  Generator rng(seed);
  const int64_t n = int64_t{classes} * per_class;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * side * side), 0);
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* image = pixels.data() + i * side * side;
    for (int r = 0; r < 3; ++r) {
      const int w = 2 + static_cast<int>(rng.randint(side / 2)), h = 2 + static_cast<int>(rng.randint(side / 2));
      const int x0 = static_cast<int>(rng.randint(side - w)), y0 = static_cast<int>(rng.randint(side - h));
      const auto level = static_cast<uint8_t>(60 + rng.randint(196));
      for (int y = y0; y < y0 + h; ++y) {
        for (int x = x0; x < x0 + w; ++x) image[y * side + x] = level;
      }
    }
    labels.push_back(static_cast<int32_t>(i / per_class));
  }
  data::LabeledImages out;
  out.images = Tensor::from_vector(pixels, {n, 1, side, side});
  out.labels = Tensor::from_vector(labels, {n});
  for (int c = 0; c < classes; ++c) out.class_names.push_back("shoe" + std::to_string(c));
  return out;
}

}  // namespace weft::test
