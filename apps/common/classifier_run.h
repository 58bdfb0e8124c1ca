// One whole run of a single-label image classifier, as every classifier app does it:
//
//   weights (--weights) -> train with the shared trainer (unless --eval-only) -> evaluate the
//   test split once -> model.safetensors, classification report and figures, report.json
//
// The app decides everything that differs between apps - where the images come from and how
// they are split, the model, the optimizer, augmentation, callbacks (early stopping, schedules)
// - and hands it over in a ClassifierData and a ClassifierRun. The pieces underneath:
//   engine/data/loader.h         batches, shuffling and augmentation on worker threads
//   engine/train/loader_epoch.h  one epoch / one prediction pass over a loader
//   engine/train/trainer.h       epochs, callbacks, checkpoints, resume, Ctrl-C
//   apps/common/reports.h         classification_report.txt/json and the five figures
//   apps/common/app_common.h      weights, report.json
//
// The run folder gets, besides the report files: last.safetensors (every epoch, for --resume),
// best.safetensors (lowest val_loss), metrics.csv/metrics.jsonl and model.safetensors (the
// final weights, with the class names in its metadata so --predict can name them).
#pragma once

#include <map>
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
#include "engine/train/loader_epoch.h"
#include "engine/train/trainer.h"

namespace weft::app {

struct ClassifierData {
  // uint8 [N, C, H, W] images with int32 labels; the three share class_names and image shape.
  data::LabeledImages train, validation, test;
  std::string source;  // one line: where the images came from (goes into report.json)
};

struct ClassifierRun {
  std::string app;    // "shoes": report.json's "app" and the log prefix
  std::string title;  // heads the figures
  CommonOptions common;
  Device device;
  // The app's settings: stored in checkpoints (a resume with other settings is refused, but for
  // the keys in config_may_change) and written to report.json.
  nlohmann::json config = nlohmann::json::object();
  std::vector<std::string> config_may_change = {"epochs", "data", "device", "patience"};
  std::optional<data::AugmentOptions> augment;  // training images only
  data::Normalize normalize;                    // every split
  int workers = 0;  // loader threads building training batches; 0: loader_workers(common, device)
  float label_smoothing = 0.0f;                 // the training loss's (loader_epoch.h)
  // Validation and test predictions: plain, or averaged with the mirror image's.
  train::TestTimeAugment test_time_augment = train::TestTimeAugment::none;
  // Also evaluate the test split after every epoch, as the metric "epoch_test_accuracy" (for
  // accuracy-against-time curves; nothing is chosen by it). The final test evaluation is the
  // one reported as test_accuracy.
  bool test_every_epoch = false;
  int eval_batch_size = 256;
  // Added to the trainer in this order, before ModelCheckpoint (best.safetensors by val_loss).
  std::vector<std::shared_ptr<train::Callback>> callbacks;
  // Extra metadata for model.safetensors (the app and the class names are always there).
  std::map<std::string, std::string> model_metadata;
};

struct ClassifierOutcome {
  int exit_code = 0;            // 0, or 130 / 143 when a signal interrupted training
  train::TrainResult training;  // empty history for --eval-only
  train::Predictions test;      // the test split, in its order
  nlohmann::ordered_json report;  // what went into report.json; an app may add and rewrite it
  double seconds = 0;
};

ClassifierOutcome run_classifier(nn::Module& model, optim::Optimizer& optimizer,
                                 const ClassifierData& data, const ClassifierRun& run);

// Per-epoch history as JSON rows: {"epoch", every metric, "lr", "train_seconds", "seconds"}.
nlohmann::ordered_json history_json(const std::vector<train::EpochRecord>& history);

// The first epoch whose `metric` reached `target`, with the wall time of the run up to the end
// of that epoch (sum of the epochs' seconds) and the training time alone (sum of their
// train_seconds): {"epoch", "seconds", "train_seconds"}, or null if none did.
nlohmann::ordered_json time_to_reach(const std::vector<train::EpochRecord>& history,
                                     const std::string& metric, double target);

// The shape one image of `data` has: {C, H, W}.
Shape image_shape(const data::LabeledImages& data);

}  // namespace weft::app
