// jpeg_decode.h's decoder on libjpeg's API. libjpeg reports a fatal error by calling
// error_exit, which must not return: here it longjmps back to decode(), as libjpeg's own example
// (example.txt) and TurboJPEG do. Everything that a longjmp skips is plain C data: the decoder's
// state lives in one heap block (Session) made before setjmp, and no C++ object with a destructor
// is created between setjmp and the last libjpeg call.
#include "engine/data/jpeg_decode.h"

#include "engine/data/pixel_convert.h"

// jpeglib.h uses FILE without including <stdio.h> itself.
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <csetjmp>
#include <memory>
#include <new>
#include <string>

namespace weft::data::jpeg {

namespace {

struct Session {
  jpeg_decompress_struct info;
  jpeg_error_mgr errors;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool too_large;        // a side above max_side, found in the header
  bool too_many_scans;   // stopped by on_progress
  bool damaged;          // stopped by a warning about damaged data (on_message)
  bool no_memory;        // the output's memory could not be reserved
};

// The Session whose `info` is `common` (error_exit and the monitor get only the libjpeg struct).
Session& session_of(j_common_ptr common) {
  return *reinterpret_cast<Session*>(reinterpret_cast<char*>(common) - offsetof(Session, info));
}

[[noreturn]] void on_error(j_common_ptr common) {
  Session& s = session_of(common);
  (*common->err->format_message)(common, s.message);
  std::longjmp(s.jump, 1);
}

// Warnings about damaged entropy-coded data: the pixels after them are guessed.
bool damages_pixels(int code) {
  return code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_JPEG_EOF ||
         code == JWRN_MUST_RESYNC || code == JWRN_ARITH_BAD_CODE;
}

// Trace messages (level >= 0) are dropped, never printed; warnings that damage the pixels end
// the decode; the others are counted and otherwise ignored.
void on_message(j_common_ptr common, int level) {
  if (level >= 0) return;
  if (damages_pixels(common->err->msg_code)) {
    session_of(common).damaged = true;
    on_error(common);
  }
  ++common->err->num_warnings;
}

void on_progress(j_common_ptr common) {
  if (!common->is_decompressor) return;
  const auto* info = reinterpret_cast<j_decompress_ptr>(common);
  if (info->input_scan_number > kMaxScans) {
    Session& s = session_of(common);
    s.too_many_scans = true;
    std::longjmp(s.jump, 1);
  }
}

// CMYK as Adobe's applications store it (inverted; libjpeg turns YCCK into the same): R = C * K /
// 255 and so on, as stb_image converts; luma from that RGB with Pillow's weights.
void cmyk_to(const JSAMPLE* cmyk, int width, int channels, uint8_t* out) {
  for (int x = 0; x < width; ++x) {
    const unsigned k = cmyk[4 * x + 3];
    uint8_t rgb[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned t = cmyk[4 * x + c] * k + 128;
      rgb[c] = static_cast<uint8_t>((t + (t >> 8)) >> 8);
    }
    if (channels == 3) {
      out[3 * x] = rgb[0];
      out[3 * x + 1] = rgb[1];
      out[3 * x + 2] = rgb[2];
    } else {
      out[x] = pillow_luma(rgb);
    }
  }
}

}  // namespace

std::string decode(const unsigned char* data, size_t size, int channels, int min_width,
                   int min_height, int max_side, Image& out) {
  const auto s = std::make_unique<Session>();
  jpeg_decompress_struct& info = s->info;
  info.err = jpeg_std_error(&s->errors);
  s->errors.error_exit = on_error;
  s->errors.emit_message = on_message;
  s->progress.progress_monitor = on_progress;
  s->message[0] = '\0';
  if (setjmp(s->jump) != 0) {
    const bool memory = s->errors.msg_code == JERR_NO_BACKING_STORE;
    const std::string sides =
        std::to_string(info.image_width) + " x " + std::to_string(info.image_height);
    jpeg_destroy_decompress(&info);
    if (s->too_many_scans) {
      return "progressive JPEG of more than " + std::to_string(kMaxScans) +
             " scans (weft decodes at most " + std::to_string(kMaxScans) + ")";
    }
    if (memory) {  // libjpeg asks for disk space beyond max_memory_to_use
      return "JPEG of " + sides + " pixels needs more than " + std::to_string(kMaxMemory >> 20) +
             " MiB to decode (a progressive file's coefficients are held whole)";
    }
    // A fatal error is a file libjpeg cannot read at all (a bad table, an unsupported sample
    // precision, a header cut short); a warning that stopped the decode is damaged pixel data.
    return std::string(s->damaged ? "corrupt or truncated JPEG data" : "bad or unsupported JPEG") +
           " (libjpeg: " + s->message + ")";
  }
  jpeg_create_decompress(&info);
  info.progress = &s->progress;
  info.mem->max_memory_to_use = kMaxMemory;
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&info, TRUE);
  if (info.image_width > static_cast<unsigned>(max_side) ||
      info.image_height > static_cast<unsigned>(max_side)) {
    s->too_large = true;
  } else {
    // One channel of a colour file is the luma of its RGB pixels, as Pillow's convert("L")
    // computes it (pixel_convert.h), not the file's own Y, which differs where RGB clips.
    const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    const bool grey_file = info.jpeg_color_space == JCS_GRAYSCALE;
    info.out_color_space = cmyk                            ? JCS_CMYK
                           : channels == 1 && grey_file ? JCS_GRAYSCALE
                                                        : JCS_RGB;
    info.scale_denom = 8;
    unsigned scale = 8;
    for (unsigned m = 1; m < 8 && min_width > 0 && min_height > 0; ++m) {
      info.scale_num = m;
      jpeg_calc_output_dimensions(&info);
      if (info.output_width >= static_cast<unsigned>(min_width) &&
          info.output_height >= static_cast<unsigned>(min_height)) {
        scale = m;
        break;
      }
    }
    info.scale_num = scale;
    jpeg_start_decompress(&info);
    out.width = static_cast<int>(info.output_width);
    out.height = static_cast<int>(info.output_height);
    out.channels = channels;
    // Reserved, then grown a row at a time: a small truncated file whose header claims a huge
    // picture fails at its first missing row without having touched the memory for the rest.
    const size_t row = static_cast<size_t>(out.width) * channels;
    out.pixels.clear();
    try {
      out.pixels.reserve(row * out.height);  // the one allocation below (rows grow inside it)
    } catch (const std::bad_alloc&) {
      s->no_memory = true;
    }
  }
  if (!s->too_large && !s->no_memory) {
    const bool cmyk = info.out_color_space == JCS_CMYK;
    const bool luma = info.out_color_space == JCS_RGB && channels == 1;
    const size_t row = static_cast<size_t>(out.width) * channels;
    // CMYK rows, and RGB rows made grey, go through a row of their own (libjpeg's, freed with
    // the decoder).
    JSAMPARRAY own_row =
        cmyk || luma
            ? (*info.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&info), JPOOL_IMAGE,
                                        info.output_width * (cmyk ? 4 : 3), 1)
            : nullptr;
    while (info.output_scanline < info.output_height) {
      out.pixels.resize(row * (info.output_scanline + 1));
      uint8_t* target = out.pixels.data() + row * info.output_scanline;
      if (cmyk || luma) {
        jpeg_read_scanlines(&info, own_row, 1);
        if (cmyk) {
          cmyk_to(own_row[0], out.width, channels, target);
        } else {
          for (int x = 0; x < out.width; ++x) target[x] = pillow_luma(own_row[0] + 3 * x);
        }
      } else {
        jpeg_read_scanlines(&info, &target, 1);
      }
    }
    jpeg_finish_decompress(&info);
  }
  const unsigned width = info.image_width, height = info.image_height;
  jpeg_destroy_decompress(&info);
  const std::string sides = std::to_string(width) + " x " + std::to_string(height);
  if (s->too_large) {
    return "JPEG of " + sides + " pixels, more than weft decodes (" + std::to_string(max_side) +
           " per side)";
  }
  if (s->no_memory) {
    out.pixels = {};
    return "JPEG of " + sides + " pixels: not enough memory for its decoded pixels";
  }
  return "";
}

}  // namespace weft::data::jpeg
