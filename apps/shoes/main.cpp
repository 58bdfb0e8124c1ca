// weft-shoes: classify shoe types (seed 000: UT Zappos50K's Shoes / Boots / Sandals / Slippers),
// optionally with generated images (weft-dcgan's ImageFolder) added to the training set.
//
//   weft-shoes --data /data/ut-zap50k-images-square --out runs/shoes
//   weft-shoes --data /data/zappos --synthetic runs/dcgan/samples --out runs/shoes-synthetic
//   weft-shoes --out runs/shoes-standin                         # the stand-in (no --data)
//   weft-shoes --data /data/zappos --weights runs/shoes/model.safetensors --predict boot.jpg
//
// Data: any ImageFolder (root/<class>/**/<image>); Zappos' Category/SubCategory/Brand tree gives
// its four categories as classes (--class-depth 2 takes the subcategories). Images are cropped
// square around their centre (the seed's square crops) and resized to --size; classes with fewer
// than --min-count images are dropped (the seed: 100) and the rest split 70/15/15 by class.
// --synthetic DIR adds the images of another ImageFolder to the training split only, each to the
// training class of the same name (case, spaces, '-' and '_' ignored): they never reach
// validation or test, so the test accuracy stays a measure on real photos.
//
// Stand-in: without --data (or with --standin) the Fashion-MNIST shoe classes - Sandal, Sneaker,
// Ankle boot - from its training images (split 80/20 into train and validation) and its test
// images, 28x28 grayscale (or --size). The report says so: they are not UT Zappos50K.
//
// Training: augmentation (rotation 15 degrees, shifts 0.1, zoom 0.1, horizontal flip, nearest
// fill), Adam, EarlyStopping(val_loss, patience 5, restore best weights) and either
// ReduceLROnPlateau(val_loss, factor 0.2, patience 3, min_lr 1e-6) or StepLR(10 epochs, x0.1).
// The seed's code shows neither its values nor its accuracy, so these are Keras' usual ones.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "apps/common/app_common.h"
#include "apps/common/classifier_run.h"
#include "apps/common/export_onnx.h"
#include "apps/common/standins.h"
#include "engine/data/balance.h"
#include "engine/data/image_folder.h"
#include "engine/data/splits.h"
#include "engine/optim/optimizer.h"
#include "engine/runtime.h"
#include "kernels/error.h"
#include "models/image_classifier.h"

namespace {

using namespace weft;

const std::vector<int> kShoeClasses = {5, 7, 9};  // Sandal, Sneaker, Ankle boot
constexpr const char* kStandinNote =
    "stand-in: Fashion-MNIST shoe classes (Sandal, Sneaker, Ankle boot), not UT Zappos50K";

struct Options {
  app::CommonOptions common{.out = "runs/shoes", .epochs = 30, .batch_size = 64, .lr = 1e-3};
  bool standin = false;
  int size = 0;      // 0: 64 for image folders, 28 for the stand-in
  int channels = 0;  // 0: 3 for image folders, 1 for the stand-in
  int64_t min_count = 100;
  int class_depth = 1;
  std::string synthetic;
  std::string model = "simple";
  std::string schedule = "plateau";
  int patience = 5;
  bool skip_bad_images = false;
  std::string export_onnx;  // --export-onnx (apps/common/export_onnx.h)
};

bool use_standin(const Options& o) { return o.standin || o.common.data.empty(); }
int image_size(const Options& o) { return o.size > 0 ? o.size : (use_standin(o) ? 28 : 64); }
int image_channels(const Options& o) {
  return o.channels > 0 ? o.channels : (use_standin(o) ? 1 : 3);
}

data::ImageFolderOptions folder_options(const Options& o) {
  data::ImageFolderOptions options;
  options.image = {image_size(o), image_size(o), image_channels(o), data::Fit::crop};
  options.class_depth = o.class_depth;
  options.bad_images = app::bad_images_policy(o.skip_bad_images);
  options.progress = app::decode_progress("shoes");
  return options;
}

// A class name for matching: lower case, letters and digits only ("Ankle boot" = "ankle_boot").
std::string match_key(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return key;
}

app::ClassifierData standin_data(const Options& o) {
  const std::string dir = data::kFashionMnistDir;
  Generator generator(o.common.seed + 2);
  const data::LabeledImages pool =
      app::fashion_mnist_classes(data::load_fashion_mnist(dir, "train"), kShoeClasses);
  const std::vector<data::IndexList> parts =
      data::stratified_split(data::label_vector(pool), {0.8, 0.2}, generator);
  app::ClassifierData d;
  d.train = data::select(pool, parts[0]);
  d.validation = data::select(pool, parts[1]);
  d.test = app::fashion_mnist_classes(data::load_fashion_mnist(dir, "test"), kShoeClasses);
  for (data::LabeledImages* part : {&d.train, &d.validation, &d.test}) {
    part->images = app::conform_images(part->images, image_channels(o), image_size(o));
  }
  d.source = std::string(kStandinNote) + " (" + dir + ")";
  return d;
}

// The folder's files of the classes with at least --min-count of them, relabelled 0..K-1 (no
// image decoded yet).
data::LabeledFiles folder_files(const Options& o, nlohmann::ordered_json& notes) {
  const data::LabeledFiles listed = data::list_labeled_files(o.common.data, o.class_depth);
  const data::ClassSelection selection = data::classes_with_at_least(
      listed.labels, o.min_count, static_cast<int>(listed.class_names.size()));
  nlohmann::ordered_json dropped = nlohmann::ordered_json::object();
  for (size_t c = 0; c < selection.counts.size(); ++c) {
    if (selection.counts[c] < o.min_count) dropped[listed.class_names[c]] = selection.counts[c];
  }
  WEFT_CHECK(listed.class_names.size() >= 2, o.common.data, " has one class folder (",
             listed.class_names[0], "); a classifier needs at least two",
             app::one_folder_hint(o.common.data, listed.class_names));
  WEFT_CHECK(selection.kept.size() >= 2, o.common.data, ": ", selection.kept.size(),
             " class(es) have at least ", o.min_count, " images; a classifier needs two (lower "
             "--min-count?)");
  if (!dropped.empty()) {
    std::printf("weft-shoes: dropped classes under %lld images: %s\n",
                static_cast<long long>(o.min_count), dropped.dump().c_str());
  }
  notes["dropped_classes"] = dropped;
  return data::keep_classes(listed, selection);
}

// The --synthetic images, relabelled to the training classes of the same name.
data::LabeledImages synthetic_images(const Options& o, const std::vector<std::string>& classes,
                                     nlohmann::ordered_json& notes) {
  data::ImageFolderOptions options = folder_options(o);
  options.image.fit = data::Fit::stretch;  // generated images are square already
  data::ImageFolder generated = data::load_image_folder(o.synthetic, options);
  std::map<std::string, int32_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index[match_key(classes[c])] = static_cast<int32_t>(c);
  std::vector<int32_t> relabel;
  std::string known;
  for (const std::string& name : classes) known += (known.empty() ? "" : ", ") + name;
  for (const std::string& name : generated.class_names) {
    const auto found = index.find(match_key(name));
    WEFT_CHECK(found != index.end(), "--synthetic ", o.synthetic, ": class folder '", name,
               "' is none of the training classes (", known, ")");
    relabel.push_back(found->second);
  }
  std::vector<int32_t> labels = data::label_vector(generated);
  for (int32_t& label : labels) label = relabel[static_cast<size_t>(label)];
  generated.labels = Tensor::from_vector(labels, {static_cast<int64_t>(labels.size())});
  generated.class_names = classes;
  const std::vector<int64_t> counts = data::class_counts(generated);
  nlohmann::ordered_json per_class = nlohmann::ordered_json::object();
  for (size_t c = 0; c < classes.size(); ++c) per_class[classes[c]] = counts[c];
  notes["synthetic"] = {{"folder", o.synthetic}, {"images", generated.size()},
                        {"per_class", per_class}};
  std::printf("weft-shoes: %lld synthetic training images from %s: %s\n",
              static_cast<long long>(generated.size()), o.synthetic.c_str(),
              per_class.dump().c_str());
  return generated;
}

// The folder's 70/15/15 split with the --synthetic images after the training split's own, each
// split then cut to --limit: chosen from the labels, so that only the files kept are decoded
// (image_folder.h, "Choosing before decoding"), with the draws of a cut made after decoding.
app::ClassifierData folder_data(const Options& o, nlohmann::ordered_json& notes) {
  const data::LabeledFiles files = folder_files(o, notes);
  Generator generator(o.common.seed + 2);
  std::vector<data::IndexList> parts =
      data::stratified_split(files.labels, {0.7, 0.15, 0.15}, generator);
  data::LabeledImages synthetic;
  if (!o.synthetic.empty()) synthetic = synthetic_images(o, files.class_names, notes);
  Generator limit_rng(o.common.seed + 3);
  std::vector<int32_t> train_labels = app::labels_at(files.labels, parts[0]);
  const auto own = static_cast<int64_t>(train_labels.size());
  if (!o.synthetic.empty()) {
    const std::vector<int32_t> more = data::label_vector(synthetic);
    train_labels.insert(train_labels.end(), more.begin(), more.end());
  }
  data::IndexList from_folder, from_synthetic;
  for (const int64_t i : app::limit_indices(train_labels, o.common.limit, limit_rng)) {
    if (i < own) {
      from_folder.push_back(parts[0][static_cast<size_t>(i)]);
    } else {
      from_synthetic.push_back(i - own);
    }
  }
  parts[0] = from_folder;
  for (size_t p = 1; p < parts.size(); ++p) {
    parts[p] = app::compose(parts[p], app::limit_indices(app::labels_at(files.labels, parts[p]),
                                                         o.common.limit, limit_rng));
  }
  app::print_limit_choice("shoes", o.common.limit, parts, files.size());
  data::DecodedParts decoded = data::decode_parts(files, parts, folder_options(o), o.common.data);
  notes["skipped_images"] = app::print_image_load("shoes", decoded.skipped, decoded.decode);
  app::ClassifierData d{std::move(decoded.parts[0]), std::move(decoded.parts[1]),
                        std::move(decoded.parts[2]),
                        "ImageFolder " + o.common.data + " (" + std::to_string(files.size()) +
                            " images, classes with >= " + std::to_string(o.min_count) +
                            "), split 70/15/15"};
  if (!o.synthetic.empty()) {
    d.train = app::concat_images(d.train, data::select(synthetic, from_synthetic));
  }
  return d;
}

std::vector<std::shared_ptr<train::Callback>> callbacks(const Options& o) {
  std::vector<std::shared_ptr<train::Callback>> list;
  if (o.patience > 0) {
    list.push_back(std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{
        .monitor = "val_loss", .patience = o.patience, .restore_best_weights = true}));
  }
  if (o.schedule == "plateau") {
    list.push_back(std::make_shared<train::ReduceLROnPlateau>(train::ReduceLROnPlateauOptions{
        .monitor = "val_loss", .factor = 0.2, .patience = 3, .min_lr = 1e-6}));
  } else if (o.schedule == "step") {
    list.push_back(std::make_shared<train::StepLR>(train::StepLROptions{.step_size = 10, .gamma = 0.1}));
  }
  return list;
}

int run(const Options& o) {
  const Device device = resolve_device(o.common.device);
  manual_seed(o.common.seed);
  nlohmann::ordered_json notes;
  app::ClassifierData data;
  std::vector<std::string> class_names;
  const bool weights_only =
      !o.common.predict.empty() || app::export_without_training(o.common, o.export_onnx);
  if (!weights_only && !use_standin(o)) {
    data = folder_data(o, notes);  // with the synthetic images and the --limit
    class_names = data.train.class_names;
  } else if (!weights_only) {
    const Options defaults;
    app::refuse_flags({{"--class-depth", o.class_depth != defaults.class_depth},
                       {"--min-count", o.min_count != defaults.min_count}},
                      "to a folder of shoe photos given with --data; this run trains on the "
                      "Fashion-MNIST stand-in, whose three classes are fixed");
    data = standin_data(o);
    class_names = data.train.class_names;
    if (!o.synthetic.empty()) {
      data.train = app::concat_images(data.train, synthetic_images(o, class_names, notes));
    }
    Generator limit_rng(o.common.seed + 3);
    for (data::LabeledImages* part : {&data.train, &data.validation, &data.test}) {
      *part = app::limit_images(*part, o.common.limit, limit_rng);
    }
  } else {
    // --predict, --export-onnx: the class names saved with the weights, else the stand-in's or
    // the folders'.
    class_names = app::class_names_from(app::read_weights_metadata(o.common.weights), {},
                                        o.common.weights);
    if (class_names.empty() && use_standin(o)) {
      for (int c : kShoeClasses) class_names.push_back(data::kFashionMnistClasses[static_cast<size_t>(c)]);
    } else if (class_names.empty()) {
      class_names = data::list_image_folder(o.common.data, o.class_depth).class_names;
    }
  }

  std::shared_ptr<nn::Module> model = models::make_image_classifier(
      {o.model, image_channels(o), image_size(o), static_cast<int>(class_names.size())});
  model->to(device);
  const models::OnnxExportOptions onnx{.image_size = image_size(o), .class_names = class_names};
  if (weights_only) {
    app::load_weights(*model, o.common.weights);
    app::write_onnx("shoes", o.export_onnx, *model, onnx);
    if (o.common.predict.empty()) return 0;
    app::PredictOptions predict;
    predict.image = folder_options(o).image;
    predict.class_names = class_names;
    predict.top_k = o.common.top_k;
    predict.device = device;
    app::predict_files(*model, o.common.predict, predict);
    return 0;
  }

  optim::Adam optimizer(model->parameters(), {static_cast<float>(o.common.lr)});
  app::ClassifierRun run;
  run.app = "shoes";
  run.title = use_standin(o) ? "Shoes (stand-in)" : "Shoes";
  run.common = o.common;
  run.device = device;
  run.config = {{"data", o.common.data}, {"standin", use_standin(o)}, {"size", image_size(o)},
                {"channels", image_channels(o)}, {"min_count", o.min_count},
                {"class_depth", o.class_depth}, {"synthetic", o.synthetic}, {"model", o.model},
                {"schedule", o.schedule}, {"patience", o.patience}, {"lr", o.common.lr},
                {"batch_size", o.common.batch_size}, {"epochs", o.common.epochs},
                {"seed", o.common.seed}, {"limit", o.common.limit}, {"device", device.str()}};
  data::AugmentOptions augment;
  augment.rotation_degrees = 15;
  augment.width_shift = augment.height_shift = 0.1f;
  augment.zoom = 0.1f;
  augment.horizontal_flip = true;
  run.augment = augment;
  run.callbacks = callbacks(o);
  run.model_metadata = {{"size", std::to_string(image_size(o))},
                        {"channels", std::to_string(image_channels(o))}};
  app::ClassifierOutcome outcome = app::run_classifier(*model, optimizer, data, run);
  if (outcome.exit_code != 0) return outcome.exit_code;
  app::write_onnx("shoes", o.export_onnx, *model, onnx);
  outcome.report["standin"] = use_standin(o);
  if (use_standin(o)) outcome.report["note"] = kStandinNote;
  for (const auto& [key, value] : notes.items()) outcome.report[key] = value;
  app::write_report(o.common.out, outcome.report);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{"Classify shoe types with weft (seed 000: UT Zappos50K), optionally with "
               "generated images added to the training set."};
  app::add_common_options(cli, o.common,
                          "ImageFolder of shoes, root/<class>/**/<image> (UT Zappos50K works); "
                          "none: the Fashion-MNIST stand-in");
  app::add_loader_options(cli, o.common);
  app::add_export_onnx_option(cli, o.export_onnx);
  cli.add_flag("--standin", o.standin,
               "use the stand-in (Fashion-MNIST Sandal, Sneaker, Ankle boot) even with --data");
  cli.add_option("--size", o.size, "image side in pixels (default: 64, the stand-in 28)")
      ->check(app::in_range(10, 1024));
  cli.add_option("--channels", o.channels, "1 (grayscale) or 3 (RGB; default, the stand-in 1)")
      ->check(CLI::IsMember({1, 3}));
  cli.add_option("--min-count", o.min_count, "drop classes with fewer images (the seed: 100)")
      ->capture_default_str()
      ->check(app::non_negative_number());
  cli.add_option("--class-depth", o.class_depth,
                 "folder levels below --data that name a class (Zappos: 1 category, 2 subcategory)")
      ->capture_default_str()
      ->check(app::in_range(1, 8));
  cli.add_option("--synthetic", o.synthetic,
                 "ImageFolder of generated images (weft-dcgan) added to the training split only");
  cli.add_option("--model", o.model, "simple (seed 002's small CNN), resnet18 or resnet50")
      ->capture_default_str()
      ->check(CLI::IsMember(models::image_classifier_names()));
  cli.add_option("--schedule", o.schedule,
                 "plateau: ReduceLROnPlateau(factor 0.2, patience 3, min_lr 1e-6); step: StepLR(10 "
                 "epochs, x0.1); none")
      ->capture_default_str()
      ->check(CLI::IsMember({"plateau", "step", "none"}));
  cli.add_option("--patience", o.patience,
                 "EarlyStopping on val_loss with the best weights restored (0: off)")
      ->capture_default_str()
      ->check(app::in_range(0, 10000));
  app::add_skip_bad_images_option(cli, o.skip_bad_images);
  return app::run_main("shoes", cli, argc, argv, o.common, [&] { return run(o); });
}
