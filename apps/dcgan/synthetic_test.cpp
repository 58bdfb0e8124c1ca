// weft-dcgan synthetic-test: seed 000 added DCGAN shoes to its training set and said it helped;
// this mode measures it. For each seed, a shoe classifier is trained twice from the same
// initial weights - on a small random real subset (--real-per-class, e.g. 200 images per
// class), and on the same subset plus generated images (--synthetic, the folder that
// `weft-dcgan generate` wrote) - and both are scored on the same real test images. Every
// seed's pair of accuracies is printed as it comes out and kept in report.json with the mean
// and spread of each and of their difference; nothing is averaged away or picked.
//
// The classifier is SimpleCnn (models/simple_cnn.h: two conv + pool blocks, two dense layers),
// trained with Adam for a fixed number of epochs with no validation-based choices, so the
// comparison has no knob that could favour either side. With the same epochs (the seed's
// setup: the images were simply added) the larger set also gets more optimizer steps;
// --equal-steps gives the run with synthetic images as many steps as the real-only run instead
// (fewer epochs over its larger set), which separates "more images" from "more training". The real data is Fashion-MNIST's shoe
// classes (the stand-in: train subset from the training set, scored on the whole test set of
// those classes) or an ImageFolder of shoes (split 80/20 per class, seeded, test part fixed).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "apps/dcgan/dcgan_app.h"
#include "engine/data/image_folder.h"
#include "engine/data/shoe_standin.h"
#include "engine/data/splits.h"
#include "engine/optim/optimizer.h"
#include "engine/runtime.h"
#include "engine/train/classification.h"
#include "kernels/error.h"
#include "models/simple_cnn.h"

namespace weft::dcgan_app {
namespace fs = std::filesystem;
namespace {

struct RealData {
  data::LabeledImages train;  // the pool the small subsets are drawn from
  data::LabeledImages test;
  data::ImageOptions image;   // size and channels, for reading the synthetic folder alike
};

RealData load_real(const Options& o) {
  const std::string dir = o.common.data.empty() ? data::kFashionMnistDir : o.common.data;
  WEFT_CHECK(fs::is_directory(dir), "--data ", dir, ": no such directory");
  RealData real;
  if (is_fashion_mnist_dir(dir)) {
    const std::vector<int32_t> classes = fashion_classes(o.classes);
    real.train = data::select_classes(data::load_fashion_mnist(dir, "train"), classes);
    real.test = data::select_classes(data::load_fashion_mnist(dir, "test"), classes);
    real.image = {.height = 28, .width = 28, .channels = 1, .fit = data::Fit::pad};
    return real;
  }
  real.image = {.height = o.size, .width = o.size, .channels = 3, .fit = data::Fit::crop};
  data::ImageFolderOptions options;
  options.image = real.image;
  options.progress = app::decode_progress("dcgan");
  const data::ImageFolder folder = data::load_image_folder(dir, options);
  Generator split_rng(12345);  // one fixed test part for every seed
  const auto parts = data::stratified_split(data::label_vector(folder), {0.8, 0.2}, split_rng);
  real.train = data::select(folder, parts[0]);
  real.test = data::select(folder, parts[1]);
  return real;
}

// The generated images with labels renumbered to the real classes' order, matched by name
// ("T-shirt/top" was written as the folder "T-shirt-top").
data::LabeledImages load_synthetic(const std::string& dir, const RealData& real) {
  WEFT_CHECK(fs::is_directory(dir), "--synthetic ", dir, ": no such directory");
  data::ImageFolderOptions options;
  options.image = real.image;
  data::ImageFolder folder = data::load_image_folder(dir, options);
  std::map<std::string, int32_t> real_class;
  for (size_t c = 0; c < real.train.class_names.size(); ++c) {
    std::string name = real.train.class_names[c];
    std::replace(name.begin(), name.end(), '/', '-');
    real_class[name] = static_cast<int32_t>(c);
  }
  std::vector<int32_t> labels = folder.labels.to_vector<int32_t>();
  for (int32_t& label : labels) {
    const std::string& name = folder.class_names[label];
    auto found = real_class.find(name);
    WEFT_CHECK(found != real_class.end(), "--synthetic ", dir, ": class folder '", name,
               "' is not one of the real classes");
    label = found->second;
  }
  folder.labels = Tensor::from_vector(labels, {static_cast<int64_t>(labels.size())});
  folder.class_names = real.train.class_names;
  return folder;
}

data::LabeledImages combined(const data::LabeledImages& a, const data::LabeledImages& b) {
  data::LabeledImages out;
  out.images = concat({a.images, b.images}, 0);
  out.labels = concat({a.labels, b.labels}, 0);
  out.class_names = a.class_names;
  return out;
}

std::vector<int32_t> all_classes(const data::LabeledImages& d) {
  std::vector<int32_t> classes(d.class_names.size());
  for (size_t c = 0; c < classes.size(); ++c) classes[c] = static_cast<int32_t>(c);
  return classes;
}

// Train a fresh classifier (initial weights fixed by `seed`) and return its test accuracy.
double train_and_score(const Options& o, const data::LabeledImages& train_set,
                       const data::LabeledImages& test, int epochs, uint64_t seed, Device device) {
  manual_seed(seed);
  models::SimpleCnn model({.in_channels = static_cast<int>(train_set.images.dim(1)),
                           .height = static_cast<int>(train_set.images.dim(2)),
                           .width = static_cast<int>(train_set.images.dim(3)),
                           .classes = static_cast<int>(train_set.class_names.size())});
  model.to(device);
  optim::Adam optimizer(model.parameters(), {.lr = static_cast<float>(o.classifier_lr)});
  Generator shuffle(seed + 1);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    train::train_epoch(model, optimizer, train_set, o.classifier_batch, device, shuffle);
  }
  return train::evaluate(model, test, 500, device).accuracy;
}

// Epochs over a set of `mixed` images that take about as many optimizer steps as
// classifier_epochs over `real` images (at least 1).
int equal_step_epochs(const Options& o, int64_t real, int64_t mixed) {
  const int64_t b = o.classifier_batch;
  const double steps = static_cast<double>(o.classifier_epochs) * static_cast<double>((real + b - 1) / b);
  return std::max(1, static_cast<int>(std::lround(steps / static_cast<double>((mixed + b - 1) / b))));
}

nlohmann::ordered_json summary_json(const app::MeanSpread& s) {
  return {{"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min}, {"max", s.max}, {"runs", s.count}};
}

}  // namespace

int run_synthetic_test(const Options& o) {
  const app::Stopwatch clock;
  WEFT_CHECK(!o.synthetic.empty(), "synthetic-test needs --synthetic DIR (the folder that ",
             "`weft-dcgan generate` wrote)");
  WEFT_CHECK(!o.seeds.empty(), "synthetic-test needs at least one --seeds value");
  const Device device = resolve_device(o.common.device);
  const RealData real = load_real(o);
  const data::LabeledImages synthetic = load_synthetic(o.synthetic, real);
  const std::vector<int32_t> classes = all_classes(real.train);
  std::printf("synthetic-test: %lld real per class (of %lld), %s synthetic per class (%lld in "
              "%s), %zu seeds, SimpleCnn, %d epochs, Adam lr %g, batch %d; test: %lld real images\n",
              static_cast<long long>(o.real_per_class), static_cast<long long>(real.train.size()),
              o.synthetic_per_class > 0 ? std::to_string(o.synthetic_per_class).c_str() : "all",
              static_cast<long long>(synthetic.size()), o.synthetic.c_str(), o.seeds.size(),
              o.classifier_epochs, o.classifier_lr, o.classifier_batch,
              static_cast<long long>(real.test.size()));
  std::printf("%6s %10s %12s %10s %16s\n", "seed", "real only", "real + syn.", "gain",
              "epochs with syn.");
  std::fflush(stdout);

  std::vector<double> real_only, with_synthetic, gains;
  nlohmann::json rows = nlohmann::json::array();
  for (uint64_t seed : o.seeds) {
    Generator pick(seed + 31);
    const data::LabeledImages subset =
        data::select_classes(real.train, classes, o.real_per_class, &pick);
    const data::LabeledImages extra =
        o.synthetic_per_class > 0
            ? data::select_classes(synthetic, classes, o.synthetic_per_class, &pick)
            : synthetic;
    const data::LabeledImages mixed = combined(subset, extra);
    const int mixed_epochs = o.equal_steps ? equal_step_epochs(o, subset.size(), mixed.size())
                                           : o.classifier_epochs;
    const double a = train_and_score(o, subset, real.test, o.classifier_epochs, seed, device);
    const double b = train_and_score(o, mixed, real.test, mixed_epochs, seed, device);
    real_only.push_back(a);
    with_synthetic.push_back(b);
    gains.push_back(b - a);
    std::printf("%6llu %10.4f %12.4f %+10.4f %16d\n", static_cast<unsigned long long>(seed), a, b,
                b - a, mixed_epochs);
    std::fflush(stdout);
    rows.push_back({{"seed", seed}, {"real_images", subset.size()},
                    {"synthetic_images", extra.size()}, {"epochs_with_synthetic", mixed_epochs},
                    {"accuracy_real_only", a},
                    {"accuracy_with_synthetic", b}, {"gain", b - a}});
  }
  const app::MeanSpread gain = app::mean_and_spread(gains);
  const app::MeanSpread a = app::mean_and_spread(real_only), b = app::mean_and_spread(with_synthetic);
  std::printf("mean   %10.4f %12.4f %+10.4f   (sample std %.4f / %.4f / %.4f)\n", a.mean, b.mean,
              gain.mean, a.stddev, b.stddev, gain.stddev);

  const nlohmann::json config = {
      {"data", o.common.data}, {"synthetic", o.synthetic}, {"classes", o.classes},
      {"real_per_class", o.real_per_class}, {"synthetic_per_class", o.synthetic_per_class},
      {"seeds", o.seeds}, {"classifier", "SimpleCnn"}, {"epochs", o.classifier_epochs},
      {"lr", o.classifier_lr}, {"batch_size", o.classifier_batch},
      {"equal_steps", o.equal_steps}};
  nlohmann::ordered_json report = app::report_header("dcgan-synthetic-test", "accuracy_gain",
                                                     gain.mean, o.classifier_epochs, device,
                                                     clock.seconds(), config);
  report["accuracy_real_only"] = summary_json(a);
  report["accuracy_with_synthetic"] = summary_json(b);
  report["gain"] = summary_json(gain);
  report["runs"] = rows;
  report["class_names"] = real.train.class_names;
  report["note"] = "Each seed trains SimpleCnn twice from the same initial weights: on the real "
                   "subset alone and with the synthetic images added; both are scored on the same "
                   "real test images. Reported as they came out, every seed kept. With the "
                   "Fashion-MNIST data these are its shoe classes standing in for UT Zappos50K.";
  std::printf("wrote %s\n", app::write_report(o.common.out, report).c_str());
  return 0;
}

}  // namespace weft::dcgan_app
