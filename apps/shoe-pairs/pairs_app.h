// weft-shoe-pairs' pieces, shared by its two source files:
//   main.cpp  the command line and --help (with the folder layout for real pair photos)
//   run.cpp   the photos (real folder or the Fashion-MNIST stand-in), the owner split, pair
//             examples, training with the shared trainer, evaluation, --sanity, --predict
#pragma once

#include <cstdint>
#include <string>

#include "apps/common/app_common.h"
#include "models/pair_cnn.h"

namespace weft::pairs_app {

struct Options {
  app::CommonOptions common;
  std::string model = "channel";  // cnn (stacked), channel (6-channel) or siamese
  int size = 32;                  // side of one shoe photo, in pixels
  double weight_decay = 1e-4;
  std::string negatives = "same-owner";  // or "anyone"
  int pairs_per_owner = 3;               // stand-in only
  double validation = 0.15, test = 0.15;  // shares of the owners
  bool sanity = false;
  int sanity_pairs = 12;
  int sanity_batch = 8;
  std::string export_onnx;  // --export-onnx (apps/common/export_onnx.h)
  bool skip_bad_images = false;  // --skip-bad-images (a bad photo leaves its pair out)
};

// The pair model --model names, for photos of size x size with `channels` channels.
models::PairCnnConfig pair_config(const std::string& model, int size, int channels);

int run(Options& o);  // training (default), --eval-only, --predict, --export-onnx
int run_sanity(const Options& o);

}  // namespace weft::pairs_app
