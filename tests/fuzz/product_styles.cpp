// Fuzz target: Fashion Product Images' styles.csv (engine/data/product_styles.h
// load_product_styles) with the seed's classes, as weft-clothing reads it. The scratch folder's
// images/ holds two real 4 x 4 PNGs named 1.jpg and 2.jpg (decoded by their bytes), so rows
// naming ids 1 and 2 load; other ids are missing images, left out (BadImages::skip).
#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/data/product_styles.h"
#include "engine/report/canvas.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string root = [] {
    const std::string dir = weft::fuzz::scratch_dir() + "/product";
    std::filesystem::create_directories(dir + "/images");
    weft::report::Canvas(4, 4).save_png(dir + "/images/1.jpg");
    weft::report::Canvas(4, 4, weft::report::colors::black).save_png(dir + "/images/2.jpg");
    return dir;
  }();
  const std::string path = weft::fuzz::write_scratch("product/styles.csv", data, size);
  weft::data::ProductStylesOptions options;
  options.folder.image.height = 4;
  options.folder.image.width = 4;
  options.folder.threads = 1;
  options.folder.bad_images = weft::data::BadImages::skip;
  options.classes = {"Casual", "Formal"};
  weft::fuzz::expect_clean_errors(path, [&] {
    const weft::data::ProductStyles set = weft::data::load_product_styles(root, options);
    if (set.size() > 0 && set.class_names.empty()) std::abort();
    if (set.other_rows > set.rows) std::abort();
  });
  return 0;
}
