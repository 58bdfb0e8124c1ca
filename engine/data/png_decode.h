// PNG decoding with libpng (Debian's libpng16, the PNG reference library): every colour type,
// bit depth and interlacing, zlib's inflate, and the checks the format defines.
//
// What the pixels are, chosen to equal Pillow's `Image.open(f).convert("RGB")` and
// `.convert("L")` (tests/pillow/check_pillow_decode.py): palettes expanded, alpha dropped (not
// blended), 1-, 2- and 4-bit grey scaled to 0..255, 16-bit samples by their high byte; as one
// channel, a colour file's luma by Pillow's weights (pixel_convert.h), a grey file's grey as it
// is.
//
// What is checked, as Pillow checks it: the CRCs of the header (IHDR) and the palette (PLTE),
// the structure of every chunk and of the zlib stream (data that ends, or stops inflating,
// before the last row is an error, never a partly decoded picture). Not checked, as Pillow does
// not check them either: the CRCs of the pixel data chunks (IDAT), and the zlib stream's
// trailing checksum once every row is decoded. Damaged ancillary chunks (text, colour profiles)
// are dropped, and libpng's warnings are not printed. Sides above max_side pixels are refused
// from the header. What a small file can cost in memory is bounded before decoding: compressed
// data too small to inflate to the announced picture is refused (deflate's 1,032:1 bound).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::data::png {

// Interleaved pixels [height, width, channels].
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// Decode PNG bytes to `channels` (1: luma, 3: RGB) into `out`. Returns "" on success, otherwise
// why the file cannot be decoded.
std::string decode(const unsigned char* data, size_t size, int channels, int max_side, Image& out);

}  // namespace weft::data::png
