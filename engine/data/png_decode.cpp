// png_decode.h's decoder on libpng's API. libpng reports a fatal error by calling the error
// function, which must not return: here it longjmps back to decode() (png_longjmp to the
// png_jmpbuf set there), as libpng's manual describes. Everything a longjmp skips is libpng's
// own C code and the two callbacks below; the decoder's state lives in one heap block (Session)
// made before setjmp and destroyed by decode()'s frame, which the longjmp returns to.
#include "engine/data/png_decode.h"

#include "engine/data/pixel_convert.h"

#include <png.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

namespace weft::data::png {

namespace {

struct Session {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const unsigned char* data = nullptr;  // the file
  size_t size = 0;
  size_t at = 0;                        // bytes handed to libpng so far
  char message[256] = {};
  std::vector<uint8_t> decoded;         // libpng's rows, 8 bits a sample
  std::vector<png_bytep> rows;

  ~Session() { png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr); }
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* s = static_cast<Session*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof s->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings (a damaged text chunk or colour profile, extra compressed data after the picture)
// leave the pixels intact and are not printed.
void on_warning(png_structp, png_const_charp) {}

void read_bytes(png_structp png, png_bytep out, size_t count) {
  auto* s = static_cast<Session*>(png_get_io_ptr(png));
  if (s->size - s->at < count) png_error(png, "the file ends before the picture does");
  std::memcpy(out, s->data + s->at, count);
  s->at += count;
}

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Whether the chunk at `at` (length, type, data, CRC) lies inside the file with a matching CRC.
bool chunk_crc_matches(const unsigned char* data, size_t size, size_t at) {
  const uint64_t length = big_endian(data + at);
  if (at + 12 + length > size) return false;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), data + at + 4, static_cast<uInt>(length + 4));
  return crc == big_endian(data + at + 8 + length);
}

// Why this PNG must not be decoded, or "": one whose compressed pixel data (its IDAT chunks)
// is too small to inflate to the picture its header announces. The decoder allocates the whole
// picture before inflating, so 60 bytes announcing 30,000 x 30,000 would cost 2.7 GB first.
// Deflate expands at most 1,032 to 1 (a 258-byte match in at least 2 bits; zlib's FAQ), so the
// bound below, 1,100 to 1 against the pixels' bytes alone (no filter bytes, any interlacing),
// never refuses a real file. Files without an IHDR where it belongs, or too large, are left to
// header_problem's own messages.
std::string inflation_problem(const unsigned char* data, size_t size, int max_side) {
  constexpr uint64_t kMaxInflation = 1100;
  if (size < 33 || std::memcmp(data + 12, "IHDR", 4) != 0) return "";
  const uint64_t width = big_endian(data + 16), height = big_endian(data + 20);
  const uint64_t depth = data[24];
  const auto side_cap = static_cast<uint64_t>(max_side);
  if (width > side_cap || height > side_cap) return "";
  const uint8_t colour = data[25];
  const uint64_t samples = colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
  uint64_t compressed = 0;
  for (size_t at = 8; at + 8 <= size;) {  // chunks: length, type, data, CRC
    const uint64_t length = big_endian(data + at);
    if (std::memcmp(data + at + 4, "IDAT", 4) == 0) compressed += length;
    if (std::memcmp(data + at + 4, "IEND", 4) == 0) break;
    at += 12 + length;
  }
  const uint64_t pixel_bytes = width * height * samples * depth / 8;
  if (compressed * kMaxInflation < pixel_bytes) {
    return "truncated PNG: " + std::to_string(width) + " x " + std::to_string(height) +
           " pixels need more than the " + std::to_string(compressed) +
           " bytes of compressed data the file has";
  }
  return "";
}

// Why the file is refused before libpng reads it, or "": compressed data too small for the
// picture (inflation_problem), sides above max_side (from IHDR), and the CRCs of IHDR and PLTE,
// which libpng is told not to check (it cannot check them without checking the IDAT chunks'
// too).
std::string header_problem(const unsigned char* data, size_t size, int max_side) {
  if (std::string problem = inflation_problem(data, size, max_side); !problem.empty()) {
    return problem;
  }
  static const unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size < 33 || std::memcmp(data, kSignature, 8) != 0 ||
      std::memcmp(data + 12, "IHDR", 4) != 0 || big_endian(data + 8) != 13) {
    return "corrupt or truncated PNG data (no header chunk IHDR of 13 bytes after the signature)";
  }
  const uint32_t width = big_endian(data + 16), height = big_endian(data + 20);
  if (width > static_cast<uint32_t>(max_side) || height > static_cast<uint32_t>(max_side)) {
    return "PNG of " + std::to_string(width) + " x " + std::to_string(height) +
           " pixels, more than weft decodes (" + std::to_string(max_side) + " a side at most)";
  }
  if (!chunk_crc_matches(data, size, 8)) return "corrupt PNG data (the header's CRC is wrong)";
  for (size_t at = 33; at + 12 <= size;) {  // up to the first IDAT: where PLTE must be
    const uint64_t length = big_endian(data + at);
    if (std::memcmp(data + at + 4, "IDAT", 4) == 0) break;
    if (std::memcmp(data + at + 4, "PLTE", 4) == 0 && !chunk_crc_matches(data, size, at)) {
      return "corrupt PNG data (the palette's CRC is wrong)";
    }
    at += 12 + length;
  }
  return "";
}

}  // namespace

std::string decode(const unsigned char* data, size_t size, int channels, int max_side,
                   Image& out) {
  if (std::string problem = header_problem(data, size, max_side); !problem.empty()) {
    return problem;
  }
  const auto session = std::make_unique<Session>();
  Session& s = *session;
  s.data = data;
  s.size = size;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
  if (s.png != nullptr) s.info = png_create_info_struct(s.png);
  if (s.png == nullptr || s.info == nullptr) return "PNG: out of memory for libpng's decoder";
  if (setjmp(png_jmpbuf(s.png))) {
    return std::string("corrupt or truncated PNG data (libpng: ") + s.message + ")";
  }
  png_set_read_fn(s.png, &s, read_bytes);
  png_set_user_limits(s.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // header_problem checked them
  png_set_crc_action(s.png, PNG_CRC_QUIET_USE, PNG_CRC_DEFAULT);
  png_read_info(s.png, s.info);
  png_uint_32 width = 0, height = 0;
  int depth = 0, colour = 0;
  png_get_IHDR(s.png, s.info, &width, &height, &depth, &colour, nullptr, nullptr, nullptr);
  if (depth == 16) png_set_strip_16(s.png);
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s.png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s.png);
  png_set_interlace_handling(s.png);
  png_read_update_info(s.png, s.info);
  const int from = png_get_channels(s.png, s.info);
  const size_t row_bytes = png_get_rowbytes(s.png, s.info);
  if (row_bytes != static_cast<size_t>(width) * from) {
    return "corrupt PNG data (" + std::to_string(row_bytes) + " bytes a row for " +
           std::to_string(width) + " pixels of " + std::to_string(from) + " samples)";
  }
  try {
    s.decoded.resize(row_bytes * height);
    s.rows.resize(height);
  } catch (const std::bad_alloc&) {
    return "PNG of " + std::to_string(width) + " x " + std::to_string(height) +
           " pixels: not enough memory to decode it";
  }
  for (png_uint_32 y = 0; y < height; ++y) s.rows[y] = s.decoded.data() + row_bytes * y;
  png_read_image(s.png, s.rows.data());

  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.channels = channels;
  out.pixels.resize(static_cast<size_t>(width) * height * channels);
  convert_pixels(s.decoded.data(), static_cast<size_t>(width) * height, from, channels,
                 out.pixels.data());
  return "";
}

}  // namespace weft::data::png
