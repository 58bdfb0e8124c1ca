// The pieces of weft-clothing (seed 002: an imbalanced three-class clothing classifier, ResNet
// transfer learning, Grad-CAM), shared by its three source files:
//   main.cpp     flags, the run (balance off / on / compare), transfer learning, the report
//   data.cpp     the real data (Fashion Product Images' styles.csv + images/, or an
//                ImageFolder) or the Fashion-MNIST stand-in, the 70/15/15 split,
//                balancing by augmentation, the pretraining set for the stand-in backbone
//   explain.cpp  Grad-CAM overlays for test images and for image files
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/app_common.h"
#include "apps/common/classifier_run.h"
#include "engine/data/augment.h"
#include "engine/data/image_io.h"
#include "engine/nn/module.h"

namespace weft::clothing {

struct Options {
  app::CommonOptions common{.out = "runs/clothing", .epochs = 15, .batch_size = 64, .lr = 1e-3};
  bool standin = false;
  int size = 0;      // 0: 64 for image folders, 28 for the stand-in
  int channels = 0;  // 0: 3 for image folders, 1 for the stand-in
  std::string balance = "off";  // off, on, compare
  std::string model = "simple";
  std::string backbone;          // weights to start from, head excluded
  int freeze_epochs = 0;         // epochs that train the head alone
  bool pretrain_standin = false;
  int pretrain_epochs = 3;
  std::string normalize = "unit";  // unit (/255) or imagenet (torchvision's mean and std)
  int patience = 5;
  std::vector<std::string> gradcam;  // image files to explain
  std::string gradcam_class;         // class to explain (default: the predicted one)
  int gradcam_samples = 2;           // test images explained per class after a run
  std::string export_onnx;           // --export-onnx (apps/common/export_onnx.h)
  bool skip_bad_images = false;      // --skip-bad-images
  // Fashion Product Images' own layout (styles.csv + images/, engine/data/product_styles.h): the
  // column that names the class and the values kept as classes (the seed's three by default).
  std::string label_column = "usage";
  std::vector<std::string> classes = {"Casual", "Formal", "Smart Casual"};
};

// The seed's class shares, and the Fashion-MNIST classes standing in for its classes.
constexpr double kShares[3] = {0.934, 0.064, 0.002};
extern const std::vector<int> kStandinClasses;   // T-shirt/top, Shirt, Pullover
extern const std::vector<int> kPretrainClasses;  // the other seven
extern const char* const kStandinNote;

bool use_standin(const Options& o);
int image_size(const Options& o);
int image_channels(const Options& o);
data::ImageOptions image_options(const Options& o);
data::Normalize normalization(const Options& o);

// The three splits (70/15/15 by class) of the stand-in or of --data, each cut to --limit (a
// folder's files chosen before decoding). `notes` receives what report.json should say.
app::ClassifierData load_data(const Options& o, nlohmann::ordered_json& notes);

// The splits with the training split's smaller classes grown with augmented copies (rotation,
// shear, flip, nearest fill) to the size of the largest; refused, naming the size in GB, where
// the balanced split would not fit in the memory available. `notes` as above.
app::ClassifierData balance_training_split(const Options& o, app::ClassifierData data,
                                           nlohmann::ordered_json& notes);

// The augmentation that balances the classes (also used on the fly while training).
data::AugmentOptions balancing_augmentation();

// The stand-in's pretraining set: the seven other Fashion-MNIST classes, train split 85/15
// into train and validation, their test images as test.
app::ClassifierData pretrain_data(const Options& o);

// Grad-CAM overlays for --gradcam-samples test images of each class, written to
// <run_dir>/gradcam/ and as one grid, <run_dir>/figures/gradcam.png. Returns the files written.
std::vector<std::string> explain_test_images(const std::shared_ptr<nn::Module>& model,
                                             const data::LabeledImages& test,
                                             const Options& o, const std::string& run_dir,
                                             const Device& device);

// Grad-CAM overlays for image files (--gradcam), one line printed per file; the class is
// --gradcam-class (a name) or the predicted one.
void explain_files(const std::shared_ptr<nn::Module>& model,
                   const std::vector<std::string>& class_names, const Options& o,
                   const Device& device);

}  // namespace weft::clothing
