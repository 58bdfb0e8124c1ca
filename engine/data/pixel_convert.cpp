// pixel_convert.h's conversion.
#include "engine/data/pixel_convert.h"

#include <algorithm>
#include <cstring>

namespace weft::data {

void convert_pixels(const uint8_t* in, size_t pixels, int from, int channels, uint8_t* out) {
  if (pixels == 0) return;  // a picture of no pixels (a PGM of width 0) may have no buffers
  const bool colour = from >= 3;
  const auto step = static_cast<size_t>(from);
  if (from == channels) {
    std::memcpy(out, in, pixels * step);
  } else if (channels == 3 && colour) {  // RGBA: alpha dropped
    for (size_t i = 0; i < pixels; ++i) std::memcpy(out + 3 * i, in + step * i, 3);
  } else if (channels == 3) {  // grey (with alpha or not) repeated
    for (size_t i = 0; i < pixels; ++i) std::fill_n(out + 3 * i, 3, in[step * i]);
  } else if (colour) {
    for (size_t i = 0; i < pixels; ++i) out[i] = pillow_luma(in + step * i);
  } else {  // grey + alpha
    for (size_t i = 0; i < pixels; ++i) out[i] = in[step * i];
  }
}

}  // namespace weft::data
