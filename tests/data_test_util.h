// Helpers for the data and report tests: the temporary folder (temp_dir.h), and small image
// files (PNG, JPEG, PGM, truncated copies) written with stb_image_write.
#pragma once

#include <stb/stb_image_write.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "temp_dir.h"

namespace weft::testing {

// The suite's temporary folder (temp_dir.h), by the name these tests have always used.
using weft::test::TempDir;

// A w x h image with `channels` interleaved channels, every byte = value (or a gradient when
// value < 0: byte = (x + 2y + 3c) * 5 mod 256).
inline std::vector<uint8_t> test_pixels(int w, int h, int channels, int value) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        const size_t at = (static_cast<size_t>(y) * w + x) * channels + c;
        px[at] = static_cast<uint8_t>(value >= 0 ? value : ((x + 2 * y + 3 * c) * 5) % 256);
      }
    }
  }
  return px;
}

inline void write_png(const std::string& path, int w, int h, int channels, int value) {
  const std::vector<uint8_t> px = test_pixels(w, h, channels, value);
  if (!stbi_write_png(path.c_str(), w, h, channels, px.data(), w * channels)) {
    throw std::runtime_error("test helper could not write " + path);
  }
}

inline void write_jpg(const std::string& path, int w, int h, int channels, int value) {
  const std::vector<uint8_t> px = test_pixels(w, h, channels, value);
  if (!stbi_write_jpg(path.c_str(), w, h, channels, px.data(), 95)) {
    throw std::runtime_error("test helper could not write " + path);
  }
}

// A binary PGM (P5) of w x h, every pixel `value`.
inline void write_pgm(const std::string& path, int w, int h, int value) {
  std::string bytes = "P5\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  bytes.append(static_cast<size_t>(w) * h, static_cast<char>(value));
  io::write_file_atomic(path, bytes);
}

inline void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomic(path, text);
}

// Keep only the first `fraction` of a file's bytes.
inline void truncate_file(const std::string& path, double fraction) {
  const std::string bytes = io::read_file(path);
  io::write_file_atomic(path, bytes.substr(0, static_cast<size_t>(bytes.size() * fraction)));
}

}  // namespace weft::testing
