// weft_decode_image FILE HEIGHT WIDTH CHANNELS FIT OUT: the weft side of the Pillow check
// (tests/pillow/check_pillow_decode.py). Decodes FILE as the image apps do
// (data::decode_image_file; HEIGHT and WIDTH 0 keep the decoded size; CHANNELS 1 or 3; FIT pad,
// crop or stretch) and writes the uint8 [C, H, W] planes to OUT, raw, and "H W" to stdout. A file
// weft refuses prints its one-line reason to stderr and exits 1.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "engine/data/image_io.h"
#include "engine/io/atomic_file.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: weft_decode_image FILE HEIGHT WIDTH CHANNELS FIT OUT\n");
    return 2;
  }
  weft::data::ImageOptions options;
  options.height = std::atoi(argv[2]);
  options.width = std::atoi(argv[3]);
  options.channels = std::atoi(argv[4]);
  const std::string fit = argv[5];
  options.fit = fit == "crop"      ? weft::data::Fit::crop
                : fit == "stretch" ? weft::data::Fit::stretch
                                   : weft::data::Fit::pad;
  try {
    std::vector<uint8_t> pixels;
    int height = 0, width = 0;
    weft::data::decode_image_file(argv[1], options, pixels, height, width);
    weft::io::write_file_atomic(argv[6], std::string(pixels.begin(), pixels.end()));
    std::printf("%d %d\n", height, width);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
