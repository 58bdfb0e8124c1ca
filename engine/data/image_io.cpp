// Image decoding, fitting and parallel batch decoding (see image_io.h). JPEG goes to
// libjpeg-turbo (jpeg_decode.h), PNG to libpng (png_decode.h), BMP and PGM/PPM to stb_image
// compiled for those two (stb_decode.h); resizing is weft's (resize.h).
#include "engine/data/image_io.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "engine/data/jpeg_decode.h"
#include "engine/data/pixel_convert.h"
#include "engine/data/png_decode.h"
#include "engine/data/resize.h"
#include "engine/data/stb_decode.h"
#include "engine/data/workers.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft::data {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Interleaved pixels [height, width, channels], as stb produces and consumes them.
struct Interleaved {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

Interleaved resize(const Interleaved& in, int width, int height) {
  if (in.width == width && in.height == height) return in;
  Interleaved out{width, height, in.channels, {}};
  out.pixels.resize(static_cast<size_t>(width) * height * in.channels);
  resize_pixels(in.pixels.data(), in.width, in.height, in.channels, out.pixels.data(), width,
                height);
  return out;
}

// The window [x0, x0+w) x [y0, y0+h) of `in`; parts outside `in` are `fill`.
Interleaved window(const Interleaved& in, int x0, int y0, int w, int h, uint8_t fill) {
  Interleaved out{w, h, in.channels, {}};
  out.pixels.assign(static_cast<size_t>(w) * h * in.channels, fill);
  for (int y = 0; y < h; ++y) {
    const int sy = y0 + y;
    if (sy < 0 || sy >= in.height) continue;
    for (int x = 0; x < w; ++x) {
      const int sx = x0 + x;
      if (sx < 0 || sx >= in.width) continue;
      std::memcpy(&out.pixels[(static_cast<size_t>(y) * w + x) * in.channels],
                  &in.pixels[(static_cast<size_t>(sy) * in.width + sx) * in.channels],
                  static_cast<size_t>(in.channels));
    }
  }
  return out;
}

Interleaved fit(const Interleaved& in, const ImageOptions& options) {
  if (options.width == 0 && options.height == 0) return in;
  const double target_aspect = static_cast<double>(options.width) / options.height;
  const double aspect = static_cast<double>(in.width) / in.height;
  if (options.fit == Fit::stretch || std::abs(aspect - target_aspect) < 1e-9) {
    return resize(in, options.width, options.height);
  }
  const bool wider = aspect > target_aspect;
  if (options.fit == Fit::pad) {
    // Resized to fit inside the target, then centred on it: the canvas is never larger than the
    // target (padding first would build a 50,000 x 50,000 canvas for a 50,000 x 5 panorama).
    int w = options.width, h = options.height;
    if (wider) {
      h = std::clamp(static_cast<int>(std::lround(w / aspect)), 1, options.height);
    } else {
      w = std::clamp(static_cast<int>(std::lround(h * aspect)), 1, options.width);
    }
    return window(resize(in, w, h), (w - options.width) / 2, (h - options.height) / 2,
                  options.width, options.height, options.pad_value);
  }
  // Crop: the largest centred window of the target's aspect ratio, then resized.
  int w = in.width, h = in.height;
  if (wider) {
    w = std::max(1, static_cast<int>(std::lround(in.height * target_aspect)));
  } else {
    h = std::max(1, static_cast<int>(std::lround(in.width / target_aspect)));
  }
  return resize(window(in, (in.width - w) / 2, (in.height - h) / 2, w, h, options.pad_value),
                options.width, options.height);
}

// The format a file's first bytes announce, or nullptr.
const char* format_of(const std::string& bytes) {
  auto starts = [&](const char* magic, size_t length) {
    return bytes.size() >= length && bytes.compare(0, length, magic, length) == 0;
  };
  if (starts("\xFF\xD8", 2)) return "JPEG";
  if (starts("\x89PNG\r\n\x1A\n", 8)) return "PNG";
  if (starts("BM", 2)) return "BMP";
  if (starts("P5", 2) || starts("P6", 2)) return "PGM/PPM";
  return nullptr;
}

// A binary PGM/PPM header: width, height and maximum value (after comments and white space),
// and where the pixels start (after the one white-space character that ends the header).
struct PnmHeader {
  bool read = false;  // false: the header does not read as one
  long width = 0, height = 0, max_value = 0;
  size_t pixels_at = 0;
};

PnmHeader pnm_header(const std::string& bytes) {
  PnmHeader header;
  size_t at = 2;  // after "P5" or "P6"
  long* numbers[3] = {&header.width, &header.height, &header.max_value};
  for (long* number_of : numbers) {
    long& number = *number_of;
    while (at < bytes.size() && (std::isspace(static_cast<unsigned char>(bytes[at])) ||
                                 bytes[at] == '#')) {
      if (bytes[at] == '#') {
        while (at < bytes.size() && bytes[at] != '\n' && bytes[at] != '\r') ++at;
      } else {
        ++at;
      }
    }
    if (at >= bytes.size() || !std::isdigit(static_cast<unsigned char>(bytes[at]))) return header;
    while (at < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[at]))) {
      // stb_image's own reading of a number past int's range overflows (found by fuzzing).
      if (number >= 100000000) return header;
      number = number * 10 + (bytes[at++] - '0');
    }
  }
  header.read = true;
  header.pixels_at = at + 1;
  return header;
}

// Why stb_image must not be handed this PGM/PPM, or "". stb_image 2.27 (Debian's libstb-dev
// 0.0~git20220908) reads a 16-bit one past its buffer when converting it, and decodes a
// truncated one without complaint from uninitialised memory (both found by fuzzing:
// tests/fuzz/README.md).
std::string pnm_problem(const std::string& bytes) {
  const PnmHeader h = pnm_header(bytes);
  if (!h.read || h.max_value == 0) {
    return "PGM/PPM header does not read as width, height and maximum value (1 to 255, numbers "
           "of at most 9 digits)";
  }
  if (h.width > stb::kMaxImageSide || h.height > stb::kMaxImageSide) {
    return "PGM/PPM of " + std::to_string(h.width) + " x " + std::to_string(h.height) +
           " pixels, more than weft decodes (" + std::to_string(stb::kMaxImageSide) +
           " per side)";
  }
  if (h.max_value > 255) {
    return "PGM/PPM of 16-bit samples (maximum value " + std::to_string(h.max_value) +
           "): weft reads 8-bit ones (maximum value at most 255)";
  }
  const uint64_t channels = bytes[1] == '6' ? 3 : 1;
  const uint64_t needed =
      static_cast<uint64_t>(h.width) * static_cast<uint64_t>(h.height) * channels;
  const uint64_t present = bytes.size() > h.pixels_at ? bytes.size() - h.pixels_at : 0;
  if (present < needed) {
    return "truncated PGM/PPM: " + std::to_string(h.width) + " x " + std::to_string(h.height) +
           " pixels need " + std::to_string(needed) + " bytes, the file has " +
           std::to_string(present);
  }
  return "";
}

// The file's byte at `at`, or 0 past its end: stb_image reads a short file that way (header
// fields included), so the checks below that predict what stb will do read it the same way.
uint8_t byte_as_stb_reads(const std::string& bytes, size_t at) {
  return at < bytes.size() ? static_cast<uint8_t>(bytes[at]) : uint8_t{0};
}

// Why stb_image must not be handed this BMP, or "": an uncompressed one shorter than its header
// says. stb reads zeros past the end of a BMP, so a cut file decodes without complaint (found by
// fuzzing: 139 bytes came out as a 16,130 x 4,096 image).
std::string bmp_problem(const std::string& bytes) {
  const auto u8 = [&](size_t at) { return uint32_t{byte_as_stb_reads(bytes, at)}; };
  const auto u16 = [&](size_t at) { return u8(at) | u8(at + 1) << 8; };
  const auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  const uint64_t pixels_at = u32(10);
  const uint32_t header = u32(14);
  uint64_t width = 0, height = 0, bits = 0, compression = 0;
  if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sides
    width = u16(18);
    height = u16(20);
    bits = u16(24);
  } else if (header >= 40) {
    width = static_cast<uint64_t>(std::abs(static_cast<int64_t>(static_cast<int32_t>(u32(18)))));
    height = static_cast<uint64_t>(std::abs(static_cast<int64_t>(static_cast<int32_t>(u32(22)))));
    bits = u16(28);
    compression = u32(30);
  } else {
    return "";
  }
  // stb refuses RLE (1, 2) and reads every other compression value as uncompressed pixels.
  if (compression == 1 || compression == 2) return "";
  const uint64_t row = (width * bits + 31) / 32 * 4;
  const uint64_t needed = pixels_at + row * height;
  if (width > 0 && height > 0 && bytes.size() < needed) {
    return "truncated BMP: " + std::to_string(width) + " x " + std::to_string(height) + " at " +
           std::to_string(bits) + " bits need " + std::to_string(needed) + " bytes, the file has " +
           std::to_string(bytes.size());
  }
  return "";
}

// "W x H" from an image's header where stb_image can read it, "" where it cannot.
std::string header_size(const std::string& bytes) {
  int width = 0, height = 0, channels = 0;
  if (!stb::info(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &width,
                 &height, &channels)) {
    return "";
  }
  return std::to_string(width) + " x " + std::to_string(height);
}

// Decode a BMP or PGM/PPM with stb_image into `image`; "" or why it cannot be decoded. stb gives
// the file's own samples, converted here as PNG's are (pixel_convert.h: Pillow's luma).
std::string decode_with_stb(const std::string& bytes, const char* format,
                            const ImageOptions& options, Interleaved& image) {
  int file_channels = 0;
  unsigned char* pixels =
      stb::load(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &image.width,
                &image.height, &file_channels, 0);
  if (pixels == nullptr) {
    const char* reason = stb::failure_reason();
    const std::string detail =
        std::string(" (stb_image: ") + (reason && *reason ? reason : "no reason given") + ")";
    const std::string size = header_size(bytes);
    if (reason != nullptr && std::strcmp(reason, "too large") == 0 && !size.empty()) {
      return std::string(format) + " of " + size + " pixels, more than stb_image decodes" + detail;
    }
    return std::string("corrupt or truncated ") + format + " data" + detail;
  }
  image.channels = options.channels;
  const size_t count = static_cast<size_t>(std::max(image.width, 0)) *
                       static_cast<size_t>(std::max(image.height, 0));
  if (file_channels < 1 || file_channels > 4) {
    stb::free_pixels(pixels);
    return std::string(format) + " with " + std::to_string(file_channels) + " samples a pixel";
  }
  image.pixels.resize(count * image.channels);
  convert_pixels(pixels, count, file_channels, image.channels, image.pixels.data());
  stb::free_pixels(pixels);
  return "";
}

// Decode and fit one file into `out` as [C, H, W]; returns "" on success, else the reason.
std::string try_decode(const std::string& path, const ImageOptions& options,
                       std::vector<uint8_t>& out, int& height, int& width) {
  std::string bytes;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return "is a folder, not an image file";
  try {
    bytes = io::read_file(path);
  } catch (const Error&) {
    return "cannot be read (missing or no permission)";
  }
  if (bytes.empty()) return "empty file";
  const char* format = format_of(bytes);
  const bool jpeg = format != nullptr && std::strcmp(format, "JPEG") == 0;
  if (jpeg && bytes.rfind("\xFF\xD9") == std::string::npos) {
    return "truncated JPEG: no end-of-image marker (FF D9)";
  }
  // Only the formats weft names (the decoder has no others: stb_decode.h).
  if (format == nullptr) return "not a JPEG, PNG, BMP or PGM/PPM image (by its first bytes)";
  if (std::strcmp(format, "PGM/PPM") == 0) {
    if (std::string problem = pnm_problem(bytes); !problem.empty()) return problem;
  }
  if (std::strcmp(format, "BMP") == 0) {
    if (std::string problem = bmp_problem(bytes); !problem.empty()) return problem;
  }
  Interleaved image;
  if (jpeg) {
    // Decoded at a reduced scale where the target is much smaller (jpeg_decode.h): at least
    // twice the target's sides, as Pillow's thumbnail() drafts with its reducing_gap of 2, so
    // the filter below still shrinks by 2 or more and keeps its quality.
    jpeg::Image decoded;
    const std::string problem = jpeg::decode(
        reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), options.channels,
        2 * options.width, 2 * options.height, stb::kMaxImageSide, decoded);
    if (!problem.empty()) return problem;
    image = {decoded.width, decoded.height, decoded.channels, std::move(decoded.pixels)};
  } else if (std::strcmp(format, "PNG") == 0) {
    png::Image decoded;
    const std::string problem =
        png::decode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    options.channels, stb::kMaxImageSide, decoded);
    if (!problem.empty()) return problem;
    image = {decoded.width, decoded.height, decoded.channels, std::move(decoded.pixels)};
  } else if (std::string problem = decode_with_stb(bytes, format, options, image);
             !problem.empty()) {
    return problem;
  }
  if (image.width <= 0 || image.height <= 0) {  // stb_image accepts a PGM/PPM of height 0
    return std::string(format) + " of " + std::to_string(image.width) + " x " +
           std::to_string(image.height) + " pixels: no pixels to read";
  }

  Interleaved fitted;
  try {
    fitted = fit(image, options);
  } catch (const Error& e) {
    return e.what();
  }
  height = fitted.height;
  width = fitted.width;
  const size_t plane = static_cast<size_t>(height) * width;
  out.resize(plane * fitted.channels);
  for (size_t p = 0; p < plane; ++p) {
    for (int c = 0; c < fitted.channels; ++c) {
      out[c * plane + p] = fitted.pixels[p * fitted.channels + c];
    }
  }
  return {};
}

void check_options(const ImageOptions& options) {
  WEFT_CHECK(options.channels == 1 || options.channels == 3, "image options: channels must be ",
             "1 (grayscale) or 3 (RGB), got ", options.channels);
  WEFT_CHECK((options.height == 0) == (options.width == 0) && options.height >= 0 &&
                 options.width >= 0,
             "image options: size ", options.height, "x", options.width,
             " must be both positive, or both 0 to keep the decoded size");
}

// The bad images after the first (index `first`) of a failed load, for its error: up to
// kListedBadImages of them by name and reason, and how many more there are; "" when it is alone.
constexpr int64_t kListedBadImages = 10;
std::string other_bad_images(const std::vector<std::string>& paths,
                             const std::vector<std::string>& reasons, size_t first, int64_t bad) {
  if (bad <= 1) return "";
  std::string out = " (and " + std::to_string(bad - 1) + " more bad images: ";
  int64_t listed = 0;
  for (size_t i = first + 1; i < paths.size() && listed < kListedBadImages; ++i) {
    if (reasons[i].empty()) continue;
    out += (listed > 0 ? "; " : "") + paths[i] + ": " + reasons[i];
    ++listed;
  }
  if (bad - 1 > listed) out += "; " + std::to_string(bad - 1 - listed) + " not listed";
  return out + ")";
}

}  // namespace

bool has_image_extension(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos) return false;
  const std::string ext = lower(path.substr(dot));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".pgm" ||
         ext == ".ppm";
}

void decode_image_file(const std::string& path, const ImageOptions& options,
                       std::vector<uint8_t>& out, int& height, int& width) {
  check_options(options);
  const std::string reason = try_decode(path, options, out, height, width);
  WEFT_CHECK(reason.empty(), path, ": ", reason);
}

DecodedImages decode_images(const std::vector<std::string>& paths, const ImageOptions& options,
                            BadImages bad_images, int threads, const DecodeProgress& progress) {
  check_options(options);
  const auto start = std::chrono::steady_clock::now();
  const size_t n = paths.size();
  std::vector<std::string> reasons(n);

  // The size every image must have: the requested one, or that of the first image that decodes.
  int height = options.height, width = options.width;
  size_t first = 0;
  std::vector<uint8_t> first_pixels;
  if (height == 0) {
    for (; first < n; ++first) {
      reasons[first] = try_decode(paths[first], options, first_pixels, height, width);
      if (reasons[first].empty()) break;
      if (bad_images == BadImages::fail) throw BadImage(paths[first] + ": " + reasons[first]);
    }
    if (first == n) height = width = 1;  // nothing decodes: the tensor stays empty
  }
  const int64_t elements = int64_t{options.channels} * height * width;
  Tensor all = Tensor::empty({static_cast<int64_t>(n), options.channels, height, width},
                             DType::u8);
  uint8_t* slots = all.data<uint8_t>();
  if (!first_pixels.empty()) {
    std::memcpy(slots + first * elements, first_pixels.data(), static_cast<size_t>(elements));
  }

  // Workers take the next undecoded index; each writes only its own slot and reason. The
  // calling thread, one of them, also reports progress between its files.
  std::atomic<size_t> next{first_pixels.empty() ? first : first + 1};
  std::atomic<int64_t> done{static_cast<int64_t>(next.load())};
  auto last_report = start;
  const auto report = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_report).count() < progress.every_seconds) return;
    last_report = now;
    try {
      progress.report(done.load(), static_cast<int64_t>(n));
    } catch (...) {  // a log line that failed must not stop the load (or leave workers unjoined)
    }
  };
  auto work = [&](bool reporter) {
    std::vector<uint8_t> pixels;
    for (size_t i = next++; i < n; i = next++, ++done) {
      if (reporter && progress.report) report();
      int h = 0, w = 0;
      try {
        reasons[i] = try_decode(paths[i], options, pixels, h, w);
      } catch (const std::exception& e) {
        reasons[i] = e.what();
      }
      if (!reasons[i].empty()) continue;
      if (h != height || w != width) {
        reasons[i] = "is " + std::to_string(w) + "x" + std::to_string(h) + " pixels, expected " +
                     std::to_string(width) + "x" + std::to_string(height) +
                     " like the first image (give the loader a size to resize to)";
        continue;
      }
      std::memcpy(slots + i * elements, pixels.data(), static_cast<size_t>(elements));
    }
  };
  int workers = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  workers = std::clamp<int>(workers, 1, static_cast<int>(std::max<size_t>(1, n)));
  run_workers(workers, [&](int worker) { work(worker == 0); });

  DecodedImages out;
  out.stats.files = static_cast<int64_t>(n);
  out.stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.stats.threads = workers;
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad += !reasons[i].empty();
  for (size_t i = 0; i < n; ++i) {
    if (reasons[i].empty()) {
      if (static_cast<int64_t>(out.kept.size()) != static_cast<int64_t>(i)) {
        std::memmove(slots + static_cast<int64_t>(out.kept.size()) * elements,
                     slots + i * elements, static_cast<size_t>(elements));
      }
      out.kept.push_back(static_cast<int64_t>(i));
    } else if (bad_images == BadImages::fail) {
      throw BadImage(paths[i] + ": " + reasons[i] + other_bad_images(paths, reasons, i, bad));
    } else {
      out.skipped.push_back({paths[i], reasons[i]});
    }
  }
  const int64_t kept = static_cast<int64_t>(out.kept.size());
  out.images = kept == static_cast<int64_t>(n) ? all : all.slice(0, 0, kept);
  return out;
}

Tensor gather_rows(const Tensor& tensor, const std::vector<int64_t>& indices) {
  WEFT_CHECK(tensor.device().is_cpu() && tensor.ndim() >= 1, "gather_rows: expected a CPU ",
             "tensor with at least one axis, got ", tensor.str());
  const int64_t rows = tensor.dim(0);
  const size_t row_bytes = static_cast<size_t>(rows == 0 ? 0 : tensor.numel() / rows) *
                           dtype_size(tensor.dtype());
  Shape shape = tensor.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::empty(shape, tensor.dtype());
  const auto* src = static_cast<const uint8_t*>(tensor.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < indices.size(); ++i) {
    WEFT_CHECK(indices[i] >= 0 && indices[i] < rows, "gather_rows: index ", indices[i],
               " outside 0..", rows - 1);
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(indices[i]) * row_bytes, row_bytes);
  }
  return out;
}

}  // namespace weft::data
