// The pieces of weft-apparel (seed 003: a multi-label apparel tagger), shared by its files:
//   main.cpp     flags, data and split, training with the seed's callbacks, thresholds, report
//   standin.cpp  the multi-label stand-in made from Fashion-MNIST (tinted garments)
#pragma once

#include <string>

#include "apps/common/app_common.h"
#include "engine/data/image_folder.h"

namespace weft::apparel {

struct Options {
  app::CommonOptions common{.out = "runs/apparel", .epochs = 50, .batch_size = 64, .lr = 1e-3};
  std::string csv;          // labels from this CSV (file,label1;label2) instead of folder names
  std::string separator = "_";
  bool standin = false;
  int size = 96;            // the seed's 96x96
  int standin_per_garment = 1200;
  bool tune_thresholds = false;
  double threshold = 0.5;
  int patience = 5;         // EarlyStopping(val_loss), the seed's
  std::string export_onnx;  // --export-onnx (apps/common/export_onnx.h)
  bool skip_bad_images = false;  // --skip-bad-images
};

// Fashion-MNIST garments tinted black or blue on a light background, upscaled to size x size
// RGB; labels = colour + garment (black, blue, dress, pants, shirt, shoes). `per_garment`
// images of each garment, colours drawn at random (seeded). Documented in standin.cpp.
data::MultiLabelImages tinted_standin(int size, int per_garment, uint64_t seed);

extern const char* const kStandinNote;

}  // namespace weft::apparel
