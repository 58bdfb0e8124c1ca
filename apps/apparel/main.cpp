// weft-apparel: the seed-003 multi-label apparel tagger - one sigmoid per label (colour and
// garment type), binary cross-entropy, the seed's callbacks, thresholds per label.
//
//   weft-apparel --data /data/apparel --out runs/apparel          # black_dress/, blue_shirt/, ...
//   weft-apparel --data /data/images --csv /data/labels.csv        # file,label1;label2
//   weft-apparel --size 48 --tune-thresholds --out runs/apparel-standin   # the stand-in
//   weft-apparel --weights runs/apparel/model.safetensors --predict photo.jpg
//
// Labels come from folder names split on --separator ("black_dress" -> black, dress) or from a
// CSV. Images are resized to --size (the seed's 96x96 RGB, /255). The split is the seed's: 15%
// test, then 15% of the rest for validation, stratified by label set. Model: models/apparel_cnn.h
// (the seed's SmallerVGGNet, 8.6M parameters at 96x96, he_normal). Training: Adam (--lr), batch
// 64, augmentation (rotation 45 degrees, shifts 0.1, zoom 0.2, horizontal flip, nearest fill),
// EarlyStopping(val_loss, patience 5, restore best weights) and ReduceLROnPlateau(factor 0.2,
// patience 3, min_lr 1e-6), as the seed set them.
//
// A label is predicted when its sigmoid reaches its threshold: 0.5 (--threshold), or, with
// --tune-thresholds, the value in 0.05..0.95 that maximises that label's F1 on the validation
// split. The report (apps/common/reports.h) gives per-label precision / recall / F1 with a 2x2
// confusion per label, micro and macro F1, Hamming loss and subset accuracy on the test split,
// beside the seed's micro-F1 0.908 and macro-F1 0.863 - on its own data, not this data.
//
// Stand-in (no --data, or --standin): tinted Fashion-MNIST garments (standin.cpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "apparel.h"
#include "apps/common/classifier_run.h"
#include "apps/common/export_onnx.h"
#include "apps/common/reports.h"
#include "apps/common/standins.h"
#include "engine/data/loader.h"
#include "engine/data/splits.h"
#include "engine/runtime.h"
#include "engine/train/loader_epoch.h"
#include "kernels/error.h"
#include "models/apparel_cnn.h"

namespace {

using namespace weft;
using namespace weft::apparel;
namespace fs = std::filesystem;

struct Splits {
  data::MultiLabelImages train, validation, test;
  std::string source;
  size_t skipped_images = 0;  // left out by --skip-bad-images
};

bool use_standin(const Options& o) { return o.standin || o.common.data.empty(); }

data::ImageFolderOptions folder_options(const Options& o) {
  data::ImageFolderOptions options;
  options.image = {o.size, o.size, 3, data::Fit::stretch};  // the seed's cv2.resize to 96x96
  options.bad_images = app::bad_images_policy(o.skip_bad_images);
  options.progress = app::decode_progress("apparel");
  return options;
}

// The seed's split (15% test, then 15% of the rest validation, by label set), each part cut to
// --limit. A folder's or CSV's files are listed first and only those kept are decoded
// (image_folder.h, "Choosing before decoding").
Splits load_data(const Options& o) {
  const std::vector<double> ratios = {0.85 * 0.85, 0.85 * 0.15, 0.15};
  Generator split_rng(o.common.seed + 2);
  Generator limit_rng(o.common.seed + 3);
  const auto cut = [&](std::vector<data::IndexList> parts) {
    for (data::IndexList& part : parts) {
      part = app::compose(part, app::limit_indices(static_cast<int64_t>(part.size()),
                                                   o.common.limit, limit_rng));
    }
    return parts;
  };
  Splits s;
  const Options defaults;
  if (use_standin(o)) {
    app::refuse_flags({{"--csv", !o.csv.empty()},
                       {"--separator", o.separator != defaults.separator}},
                      "to images given with --data; this run tags the stand-in (tinted "
                      "Fashion-MNIST), whose labels are fixed");
  } else {
    app::refuse_flags({{"--standin-per-garment",
                        o.standin_per_garment != defaults.standin_per_garment}},
                      "to the stand-in; this run reads " + o.common.data);
    app::refuse_flags({{"--separator", !o.csv.empty() && o.separator != defaults.separator}},
                      "to labels read from folder names; --csv gives them here");
  }
  if (use_standin(o)) {
    const data::MultiLabelImages all =
        tinted_standin(o.size, o.standin_per_garment, o.common.seed + 4);
    const std::vector<data::IndexList> parts =
        cut(data::stratified_split(all.label_set, ratios, split_rng));
    s = {data::select(all, parts[0]), data::select(all, parts[1]), data::select(all, parts[2]),
         kStandinNote, 0};
  } else {
    data::MultiLabelFiles files;
    std::string source;
    std::string listed_from;
    if (!o.csv.empty()) {
      files = data::list_multilabel_csv(o.csv, folder_options(o), o.common.data);
      source = "labels from " + o.csv + ", images under " + o.common.data;
      listed_from = o.csv;
    } else {
      WEFT_CHECK(o.separator.size() == 1, "--separator must be one character, got '",
                 o.separator, "'");
      files = data::list_multilabel_folder(o.common.data, 1, o.separator[0]);
      source = "folders of " + o.common.data + " split on '" + o.separator + "'";
      listed_from = o.common.data;
    }
    if (files.label_names.size() < 2) {  // refused before any image is decoded
      const std::string found = files.label_names.empty()
                                    ? "no labels"
                                    : "one label (" + files.label_names[0] + ")";
      const std::string hint =
          o.csv.empty()
              ? app::one_folder_hint(o.common.data,
                                     data::list_image_folder(o.common.data).class_names)
              : std::string();
      throw Error(source + " gives " + found + "; a multi-label tagger needs at least two" + hint);
    }
    const std::vector<data::IndexList> parts =
        cut(data::stratified_split(files.label_set, ratios, split_rng));
    app::print_limit_choice("apparel", o.common.limit, parts, files.size());
    data::DecodedMultiLabelParts decoded =
        data::decode_parts(files, parts, folder_options(o), listed_from);
    s = {std::move(decoded.parts[0]), std::move(decoded.parts[1]), std::move(decoded.parts[2]),
         source, app::print_image_load("apparel", decoded.skipped, decoded.decode)};
  }
  for (const data::MultiLabelImages* part : {&s.train, &s.validation, &s.test}) {
    WEFT_CHECK(part->size() > 0, "a split is empty: too few images in ", s.source);
  }
  return s;
}

std::unique_ptr<data::Loader> make_loader(const data::MultiLabelImages& d, bool train,
                                          const Options& o, const Device& device) {
  data::Transform transform;
  if (train) {
    data::AugmentOptions augment;
    augment.rotation_degrees = 45;
    augment.width_shift = augment.height_shift = 0.1f;
    augment.zoom = 0.2f;
    augment.horizontal_flip = true;
    transform.augment = augment;
  }
  data::LoaderOptions options;
  options.batch_size = train ? o.common.batch_size : 256;
  options.shuffle = train;
  options.workers = train ? app::loader_workers(o.common, device) : 0;
  options.seed = o.common.seed;
  return std::make_unique<data::Loader>(
      std::make_shared<data::ImageDataset>(d.images, d.targets, std::vector<int64_t>{}, transform),
      options);
}

std::vector<int64_t> label_counts(const data::MultiLabelImages& d) {
  const int64_t labels = d.targets.dim(1);
  std::vector<int64_t> counts(static_cast<size_t>(labels), 0);
  const std::vector<float> targets = d.targets.to_vector<float>();
  for (size_t i = 0; i < targets.size(); ++i) counts[i % static_cast<size_t>(labels)] += targets[i] >= 0.5f;
  return counts;
}

std::string label_text(const std::vector<float>& row, const std::vector<std::string>& names,
                       const std::vector<float>& thresholds) {
  std::string text;
  for (size_t l = 0; l < names.size(); ++l) {
    if (row[l] >= thresholds[l]) text += (text.empty() ? "" : " ") + names[l];
  }
  return text.empty() ? "-" : text;
}

// Test images with "true labels / predicted labels", green when every label is right.
void add_samples(app::MultiLabelReportInput& input, const data::MultiLabelImages& test,
                 const train::Predictions& predictions) {
  const std::vector<float> probabilities = predictions.probabilities();
  const std::vector<float> half(input.thresholds.size(), 0.5f);
  const int64_t labels = predictions.cols, count = std::min<int64_t>(24, test.size());
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < count; ++i) rows.push_back(i * test.size() / count);
  input.sample_images = data::gather_rows(test.images, rows);
  for (int64_t r : rows) {
    const auto begin = static_cast<size_t>(r * labels);
    const std::vector<float> truth(predictions.targets.begin() + begin,
                                   predictions.targets.begin() + begin + labels);
    const std::vector<float> scores(probabilities.begin() + begin, probabilities.begin() + begin + labels);
    const std::string actual = label_text(truth, input.report.label_names, half);
    const std::string predicted = label_text(scores, input.report.label_names, input.thresholds);
    input.sample_captions.push_back(actual + "\n" + predicted);
    input.sample_colors.push_back(actual == predicted ? report::colors::good : report::colors::bad);
  }
}

// What --export-onnx records beside the graph: the label names and their thresholds.
models::OnnxExportOptions onnx_options(const std::vector<std::string>& names,
                                       const std::vector<float>& thresholds) {
  return {.class_names = names, .metadata = {{"thresholds", nlohmann::json(thresholds).dump()}}};
}

// --predict and --export-onnx with --weights: no training, no report.
int use_weights_only(const Options& o, const Device& device) {
  const app::WeightsMetadata metadata = app::read_weights_metadata(o.common.weights);
  std::vector<std::string> names = app::class_names_from(metadata, {}, o.common.weights);
  if (names.empty() && use_standin(o)) names = {"black", "blue", "dress", "pants", "shirt", "shoes"};
  WEFT_CHECK(!names.empty(), o.common.weights, " has no label names in its metadata (use the "
             "model.safetensors weft-apparel writes)");
  models::ApparelCnn model({3, o.size, static_cast<int>(names.size())});
  model.to(device);
  app::load_weights(model, o.common.weights);
  app::PredictOptions predict;
  predict.image = folder_options(o).image;
  predict.class_names = names;
  predict.top_k = o.common.top_k;
  predict.kind = app::OutputKind::sigmoid;
  predict.device = device;
  predict.thresholds =
      app::metadata_value<std::vector<float>>(metadata, "thresholds", o.common.weights,
                                              "a JSON list of numbers")
          .value_or(std::vector<float>(names.size(), static_cast<float>(o.threshold)));
  WEFT_CHECK(predict.thresholds.size() == names.size(), o.common.weights,
             ": the metadata entry \"thresholds\" has ", predict.thresholds.size(),
             " values for ", names.size(), " labels");
  app::write_onnx("apparel", o.export_onnx, model, onnx_options(names, predict.thresholds));
  if (!o.common.predict.empty()) app::predict_files(model, o.common.predict, predict);
  return 0;
}

int run(const Options& o) {
  const app::Stopwatch stopwatch;
  const Device device = resolve_device(o.common.device);
  manual_seed(o.common.seed);
  if (!o.common.predict.empty() || app::export_without_training(o.common, o.export_onnx)) {
    return use_weights_only(o, device);
  }
  const Splits data = load_data(o);
  const std::vector<std::string>& names = data.train.label_names;
  const auto labels = static_cast<int>(names.size());
  WEFT_CHECK(labels >= 2, data.source, " has ", labels, " label",
             labels == 1 ? " (" + names[0] + ")" : std::string("s"),
             "; a multi-label tagger needs at least two labels");
  models::ApparelCnn model({3, o.size, labels});
  model.to(device);
  if (!o.common.weights.empty()) app::load_weights(model, o.common.weights);
  optim::Adam optimizer(model.parameters(), {static_cast<float>(o.common.lr)});
  app::prepare_run_folder(o.common);
  std::printf("weft-apparel: %lld train / %lld validation / %lld test images, %d labels, %lld "
              "parameters, Adam lr %g, batch %d, device %s\n  data: %s\n",
              static_cast<long long>(data.train.size()), static_cast<long long>(data.validation.size()),
              static_cast<long long>(data.test.size()), labels,
              static_cast<long long>(model.parameter_count()), o.common.lr, o.common.batch_size,
              device.str().c_str(), data.source.c_str());

  const nlohmann::json config = {
      {"data", o.common.data}, {"csv", o.csv}, {"standin", use_standin(o)}, {"size", o.size},
      {"lr", o.common.lr}, {"batch_size", o.common.batch_size}, {"epochs", o.common.epochs},
      {"patience", o.patience}, {"seed", o.common.seed}, {"limit", o.common.limit},
      {"tune_thresholds", o.tune_thresholds}, {"threshold", o.threshold}, {"device", device.str()}};
  auto train_loader = make_loader(data.train, true, o, device);
  app::print_loader_workers(train_loader->options().workers);
  auto validation_loader = make_loader(data.validation, false, o, device);
  auto test_loader = make_loader(data.test, false, o, device);
  const auto objective = train::Objective::multi_label;
  const std::vector<float> default_thresholds(names.size(), static_cast<float>(o.threshold));
  train::TrainResult result;
  if (!o.common.eval_only) {
    train::Trainer trainer(model, optimizer,
                           {.epochs = o.common.epochs, .run_dir = o.common.out, .seed = o.common.seed,
                            .config = config, .config_may_change = {"epochs", "data", "device", "patience"},
                            .resume = o.common.resume,
                            .skip_nonfinite_steps = o.common.skip_nonfinite_steps,
                            .profile_steps = o.common.profile_steps});
    trainer.add_callback(std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{
        .monitor = "val_loss", .patience = o.patience, .restore_best_weights = true}));
    trainer.add_callback(std::make_shared<train::ReduceLROnPlateau>(train::ReduceLROnPlateauOptions{
        .monitor = "val_loss", .factor = 0.2, .patience = 3, .min_lr = 1e-6}));
    trainer.add_callback(std::make_shared<train::ModelCheckpoint>());
    const train::StepHooks hooks = trainer.step_hooks();
    result = trainer.fit(
        [&](int epoch) {
          const train::EpochResult r = train::train_loader_epoch(model, optimizer, *train_loader,
                                                                 epoch, device, objective, hooks);
          return train::Metrics{{"loss", r.loss}, {"accuracy", r.accuracy}};
        },
        [&](int) {
          const train::Predictions v = train::predict(model, *validation_loader, device, objective);
          const report::MultiLabelReport r = app::multilabel_report_at(
              v.targets, v.probabilities(), v.rows, names, default_thresholds);
          return train::Metrics{{"val_loss", v.loss}, {"val_accuracy", v.accuracy()},
                                {"val_micro_f1", r.micro.f1}};
        });
    if (result.interrupted) return result.exit_code();
  }

  // Thresholds from the validation split, then one look at the test split.
  const train::Predictions validation = train::predict(model, *validation_loader, device, objective);
  const std::vector<float> thresholds =
      o.tune_thresholds ? app::tune_thresholds(validation.targets, validation.probabilities(),
                                               validation.rows, labels)
                        : default_thresholds;
  const train::Predictions test = train::predict(model, *test_loader, device, objective);
  app::MultiLabelReportInput input;
  input.title = std::string("Apparel") + (use_standin(o) ? " (stand-in)" : "");
  input.report = app::multilabel_report_at(test.targets, test.probabilities(), test.rows, names,
                                           thresholds);
  input.thresholds = thresholds;
  input.train_label_counts = label_counts(data.train);
  input.history = result.history;
  add_samples(input, data.test, test);
  const nlohmann::ordered_json summary = app::write_multilabel_report(o.common.out, input);
  if (!o.common.eval_only) {
    app::save_model((fs::path(o.common.out) / "model.safetensors").string(), model, "apparel",
                    names, {{"thresholds", nlohmann::json(thresholds).dump()},
                            {"size", std::to_string(o.size)}});
  }
  app::write_onnx("apparel", o.export_onnx, model, onnx_options(names, thresholds));

  const double seconds = stopwatch.seconds();
  nlohmann::ordered_json report = app::report_header("apparel", "test_micro_f1", input.report.micro.f1,
                                                     result.epochs_completed, device, seconds, config);
  report["test_macro_f1"] = input.report.macro.f1;
  report["test_hamming_loss"] = input.report.hamming_loss;
  report["test_subset_accuracy"] = input.report.subset_accuracy;
  report["test_loss"] = test.loss;
  report["data"] = data.source;
  report["skipped_images"] = data.skipped_images;
  report["standin"] = use_standin(o);
  report["label_names"] = names;
  report["thresholds"] = thresholds;
  report["images"] = {{"train", data.train.size()}, {"validation", data.validation.size()},
                      {"test", data.test.size()}};
  report["parameters"] = model.parameter_count();
  report["stopped_early"] = result.stopped_early;
  report["stop_reason"] = result.stop_reason;
  report["multilabel"] = summary;
  report["seed_reported"] = {
      {"micro_f1", 0.908}, {"macro_f1", 0.863},
      {"per_label_f1", {{"black", 0.983}, {"blue", 0.977}, {"dress", 0.828}, {"pants", 0.914},
                        {"shirt", 0.792}, {"shoes", 0.849}, {"shorts", 0.699}}},
      {"note", "the seed's own 4,790 photos at threshold 0.5; different data from this run's"}};
  report["history"] = app::history_json(result.history);
  app::write_report(o.common.out, report);
  std::printf("test micro-F1 %.4f, macro-F1 %.4f, Hamming loss %.4f after %d epochs, %.0f s "
              "(the seed: micro-F1 0.908, macro-F1 0.863 on its own data)\nwrote report.json, "
              "multilabel_report.txt and figures/ to %s\n", input.report.micro.f1,
              input.report.macro.f1, input.report.hamming_loss, result.epochs_completed, seconds,
              o.common.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{"Tag apparel images with several labels (colour and type) with weft: the "
               "seed-003 multi-label CNN."};
  app::add_common_options(cli, o.common,
                          "folders named label_label (black_dress/...), or the image root of "
                          "--csv (none: the Fashion-MNIST stand-in)");
  app::add_loader_options(cli, o.common);
  app::add_export_onnx_option(cli, o.export_onnx);
  cli.add_option("--csv", o.csv, "labels from this CSV (file,label1;label2) instead of folder names");
  cli.add_option("--separator", o.separator, "splits folder names into labels")->capture_default_str();
  cli.add_flag("--standin", o.standin, "use the stand-in (tinted Fashion-MNIST) even with --data");
  app::add_skip_bad_images_option(cli, o.skip_bad_images);
  cli.add_option("--size", o.size, "image side in pixels (the seed: 96; smaller for CPU runs)")
      ->capture_default_str()
      ->check(app::in_range(12, 512));
  cli.add_option("--standin-per-garment", o.standin_per_garment, "stand-in images per garment type")
      ->capture_default_str()
      ->check(app::in_range(1, 6000));
  cli.add_flag("--tune-thresholds", o.tune_thresholds,
               "choose each label's threshold for the best F1 on the validation split");
  cli.add_option("--threshold", o.threshold, "every label's threshold without --tune-thresholds")
      ->capture_default_str()
      ->check(app::in_range(0.0, 1.0));
  cli.add_option("--patience", o.patience, "EarlyStopping patience on val_loss (the seed: 5)")
      ->capture_default_str()
      ->check(app::in_range(1, 10000));
  return app::run_main("apparel", cli, argc, argv, o.common, [&] { return run(o); });
}
