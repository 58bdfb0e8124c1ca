// Fuzz target: one image file as the image apps decode it (engine/data/image_io.h
// decode_image_file: JPEG through libjpeg-turbo, PNG, BMP, PGM/PPM through stb_image, then
// fitted to 8 x 8 or 64 x 48, so a JPEG is decoded at the smallest scale of at least twice
// that). The first byte picks the fit (pad, crop or stretch), grayscale or colour, and the size.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/image_io.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  weft::data::ImageOptions options;
  const bool larger = (data[0] & 8) != 0;  // a JPEG then decodes at larger scales too
  options.height = larger ? 48 : 8;
  options.width = larger ? 64 : 8;
  options.fit = static_cast<weft::data::Fit>(data[0] % 3);
  options.channels = data[0] & 4 ? 1 : 3;
  const std::string path = weft::fuzz::write_scratch("image", data + 1, size - 1);
  weft::fuzz::expect_clean_errors(path, [&] {
    std::vector<uint8_t> pixels;
    int height = 0, width = 0;
    weft::data::decode_image_file(path, options, pixels, height, width);
    if (height != options.height || width != options.width ||
        pixels.size() != static_cast<size_t>(height) * width * options.channels) {
      std::abort();
    }
  });
  return 0;
}
