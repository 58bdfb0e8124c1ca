// weft-fashion-mnist: train the seed-004 CNN on Fashion-MNIST and report its test accuracy.
// This is the main job behind `make run`.
//
//   weft-fashion-mnist --data /usr/share/datasets/fashion-mnist --out runs/fashion-mnist
//
// The training set is split 80/20 (seeded) into train and validation as the seed did; each
// epoch prints train loss/accuracy and validation loss/accuracy; at the end the test set is
// evaluated once and report.json plus model.safetensors are written to --out.
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
#include "models/fashion_cnn.h"

namespace {

using namespace weft;

struct Options {
  std::string data = data::kFashionMnistDir;
  std::string out = "runs/fashion-mnist";
  std::string device = "auto";
  int epochs = 20;
  int batch_size = 128;
  float lr = 1e-3f;
  uint64_t seed = 1;
  int filters = 64;
  float dropout = 0.3f;
  float validation = 0.2f;
};

int run(const Options& o) {
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
  const auto validation_count = static_cast<int64_t>(o.validation * static_cast<float>(order.size()));
  const data::LabeledImages validation =
      data::select(full_train, {order.begin(), order.begin() + validation_count});
  const data::LabeledImages train =
      data::select(full_train, {order.begin() + validation_count, order.end()});

  models::FashionCnn model({o.filters, o.dropout, 32, 10});
  model.to(device);
  optim::Adam optimizer(model.parameters(), {o.lr});
  std::printf("weft-fashion-mnist: %lld train / %lld validation / %lld test images, %lld parameters, "
              "filters %d, dropout %.2f, Adam lr %g, batch %d, device %s\n",
              static_cast<long long>(train.size()), static_cast<long long>(validation.size()),
              static_cast<long long>(test.size()), static_cast<long long>(model.parameter_count()),
              o.filters, o.dropout, o.lr, o.batch_size, device.str().c_str());

  nlohmann::json history = nlohmann::json::array();
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const train::EpochResult t =
        train::train_epoch(model, optimizer, train, o.batch_size, device, shuffle_rng);
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    const train::Evaluation v = train::evaluate(model, validation, 1000, device);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    std::printf("epoch %2d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  %.1fs\n", epoch,
                o.epochs, t.loss, t.accuracy, v.loss, v.accuracy, seconds);
    std::fflush(stdout);
    history.push_back({{"epoch", epoch}, {"train_loss", t.loss}, {"train_accuracy", t.accuracy},
                       {"val_loss", v.loss}, {"val_accuracy", v.accuracy}, {"train_seconds", train_seconds},
                       {"seconds", seconds}});
  }

  const train::Evaluation result = train::evaluate(model, test, 1000, device);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test accuracy %.4f (loss %.4f) after %d epochs, %.0f s\n", result.accuracy,
              result.loss, o.epochs, seconds);

  std::filesystem::create_directories(o.out);
  io::save_safetensors(o.out + "/model.safetensors", model.state_dict(),
                       {{"model", "FashionCnn"}, {"filters", std::to_string(o.filters)}});
  nlohmann::json report = {{"app", "fashion-mnist"},
                           {"test_accuracy", result.accuracy},
                           {"test_loss", result.loss},
                           {"epochs", o.epochs},
                           {"device", device.str()},
                           {"seconds", seconds},
                           {"config",
                            {{"filters", o.filters}, {"dropout", o.dropout}, {"lr", o.lr},
                             {"batch_size", o.batch_size}, {"seed", o.seed},
                             {"validation_fraction", o.validation}, {"data", o.data}}},
                           {"history", history}};
  io::write_file_atomic(o.out + "/report.json", report.dump(2) + "\n");
  std::printf("wrote %s/report.json and %s/model.safetensors\n", o.out.c_str(), o.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train the seed-004 Fashion-MNIST CNN with weft and report its test accuracy."};
  app.add_option("--data", o.data, "folder with the IDX files (.gz or not) or the Kaggle CSVs")
      ->capture_default_str();
  app.add_option("--out", o.out, "run folder for report.json and model.safetensors")
      ->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--epochs", o.epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--batch-size", o.batch_size, "images per step")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--lr", o.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seed for initialisation, split, shuffling and dropout")->capture_default_str();
  app.add_option("--filters", o.filters, "convolution filters (the seed: 32 or 64)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--dropout", o.dropout, "dropout before the hidden layer (the seed: 0 or 0.3)")->capture_default_str()->check(CLI::Range(0.0, 0.95));
  app.add_option("--validation", o.validation, "fraction of the training set held out")->capture_default_str()->check(CLI::Range(0.0, 0.9));
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-fashion-mnist: error: %s\n", e.what());
    return 1;
  }
}
