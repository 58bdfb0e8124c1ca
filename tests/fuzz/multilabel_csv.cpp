// Fuzz target: the apparel tagger's label CSV (engine/data/image_folder.h load_multilabel_csv):
// `file,label1;label2;...` rows naming images beside the CSV. The scratch folder holds two real
// 4 x 4 PNGs, a.png and b.png, so rows that name them load.
#include <cstdint>
#include <string>

#include "engine/data/image_folder.h"
#include "engine/report/canvas.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool images_written = [] {
    weft::report::Canvas(4, 4).save_png(weft::fuzz::scratch_dir() + "/a.png");
    weft::report::Canvas(4, 4, weft::report::colors::black).save_png(
        weft::fuzz::scratch_dir() + "/b.png");
    return true;
  }();
  (void)images_written;
  const std::string path = weft::fuzz::write_scratch("labels.csv", data, size);
  weft::data::ImageFolderOptions options;
  options.image.height = 4;
  options.image.width = 4;
  options.threads = 1;
  weft::fuzz::expect_clean_errors(path, [&] {
    const weft::data::MultiLabelImages set = weft::data::load_multilabel_csv(path, options);
    const auto labels = static_cast<int64_t>(set.label_names.size());
    if (set.targets.defined() && set.targets.dim(1) != labels) std::abort();
  });
  return 0;
}
