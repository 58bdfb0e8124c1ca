// Resizing 8-bit images for the loaders (image_io.cpp's fitting): a separable filter, the
// filters and pixel geometry of stb_image_resize's defaults, which weft used before, computed
// once per call and applied as two passes with a float row in between.
//
//   shrinking an axis   Mitchell-Netravali (B = C = 1/3), its support stretched by the factor,
//                       so every input pixel contributes (no aliasing)
//   enlarging an axis   Catmull-Rom (B = 0, C = 1/2), 4 taps
//   same size           copied as it is (stb_image_resize filtered such an axis with Mitchell,
//                       a slight blur)
//
// Output pixel o of an axis has its centre at (o + 0.5) / scale in input coordinates; taps past
// the image's edge take the edge pixel's value (clamp); the weights of each output pixel sum
// to 1. The axis that shrinks most is filtered first, so the second pass runs on the fewest
// rows; the first pass's inner loop runs along contiguous rows (vectorised by the compiler).
// Results round to nearest and saturate to 0..255, as stb_image_resize's do; they differ from
// its by at most a unit or two (float sums in another order; test_data_resize.cpp compares).
#pragma once

#include <cstdint>

namespace weft::data {

// in: [in_height, in_width, channels] interleaved; out: [out_height, out_width, channels].
void resize_pixels(const uint8_t* in, int in_width, int in_height, int channels, uint8_t* out,
                   int out_width, int out_height);

}  // namespace weft::data
