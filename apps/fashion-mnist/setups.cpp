// The flags and named setups of weft-fashion-mnist (see setups.h).
#include "setups.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/export_onnx.h"
#include "engine/data/sharding.h"
#include "engine/distributed/communicator.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"

namespace weft::fashion {

namespace {

// One row of --setup. The seed rows are its README's table (Adam 1e-3, batch 512, 50 epochs,
// no schedule); `default` is what `make run` has always trained; `strong` is weft's own.
struct Setup {
  const char* name;
  bool residual;
  int filters;
  double dropout;
  int batch_size;
  int epochs;
  double lr;
  const char* schedule;
  double claimed;  // the seed's claimed test accuracy, 0 for none
};

constexpr Setup kSetups[] = {
    {"default", false, 64, 0.3, 128, 15, 1e-3, "constant", 0.919},
    {"seed32", false, 32, 0.0, 512, 50, 1e-3, "constant", 0.911},
    {"seed64", false, 64, 0.0, 512, 50, 1e-3, "constant", 0.916},
    {"seed64-dropout", false, 64, 0.3, 512, 50, 1e-3, "constant", 0.919},
    {"strong", true, 0, 0.2, 128, 30, 0.05, "cosine", 0.0},
};

const Setup& find_setup(const std::string& name) {
  for (const Setup& setup : kSetups) {
    if (name == setup.name) return setup;
  }
  throw Error("--setup " + name + ": no such setup");
}

// The strong setup's SGD: Nesterov momentum and weight decay, the usual ResNet recipe.
constexpr float kMomentum = 0.9f;
constexpr float kWeightDecay = 5e-4f;

}  // namespace

void add_options(CLI::App& cli, Options& o) {
  app::add_common_options(cli, o.common,
                          "folder with the IDX files (.gz or not) or the Kaggle CSVs");
  app::add_export_onnx_option(cli, o.export_onnx);
  std::vector<std::string> names;
  for (const Setup& setup : kSetups) names.push_back(setup.name);
  cli.add_option("--setup", o.setup,
                 "default (make run), seed32, seed64, seed64-dropout (the seed's three, as it "
                 "ran them) or strong (weft's residual net); fills every flag not given")
      ->capture_default_str()
      ->check(CLI::IsMember(names));
  cli.add_option("--filters", o.filters, "convolution filters of the seed CNN (the seed: 32 or 64)")
      ->capture_default_str()
      ->check(app::in_range(1, 1024));
  cli.add_option("--dropout", o.dropout,
                 "dropout before the seed CNN's hidden layer (the seed: 0 or 0.3), or before "
                 "the strong net's fc")
      ->capture_default_str()
      ->check(app::in_range(0.0, 0.95));
  cli.add_option("--validation", o.validation, "fraction of the training set held out")
      ->capture_default_str()
      ->check(app::in_range(0.0, 0.9));
  cli.add_option("--schedule", o.schedule,
                 "learning rate: constant (the seed's) or cosine (decay to 0 over the run)")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "cosine"}));
  cli.add_option("--patience", o.patience,
                 "stop when val_loss has not improved for this many epochs and keep the best "
                 "epoch's weights (0: off)")
      ->capture_default_str()
      ->check(app::in_range(0, 10000));
  cli.add_option("--sweep", o.sweep,
                 "run a grid, e.g. \"lr=1e-3,3e-4;batch_size=64,128\" (settings: lr, batch_size, "
                 "epochs, filters, dropout); one run folder per point under --out");
  cli.add_option("--repeat-seeds", o.repeat_seeds,
                 "run the setup once per seed, e.g. 1,2,3 (folders seed-N under --out) and "
                 "write the mean and spread of test accuracy to repeat_summary.{md,json}")
      ->delimiter(',');
  // The setup fills these when they are not given, so --help shows the setup's values, not the
  // common flags' defaults.
  for (const char* flag : {"--epochs", "--batch-size", "--lr", "--dropout", "--schedule",
                           "--filters"}) {
    CLI::Option* option = cli.get_option(flag);
    std::string text = option->get_description() + " (default: the --setup's;";
    for (const Setup& setup : kSetups) {
      char value[48];
      const std::string name = flag;
      if (name == "--epochs") std::snprintf(value, sizeof value, "%d", setup.epochs);
      if (name == "--batch-size") std::snprintf(value, sizeof value, "%d", setup.batch_size);
      if (name == "--lr") std::snprintf(value, sizeof value, "%g", setup.lr);
      if (name == "--dropout") std::snprintf(value, sizeof value, "%g", setup.dropout);
      if (name == "--schedule") std::snprintf(value, sizeof value, "%s", setup.schedule);
      if (name == "--filters") {
        if (setup.residual) continue;
        std::snprintf(value, sizeof value, "%d", setup.filters);
      }
      text += std::string(" ") + setup.name + " " + value + ",";
    }
    text.back() = ')';
    option->description(text);
    option->default_str("");
  }
}

void apply_setup(const CLI::App& cli, Options& o) {
  const Setup& setup = find_setup(o.setup);
  auto unless_given = [&](const char* flag, auto& field, auto value) {
    if (cli.count(flag) == 0) field = value;
  };
  unless_given("--epochs", o.common.epochs, setup.epochs);
  unless_given("--batch-size", o.common.batch_size, setup.batch_size);
  unless_given("--lr", o.common.lr, setup.lr);
  unless_given("--dropout", o.dropout, setup.dropout);
  unless_given("--schedule", o.schedule, std::string(setup.schedule));
  if (setup.residual) {
    WEFT_CHECK(cli.count("--filters") == 0, "--filters sets the seed CNN's filters; the strong "
               "setup's widths are those of models/fashion_resnet.h");
  } else {
    unless_given("--filters", o.filters, setup.filters);
  }
  WEFT_CHECK(o.repeat_seeds.empty() || o.sweep.empty(),
             "--repeat-seeds and --sweep cannot be combined");
}

namespace {

// A sweep value as a number within [lo, hi] (a whole one if `whole`), or an error naming the
// setting and what it expected.
double sweep_number(const std::string& name, const nlohmann::ordered_json& value, double lo,
                    double hi, bool whole) {
  const std::string given = value.is_string() ? value.get<std::string>() : value.dump();
  char range[96];
  std::snprintf(range, sizeof range, "%s from %g to %g", whole ? "a whole number" : "a number",
                lo, hi);
  const bool ok = value.is_number() && (!whole || value.is_number_integer()) &&
                  std::isfinite(value.get<double>()) && value.get<double>() >= lo &&
                  value.get<double>() <= hi;
  WEFT_CHECK(ok, "--sweep: ", name, "=", given, ": expected ", range);
  return value.get<double>();
}

}  // namespace

void apply_setting(Options& o, const std::string& name, const nlohmann::ordered_json& value) {
  if (name == "lr") {
    o.common.lr = sweep_number(name, value, 1e-9, 100, false);
  } else if (name == "batch_size") {
    o.common.batch_size = static_cast<int>(sweep_number(name, value, 1, 65536, true));
  } else if (name == "epochs") {
    o.common.epochs = static_cast<int>(sweep_number(name, value, 1, 100000, true));
  } else if (name == "filters") {
    WEFT_CHECK(!residual(o), "--sweep: filters applies to the seed CNN, not the strong setup");
    o.filters = static_cast<int>(sweep_number(name, value, 1, 1024, true));
  } else if (name == "dropout") {
    o.dropout = sweep_number(name, value, 0.0, 0.95, false);
  } else if (name == "seed") {
    o.common.seed = static_cast<uint64_t>(sweep_number(name, value, 0, 1e15, true));
  } else {
    throw Error("--sweep: this app has no setting '" + name +
                "' (it sweeps lr, batch_size, epochs, filters, dropout, seed)");
  }
}

bool residual(const Options& o) { return find_setup(o.setup).residual; }

std::shared_ptr<nn::Module> build_model(const Options& o) {
  if (residual(o)) {
    models::FashionResNetConfig config;
    config.dropout = static_cast<float>(o.dropout);
    return std::make_shared<models::FashionResNet>(config);
  }
  return std::make_shared<models::FashionCnn>(
      models::FashionCnnConfig{o.filters, static_cast<float>(o.dropout), 32, 10});
}

std::unique_ptr<optim::Optimizer> build_optimizer(const Options& o, nn::Module& model) {
  const auto lr = static_cast<float>(o.common.lr);
  if (residual(o)) {
    optim::SgdOptions sgd;
    sgd.lr = lr;
    sgd.momentum = kMomentum;
    sgd.nesterov = true;
    sgd.weight_decay = kWeightDecay;
    return std::make_unique<optim::SGD>(model.parameters(), sgd);
  }
  return std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions{lr});
}

std::optional<data::AugmentOptions> augmentation(const Options& o) {
  if (!residual(o)) return std::nullopt;
  data::AugmentOptions augment;
  augment.horizontal_flip = true;
  augment.crop_padding = 2;  // a whole-pixel shift of up to 2 pixels each way
  augment.fill_mode = data::FillMode::constant;  // Fashion-MNIST's background is black
  return augment;
}

std::vector<std::shared_ptr<train::Callback>> callbacks(const Options& o, int64_t train_images) {
  std::vector<std::shared_ptr<train::Callback>> list;
  if (o.patience > 0) {
    list.push_back(std::make_shared<train::EarlyStopping>(
        train::EarlyStoppingOptions{.patience = o.patience, .restore_best_weights = true}));
  }
  if (o.schedule == "cosine") {
    // Cosine decay of the learning rate to zero over the whole run, updated every step.
    // Under mpirun each rank takes this many steps of its share (engine/data/sharding.h).
    const int64_t steps_per_epoch =
        data::shard_steps(train_images, o.common.batch_size, dist::shard());
    list.push_back(std::make_shared<train::CosineAnnealing>(train::CosineAnnealingOptions{
        .t_max = steps_per_epoch * o.common.epochs, .eta_min = 0, .unit = train::ScheduleUnit::step}));
  }
  return list;
}

nlohmann::json config_json(const Options& o, const Device& device) {
  nlohmann::json config = {{"setup", o.setup},
                           {"model", residual(o) ? "FashionResNet" : "FashionCnn"},
                           {"dropout", o.dropout},
                           {"lr", o.common.lr},
                           {"batch_size", o.common.batch_size},
                           {"seed", o.common.seed},
                           {"validation_fraction", o.validation},
                           {"data", o.common.data},
                           {"epochs", o.common.epochs},
                           {"patience", o.patience},
                           {"schedule", o.schedule},
                           {"limit", o.common.limit},
                           {"device", device.str()}};
  if (residual(o)) {
    config["optimizer"] = {{"name", "SGD"}, {"momentum", kMomentum}, {"nesterov", true},
                           {"weight_decay", kWeightDecay}};
    config["augment"] = "random crop (pad 2, constant 0) + horizontal flip";
  } else {
    config["filters"] = o.filters;
    config["optimizer"] = "Adam";
  }
  return config;
}

std::string describe(const Options& o) {
  char text[256];
  if (residual(o)) {
    std::snprintf(text, sizeof(text), "FashionResNet (dropout %.2f), random crop + flip, SGD "
                  "Nesterov lr %g, %s schedule, batch %d, %d epochs", o.dropout, o.common.lr,
                  o.schedule.c_str(), o.common.batch_size, o.common.epochs);
  } else {
    std::snprintf(text, sizeof(text), "FashionCnn %d filters, dropout %.2f, Adam lr %g, %s "
                  "schedule, batch %d, %d epochs", o.filters, o.dropout, o.common.lr,
                  o.schedule.c_str(), o.common.batch_size, o.common.epochs);
  }
  return text;
}

nlohmann::json claimed_accuracy(const std::string& setup) {
  const double claimed = find_setup(setup).claimed;
  return claimed > 0 ? nlohmann::json(claimed) : nlohmann::json(nullptr);
}

void write_repeat_summary(const Options& o, const train::SweepResult& result) {
  std::vector<double> accuracies;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (const train::SweepRow& row : result.rows) {
    const std::optional<double> accuracy = row.results.find("test_accuracy");
    if (!row.error.empty() || !accuracy) continue;
    accuracies.push_back(*accuracy);
    runs.push_back({{"seed", row.settings["seed"]}, {"test_accuracy", *accuracy}});
  }
  const app::MeanSpread s = app::mean_and_spread(accuracies);
  nlohmann::ordered_json summary;
  summary["setup"] = o.setup;
  summary["runs"] = runs;
  summary["test_accuracy"] = {{"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min},
                              {"max", s.max}, {"count", s.count}};
  summary["seed_claimed_test_accuracy"] = claimed_accuracy(o.setup);
  summary["epochs"] = o.common.epochs;
  const std::string base = (std::filesystem::path(o.common.out) / "repeat_summary").string();
  io::write_file_atomic(base + ".json", summary.dump(2) + "\n");
  char line[320];
  const nlohmann::json claimed = claimed_accuracy(o.setup);
  std::snprintf(line, sizeof(line),
                "| %s | %lld | %.4f | %.4f | %.4f | %.4f | %s |\n", o.setup.c_str(),
                static_cast<long long>(s.count), s.mean, s.stddev, s.min, s.max,
                claimed.is_null() ? "-" : claimed.dump().c_str());
  io::write_file_atomic(base + ".md", std::string("| setup | runs | mean test accuracy | stddev | "
                                                  "min | max | seed's claim |\n|---|---|---|---|"
                                                  "---|---|---|\n") + line);
  std::printf("%s over %lld seeds: test accuracy %.4f +- %.4f (min %.4f, max %.4f); the seed "
              "claimed %s. Wrote %s.md and .json\n", o.setup.c_str(),
              static_cast<long long>(s.count), s.mean, s.stddev, s.min, s.max,
              claimed.is_null() ? "nothing for it" : claimed.dump().c_str(), base.c_str());
}

}  // namespace weft::fashion
