// Tests of JPEG decoding (engine/data/jpeg_decode.h through image_io.h's decode_image_file):
// progressive and CMYK files, decoding at a reduced scale for small targets, and the damaged or
// hostile files that must fail with a clear reason: corrupt entropy-coded data, a file cut and
// closed with an end marker, a bogus Huffman table, too many scans, a picture too large for the
// decoder's memory or for weft's side limit. The files are written here with libjpeg's encoder.
#include <catch2/catch.hpp>
// jpeglib.h uses FILE without including <stdio.h> itself.
#include <cstdio>
#include <jpeglib.h>

#include <cmath>
#include <cstdlib>
#include <functional>

#include "data_test_util.h"
#include "engine_test_util.h"
#include "engine/data/image_io.h"
#include "engine/data/jpeg_decode.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

struct JpegSpec {
  int width = 16;
  int height = 16;
  J_COLOR_SPACE space = JCS_RGB;  // JCS_RGB (3 values a pixel), JCS_GRAYSCALE (1), JCS_CMYK (4)
  bool progressive = false;
  int quality = 95;
  int luma_h = 2, luma_v = 2;  // the first component's sampling factors (chroma at 1 x 1)
  bool arithmetic = false;      // arithmetic coding instead of Huffman
  int restart_rows = 0;         // a restart marker every this many MCU rows
};

// A JPEG of `spec`, each pixel's values from value(x, y, component), as bytes.
std::string encode(const JpegSpec& spec, const std::function<int(int, int, int)>& value) {
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(spec.width);
  info.image_height = static_cast<JDIMENSION>(spec.height);
  info.input_components = spec.space == JCS_CMYK ? 4 : spec.space == JCS_GRAYSCALE ? 1 : 3;
  info.in_color_space = spec.space;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, spec.quality, TRUE);
  if (spec.progressive) jpeg_simple_progression(&info);
  if (spec.space == JCS_RGB) {
    info.comp_info[0].h_samp_factor = spec.luma_h;
    info.comp_info[0].v_samp_factor = spec.luma_v;
  }
  info.arith_code = spec.arithmetic ? TRUE : FALSE;
  info.restart_in_rows = spec.restart_rows;
  jpeg_start_compress(&info, TRUE);
  std::vector<JSAMPLE> row(static_cast<size_t>(spec.width) * info.input_components);
  while (info.next_scanline < info.image_height) {
    const int y = static_cast<int>(info.next_scanline);
    for (int x = 0; x < spec.width; ++x) {
      for (int c = 0; c < info.input_components; ++c) {
        row[static_cast<size_t>(x) * info.input_components + c] =
            static_cast<JSAMPLE>(value(x, y, c));
      }
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&info, rows, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  free(buffer);
  return bytes;
}

// Decode `bytes` (written to a file) with `options`; the planes [C, H, W] and the size.
struct Decoded {
  std::vector<uint8_t> pixels;
  int height = 0, width = 0;
};
Decoded decode_bytes(const TempDir& dir, const std::string& bytes, const ImageOptions& options) {
  const std::string path = dir.file("image.jpg");
  io::write_file_atomic(path, bytes);
  Decoded out;
  decode_image_file(path, options, out.pixels, out.height, out.width);
  return out;
}

std::string jpeg_decode_error(const TempDir& dir, const std::string& bytes,
                              const ImageOptions& options = {}) {
  const std::string path = dir.file("bad.jpg");
  io::write_file_atomic(path, bytes);
  return weft::test::error_message([&] {
    std::vector<uint8_t> out;
    int h = 0, w = 0;
    decode_image_file(path, options, out, h, w);
  });
}

// Where a marker (FF xx) first occurs at or after `from`.
size_t marker_at(const std::string& bytes, unsigned char marker, size_t from = 0) {
  const std::string m{'\xFF', static_cast<char>(marker)};
  return bytes.find(m, from);
}

// A smooth picture of at most 40 x 24 pixels, its values within 0..255.
int gradient(int x, int y, int c) { return std::min(x, 39) * 3 + std::min(y, 23) * 2 + c * 30; }

// Where the entropy-coded data of the scan whose SOS marker is at `sos` ends: the next marker
// that is neither a stuffed 0xFF (FF 00) nor a restart (FF D0-D7).
size_t scan_end(const std::string& bytes, size_t sos) {
  size_t at = sos + 2 + ((static_cast<uint8_t>(bytes[sos + 2]) << 8) |
                         static_cast<uint8_t>(bytes[sos + 3]));
  for (; at + 1 < bytes.size(); ++at) {
    const auto next = static_cast<uint8_t>(bytes[at + 1]);
    if (static_cast<uint8_t>(bytes[at]) == 0xFF && next != 0x00 && (next < 0xD0 || next > 0xD7)) {
      return at;
    }
  }
  return bytes.size();
}

}  // namespace

TEST_CASE("JPEG: baseline and progressive files of the same picture decode alike", "[data][jpeg]") {
  TempDir dir;
  JpegSpec spec{40, 24};
  const Decoded baseline = decode_bytes(dir, encode(spec, gradient), {});
  spec.progressive = true;
  const std::string progressive = encode(spec, gradient);
  CHECK(marker_at(progressive, 0xC2) != std::string::npos);  // SOF2: a progressive frame
  const Decoded decoded = decode_bytes(dir, progressive, {});
  REQUIRE((decoded.height == 24 && decoded.width == 40));
  REQUIRE(decoded.pixels.size() == baseline.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < decoded.pixels.size(); ++i) {
    worst = std::max(worst, std::abs(decoded.pixels[i] - baseline.pixels[i]));
  }
  CHECK(worst <= 6);
  // And close to the picture itself: plane c of [C, H, W] at (x, y) is gradient(x, y, c).
  int off = 0;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 24; ++y) {
      for (int x = 0; x < 40; ++x) {
        const int got = decoded.pixels[(static_cast<size_t>(c) * 24 + y) * 40 + x];
        off = std::max(off, std::abs(got - gradient(x, y, c)));
      }
    }
  }
  CHECK(off <= 8);
}

TEST_CASE("JPEG: every sampling, coding and size decodes close to its picture, at full size and "
          "at each reduced scale",
          "[data][jpeg]") {
  TempDir dir;
  // A smooth picture of any size: values within 0..255, slow enough for JPEG to keep.
  const auto smooth = [](int w, int h) {
    return [w, h](int x, int y, int c) {
      return 40 + (150 * x) / std::max(1, w - 1) + (40 * y) / std::max(1, h - 1) - 20 * c;
    };
  };
  struct Case {
    JpegSpec spec;
    const char* what;
  };
  const Case cases[] = {
      {{96, 64, JCS_RGB, false, 95, 2, 2}, "4:2:0"},
      {{96, 64, JCS_RGB, false, 95, 2, 1}, "4:2:2"},
      {{96, 64, JCS_RGB, false, 95, 1, 1}, "4:4:4"},
      {{96, 64, JCS_RGB, false, 95, 4, 1}, "4:1:1"},
      {{96, 64, JCS_RGB, true, 95, 2, 2}, "progressive 4:2:0"},
      {{96, 64, JCS_RGB, false, 95, 2, 2, true}, "arithmetic coding"},
      {{96, 64, JCS_RGB, false, 95, 2, 2, false, 1}, "restart markers"},
      {{96, 64, JCS_GRAYSCALE, true}, "progressive grayscale"},
      {{37, 11, JCS_RGB}, "odd sides"},
      {{1, 1, JCS_RGB}, "one pixel"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const int w = c.spec.width, h = c.spec.height;
    const auto value = smooth(w, h);
    const std::string bytes = encode(c.spec, value);
    const Decoded full = decode_bytes(dir, bytes, {});
    REQUIRE((full.width == w && full.height == h));
    int worst = 0;
    for (int ch = 0; ch < 3; ++ch) {
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          const int expected = value(x, y, c.spec.space == JCS_GRAYSCALE ? 0 : ch);
          const int got = full.pixels[(static_cast<size_t>(ch) * h + y) * w + x];
          worst = std::max(worst, std::abs(got - expected));
        }
      }
    }
    CHECK(worst <= 6);
    // Stretched to targets that take scales 1/8 to 7/8 (twice the target: 96 -> 12, 24, ... 84):
    // each output pixel close to the picture's value at its centre.
    for (int target = 6; target <= 42 && w >= 96; target += 6) {
      CAPTURE(target);
      ImageOptions options;
      options.width = target;
      options.height = target * h / w;
      options.fit = Fit::stretch;
      const Decoded small = decode_bytes(dir, bytes, options);
      REQUIRE((small.width == options.width && small.height == options.height));
      int off = 0;
      for (int y = 1; y + 1 < small.height; ++y) {
        for (int x = 1; x + 1 < small.width; ++x) {
          const double sx = (x + 0.5) * w / small.width - 0.5;
          const double sy = (y + 0.5) * h / small.height - 0.5;
          const double expected = 40 + 150 * sx / (w - 1) + 40 * sy / (h - 1);
          off = std::max(off, static_cast<int>(std::abs(small.pixels[static_cast<size_t>(y) *
                                                                       small.width + x] -
                                                        expected)));
        }
      }
      CHECK(off <= 6);
    }
  }
}

TEST_CASE("JPEG: grayscale files give RGB planes, RGB files give luma for one channel",
          "[data][jpeg]") {
  TempDir dir;
  const Decoded gray = decode_bytes(dir, encode({8, 8, JCS_GRAYSCALE}, [](int, int, int) {
                                      return 90;
                                    }),
                                    {});
  REQUIRE(gray.pixels.size() == 3u * 64u);
  for (const uint8_t v : gray.pixels) CHECK(std::abs(v - 90) <= 1);
  ImageOptions luma;
  luma.channels = 1;
  const Decoded red = decode_bytes(dir, encode({8, 8}, [](int, int, int c) {
                                     return c == 0 ? 200 : 0;
                                   }),
                                   luma);
  REQUIRE(red.pixels.size() == 64u);
  // BT.601 luma of (200, 0, 0): 0.299 * 200 = 60.
  for (const uint8_t v : red.pixels) CHECK(std::abs(v - 60) <= 3);
}

TEST_CASE("JPEG: CMYK files are converted as Adobe stores them (inverted)", "[data][jpeg]") {
  TempDir dir;
  // Stored values C = 255, M = 128, Y = 0, K = 200: R = 255 * 200 / 255 = 200,
  // G = 128 * 200 / 255 = 100, B = 0.
  const std::string bytes = encode({8, 8, JCS_CMYK}, [](int, int, int c) {
    return c == 0 ? 255 : c == 1 ? 128 : c == 2 ? 0 : 200;
  });
  const Decoded rgb = decode_bytes(dir, bytes, {});
  REQUIRE(rgb.pixels.size() == 3u * 64u);
  for (int p = 0; p < 64; ++p) {
    CHECK(std::abs(rgb.pixels[p] - 200) <= 3);
    CHECK(std::abs(rgb.pixels[64 + p] - 100) <= 3);
    CHECK(rgb.pixels[128 + p] <= 3);
  }
}

TEST_CASE("JPEG: a large photo for a small target is decoded at a reduced scale, then fitted",
          "[data][jpeg]") {
  // The decoder's own size choice, seen through jpeg::decode: the smallest scale M/8 that keeps
  // both sides at least as large as asked.
  const JpegSpec spec{1600, 1200, JCS_RGB, false, 90};
  const auto horizontal = [](int x, int, int) { return x * 255 / 1599; };
  const std::string bytes = encode(spec, horizontal);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  jpeg::Image image;
  REQUIRE(jpeg::decode(data, bytes.size(), 3, 80, 60, 1 << 15, image).empty());
  CHECK((image.width == 200 && image.height == 150));  // 1/8
  REQUIRE(jpeg::decode(data, bytes.size(), 3, 500, 100, 1 << 15, image).empty());
  CHECK((image.width == 600 && image.height == 450));  // 3/8: 2/8 gives 400 < 500
  REQUIRE(jpeg::decode(data, bytes.size(), 3, 0, 0, 1 << 15, image).empty());
  CHECK((image.width == 1600 && image.height == 1200));
  REQUIRE(jpeg::decode(data, bytes.size(), 3, 1601, 10, 1 << 15, image).empty());
  CHECK(image.width == 1600);  // nothing smaller is large enough: full size

  // Through the loader: stretched to 40 x 30, each output pixel close to the gradient's value at
  // its centre, as a full decode and resize would give.
  TempDir dir;
  ImageOptions options;
  options.height = 30;
  options.width = 40;
  options.fit = Fit::stretch;
  const Decoded small = decode_bytes(dir, bytes, options);
  REQUIRE((small.height == 30 && small.width == 40));
  int worst = 0;
  for (int x = 2; x < 38; ++x) {
    const double centre = (x + 0.5) * 1600.0 / 40.0 - 0.5;
    const int expected = static_cast<int>(std::lround(centre * 255.0 / 1599.0));
    worst = std::max(worst, std::abs(small.pixels[15 * 40 + x] - expected));
  }
  CHECK(worst <= 3);
}

TEST_CASE("JPEG: damaged entropy-coded data fails instead of decoding to guesses",
          "[data][jpeg]") {
  TempDir dir;
  const std::string good = encode({64, 64, JCS_RGB, false, 90}, gradient);
  const size_t scan = marker_at(good, 0xDA);  // start of scan
  REQUIRE(scan != std::string::npos);
  const size_t data = scan + 2 + ((static_cast<uint8_t>(good[scan + 2]) << 8) |
                                  static_cast<uint8_t>(good[scan + 3]));

  // Cut in the middle of the scan and closed with an end marker: the end-of-image check passes,
  // the data runs out early (stb_image decoded this to grey).
  const std::string cut = good.substr(0, data + (good.size() - data) / 2) + "\xFF\xD9";
  CHECK_THAT(jpeg_decode_error(dir, cut),
             Catch::Contains("bad.jpg: corrupt or truncated JPEG data (libjpeg: Corrupt JPEG "
                             "data: premature end of data segment)"));

  // Bytes of the scan overwritten with ones (FF 00: a stuffed 0xFF), which no Huffman table
  // assigns a code: sixteen ones are never a code.
  std::string garbled = good;
  for (size_t i = data + 4; i < data + 40; i += 2) {
    garbled[i] = static_cast<char>(0xFF);
    garbled[i + 1] = '\0';
  }
  CHECK_THAT(jpeg_decode_error(dir, garbled),
             Catch::Contains("bad.jpg: corrupt or truncated JPEG data (libjpeg: Corrupt JPEG "
                             "data"));
}

TEST_CASE("JPEG: a Huffman table of more than 256 codes (found by fuzzing) and 12-bit samples are "
          "refused",
          "[data][jpeg]") {
  TempDir dir;
  // What the fuzzer found against stb_image 2.27, which wrote past its table: a DHT segment cut
  // by the file's end, whose counts list 0x45 + 0x40 + 0x1F + 0xFF + ... codes.
  const std::string bytes(
      "\xFF\xD8\xFF\xE0\x00\x10\x4A\x46\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14"
      "\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\xFF\xC0\x00\x11\x08\x00\x05\x40\x05"
      "\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xFF\xC4\x01\xA2\x00\x00\x01\x01\x01\x01"
      "\x00\x00\x00\x45\x40\x1F\xFF\xD9",
      68);
  CHECK_THAT(jpeg_decode_error(dir, bytes),
             Catch::Contains("bad.jpg: corrupt or truncated JPEG data "
                             "(libjpeg: Premature end of JPEG file)"));
  // The same table count in an otherwise good file.
  std::string good = encode({16, 8}, gradient);
  const size_t dht = marker_at(good, 0xC4);
  REQUIRE(dht != std::string::npos);
  for (size_t i = dht + 5; i < dht + 5 + 16; ++i) good[i] = static_cast<char>(0x20);
  CHECK_THAT(jpeg_decode_error(dir, good),
             Catch::Contains("bad or unsupported JPEG (libjpeg: Bogus Huffman table definition)"));
  // A 12-bit file (Debian's libjpeg-turbo decodes 8-bit samples): named as unsupported.
  std::string twelve = encode({16, 8}, gradient);
  const size_t sof = marker_at(twelve, 0xC0);
  REQUIRE(sof != std::string::npos);
  twelve[sof + 4] = 12;  // SOF: FF C0, length (2), sample precision (1)
  CHECK_THAT(jpeg_decode_error(dir, twelve),
             Catch::Contains("bad or unsupported JPEG (libjpeg: Unsupported JPEG data "
                             "precision 12)"));
}

TEST_CASE("JPEG: a progressive file of more than 500 scans is refused", "[data][jpeg]") {
  TempDir dir;
  const std::string good = encode({16, 16, JCS_RGB, true}, gradient);
  // The first scan (DC coefficients, which depend on no earlier scan) with the Huffman tables
  // before it, repeated right after it: each repeat is one more scan the decoder must read (and
  // only a warning about the progression, which weft ignores).
  const size_t tables = marker_at(good, 0xC4);
  const size_t first = marker_at(good, 0xDA);
  REQUIRE((tables != std::string::npos && first != std::string::npos && tables < first));
  const size_t end = scan_end(good, first);
  const std::string scan = good.substr(tables, end - tables);
  const auto repeated = [&](int times) {
    std::string bytes = good.substr(0, end);
    for (int i = 0; i < times; ++i) bytes += scan;
    return bytes + good.substr(end);
  };
  const std::string many = repeated(jpeg::kMaxScans);
  CHECK_THAT(jpeg_decode_error(dir, many),
             Catch::Contains("bad.jpg: ") && Catch::Contains("more than 500 scans"));
  // With a few repeats it still decodes.
  const Decoded decoded = decode_bytes(dir, repeated(3), {});
  CHECK((decoded.height == 16 && decoded.width == 16));
}

TEST_CASE("JPEG: sides beyond weft's limit and pictures beyond the decoder's memory are refused "
          "from the header",
          "[data][jpeg]") {
  TempDir dir;
  std::string big = encode({16, 16}, gradient);
  size_t sof = marker_at(big, 0xC0);
  REQUIRE(sof != std::string::npos);
  // SOF: FF C0, length (2), precision (1), height (2), width (2).
  big[sof + 5] = '\x9C';  // height 40,000
  big[sof + 6] = '\x40';
  CHECK_THAT(jpeg_decode_error(dir, big),
             Catch::Contains("bad.jpg: JPEG of 16 x 40000 pixels, more than weft decodes (32768 "
                             "per side)"));

  // A progressive file announcing 30,000 x 30,000: its coefficients need 5.4 GB. Refused before
  // the data is read, with nothing of that size allocated.
  std::string progressive = encode({16, 16, JCS_RGB, true}, gradient);
  sof = marker_at(progressive, 0xC2);
  REQUIRE(sof != std::string::npos);
  for (const size_t at : {sof + 5, sof + 7}) {
    progressive[at] = '\x75';  // 30,000
    progressive[at + 1] = '\x30';
  }
  CHECK_THAT(jpeg_decode_error(dir, progressive),
             Catch::Contains("bad.jpg: JPEG of 30000 x 30000 pixels needs more than 1024 MiB "
                             "to decode"));
}
