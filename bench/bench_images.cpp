// Image decoding benchmarks: one file decoded and fitted as the loaders do it
// (data::decode_image_file), at the sizes of the seed projects' photo sets.
//
//   zappos_136x102    UT Zappos50K's photos, square-cropped to 128 x 128 (seed 000)
//   product_1800x2400 Fashion Product Images at full size, cropped to 224 x 224 for ResNet-50
//   product_60x80     the same set's small edition, stretched to 224 x 224
//
// The photos cannot be downloaded here, so each file is made at start-up by stb_image_write
// (JPEG quality 90, chroma subsampled, as photo sites ship them; and PNG, stb's default
// compression): smooth gradients with a fine texture, so the encoder has both flat and detailed
// blocks. Images decode once per dataset load (engine/data/image_folder.h), so these rows are a
// load's time per image, not an epoch's.
//
//   build/bench/bench_images [--benchmark_filter=product]
#include <benchmark/benchmark.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/data/image_io.h"

namespace {

namespace fs = std::filesystem;

// A folder of the benchmark's files, removed at exit.
struct Folder {
  fs::path path = fs::temp_directory_path() / ("weft_bench_images_" + std::to_string(getpid()));
  Folder() { fs::create_directories(path); }
  ~Folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

Folder& folder() {
  static Folder instance;
  return instance;
}

// RGB pixels: a colour gradient across the picture with a texture of a few pixels' period.
std::vector<uint8_t> photo_pixels(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double u = static_cast<double>(x) / w, v = static_cast<double>(y) / h;
      const double texture = 18.0 * std::sin(x * 0.9) * std::cos(y * 0.7);
      const double base[3] = {200.0 * u + 30.0, 160.0 * v + 50.0, 120.0 * (1.0 - u * v) + 60.0};
      for (int c = 0; c < 3; ++c) {
        const double value = std::clamp(base[c] + texture, 0.0, 255.0);
        px[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(value);
      }
    }
  }
  return px;
}

// The file of a w x h photo in `format` ("jpg" or "png"), written on first use.
std::string photo_file(int w, int h, const std::string& format) {
  const fs::path path =
      folder().path / (std::to_string(w) + "x" + std::to_string(h) + "." + format);
  if (!fs::exists(path)) {
    const std::vector<uint8_t> px = photo_pixels(w, h);
    const int ok = format == "jpg"
                       ? stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 90)
                       : stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3);
    if (!ok) throw std::runtime_error("bench_images: could not write " + path.string());
  }
  return path.string();
}

void decode(benchmark::State& state, int w, int h, const char* format,
            weft::data::ImageOptions options) {
  const std::string path = photo_file(w, h, format);
  std::vector<uint8_t> out;
  int height = 0, width = 0;
  for (auto _ : state) {
    weft::data::decode_image_file(path, options, out, height, width);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["file_KiB"] = static_cast<double>(fs::file_size(path)) / 1024.0;
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

weft::data::ImageOptions options(int size, weft::data::Fit fit, int channels = 3) {
  weft::data::ImageOptions o;
  o.height = o.width = size;
  o.fit = fit;
  o.channels = channels;
  return o;
}

using weft::data::Fit;

struct Case {
  const char* name;
  int width, height;
  const char* format;
  weft::data::ImageOptions options;
  benchmark::TimeUnit unit;
};

const Case kCases[] = {
    {"zappos_136x102/jpg/crop128", 136, 102, "jpg", options(128, Fit::crop),
     benchmark::kMicrosecond},
    {"zappos_136x102/jpg/crop64_gray", 136, 102, "jpg", options(64, Fit::crop, 1),
     benchmark::kMicrosecond},
    {"product_1800x2400/jpg/crop224", 1800, 2400, "jpg", options(224, Fit::crop),
     benchmark::kMillisecond},
    {"product_1800x2400/jpg/pad96", 1800, 2400, "jpg", options(96, Fit::pad),
     benchmark::kMillisecond},
    {"product_1800x2400/jpg/full", 1800, 2400, "jpg", {}, benchmark::kMillisecond},
    {"product_1800x2400/png/crop224", 1800, 2400, "png", options(224, Fit::crop),
     benchmark::kMillisecond},
    {"product_1800x2400/png/full", 1800, 2400, "png", {}, benchmark::kMillisecond},
    {"zappos_136x102/png/crop128", 136, 102, "png", options(128, Fit::crop),
     benchmark::kMicrosecond},
    {"zappos_136x102/png/crop64_gray", 136, 102, "png", options(64, Fit::crop, 1),
     benchmark::kMicrosecond},
    {"product_60x80/jpg/stretch224", 60, 80, "jpg", options(224, Fit::stretch),
     benchmark::kMicrosecond},
};

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : kCases) {
    benchmark::RegisterBenchmark((std::string("decode/") + c.name).c_str(), decode, c.width,
                                 c.height, c.format, c.options)
        ->Unit(c.unit);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
