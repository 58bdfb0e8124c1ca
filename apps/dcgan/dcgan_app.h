// weft-dcgan's pieces, shared by its three source files:
//   main.cpp            the command line: train (default), `generate`, `synthetic-test`
//   train.cpp           data, training with the shared trainer, sample grids, the judge's
//                       Fréchet distance and class share, report.json, `generate`
//   synthetic_test.cpp  seed 000's claim put to the test: a shoe classifier trained on a small
//                       real subset with and without the generated images, over several seeds
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/app_common.h"
#include "engine/data/fashion_mnist.h"
#include "models/dcgan.h"

namespace weft::dcgan_app {

struct Options {
  app::CommonOptions common;
  // The GAN.
  double beta1 = 0.5;
  int features = 64;  // ngf = ndf
  int z_dim = 100;
  std::string classes = "shoes";  // Fashion-MNIST: "shoes" (Sandal, Sneaker, Ankle boot) or "all"
  int size = 64;                  // ImageFolder: side of the square crops
  // The judge (weft-fashion-mnist's model) and how many generated images it looks at.
  std::string judge;
  int64_t judge_samples = 1000;
  // generate
  int64_t count = 100;  // images per class
  // synthetic-test
  std::string synthetic;              // the folder `generate` wrote
  int64_t real_per_class = 200;
  int64_t synthetic_per_class = 0;    // 0: all of them
  std::vector<uint64_t> seeds = {1, 2, 3};
  int classifier_epochs = 15;
  double classifier_lr = 1e-3;
  int classifier_batch = 64;
  bool equal_steps = false;  // the run with synthetic images gets the real-only run's step count
  std::string export_onnx;   // --export-onnx: the generator; the discriminator beside it
  bool skip_bad_images = false;  // --skip-bad-images (ImageFolder data)
};

// The training images and what the judge compares them with.
struct GanData {
  bool fashion_mnist = false;       // else an ImageFolder of shoes
  data::LabeledImages train;        // uint8 at the GAN's size, labels 0..K-1
  data::LabeledImages real_test;    // Fashion-MNIST only: the test set of the same classes, 28x28
  std::vector<int32_t> source_labels;  // Fashion-MNIST only: the original label (0..9) per class
  int source_size = 0;              // the images' side before padding (28 for Fashion-MNIST)
  size_t skipped_images = 0;        // ImageFolder: bad images left out (--skip-bad-images)
};

// Whether `dir` holds Fashion-MNIST (the IDX files or the Kaggle CSVs).
bool is_fashion_mnist_dir(const std::string& dir);

// The classes --classes names (Fashion-MNIST labels).
std::vector<int32_t> fashion_classes(const std::string& which);

GanData load_gan_data(const Options& o);
models::DcganConfig gan_config(const Options& o, const GanData& data);

// The DCGAN settings a weights file was trained with, read from its metadata (model.safetensors
// or a training checkpoint); `path` may also be a run folder (its model.safetensors).
struct SavedGan {
  std::string file;
  models::DcganConfig config;
  std::vector<std::string> class_names;
  std::vector<int32_t> source_labels;
  int source_size = 0;
};
SavedGan read_saved_gan(const std::string& path);
nlohmann::json config_json(const models::DcganConfig& config);

int run_training(const Options& o);  // also --eval-only and --export-onnx with --weights
int run_generate(const Options& o);
int run_synthetic_test(const Options& o);

}  // namespace weft::dcgan_app
