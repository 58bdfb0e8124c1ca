// Interleaved 8-bit pixels of 1-4 samples (grey, grey + alpha, RGB, RGBA) as 1 or 3 channels,
// the way Pillow's convert("L") and convert("RGB") do it: alpha dropped (not blended), grey
// repeated into RGB, colour to luma by Pillow's ITU-R 601-2 weights in 16-bit fixed point,
// L = (R * 19595 + G * 38470 + B * 7471 + 32768) >> 16. Used by the PNG decoder and for the files
// stb_image decodes (BMP, PGM/PPM), so every format's grey is the same function of its colours.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::data {

// Pillow's luma of 8-bit R, G, B.
inline uint8_t pillow_luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >>
                              16);
}

// `pixels` pixels of `from` samples each at `in` as `channels` (1 or 3) samples each at `out`.
void convert_pixels(const uint8_t* in, size_t pixels, int from, int channels, uint8_t* out);

}  // namespace weft::data
