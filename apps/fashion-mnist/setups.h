// The settings of weft-fashion-mnist: its flags, the named setups (--setup) that fill in the
// flags not given, and what each setup builds - model, optimizer, augmentation, callbacks.
// main.cpp runs them; the table of setups is in setups.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/app_common.h"
#include "engine/data/augment.h"
#include "engine/data/fashion_mnist.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/train/callbacks.h"
#include "engine/train/sweep.h"

namespace weft::fashion {

struct Options {
  app::CommonOptions common{.data = data::kFashionMnistDir,
                            .out = "runs/fashion-mnist",
                            .epochs = 20,
                            .batch_size = 128,
                            .lr = 1e-3};
  std::string setup = "default";
  int filters = 64;           // the seed CNN's convolution filters
  double dropout = 0.3;       // the seed CNN's dropout; the strong net's before fc
  double validation = 0.2;    // fraction of the training images held out
  int patience = 0;           // early stopping on val_loss (0: off)
  std::string schedule = "constant";
  // The training recipe's parts (apps/fashion-mnist/setups.cpp fills them from the setup).
  double warmup = 0.2;            // share of the steps the onecycle/linear schedules rise
  double weight_decay = 0;        // SGD's
  bool decay_vectors = true;      // false: no weight decay on biases and batch-norm parameters
  double label_smoothing = 0;
  double ema = 0;                 // decay of the weight average (0: off)
  std::string tta = "none";       // none or flip
  bool augment = false;           // random crop (pad 2) and horizontal flip
  bool test_every_epoch = false;  // a per-epoch test accuracy for curves
  std::string sweep;
  std::vector<uint64_t> repeat_seeds;
  std::string export_onnx;  // --export-onnx (apps/common/export_onnx.h)
};

// Register the common flags and this app's own.
void add_options(CLI::App& cli, Options& options);

// Fill every setting the command line did not give from the --setup's table row; an error for
// flags that do not apply to the setup.
void apply_setup(const CLI::App& cli, Options& options);

// One setting of a --sweep or --repeat-seeds grid point (lr, batch_size, epochs, filters,
// dropout, seed); an error naming the others for anything else.
void apply_setting(Options& options, const std::string& name, const nlohmann::ordered_json& value);

bool residual(const Options& options);  // the strong setup's network
bool vgg(const Options& options);       // the default and speedrun setups' network
std::shared_ptr<nn::Module> build_model(const Options& options);
std::unique_ptr<optim::Optimizer> build_optimizer(const Options& options, nn::Module& model);
std::optional<data::AugmentOptions> augmentation(const Options& options);
std::vector<std::shared_ptr<train::Callback>> callbacks(const Options& options,
                                                        int64_t train_images);
nlohmann::json config_json(const Options& options, const Device& device);
std::string describe(const Options& options);

// The test accuracy the seed's README claims for a setup (null where it claims none).
nlohmann::json claimed_accuracy(const std::string& setup);

// <out>/repeat_summary.{json,md}: mean, spread, min and max of test accuracy over the seeds,
// beside the seed's claim.
void write_repeat_summary(const Options& options, const train::SweepResult& result);

}  // namespace weft::fashion
