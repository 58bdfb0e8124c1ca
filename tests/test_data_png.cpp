// Tests of PNG decoding (engine/data/png_decode.h through image_io.h's decode_image_file): every
// colour type and bit depth the format has, palettes with transparency, Adam7 interlacing, the
// luma of colour files as one channel, and damaged files: which damage is an error (a cut or
// garbled zlib stream, a wrong header or palette CRC) and which is let through as Pillow lets it
// through (a wrong CRC on pixel data, a damaged text chunk, no end chunk). The files are written
// here with libpng's encoder from pixels the test knows.
#include <catch2/catch.hpp>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "data_test_util.h"
#include "engine_test_util.h"
#include "engine/data/image_io.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

struct PngSpec {
  int width = 13;  // odd, so 1-, 2- and 4-bit rows end inside a byte
  int height = 9;
  int depth = 8;
  int colour = PNG_COLOR_TYPE_RGB;
  bool interlaced = false;
  int palette_size = 0;  // PNG_COLOR_TYPE_PALETTE: entries i -> (i * 37, 255 - i * 11, i * 5)
  int transparent = 0;   // palette entries given an alpha below 255 (tRNS)
};

int samples_of(int colour) {
  switch (colour) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;  // palette indices
  }
}

// The sample s of pixel (x, y) as written, at the file's depth.
unsigned sample_at(const PngSpec& spec, int x, int y, int s) {
  const unsigned top = (1u << spec.depth) - 1;
  if (spec.colour == PNG_COLOR_TYPE_PALETTE) {
    return static_cast<unsigned>(x * 3 + y * 5) % static_cast<unsigned>(spec.palette_size);
  }
  const unsigned wide = static_cast<unsigned>(x * 7919 + y * 104729 + s * 65521 + 12345);
  return wide % (top + 1);
}

// What weft must decode sample s to, 8 bits: 1-, 2-, 4-bit grey scaled to 0..255, 16-bit by
// its high byte, palette indices through the palette.
unsigned expected_at(const PngSpec& spec, int x, int y, int s) {
  const unsigned v = sample_at(spec, x, y, s);
  if (spec.colour == PNG_COLOR_TYPE_PALETTE) {
    const unsigned rgb[3] = {v * 37 % 256, (255 - v * 11) % 256, v * 5 % 256};
    return rgb[s];
  }
  if (spec.depth == 16) return v >> 8;
  return v * 255 / ((1u << spec.depth) - 1);
}

void write_png_file(const std::string& path, const PngSpec& spec) {
  FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  REQUIRE((png != nullptr && info != nullptr));
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(spec.width),
               static_cast<png_uint_32>(spec.height), spec.depth, spec.colour,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> palette;
  std::vector<png_byte> alpha;
  if (spec.colour == PNG_COLOR_TYPE_PALETTE) {
    for (int i = 0; i < spec.palette_size; ++i) {
      palette.push_back({static_cast<png_byte>(i * 37 % 256),
                         static_cast<png_byte>((255 - i * 11) % 256),
                         static_cast<png_byte>(i * 5 % 256)});
    }
    png_set_PLTE(png, info, palette.data(), spec.palette_size);
    for (int i = 0; i < spec.transparent; ++i) alpha.push_back(static_cast<png_byte>(i * 40));
    if (!alpha.empty()) png_set_tRNS(png, info, alpha.data(), spec.transparent, nullptr);
  }
  png_write_info(png, info);
  // Rows packed as PNG stores them: big-endian 16-bit samples, sub-byte samples from the top bit.
  const int samples = samples_of(spec.colour);
  const size_t row_bytes = (static_cast<size_t>(spec.width) * samples * spec.depth + 7) / 8;
  std::vector<std::vector<png_byte>> rows(static_cast<size_t>(spec.height),
                                          std::vector<png_byte>(row_bytes, 0));
  for (int y = 0; y < spec.height; ++y) {
    for (int x = 0; x < spec.width; ++x) {
      for (int s = 0; s < samples; ++s) {
        const unsigned v = sample_at(spec, x, y, s);
        const size_t bit = (static_cast<size_t>(x) * samples + s) * spec.depth;
        png_byte* row = rows[y].data();
        if (spec.depth == 16) {
          row[bit / 8] = static_cast<png_byte>(v >> 8);
          row[bit / 8 + 1] = static_cast<png_byte>(v & 0xFF);
        } else if (spec.depth == 8) {
          row[bit / 8] = static_cast<png_byte>(v);
        } else {
          row[bit / 8] |= static_cast<png_byte>(v << (8 - spec.depth - bit % 8));
        }
      }
    }
  }
  std::vector<png_bytep> pointers;
  for (auto& row : rows) pointers.push_back(row.data());
  png_write_image(png, pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

std::vector<uint8_t> decode(const std::string& path, int channels) {
  ImageOptions options;
  options.width = 0;
  options.height = 0;
  options.channels = channels;
  std::vector<uint8_t> out;
  int h = 0, w = 0;
  decode_image_file(path, options, out, h, w);
  return out;
}

// Pillow's "L" from R, G, B.
unsigned luma(unsigned r, unsigned g, unsigned b) {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

// Checks every value of `path` (written from `spec`) decoded as RGB and as one channel.
void check_decoded(const std::string& path, const PngSpec& spec) {
  const bool colour =
      spec.colour == PNG_COLOR_TYPE_RGB || spec.colour == PNG_COLOR_TYPE_RGB_ALPHA ||
      spec.colour == PNG_COLOR_TYPE_PALETTE;
  const std::vector<uint8_t> rgb = decode(path, 3);
  const std::vector<uint8_t> grey = decode(path, 1);
  const size_t plane = static_cast<size_t>(spec.width) * spec.height;
  REQUIRE(rgb.size() == 3 * plane);
  REQUIRE(grey.size() == plane);
  int wrong = 0;
  for (int y = 0; y < spec.height; ++y) {
    for (int x = 0; x < spec.width; ++x) {
      const size_t at = static_cast<size_t>(y) * spec.width + x;
      unsigned want[3];
      for (int c = 0; c < 3; ++c) want[c] = expected_at(spec, x, y, colour ? c : 0);
      for (int c = 0; c < 3; ++c) wrong += rgb[c * plane + at] != want[c];
      wrong += grey[at] != (colour ? luma(want[0], want[1], want[2]) : want[0]);
    }
  }
  CHECK(wrong == 0);
}

std::string png_decode_error(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir.file("bad.png");
  io::write_file_atomic(path, bytes);
  return weft::test::error_message([&] { decode(path, 3); });
}

// The offset of the first chunk of `type` in a PNG file's bytes.
size_t chunk_at(const std::string& png, const std::string& type) {
  const size_t at = png.find(type);
  REQUIRE(at != std::string::npos);
  return at - 4;
}

}  // namespace

TEST_CASE("PNG: every colour type and bit depth decodes to the values written, as RGB and as "
          "one channel",
          "[data][png]") {
  TempDir dir;
  const std::vector<PngSpec> specs = {
      {13, 9, 1, PNG_COLOR_TYPE_GRAY},        {13, 9, 2, PNG_COLOR_TYPE_GRAY},
      {13, 9, 4, PNG_COLOR_TYPE_GRAY},        {13, 9, 8, PNG_COLOR_TYPE_GRAY},
      {13, 9, 16, PNG_COLOR_TYPE_GRAY},       {13, 9, 8, PNG_COLOR_TYPE_GRAY_ALPHA},
      {13, 9, 16, PNG_COLOR_TYPE_GRAY_ALPHA}, {13, 9, 8, PNG_COLOR_TYPE_RGB},
      {13, 9, 16, PNG_COLOR_TYPE_RGB},        {13, 9, 8, PNG_COLOR_TYPE_RGB_ALPHA},
      {13, 9, 16, PNG_COLOR_TYPE_RGB_ALPHA},  {13, 9, 1, PNG_COLOR_TYPE_PALETTE, false, 2},
      {13, 9, 2, PNG_COLOR_TYPE_PALETTE, false, 4, 2},
      {13, 9, 4, PNG_COLOR_TYPE_PALETTE, false, 16, 16},
      {13, 9, 8, PNG_COLOR_TYPE_PALETTE, false, 200, 7},
      {37, 23, 8, PNG_COLOR_TYPE_RGB, true},  {37, 23, 4, PNG_COLOR_TYPE_GRAY, true},
      {37, 23, 8, PNG_COLOR_TYPE_PALETTE, true, 50, 3},
      {1, 1, 8, PNG_COLOR_TYPE_RGB_ALPHA},    {1, 1, 1, PNG_COLOR_TYPE_GRAY, true},
  };
  for (const PngSpec& spec : specs) {
    const std::string path = dir.file("image.png");
    write_png_file(path, spec);
    INFO("depth " << spec.depth << ", colour type " << spec.colour << ", " << spec.width << " x "
                  << spec.height << (spec.interlaced ? ", interlaced" : ""));
    check_decoded(path, spec);
  }
}

TEST_CASE("PNG: damaged data and a damaged header or palette are errors; what Pillow lets "
          "through decodes",
          "[data][png]") {
  TempDir dir;
  const PngSpec spec{64, 48, 8, PNG_COLOR_TYPE_RGB};
  write_png_file(dir.file("good.png"), spec);
  const std::string good = io::read_file(dir.file("good.png"));
  const size_t idat = chunk_at(good, "IDAT");
  const uint32_t idat_length = (uint32_t{static_cast<uint8_t>(good[idat])} << 24) |
                               (uint32_t{static_cast<uint8_t>(good[idat + 1])} << 16) |
                               (uint32_t{static_cast<uint8_t>(good[idat + 2])} << 8) |
                               static_cast<uint8_t>(good[idat + 3]);

  // Cut inside the pixel data.
  CHECK_THAT(png_decode_error(dir, good.substr(0, idat + 8 + idat_length / 2)),
             Catch::Contains("bad.png: corrupt or truncated PNG data (libpng: "));
  // The deflate stream garbled in its middle (its CRC left wrong too, which is not checked).
  std::string garbled = good;
  for (size_t i = idat + 8 + idat_length / 3; i < idat + 8 + idat_length / 3 + 24; ++i) {
    garbled[i] = static_cast<char>(0xFF);
  }
  CHECK_THAT(png_decode_error(dir, garbled),
             Catch::Contains("bad.png: corrupt or truncated PNG data (libpng: "));
  // A wrong header CRC, and a wrong palette CRC.
  std::string header = good;
  header[29] = static_cast<char>(header[29] ^ 1);
  CHECK_THAT(png_decode_error(dir, header),
             Catch::Contains("bad.png: corrupt PNG data (the header's CRC is wrong)"));
  const PngSpec indexed{16, 16, 8, PNG_COLOR_TYPE_PALETTE, false, 40};
  write_png_file(dir.file("indexed.png"), indexed);
  std::string palette = io::read_file(dir.file("indexed.png"));
  palette[chunk_at(palette, "PLTE") + 8 + 5] ^= 1;  // a colour changed under its CRC
  CHECK_THAT(png_decode_error(dir, palette),
             Catch::Contains("bad.png: corrupt PNG data (the palette's CRC is wrong)"));

  // Let through, as Pillow does: a wrong CRC on the pixel data, no end chunk, and a text chunk
  // with a wrong CRC (dropped).
  std::string pixel_crc = good;
  pixel_crc[idat + 8 + idat_length] ^= 1;
  io::write_file_atomic(dir.file("lenient.png"), pixel_crc);
  check_decoded(dir.file("lenient.png"), spec);
  io::write_file_atomic(dir.file("lenient.png"), good.substr(0, good.size() - 12));
  check_decoded(dir.file("lenient.png"), spec);
  std::string text("\0\0\0\x07tEXtKey\0abc", 15);
  text += std::string("\0\0\0\0", 4);  // not the CRC of the chunk
  io::write_file_atomic(dir.file("lenient.png"), good.substr(0, idat) + text + good.substr(idat));
  check_decoded(dir.file("lenient.png"), spec);
}

TEST_CASE("PNG: a side above weft's limit is refused by its size before decoding", "[data][png]") {
  TempDir dir;
  // A header announcing 60000 x 60000 RGB pixels, with its right CRC.
  std::string png("\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\0\xEA\x60\0\0\xEA\x60\x08\x02\0\0\0", 29);
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(png.data() + 12),
                          17);
  for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((crc >> shift) & 0xFF);
  png += std::string("\0\0\0\0IEND\xAE\x42\x60\x82", 12);
  CHECK_THAT(png_decode_error(dir, png),
             Catch::Contains("bad.png: PNG of 60000 x 60000 pixels, more than weft decodes "
                             "(32768 a side at most)"));
}
