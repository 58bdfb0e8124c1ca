// weft-clothing: a three-class clothing classifier under the seed-002 imbalance (Casual 93.4%,
// Formal 6.4%, Smart Casual 0.2%), with balancing by augmentation, ResNet transfer learning and
// Grad-CAM.
//
//   weft-clothing --balance compare --out runs/clothing            # off vs on, side by side
//   weft-clothing --model resnet18 --pretrain-standin --freeze-epochs 2 --out runs/transfer
//   weft-clothing --data /data/fashion-dataset --channels 3 --size 224 --model resnet50
//       --backbone resnet50-imagenet.safetensors --normalize imagenet --freeze-epochs 3
//   weft-clothing --weights runs/clothing/model.safetensors --gradcam shirt.png
//       --gradcam-class Shirt --out runs/explain
//
// Data: with --data, Fashion Product Images as Kaggle ships it (styles.csv and images/<id>.jpg;
// the class is the `usage` column, the seed's Casual / Formal / Smart Casual kept: --label-column,
// --classes; engine/data/product_styles.h), or an ImageFolder (one folder per class); without
// it the stand-in: Fashion-MNIST
// T-shirt/top, Shirt and Pullover in the seed's proportions (7,000 / 480 / 15 images; data.cpp).
// Either is split 70/15/15 by class. --balance on grows the smaller classes of the training split
// with augmented copies (rotation 20, shear 12 degrees, horizontal flip, nearest fill) to the size
// of the largest; validation and test stay as they are. --balance compare trains both ways from
// the same initialisation (folders balance-off/ and balance-on/) and writes
// balance_comparison.{md,json}: test accuracy, macro-F1 and each minority class's recall, so the
// effect is measured rather than claimed.
//
// Models: simple (seed 002's first model), resnet18, resnet50 - torchvision's architecture and
// names, so scripts/convert_torchvision.py's ImageNet files load with --backbone (everything but
// fc) or --weights. ImageNet weights were not available on the machine this was built on: the
// stand-in transfer uses --pretrain-standin, which first trains the same architecture on the
// seven other Fashion-MNIST classes (disjoint from the task's three; folder pretrain/) and takes
// that as the backbone. --freeze-epochs N trains only the new head for N epochs, then everything.
//
// Grad-CAM (engine/report/gradcam.h): after each run, overlays for --gradcam-samples test images
// of every class (gradcam/, figures/gradcam.png); with --gradcam FILE... and --weights, overlays
// for those files (class: --gradcam-class, default the predicted one) and no training.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "apps/common/export_onnx.h"
#include "apps/common/standins.h"
#include "clothing.h"
#include "engine/data/fashion_mnist.h"
#include "engine/data/image_folder.h"
#include "engine/io/atomic_file.h"
#include "engine/optim/optimizer.h"
#include "engine/runtime.h"
#include "kernels/error.h"
#include "models/image_classifier.h"

namespace {

using namespace weft;
using namespace weft::clothing;
namespace fs = std::filesystem;

// Trains only the classifier head for the first `epochs` epochs, then the whole network. Its
// decision depends on the epoch alone, so a resumed run freezes exactly as a fresh one.
class FreezeBackbone : public train::Callback {
 public:
  explicit FreezeBackbone(int epochs) : epochs_(epochs) {}
  std::string key() const override { return "freeze_backbone"; }
  std::string describe() const override {
    return "FreezeBackbone(head only for epochs 1-" + std::to_string(epochs_) + ")";
  }
  void on_epoch_begin(train::TrainContext& context, int epoch) override {
    const bool frozen = epoch <= epochs_;
    models::freeze_backbone(context.model, frozen);
    if (epoch == 1 || epoch == epochs_ + 1) {
      context.log(frozen ? "FreezeBackbone: training the head only"
                         : "FreezeBackbone: training every layer from now on");
    }
  }

 private:
  int epochs_;
};

std::shared_ptr<nn::Module> build_model(const Options& o, int classes, const Device& device) {
  std::shared_ptr<nn::Module> model =
      models::make_image_classifier({o.model, image_channels(o), image_size(o), classes});
  model->to(device);
  return model;
}

nlohmann::json config_json(const Options& o, const Device& device, bool balance) {
  return {{"data", o.common.data}, {"standin", use_standin(o)}, {"size", image_size(o)},
          {"channels", image_channels(o)}, {"balance", balance ? "on" : "off"}, {"model", o.model},
          {"backbone", o.backbone}, {"freeze_epochs", o.freeze_epochs},
          {"normalize", o.normalize}, {"patience", o.patience}, {"lr", o.common.lr},
          {"batch_size", o.common.batch_size}, {"epochs", o.common.epochs},
          {"seed", o.common.seed}, {"limit", o.common.limit}, {"device", device.str()},
          {"label_column", o.label_column}, {"classes", o.classes}};
}

// Train the architecture on the seven disjoint Fashion-MNIST classes; returns its weights file.
std::string pretrain_backbone(const Options& o, const Device& device) {
  manual_seed(o.common.seed);
  const app::ClassifierData data = pretrain_data(o);
  std::shared_ptr<nn::Module> model =
      build_model(o, static_cast<int>(data.train.class_names.size()), device);
  optim::Adam optimizer(model->parameters(), {static_cast<float>(o.common.lr)});
  app::ClassifierRun run;
  run.app = "clothing";
  run.title = "Clothing backbone pretraining (stand-in)";
  run.common = o.common;
  run.common.out = (fs::path(o.common.out) / "pretrain").string();
  run.common.epochs = o.pretrain_epochs;
  run.common.resume.clear();
  run.device = device;
  run.config = config_json(o, device, false);
  run.config["pretrain"] = true;
  run.normalize = normalization(o);
  std::printf("weft-clothing: pretraining a %s backbone on the seven other Fashion-MNIST "
              "classes for %d epochs (ImageNet weights are not available here)\n",
              o.model.c_str(), o.pretrain_epochs);
  const app::ClassifierOutcome outcome = app::run_classifier(*model, optimizer, data, run);
  WEFT_CHECK(outcome.exit_code == 0, "pretraining was interrupted");
  return (fs::path(run.common.out) / "model.safetensors").string();
}

// What --export-onnx records: the input size, the class names and the --normalize in use.
models::OnnxExportOptions onnx_options(const Options& o, const std::vector<std::string>& names) {
  return {.image_size = image_size(o), .class_names = names, .normalize = normalization(o)};
}

struct BalanceResult {
  bool balance = false;
  nlohmann::ordered_json summary;
};

// One training run with balancing on or off, into `out`, from the splits `loaded` (what
// load_data gave, with its notes): --balance compare decodes the images once for both runs,
// and a single run lets the unbalanced training split go once the balanced one is made.
// Returns the summary row for the comparison.
BalanceResult run_once(const Options& o, bool balance, const std::string& out,
                       const std::string& backbone, const Device& device,
                       app::ClassifierData loaded, nlohmann::ordered_json notes,
                       int& exit_code) {
  manual_seed(o.common.seed);
  const app::ClassifierData data =
      balance ? balance_training_split(o, std::move(loaded), notes) : std::move(loaded);
  const auto classes = static_cast<int>(data.train.class_names.size());
  std::shared_ptr<nn::Module> model = build_model(o, classes, device);
  if (!backbone.empty()) {
    const int64_t loaded = app::load_backbone(*model, backbone, models::head_prefixes(*model));
    std::printf("weft-clothing: loaded %lld backbone tensors from %s; the head (%d classes) is "
                "new\n", static_cast<long long>(loaded), backbone.c_str(), classes);
  }
  optim::Adam optimizer(model->parameters(), {static_cast<float>(o.common.lr)});
  app::ClassifierRun run;
  run.app = "clothing";
  run.title = std::string("Clothing") + (use_standin(o) ? " (stand-in)" : "") +
              (balance ? ", balanced" : ", imbalanced");
  run.common = o.common;
  run.common.out = out;
  run.device = device;
  run.config = config_json(o, device, balance);
  run.config["backbone"] = backbone;
  run.normalize = normalization(o);
  // What --predict, --eval-only and --gradcam with these weights need to rebuild the model.
  run.model_metadata = {{"size", std::to_string(image_size(o))},
                        {"channels", std::to_string(image_channels(o))},
                        {"normalize", o.normalize},
                        {"model_option", o.model}};
  if (o.patience > 0) {
    run.callbacks.push_back(std::make_shared<train::EarlyStopping>(
        train::EarlyStoppingOptions{.patience = o.patience, .restore_best_weights = true}));
  }
  if (o.freeze_epochs > 0) run.callbacks.push_back(std::make_shared<FreezeBackbone>(o.freeze_epochs));
  app::ClassifierOutcome outcome = app::run_classifier(*model, optimizer, data, run);
  exit_code = outcome.exit_code;
  if (exit_code != 0) return {};
  app::write_onnx("clothing", o.export_onnx, *model, onnx_options(o, data.train.class_names));

  // Macro-F1 and the recall of every class but the largest: what balancing is meant to move.
  nlohmann::ordered_json& report = outcome.report;
  const nlohmann::ordered_json& per_class = report["classification"]["per_class"];
  size_t majority = 0;
  for (size_t c = 0; c < per_class.size(); ++c) {
    if (per_class[c]["support"] > per_class[majority]["support"]) majority = c;
  }
  nlohmann::ordered_json minority = nlohmann::ordered_json::object();
  for (size_t c = 0; c < per_class.size(); ++c) {
    if (c != majority) {
      minority[per_class[c]["name"].get<std::string>()] = {{"recall", per_class[c]["recall"]},
                                                           {"support", per_class[c]["support"]}};
    }
  }
  report["balance"] = balance;
  report["macro_f1"] = report["classification"]["macro_f1"];
  report["minority_recall"] = minority;
  report["standin"] = use_standin(o);
  if (use_standin(o)) report["note"] = kStandinNote;
  report["imagenet_weights"] = "not available on the machine this ran on";
  for (const auto& [key, value] : notes.items()) report[key] = value;
  report["gradcam"] = explain_test_images(model, data.test, o, out, device);
  app::write_report(out, report);
  return {balance, {{"balance", balance ? "on" : "off"}, {"test_accuracy", report["test_accuracy"]},
                    {"macro_f1", report["macro_f1"]}, {"minority_recall", minority},
                    {"run_folder", out}}};
}

void write_comparison(const std::string& out, const std::vector<BalanceResult>& rows) {
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  std::string table = "| balance | test accuracy | macro-F1 | minority recall (support) |\n"
                      "|---|---|---|---|\n";
  for (const BalanceResult& row : rows) {
    json.push_back(row.summary);
    std::string recalls;
    for (const auto& [name, value] : row.summary["minority_recall"].items()) {
      char cell[160];
      std::snprintf(cell, sizeof(cell), "%s%s %.3f (%lld)", recalls.empty() ? "" : ", ",
                    name.c_str(), value["recall"].get<double>(),
                    static_cast<long long>(value["support"].get<int64_t>()));
      recalls += cell;
    }
    char line[400];
    std::snprintf(line, sizeof(line), "| %s | %.4f | %.4f | %s |\n",
                  row.summary["balance"].get<std::string>().c_str(),
                  row.summary["test_accuracy"].get<double>(),
                  row.summary["macro_f1"].get<double>(), recalls.c_str());
    table += line;
  }
  io::write_file_atomic((fs::path(out) / "balance_comparison.json").string(), json.dump(2) + "\n");
  io::write_file_atomic((fs::path(out) / "balance_comparison.md").string(), table);
  std::printf("\n%s\nwrote %s/balance_comparison.md and .json\n", table.c_str(), out.c_str());
}

// --predict, --gradcam on files and --export-onnx with --weights: no training, no report.
int use_weights_on_files(const Options& o, const Device& device) {
  std::vector<std::string> names =
      app::class_names_from(app::read_weights_metadata(o.common.weights), {}, o.common.weights);
  if (names.empty() && use_standin(o)) {
    for (int c : kStandinClasses) names.push_back(data::kFashionMnistClasses[static_cast<size_t>(c)]);
  } else if (names.empty()) {
    names = data::list_image_folder(o.common.data).class_names;
  }
  std::shared_ptr<nn::Module> model = build_model(o, static_cast<int>(names.size()), device);
  app::load_weights(*model, o.common.weights);
  app::write_onnx("clothing", o.export_onnx, *model, onnx_options(o, names));
  if (!o.common.predict.empty()) {
    app::PredictOptions predict;
    predict.image = image_options(o);
    predict.normalize = normalization(o);
    predict.class_names = names;
    predict.top_k = o.common.top_k;
    predict.device = device;
    app::predict_files(*model, o.common.predict, predict);
  }
  if (!o.gradcam.empty()) explain_files(model, names, o, device);
  return 0;
}

int run(Options o) {
  const Device device = resolve_device(o.common.device);
  WEFT_CHECK(o.gradcam.empty() || !o.common.weights.empty(),
             "--gradcam needs --weights FILE (the model to explain)");
  if (!o.common.predict.empty() || !o.gradcam.empty() ||
      app::export_without_training(o.common, o.export_onnx)) {
    return use_weights_on_files(o, device);
  }
  WEFT_CHECK(o.balance != "compare" || o.export_onnx.empty(),
             "--balance compare trains two models; export one of them with --weights "
             "<run>/balance-on/model.safetensors --export-onnx FILE");
  WEFT_CHECK(!(o.pretrain_standin && !o.backbone.empty()),
             "--pretrain-standin makes the backbone; drop --backbone");
  WEFT_CHECK(o.balance != "compare" || o.common.resume.empty(),
             "--balance compare and --resume cannot be combined; resume balance-off/ or "
             "balance-on/ with --balance off or on");
  std::filesystem::create_directories(o.common.out);
  std::string backbone = o.backbone;
  if (o.pretrain_standin) backbone = pretrain_backbone(o, device);

  int exit_code = 0;
  nlohmann::ordered_json notes;
  app::ClassifierData loaded = load_data(o, notes);  // tensors are shared, not copied, below
  if (o.balance != "compare") {
    run_once(o, o.balance == "on", o.common.out, backbone, device, std::move(loaded), notes,
             exit_code);
    return exit_code;
  }
  std::vector<BalanceResult> rows;
  for (bool balance : {false, true}) {
    const std::string out = (fs::path(o.common.out) / (balance ? "balance-on" : "balance-off")).string();
    rows.push_back(run_once(o, balance, out, backbone, device, loaded, notes, exit_code));
    if (exit_code != 0) return exit_code;
  }
  write_comparison(o.common.out, rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{"Classify clothing under the seed-002 imbalance with weft: balancing by "
               "augmentation, ResNet transfer learning, Grad-CAM."};
  app::add_common_options(cli, o.common,
                          "Fashion Product Images as Kaggle ships it (root/styles.csv, "
                          "root/images/<id>.jpg), or an ImageFolder root/<class>/<images> (none: "
                          "the Fashion-MNIST stand-in)");
  app::add_loader_options(cli, o.common);
  app::add_export_onnx_option(cli, o.export_onnx);
  cli.add_flag("--standin", o.standin, "use the stand-in even with --data");
  app::add_skip_bad_images_option(cli, o.skip_bad_images);
  cli.add_option("--label-column", o.label_column,
                 "styles.csv data: the column that names the class")
      ->capture_default_str();
  cli.add_option("--classes", o.classes,
                 "styles.csv data: the values of that column kept as classes, comma-separated "
                 "(default: the seed's Casual,Formal,Smart Casual)")
      ->delimiter(',');
  cli.add_option("--size", o.size, "image side in pixels (default: 64, the stand-in 28)")
      ->check(app::in_range(10, 1024));
  cli.add_option("--channels", o.channels, "1 or 3 (default: 3, the stand-in 1)")
      ->check(CLI::IsMember({1, 3}));
  cli.add_option("--balance", o.balance,
                 "off, on (oversample the smaller classes with augmented copies) or compare (both)")
      ->capture_default_str()
      ->check(CLI::IsMember({"off", "on", "compare"}));
  cli.add_option("--model", o.model, "simple (the seed's first CNN), resnet18 or resnet50")
      ->capture_default_str()
      ->check(CLI::IsMember(models::image_classifier_names()));
  cli.add_option("--backbone", o.backbone,
                 "transfer: load these weights (safetensors, torchvision names) except the head");
  cli.add_option("--freeze-epochs", o.freeze_epochs, "train only the new head for N epochs first")
      ->capture_default_str()
      ->check(app::in_range(0, 10000));
  cli.add_flag("--pretrain-standin", o.pretrain_standin,
               "first train the backbone on the 7 other Fashion-MNIST classes (ImageNet weights "
               "are not available here), then transfer it");
  cli.add_option("--pretrain-epochs", o.pretrain_epochs, "epochs of --pretrain-standin")
      ->capture_default_str()
      ->check(app::in_range(1, 10000));
  cli.add_option("--normalize", o.normalize,
                 "unit (pixels / 255) or imagenet (torchvision's mean and std, for ImageNet "
                 "backbones)")
      ->capture_default_str()
      ->check(CLI::IsMember({"unit", "imagenet"}));
  cli.add_option("--patience", o.patience, "EarlyStopping on val_loss, best weights kept (0: off)")
      ->capture_default_str()
      ->check(app::in_range(0, 10000));
  cli.add_option("--gradcam", o.gradcam, "image files to explain with Grad-CAM (needs --weights)");
  cli.add_option("--gradcam-class", o.gradcam_class,
                 "class to explain for --gradcam (default: the predicted one)");
  cli.add_option("--gradcam-samples", o.gradcam_samples,
                 "test images per class explained after a run (0: none)")
      ->capture_default_str()
      ->check(app::in_range(0, 100));
  return app::run_main("clothing", cli, argc, argv, o.common, [&] { return run(o); });
}
