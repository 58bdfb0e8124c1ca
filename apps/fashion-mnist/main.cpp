// weft-fashion-mnist: train the seed-004 CNN on Fashion-MNIST and report its test accuracy.
// This is the main job behind `make run`.
//
//   weft-fashion-mnist --data /usr/share/datasets/fashion-mnist --out runs/fashion-mnist
//   weft-fashion-mnist --resume runs/fashion-mnist            # continue after Ctrl-C
//   weft-fashion-mnist --sweep "lr=1e-3,3e-4;batch_size=64,128" --epochs 5 --out runs/sweep
//
// The training set is split 80/20 (seeded) into train and validation as the seed did. The
// shared trainer (engine/train/trainer.h) runs the epochs: one line per epoch (a live bar on a
// terminal), metrics.csv/metrics.jsonl, last.safetensors every epoch and best.safetensors at
// the lowest validation loss, optional early stopping. At the end the test set is evaluated
// once and report.json plus model.safetensors are written to --out.
//
// Ctrl-C (or SIGTERM) finishes the current step and exits with status 130 (143); --resume
// then repeats the interrupted epoch and ends exactly where an uninterrupted run would (CPU).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/data/fashion_mnist.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "engine/runtime.h"
#include "engine/train/classification.h"
#include "engine/train/sweep.h"
#include "engine/train/trainer.h"
#include "models/fashion_cnn.h"

namespace {

using namespace weft;

struct Options {
  std::string data = data::kFashionMnistDir;
  std::string out = "runs/fashion-mnist";
  std::string device = "auto";
  int epochs = 20;
  int batch_size = 128;
  double lr = 1e-3;  // doubles, so report.json and checkpoints show 0.001, not float noise
  uint64_t seed = 1;
  int filters = 64;
  double dropout = 0.3;
  double validation = 0.2;
  std::string resume;
  int patience = 0;  // 0: no early stopping
  std::string schedule = "cosine";
  std::string sweep;
};

struct RunSummary {
  int exit_code = 0;      // 0, or 130/143 when interrupted
  train::Metrics results;  // last epoch's validation metrics, test accuracy and loss, epochs
};

RunSummary run(const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  const Device device = resolve_device(o.device);
  manual_seed(o.seed);
  Generator shuffle_rng(o.seed + 1);

  const data::LabeledImages full_train = data::load_fashion_mnist(o.data, "train");
  const data::LabeledImages test = data::load_fashion_mnist(o.data, "test");
  std::vector<int64_t> order(static_cast<size_t>(full_train.size()));
  std::iota(order.begin(), order.end(), 0);
  Generator split_rng(o.seed + 2);
  split_rng.shuffle(order);
  const auto validation_count = static_cast<int64_t>(o.validation * static_cast<double>(order.size()));
  const data::LabeledImages validation =
      data::select(full_train, {order.begin(), order.begin() + validation_count});
  const data::LabeledImages train =
      data::select(full_train, {order.begin() + validation_count, order.end()});

  models::FashionCnn model({o.filters, static_cast<float>(o.dropout), 32, 10});
  model.to(device);
  optim::Adam optimizer(model.parameters(), {static_cast<float>(o.lr)});
  std::printf("weft-fashion-mnist: %lld train / %lld validation / %lld test images, %lld parameters, "
              "filters %d, dropout %.2f, Adam lr %g, batch %d, device %s\n",
              static_cast<long long>(train.size()), static_cast<long long>(validation.size()),
              static_cast<long long>(test.size()), static_cast<long long>(model.parameter_count()),
              o.filters, o.dropout, o.lr, o.batch_size, device.str().c_str());
  std::fflush(stdout);

  const nlohmann::json config = {{"filters", o.filters}, {"dropout", o.dropout}, {"lr", o.lr},
                                 {"batch_size", o.batch_size}, {"seed", o.seed},
                                 {"validation_fraction", o.validation}, {"data", o.data},
                                 {"epochs", o.epochs}, {"patience", o.patience}, {"schedule", o.schedule},
                                 {"device", device.str()}};
  train::TrainerOptions trainer_options;
  trainer_options.epochs = o.epochs;
  trainer_options.run_dir = o.out;
  trainer_options.seed = o.seed;
  trainer_options.config = config;
  // Continuing for more epochs, from moved data, on another device or with another patience
  // is still the same experiment; any other change is refused on resume.
  trainer_options.config_may_change = {"epochs", "data", "device", "patience"};
  trainer_options.resume = o.resume;
  train::Trainer trainer(model, optimizer, trainer_options);
  trainer.register_generator("shuffle", shuffle_rng);
  if (o.patience > 0) {
    trainer.add_callback(std::make_shared<train::EarlyStopping>(
        train::EarlyStoppingOptions{.patience = o.patience, .restore_best_weights = true}));
  }
  if (o.schedule == "cosine") {
    // Cosine decay of the learning rate to zero over the whole run, updated every step.
    const int64_t steps_per_epoch = (train.size() + o.batch_size - 1) / o.batch_size;
    trainer.add_callback(std::make_shared<train::CosineAnnealing>(train::CosineAnnealingOptions{
        .t_max = steps_per_epoch * o.epochs, .eta_min = 0, .unit = train::ScheduleUnit::step}));
  }
  trainer.add_callback(std::make_shared<train::ModelCheckpoint>());
  const train::StepHooks hooks = trainer.step_hooks();

  const train::TrainResult result = trainer.fit(
      [&](int) {
        const train::EpochResult t =
            train::train_epoch(model, optimizer, train, o.batch_size, device, shuffle_rng, {}, hooks);
        return train::Metrics{{"loss", t.loss}, {"accuracy", t.accuracy}};
      },
      [&](int) {
        const train::Evaluation v = train::evaluate(model, validation, 1000, device);
        return train::Metrics{{"val_loss", v.loss}, {"val_accuracy", v.accuracy}};
      });
  if (result.interrupted) return {result.exit_code(), {}};

  const train::Evaluation tested = train::evaluate(model, test, 1000, device);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test accuracy %.4f (loss %.4f) after %d epochs, %.0f s\n", tested.accuracy,
              tested.loss, result.epochs_completed, seconds);

  nlohmann::json history = nlohmann::json::array();
  for (const train::EpochRecord& row : result.history) {
    history.push_back({{"epoch", row.epoch},
                       {"train_loss", row.metrics.find("loss").value_or(0.0)},
                       {"train_accuracy", row.metrics.find("accuracy").value_or(0.0)},
                       {"val_loss", row.metrics.find("val_loss").value_or(0.0)},
                       {"val_accuracy", row.metrics.find("val_accuracy").value_or(0.0)},
                       {"lr", row.lr},
                       {"train_seconds", row.train_seconds},
                       {"seconds", row.seconds}});
  }
  std::filesystem::create_directories(o.out);
  io::save_safetensors(o.out + "/model.safetensors", model.state_dict(),
                       {{"model", "FashionCnn"}, {"filters", std::to_string(o.filters)}});
  nlohmann::json report = {{"app", "fashion-mnist"},
                           {"test_accuracy", tested.accuracy},
                           {"test_loss", tested.loss},
                           {"epochs", result.epochs_completed},
                           {"epochs_requested", o.epochs},
                           {"stopped_early", result.stopped_early},
                           {"stop_reason", result.stop_reason},
                           {"resumed_from", o.resume},
                           {"device", device.str()},
                           {"seconds", seconds},
                           {"config", config},
                           {"history", history}};
  io::write_file_atomic(o.out + "/report.json", report.dump(2) + "\n");
  std::printf("wrote %s/report.json and %s/model.safetensors\n", o.out.c_str(), o.out.c_str());

  RunSummary summary;
  if (!result.history.empty()) {
    const train::Metrics& last = result.history.back().metrics;
    summary.results.set("val_loss", last.find("val_loss").value_or(0.0));
    summary.results.set("val_accuracy", last.find("val_accuracy").value_or(0.0));
  }
  summary.results.set("test_accuracy", tested.accuracy);
  summary.results.set("test_loss", tested.loss);
  summary.results.set("epochs", result.epochs_completed);
  return summary;
}

// One training run per grid point, each in its own folder under --out, and one table of
// results in --out/sweep.{md,csv,json}.
int run_sweep(const Options& base) {
  WEFT_CHECK(base.resume.empty(), "--sweep and --resume cannot be combined");
  const std::vector<train::SweepAxis> grid = train::parse_sweep_grid(base.sweep);
  int exit_code = 0;
  const train::SweepResult result = train::run_sweep(
      grid,
      [&](const train::SweepPoint& point, int index) {
        Options o = base;
        for (const auto& [name, value] : point.items()) {
          if (name == "lr") {
            o.lr = value.get<double>();
          } else if (name == "batch_size") {
            o.batch_size = value.get<int>();
          } else if (name == "epochs") {
            o.epochs = value.get<int>();
          } else if (name == "filters") {
            o.filters = value.get<int>();
          } else if (name == "dropout") {
            o.dropout = value.get<double>();
          } else {
            throw Error("--sweep: this app has no setting '" + name +
                        "' (it sweeps lr, batch_size, epochs, filters, dropout)");
          }
        }
        char folder[32];
        std::snprintf(folder, sizeof(folder), "/point-%03d", index);
        o.out = base.out + folder;
        const RunSummary summary = run(o);
        exit_code = summary.exit_code;
        return summary.results;
      },
      base.out);
  std::printf("wrote %s/sweep.md, sweep.csv and sweep.json (%zu points)\n", base.out.c_str(),
              result.rows.size());
  return result.interrupted ? (exit_code != 0 ? exit_code : 130) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train the seed-004 Fashion-MNIST CNN with weft and report its test accuracy."};
  app.add_option("--data", o.data, "folder with the IDX files (.gz or not) or the Kaggle CSVs")
      ->capture_default_str();
  app.add_option("--out", o.out, "run folder: report.json, model.safetensors, checkpoints, metrics")
      ->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--epochs", o.epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--batch-size", o.batch_size, "images per step")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--lr", o.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seed for initialisation, split, shuffling and dropout")->capture_default_str();
  app.add_option("--filters", o.filters, "convolution filters (the seed: 32 or 64)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--dropout", o.dropout, "dropout before the hidden layer (the seed: 0 or 0.3)")->capture_default_str()->check(CLI::Range(0.0, 0.95));
  app.add_option("--validation", o.validation, "fraction of the training set held out")->capture_default_str()->check(CLI::Range(0.0, 0.9));
  app.add_option("--resume", o.resume,
                 "continue a run from its folder (its last.safetensors) or a checkpoint file; "
                 "--out defaults to that folder");
  app.add_option("--schedule", o.schedule,
                 "learning rate: constant (the seed's) or cosine (decay to 0 over the run)")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--patience", o.patience,
                 "stop when val_loss has not improved for this many epochs and keep the best "
                 "epoch's weights (0: off)")
      ->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--sweep", o.sweep,
                 "run a grid, e.g. \"lr=1e-3,3e-4;batch_size=64,128\" (settings: lr, batch_size, "
                 "epochs, filters, dropout); one run folder per point under --out");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!o.resume.empty() && app.count("--out") == 0) {
      const std::filesystem::path folder =
          std::filesystem::path(train::resolve_checkpoint(o.resume)).parent_path();
      o.out = folder.empty() ? "." : folder.string();
    }
    return o.sweep.empty() ? run(o).exit_code : run_sweep(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-fashion-mnist: error: %s\n", e.what());
    return 1;
  }
}
