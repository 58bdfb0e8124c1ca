// Fuzz target: one image file as the image apps decode it (engine/data/image_io.h
// decode_image_file: JPEG, PNG, BMP, PGM/PPM through stb_image, then fitted to 8 x 8 RGB). The
// first byte picks the fit (pad, crop or stretch) and grayscale or colour.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/image_io.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  weft::data::ImageOptions options;
  options.height = 8;
  options.width = 8;
  options.fit = static_cast<weft::data::Fit>(data[0] % 3);
  options.channels = data[0] & 4 ? 1 : 3;
  const std::string path = weft::fuzz::write_scratch("image", data + 1, size - 1);
  weft::fuzz::expect_clean_errors(path, [&] {
    std::vector<uint8_t> pixels;
    int height = 0, width = 0;
    weft::data::decode_image_file(path, options, pixels, height, width);
    if (height != 8 || width != 8 || pixels.size() != 64u * options.channels) std::abort();
  });
  return 0;
}
