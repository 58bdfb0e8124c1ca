// The decoder of weft's BMP and binary PGM/PPM files: Debian's stb_image.h compiled into weft
// for those two formats and nothing else, with its functions private to stb_decode.cpp (JPEG
// goes to libjpeg-turbo: jpeg_decode.h; PNG to libpng: png_decode.h). Debian's libstb also carries stb_image's TGA, PSD,
// GIF, HDR and PIC decoders, which stb tries on any bytes the others refuse; its TGA decoder
// takes almost anything for a header (fuzzing found 28 bytes decoded as a 13,105 x 13,088 image
// from uninitialised memory: tests/fuzz/README.md). Compiled here they are left out, and an image
// side is capped at kMaxImageSide pixels (stb's STBI_MAX_DIMENSIONS; JPEG's and PNG's cap is the
// same).
#pragma once

#include <cstddef>

namespace weft::data::stb {

constexpr int kMaxImageSide = 1 << 15;

// stbi_load_from_memory: pixels [height, width, channels] interleaved, to be released with
// free_pixels, or nullptr with failure_reason() set.
unsigned char* load(const unsigned char* data, size_t size, int* width, int* height,
                    int* file_channels, int channels);
void free_pixels(unsigned char* pixels);
// stbi_failure_reason: why the last load on this thread failed ("too large", ...).
const char* failure_reason();
// stbi_info_from_memory: the header's size, without decoding; false when it does not read.
bool info(const unsigned char* data, size_t size, int* width, int* height, int* channels);

}  // namespace weft::data::stb
