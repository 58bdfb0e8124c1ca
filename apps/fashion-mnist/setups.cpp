// The flags and named setups of weft-fashion-mnist (see setups.h).
#include "setups.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/export_onnx.h"
#include "engine/data/sharding.h"
#include "engine/distributed/communicator.h"
#include "engine/io/atomic_file.h"
#include "engine/train/weight_average.h"
#include "kernels/error.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/fashion_vgg.h"

namespace weft::fashion {

namespace {

// The three networks: the seed's CNN, the strong setup's ResNet, and FashionVgg.
enum class Net { seed_cnn, resnet, vgg };

// One row of --setup. The seed rows are its README's table (Adam 1e-3, batch 512, 50 epochs,
// no schedule); `default` is weft's CPU recipe that `make run` trains; `strong` is weft's
// residual net; `speedrun` the one-GPU recipe (a wider FashionVgg with a whitening stem).
struct Setup {
  const char* name;
  Net net;
  int filters;
  double dropout;
  int batch_size;
  int epochs;
  double lr;
  const char* schedule;
  double claimed;  // the seed's claimed test accuracy, 0 for none
  // The recipe: hold-out share, SGD (else Adam) with weight decay, its exclusion of 1-d
  // tensors, label smoothing, weight average, test-time flips, crop + flip augmentation.
  double validation;
  bool sgd;
  double weight_decay;
  bool decay_vectors;
  double label_smoothing;
  double ema;
  const char* tta;
  bool augment;
};

constexpr Setup kSetups[] = {
    {"default", Net::vgg, 0, 0.0, 128, 12, 0.1, "linear", 0.0, 0.1, true, 5e-4, false, 0.1, 0.0,
     "flip", true},
    {"seed32", Net::seed_cnn, 32, 0.0, 512, 50, 1e-3, "constant", 0.911, 0.2, false, 0, true, 0,
     0, "none", false},
    {"seed64", Net::seed_cnn, 64, 0.0, 512, 50, 1e-3, "constant", 0.916, 0.2, false, 0, true, 0,
     0, "none", false},
    {"seed64-dropout", Net::seed_cnn, 64, 0.3, 512, 50, 1e-3, "constant", 0.919, 0.2, false, 0,
     true, 0, 0, "none", false},
    {"strong", Net::resnet, 0, 0.2, 128, 30, 0.05, "cosine", 0.0, 0.2, true, 5e-4, true, 0, 0,
     "none", true},
    {"speedrun", Net::vgg, 0, 0.0, 512, 10, 0.2, "linear", 0.0, 0.1, true, 5e-4, false, 0.2, 0,
     "flip", true},
};

const Setup& find_setup(const std::string& name) {
  for (const Setup& setup : kSetups) {
    if (name == setup.name) return setup;
  }
  throw Error("--setup " + name + ": no such setup");
}

// SGD's momentum (Nesterov) in every SGD setup.
constexpr float kMomentum = 0.9f;

// FashionVgg's shape per setup: the CPU recipe's narrow net, the speedrun's wider one.
models::FashionVggConfig vgg_config(const Options& o) {
  models::FashionVggConfig config;
  if (o.setup == "speedrun") {
    config.widths = {64, 128, 256};
    config.convs = {1, 2, 2};
    config.whiten = true;
  }
  return config;
}

}  // namespace

void add_options(CLI::App& cli, Options& o) {
  app::add_common_options(cli, o.common,
                          "folder with the IDX files (.gz or not) or the Kaggle CSVs");
  app::add_loader_options(cli, o.common);
  app::add_export_onnx_option(cli, o.export_onnx);
  std::vector<std::string> names;
  for (const Setup& setup : kSetups) names.push_back(setup.name);
  cli.add_option("--setup", o.setup,
                 "default (make run: weft's CPU recipe), seed32, seed64, seed64-dropout (the "
                 "seed's three, as it ran them), strong (weft's residual net) or speedrun (the "
                 "one-GPU recipe); fills every flag not given")
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
  cli.add_option("--validation", o.validation,
                 "fraction of the training set held out (default: the --setup's; default and "
                 "speedrun 0.1, the others 0.2)")
      ->check(app::in_range(0.0, 0.9));
  cli.add_option("--schedule", o.schedule,
                 "learning rate: constant (the seed's), cosine (decay to 0 over the run), "
                 "onecycle (cosine up over --warmup of the steps from lr/25, then down to lr/1e4) "
                 "or linear (the same shape in straight lines, from lr/10 to lr/1e3)")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "cosine", "onecycle", "linear"}));
  cli.add_option("--warmup", o.warmup, "share of the steps the onecycle and linear schedules rise")
      ->capture_default_str()
      ->check(app::in_range(0.0, 1.0));
  cli.add_option("--weight-decay", o.weight_decay, "SGD's weight decay (Adam setups: none)")
      ->check(app::in_range(0.0, 1.0));
  cli.add_option("--decay-vectors", o.decay_vectors,
                 "true: weight decay on every parameter; false: not on biases and batch-norm "
                 "scales and shifts (1-d tensors)");
  cli.add_option("--label-smoothing", o.label_smoothing,
                 "share of the training target spread over all classes")
      ->check(app::in_range(0.0, 0.99));
  cli.add_option("--ema", o.ema,
                 "evaluate and keep an exponential moving average of the weights with this "
                 "decay, e.g. 0.999 (0: off)")
      ->check(app::in_range(0.0, 0.99999));
  cli.add_option("--tta", o.tta,
                 "test-time augmentation of validation and test: none, or flip (mean of the "
                 "image's and its mirror image's logits)")
      ->check(CLI::IsMember({"none", "flip"}));
  cli.add_flag("--test-every-epoch", o.test_every_epoch,
               "also evaluate the test split after every epoch (epoch_test_accuracy: for "
               "accuracy-against-time curves; the reported test_accuracy is the final one)");
  cli.add_option("--augment", o.augment,
                 "true: random crop (pad 2) and horizontal flip of the training images");
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
        if (setup.net != Net::seed_cnn) continue;
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
  unless_given("--validation", o.validation, setup.validation);
  unless_given("--weight-decay", o.weight_decay, setup.weight_decay);
  unless_given("--decay-vectors", o.decay_vectors, setup.decay_vectors);
  unless_given("--label-smoothing", o.label_smoothing, setup.label_smoothing);
  unless_given("--ema", o.ema, setup.ema);
  unless_given("--tta", o.tta, std::string(setup.tta));
  unless_given("--augment", o.augment, setup.augment);
  if (setup.net == Net::seed_cnn) {
    unless_given("--filters", o.filters, setup.filters);
  } else {
    WEFT_CHECK(cli.count("--filters") == 0, "--filters sets the seed CNN's filters; the ",
               o.setup, " setup's widths are those of its model (",
               setup.net == Net::resnet ? "models/fashion_resnet.h" : "models/fashion_vgg.h", ")");
  }
  WEFT_CHECK(setup.sgd || cli.count("--weight-decay") == 0,
             "--weight-decay is SGD's; the ", o.setup, " setup trains with Adam");
  WEFT_CHECK(setup.net != Net::vgg || cli.count("--dropout") == 0,
             "--dropout: the ", o.setup, " setup's FashionVgg has no dropout");
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
    WEFT_CHECK(find_setup(o.setup).net == Net::seed_cnn,
               "--sweep: filters applies to the seed CNN, not the ", o.setup, " setup");
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

bool residual(const Options& o) { return find_setup(o.setup).net == Net::resnet; }
bool vgg(const Options& o) { return find_setup(o.setup).net == Net::vgg; }

std::shared_ptr<nn::Module> build_model(const Options& o) {
  if (residual(o)) {
    models::FashionResNetConfig config;
    config.dropout = static_cast<float>(o.dropout);
    return std::make_shared<models::FashionResNet>(config);
  }
  if (vgg(o)) return std::make_shared<models::FashionVgg>(vgg_config(o));
  return std::make_shared<models::FashionCnn>(
      models::FashionCnnConfig{o.filters, static_cast<float>(o.dropout), 32, 10});
}

std::unique_ptr<optim::Optimizer> build_optimizer(const Options& o, nn::Module& model) {
  const auto lr = static_cast<float>(o.common.lr);
  if (find_setup(o.setup).sgd) {
    optim::SgdOptions sgd;
    sgd.lr = lr;
    sgd.momentum = kMomentum;
    sgd.nesterov = true;
    sgd.weight_decay = static_cast<float>(o.weight_decay);
    sgd.decay_vectors = o.decay_vectors;
    return std::make_unique<optim::SGD>(model.parameters(), sgd);
  }
  optim::AdamOptions adam{lr};
  adam.decay_vectors = o.decay_vectors;
  return std::make_unique<optim::Adam>(model.parameters(), adam);
}

std::optional<data::AugmentOptions> augmentation(const Options& o) {
  if (!o.augment) return std::nullopt;
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
  // Per-step schedules over the whole run. Under mpirun each rank takes this many steps of its
  // share (engine/data/sharding.h).
  const int64_t total_steps =
      data::shard_steps(train_images, o.common.batch_size, dist::shard()) * o.common.epochs;
  if (o.schedule == "cosine") {
    list.push_back(std::make_shared<train::CosineAnnealing>(train::CosineAnnealingOptions{
        .t_max = total_steps, .eta_min = 0, .unit = train::ScheduleUnit::step}));
  } else if (o.schedule == "onecycle" || o.schedule == "linear") {
    const bool linear = o.schedule == "linear";
    list.push_back(std::make_shared<train::OneCycle>(train::OneCycleOptions{
        .max_lr = o.common.lr,
        .total_steps = total_steps,
        .pct_start = o.warmup,
        .div_factor = linear ? 10.0 : 25.0,
        .final_div_factor = linear ? 100.0 : 1e4,
        .anneal = linear ? train::Anneal::linear : train::Anneal::cosine}));
  }
  if (o.ema > 0) {
    list.push_back(std::make_shared<train::WeightAverage>(train::WeightAverageOptions{o.ema}));
  }
  return list;
}

nlohmann::json config_json(const Options& o, const Device& device) {
  const Setup& setup = find_setup(o.setup);
  nlohmann::json config = {{"setup", o.setup},
                           {"model", residual(o) ? "FashionResNet"
                                                 : (vgg(o) ? "FashionVgg" : "FashionCnn")},
                           {"lr", o.common.lr},
                           {"batch_size", o.common.batch_size},
                           {"seed", o.common.seed},
                           {"validation_fraction", o.validation},
                           {"data", o.common.data},
                           {"epochs", o.common.epochs},
                           {"patience", o.patience},
                           {"schedule", o.schedule},
                           {"limit", o.common.limit},
                           {"device", device.str()},
                           {"label_smoothing", o.label_smoothing},
                           {"ema", o.ema},
                           {"tta", o.tta},
                           {"augment", o.augment}};
  if (o.schedule == "onecycle" || o.schedule == "linear") config["warmup"] = o.warmup;
  if (setup.sgd) {
    config["optimizer"] = {{"name", "SGD"}, {"momentum", kMomentum}, {"nesterov", true},
                           {"weight_decay", o.weight_decay}, {"decay_vectors", o.decay_vectors}};
  } else {
    config["optimizer"] = "Adam";
  }
  if (setup.net == Net::seed_cnn) config["filters"] = o.filters;
  if (setup.net != Net::vgg) config["dropout"] = o.dropout;
  if (o.augment) config["augmentation"] = "random crop (pad 2, constant 0) + horizontal flip";
  if (vgg(o)) {
    const models::FashionVggConfig c = vgg_config(o);
    config["widths"] = c.widths;
    config["convs"] = c.convs;
    config["whiten"] = c.whiten;
  }
  return config;
}

std::string describe(const Options& o) {
  char recipe[200];
  std::snprintf(recipe, sizeof(recipe), "%s lr %g, %s schedule, batch %d, %d epochs%s%s%s%s",
                find_setup(o.setup).sgd ? "SGD Nesterov" : "Adam", o.common.lr,
                o.schedule.c_str(), o.common.batch_size, o.common.epochs,
                o.augment ? ", random crop + flip" : "",
                o.label_smoothing > 0 ? ", label smoothing" : "", o.ema > 0 ? ", weight EMA" : "",
                o.tta == "flip" ? ", flip TTA" : "");
  char model[96];
  if (residual(o)) {
    std::snprintf(model, sizeof(model), "FashionResNet (dropout %.2f)", o.dropout);
  } else if (vgg(o)) {
    const models::FashionVggConfig c = vgg_config(o);
    std::snprintf(model, sizeof(model), "FashionVgg %d-%d-%d%s", c.widths[0], c.widths[1],
                  c.widths[2], c.whiten ? " with whitening stem" : "");
  } else {
    std::snprintf(model, sizeof(model), "FashionCnn %d filters, dropout %.2f", o.filters,
                  o.dropout);
  }
  return std::string(model) + ", " + recipe;
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
