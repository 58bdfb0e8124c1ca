// weft-clothing's data: the ImageFolder or the imbalanced Fashion-MNIST stand-in, the 70/15/15
// split, balancing by augmentation, and the disjoint pretraining set (see clothing.h).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/common/standins.h"
#include "clothing.h"
#include "engine/data/balance.h"
#include "engine/data/image_folder.h"
#include "engine/data/product_styles.h"
#include "engine/data/splits.h"
#include "kernels/error.h"

namespace weft::clothing {

const std::vector<int> kStandinClasses = {0, 6, 2};
const std::vector<int> kPretrainClasses = {1, 3, 4, 5, 7, 8, 9};
const char* const kStandinNote =
    "stand-in: Fashion-MNIST T-shirt/top, Shirt and Pullover at the seed's 93.4 / 6.4 / 0.2 % "
    "(for Casual, Formal, Smart Casual), not the Fashion Product Images; ImageNet weights were "
    "not available here";

bool use_standin(const Options& o) { return o.standin || o.common.data.empty(); }
int image_size(const Options& o) { return o.size > 0 ? o.size : (use_standin(o) ? 28 : 64); }
int image_channels(const Options& o) {
  return o.channels > 0 ? o.channels : (use_standin(o) ? 1 : 3);
}

data::ImageOptions image_options(const Options& o) {
  return {image_size(o), image_size(o), image_channels(o), data::Fit::pad};
}

data::Normalize normalization(const Options& o) {
  if (o.normalize == "unit") return {};
  WEFT_CHECK(image_channels(o) == 3, "--normalize imagenet needs RGB images (--channels 3)");
  return {1.0f / 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

data::AugmentOptions balancing_augmentation() {
  data::AugmentOptions augment;
  augment.rotation_degrees = 20;
  augment.shear_degrees = 12;  // Keras' shear_range 0.2 (radians) is 11.5 degrees
  augment.horizontal_flip = true;
  augment.fill_mode = data::FillMode::nearest;
  return augment;
}

namespace {

// The stand-in: all 7,000 images of the majority class (train and test files together) and as
// many of the two others as the seed's shares give: 7000 * 6.4/93.4 = 480 and 7000 * 0.2/93.4
// = 15 (at least 3 each, so every split gets one).
data::LabeledImages standin_pool(const Options& o) {
  const std::string dir = data::kFashionMnistDir;
  const data::LabeledImages all = app::concat_images(
      app::fashion_mnist_classes(data::load_fashion_mnist(dir, "train"), kStandinClasses),
      app::fashion_mnist_classes(data::load_fashion_mnist(dir, "test"), kStandinClasses));
  const int64_t majority = data::class_counts(all)[0];
  std::vector<int64_t> counts;
  for (double share : kShares) {
    counts.push_back(std::max<int64_t>(3, std::llround(static_cast<double>(majority) * share / kShares[0])));
  }
  Generator generator(o.common.seed + 4);
  return app::take_per_class(all, counts, generator);
}

nlohmann::ordered_json counts_json(const data::LabeledImages& images) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const std::vector<int64_t> counts = data::class_counts(images);
  for (size_t c = 0; c < counts.size(); ++c) out[images.class_names[c]] = counts[c];
  return out;
}

// One line for the rows of styles.csv whose image file is absent (Kaggle's copy has five), the
// first 20 ids named: they are left out, and report.json lists them all.
void print_missing_images(const std::string& root, const std::vector<std::string>& ids) {
  constexpr size_t kNamed = 20;
  if (ids.empty()) return;
  std::string list;
  for (size_t i = 0; i < ids.size() && i < kNamed; ++i) {
    if (!list.empty()) list += ", ";
    list += ids[i];
  }
  if (ids.size() > kNamed) {
    list += " and " + std::to_string(ids.size() - kNamed) + " more (report.json lists them)";
  }
  std::printf("weft-clothing: %zu row%s of %s/styles.csv %s no image in %s/images, left out: "
              "%s\n", ids.size(), ids.size() == 1 ? "" : "s", root.c_str(),
              ids.size() == 1 ? "has" : "have", root.c_str(), list.c_str());
}

}  // namespace

app::ClassifierData load_data(const Options& o, nlohmann::ordered_json& notes) {
  // The 70/15/15 split and the --limit are chosen from the labels; a folder's files are then
  // decoded for the images kept only (image_folder.h, "Choosing before decoding").
  const std::vector<double> ratios = {0.7, 0.15, 0.15};
  Generator split_rng(o.common.seed + 2);
  Generator limit_rng(o.common.seed + 3);
  app::ThreeWaySplit split;
  data::LabeledImages all;  // every image (stand-in) or file (folder), for the class counts
  std::string source;
  const Options defaults;  // --label-column and --classes apply to styles.csv data alone
  const bool styles_flags =
      o.label_column != defaults.label_column || o.classes != defaults.classes;
  WEFT_CHECK(!styles_flags || !use_standin(o), "--label-column and --classes choose ",
             "the classes of styles.csv data; the stand-in has its own three (give --data with ",
             "a styles.csv)");
  if (use_standin(o)) {
    all = standin_pool(o);
    all.images = app::conform_images(all.images, image_channels(o), image_size(o));
    source = std::string(kStandinNote) + " (" + data::kFashionMnistDir + ")";
    const std::vector<data::IndexList> parts = app::split_then_limit(
        data::label_vector(all), ratios, o.common.limit, split_rng, limit_rng);
    split = {data::select(all, parts[0]), data::select(all, parts[1]),
             data::select(all, parts[2])};
  } else {
    data::ImageFolderOptions options;
    options.image = image_options(o);
    options.bad_images = app::bad_images_policy(o.skip_bad_images);
    options.progress = app::decode_progress("clothing");
    data::LabeledFiles files;
    std::string listed_from = o.common.data;
    if (data::has_product_styles(o.common.data)) {  // Kaggle's styles.csv + images/
      data::ProductStylesOptions styles{options, o.label_column, o.classes};
      data::ProductStylesListing products = data::list_product_styles(o.common.data, styles);
      std::string kept;
      for (const std::string& name : products.class_names) {
        if (!kept.empty()) kept += ", ";
        kept += name;
      }
      source = "Fashion Product Images " + o.common.data + " (styles.csv: " +
               std::to_string(products.rows - products.other_rows) + " of " +
               std::to_string(products.rows) + " rows with " + o.label_column + " in " + kept + ")";
      notes["styles_csv"] = {{"rows", products.rows},
                             {"rows_of_other_classes", products.other_rows},
                             {"rows_without_image", products.missing_images},
                             {"column", o.label_column}};
      print_missing_images(o.common.data, products.missing_images);
      listed_from += "/styles.csv";
      files = std::move(products);
    } else {
      WEFT_CHECK(!styles_flags, "--label-column and --classes choose the classes of ",
                 "styles.csv data; ", o.common.data, " has no styles.csv: it is read as an ",
                 "ImageFolder, whose class folders are the classes");
      files = data::list_labeled_files(o.common.data);
      source = "ImageFolder " + o.common.data;
      WEFT_CHECK(files.class_names.size() >= 2, source, " has one class folder (",
                 files.class_names[0], "); a classifier needs at least two",
                 app::one_folder_hint(o.common.data, files.class_names));
    }
    const std::vector<data::IndexList> parts =
        app::split_then_limit(files.labels, ratios, o.common.limit, split_rng, limit_rng);
    app::print_limit_choice("clothing", o.common.limit, parts, files.size());
    data::DecodedParts decoded = data::decode_parts(files, parts, options, listed_from);
    notes["skipped_images"] = app::print_image_load("clothing", decoded.skipped, decoded.decode);
    split = {std::move(decoded.parts[0]), std::move(decoded.parts[1]),
             std::move(decoded.parts[2])};
    all.class_names = files.class_names;
    all.labels = Tensor::from_vector(files.labels, {files.size()});
  }
  notes["images_per_class"] = {{"all", counts_json(all)},
                               {"train", counts_json(split.train)},
                               {"validation", counts_json(split.validation)},
                               {"test", counts_json(split.test)}};
  return {split.train, split.validation, split.test, source + ", split 70/15/15 by class"};
}

app::ClassifierData balance_training_split(const Options& o, app::ClassifierData data,
                                           nlohmann::ordered_json& notes) {
  // The balanced split is every class at the largest one's count, made beside the split it
  // grows: refused with a clear message where that would not fit (the seed's proportions at
  // 224 x 224 need about 12 GB), rather than ended by the kernel's out-of-memory killer.
  const std::vector<int64_t> counts = data::class_counts(data.train);
  int64_t largest = 0, present = 0;
  for (const int64_t count : counts) {
    largest = std::max(largest, count);
    present += count > 0;
  }
  const int64_t image_bytes = data.train.size() == 0
                                  ? 0
                                  : data.train.images.numel() / data.train.size();
  const std::string problem = app::memory_problem(
      "--balance: the balanced training split of " + std::to_string(largest * present) +
          " images of " + std::to_string(image_bytes) + " bytes",
      largest * present * image_bytes, app::available_memory_bytes(),
      "give a smaller --size, a --limit, or --balance off");
  WEFT_CHECK(problem.empty(), problem);
  Generator balance_rng(o.common.seed + 5);
  const data::BalancedImages balanced =
      data::balance_by_augmentation(data.train, balancing_augmentation(), balance_rng);
  std::printf("weft-clothing: balanced the training split by augmentation: %lld images -> "
              "%lld (%s)\n", static_cast<long long>(balanced.originals),
              static_cast<long long>(balanced.size()), counts_json(balanced).dump().c_str());
  notes["balanced_train"] = counts_json(balanced);
  data.train = balanced;
  return data;
}

app::ClassifierData pretrain_data(const Options& o) {
  const std::string dir = data::kFashionMnistDir;
  const data::LabeledImages pool =
      app::fashion_mnist_classes(data::load_fashion_mnist(dir, "train"), kPretrainClasses);
  Generator split_rng(o.common.seed + 6);
  const std::vector<data::IndexList> parts =
      data::stratified_split(data::label_vector(pool), {0.85, 0.15}, split_rng);
  app::ClassifierData d;
  d.train = data::select(pool, parts[0]);
  d.validation = data::select(pool, parts[1]);
  d.test = app::fashion_mnist_classes(data::load_fashion_mnist(dir, "test"), kPretrainClasses);
  Generator limit_rng(o.common.seed + 7);
  for (data::LabeledImages* part : {&d.train, &d.validation, &d.test}) {
    part->images = app::conform_images(part->images, image_channels(o), image_size(o));
    *part = app::limit_images(*part, o.common.limit, limit_rng);
  }
  d.source = "pretraining stand-in: the seven Fashion-MNIST classes disjoint from the task's "
             "(Trouser, Dress, Coat, Sandal, Sneaker, Bag, Ankle boot)";
  return d;
}

}  // namespace weft::clothing
