// weft-shoe-pairs: photos, owner split, pair examples, training, evaluation, --sanity and
// --predict (see pairs_app.h and main.cpp).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "apps/common/export_onnx.h"
#include "apps/common/standins.h"
#include "apps/shoe-pairs/pairs_app.h"
#include "engine/autograd.h"
#include "engine/data/fashion_mnist.h"
#include "engine/data/image_io.h"
#include "engine/data/pairs.h"
#include "engine/data/shoe_standin.h"
#include "engine/data/splits.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/report/figure.h"
#include "engine/runtime.h"
#include "engine/train/trainer.h"
#include "kernels/error.h"
#include "models/pair_training.h"

namespace weft::pairs_app {
namespace fs = std::filesystem;

models::PairCnnConfig pair_config(const std::string& model, int size, int channels) {
  models::PairCnnConfig config;
  if (model == "cnn") {
    config = models::stacked_cnn_config(size, size);
  } else if (model == "channel") {
    config = models::channel_cnn_config(size, size);
  } else if (model == "siamese") {
    config = models::siamese_config(size, size);
  } else {
    throw Error("--model must be cnn, channel or siamese, got '" + model + "'");
  }
  config.image_channels = channels;
  return config;
}

namespace {

bool is_fashion_mnist_dir(const std::string& dir) {
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                           "fashion-mnist_train.csv"}) {
    if (fs::exists(fs::path(dir) / name)) return true;
  }
  return false;
}

struct Photos {
  data::PairedImages photos;
  bool stand_in = false;
  int channels = 0;
  size_t skipped_images = 0;  // --skip-bad-images: bad photos and their partners
};

// Real pair photos from the documented folder layout, or the stand-in built from Fashion-MNIST
// shoes; `shoes_per_class` > 0 caps the stand-in's source images per class.
Photos load_photos(const Options& o, int64_t shoes_per_class, Generator& rng) {
  const std::string& dir = o.common.data;
  WEFT_CHECK(fs::is_directory(dir), "--data ", dir, ": no such directory");
  Photos out;
  if (!is_fashion_mnist_dir(dir)) {
    app::refuse_flags({{"--pairs-per-owner", o.pairs_per_owner != Options{}.pairs_per_owner}},
                      "to the Fashion-MNIST stand-in; " + dir + " holds real pair photos, "
                      "each owner with the pairs found in its folder");
    data::ImageFolderOptions folder;
    folder.image = {.height = o.size, .width = o.size, .channels = 3, .fit = data::Fit::pad};
    folder.bad_images = app::bad_images_policy(o.skip_bad_images);
    folder.progress = app::decode_progress("shoe-pairs");
    out.photos = data::load_shoe_pairs(dir, folder);
    out.skipped_images = app::print_image_load("shoe-pairs", out.photos.skipped, out.photos.decode);
    out.channels = 3;
    return out;
  }
  WEFT_CHECK(o.size >= 28 && (o.size - 28) % 2 == 0, "the Fashion-MNIST stand-in pads its 28x28 ",
             "images to --size, which must be 28 plus an even number (28, 32, 64, ...), got ",
             o.size);
  out.stand_in = true;
  out.channels = 1;
  data::LabeledImages shoes = data::select_classes(
      data::load_fashion_mnist(dir, "train"), data::kFashionMnistShoeClasses, shoes_per_class, &rng);
  shoes.images = data::pad_images(shoes.images, (o.size - 28) / 2);
  data::MirroredPairOptions mirrored;
  mirrored.pairs_per_owner = o.pairs_per_owner;
  out.photos = data::mirrored_shoe_pairs(shoes, mirrored, rng);
  return out;
}

// --limit on real photos: a part of more than `limit` photos cut to limit / 2 pairs (one at
// least), whole pairs drawn at random from `rng`. The stand-in caps its source shoes instead.
data::IndexList limit_photos(const data::PairedImages& photos, const data::IndexList& part,
                             int64_t limit, Generator& rng) {
  if (limit <= 0 || static_cast<int64_t>(part.size()) <= limit) return part;
  const auto item = [&](int64_t at) { return photos.item[static_cast<size_t>(at)]; };
  std::vector<data::IndexList> items;  // the part's photos item by item (an item's are adjacent)
  for (const int64_t i : part) {
    if (items.empty() || item(items.back().front()) != item(i)) items.emplace_back();
    items.back().push_back(i);
  }
  data::IndexList out;
  const data::IndexList keep = app::limit_indices(static_cast<int64_t>(items.size()),
                                                  std::max<int64_t>(1, limit / 2), rng);
  for (const int64_t k : keep) {
    const data::IndexList& photos_of = items[static_cast<size_t>(k)];
    out.insert(out.end(), photos_of.begin(), photos_of.end());
  }
  return out;
}

data::PairOptions pair_options(const Options& o) {
  WEFT_CHECK(o.negatives == "same-owner" || o.negatives == "anyone",
             "--negatives must be same-owner or anyone, got '", o.negatives, "'");
  data::PairOptions options;
  options.negatives = o.negatives == "same-owner" ? data::Negatives::same_group : data::Negatives::anyone;
  return options;
}

train::Metrics validation_metrics(const models::PairEvaluation& e) {
  return {{"val_loss", e.loss}, {"val_accuracy", e.accuracy},
          {"val_positive_accuracy", e.positive_accuracy},
          {"val_negative_accuracy", e.negative_accuracy}, {"val_auc", e.roc_auc}};
}

nlohmann::ordered_json evaluation_json(const models::PairEvaluation& e) {
  return {{"accuracy", e.accuracy}, {"positive_accuracy", e.positive_accuracy},
          {"negative_accuracy", e.negative_accuracy}, {"roc_auc", e.roc_auc}, {"loss", e.loss},
          {"positives", e.positives}, {"negatives", e.negatives}};
}

// The first test examples as stacked images (left above right) with P(same pair) under each,
// green when the model is right and red when it is wrong.
void save_pair_grid(const std::string& path, const data::PairedImages& photos,
                    const std::vector<data::PairExample>& examples, const models::PairEvaluation& e) {
  const int64_t n = std::min<int64_t>(16, static_cast<int64_t>(examples.size()));
  if (n == 0) return;
  const int64_t c = photos.images.dim(1), h = photos.images.dim(2), w = photos.images.dim(3);
  const size_t photo_bytes = static_cast<size_t>(c * h * w), plane = static_cast<size_t>(h * w);
  Tensor stacked = Tensor::empty({n, c, 2 * h, w}, DType::u8);
  report::SampleGridOptions grid;
  grid.title = "test pairs: left above right, P(same pair)";
  std::vector<std::string> captions;
  for (int64_t i = 0; i < n; ++i) {
    const data::PairExample& example = examples[static_cast<size_t>(i)];
    uint8_t* out = stacked.data<uint8_t>() + static_cast<size_t>(i) * 2 * photo_bytes;
    for (int64_t ch = 0; ch < c; ++ch) {
      const uint8_t* src = photos.images.data<uint8_t>();
      std::memcpy(out + ch * 2 * plane, src + example.first * photo_bytes + ch * plane, plane);
      std::memcpy(out + ch * 2 * plane + plane, src + example.second * photo_bytes + ch * plane, plane);
    }
    char caption[32];
    std::snprintf(caption, sizeof(caption), "%s %.2f", example.target ? "pair" : "not",
                  static_cast<double>(e.scores[static_cast<size_t>(i)]));
    captions.emplace_back(caption);
    grid.caption_colors.push_back(e.predicted[static_cast<size_t>(i)] == example.target
                                      ? report::colors::good : report::colors::bad);
  }
  report::save_sample_grid(path, stacked, captions, grid);
}

// --predict LEFT RIGHT [LEFT RIGHT ...]: P(same pair) for each two files.
int predict_pairs(models::PairModel& model, const std::vector<std::string>& files,
                  Device device) {
  WEFT_CHECK(files.size() % 2 == 0, "--predict takes files two at a time (left right ...), got ",
             files.size());
  const models::PairCnnConfig& config = model.config();
  const data::ImageOptions image{.height = config.image_height, .width = config.image_width,
                                 .channels = config.image_channels, .fit = data::Fit::pad};
  model.eval();
  NoGradGuard no_grad;
  auto photo = [&](const std::string& file) {
    std::vector<uint8_t> pixels;
    int height = 0, width = 0;
    data::decode_image_file(file, image, pixels, height, width);
    const Tensor bytes = Tensor::from_vector(pixels, {1, image.channels, height, width});
    return u8_to_f32(bytes.to(device), models::kPairNormalization.scale,
                     models::kPairNormalization.shift);
  };
  for (size_t i = 0; i < files.size(); i += 2) {
    const std::vector<float> p =
        softmax(model.forward_pair(photo(files[i]), photo(files[i + 1]))).to_vector<float>();
    std::printf("%s + %s: %s (P(same pair) %.3f)\n", files[i].c_str(), files[i + 1].c_str(),
                p[1] >= 0.5f ? "same pair" : "not a pair", static_cast<double>(p[1]));
  }
  return 0;
}

// What --export-onnx records: seed 001's pixel scaling, x / 255 - 0.5, as mean 0.5 and std 1.
models::OnnxExportOptions onnx_options() {
  return {.class_names = {"not a pair", "same pair"},
          .normalize = {.scale = models::kPairNormalization.scale, .mean = {0.5f}, .std = {1.0f}}};
}

}  // namespace

int run(Options& o) {
  const app::Stopwatch clock;
  const Device device = resolve_device(o.common.device);
  manual_seed(o.common.seed);
  // A weights file remembers which model it holds (model.safetensors in "pair_model", a
  // training checkpoint in its "config"); that wins over --model and --size.
  int saved_channels = 0;
  if (!o.common.weights.empty()) {
    const std::string file = o.common.weights;
    WEFT_CHECK(fs::is_regular_file(file), "--weights ", file, ": no such file");
    const auto metadata = io::load_safetensors(file).metadata;
    const char* key = metadata.count("pair_model") ? "pair_model" : "config";
    const auto saved =
        app::metadata_value<nlohmann::json>(metadata, key, file, "a JSON object");
    if (saved && saved->is_object() && saved->contains("model") && saved->contains("size") &&
        saved->contains("channels")) {
      try {
        o.model = saved->at("model").get<std::string>();
        o.size = saved->at("size").get<int>();
        saved_channels = saved->at("channels").get<int>();
      } catch (const nlohmann::json::exception&) {
        throw Error(file + ": the metadata entry \"" + key + "\" needs a string \"model\" and "
                    "integers \"size\" and \"channels\"");
      }
    }
  }
  if (!o.common.predict.empty() || app::export_without_training(o.common, o.export_onnx)) {
    const int channels =
        saved_channels > 0 ? saved_channels : (is_fashion_mnist_dir(o.common.data) ? 1 : 3);
    auto model = models::make_pair_model(pair_config(o.model, o.size, channels));
    app::load_weights(*model, o.common.weights);
    app::write_onnx("shoe-pairs", o.export_onnx, *model, onnx_options());
    if (o.common.predict.empty()) return 0;
    model->to(device);
    return predict_pairs(*model, o.common.predict, device);
  }

  Generator data_rng(o.common.seed + 3);
  const int64_t per_class = o.common.limit > 0 ? std::max<int64_t>(1, o.common.limit / 3) : 0;
  const Photos loaded = load_photos(o, per_class, data_rng);
  const data::PairedImages& photos = loaded.photos;
  WEFT_CHECK(o.validation > 0 && o.test > 0 && o.validation + o.test < 1, "--validation and ",
             "--test are shares of the owners: both > 0, together < 1");
  auto parts =
      data::grouped_split(photos.group, {1 - o.validation - o.test, o.validation, o.test}, data_rng);
  if (!loaded.stand_in && o.common.limit > 0) {
    Generator limit_rng(o.common.seed + 4);  // its own draws: without --limit nothing changes
    for (data::IndexList& part : parts) {
      part = limit_photos(photos, part, o.common.limit, limit_rng);
    }
    std::printf("weft-shoe-pairs: --limit %lld: %zu / %zu / %zu photos in train / validation / "
                "test (whole pairs)\n", static_cast<long long>(o.common.limit), parts[0].size(),
                parts[1].size(), parts[2].size());
  }
  const data::PairOptions options = pair_options(o);
  const auto train_examples = data::make_pairs(photos, options, data_rng, parts[0]);
  const auto val_examples = data::make_pairs(photos, options, data_rng, parts[1]);
  const auto test_examples = data::make_pairs(photos, options, data_rng, parts[2]);

  auto model = models::make_pair_model(pair_config(o.model, o.size, loaded.channels));
  if (!o.common.weights.empty()) app::load_weights(*model, o.common.weights);
  model->to(device);
  std::printf("weft-shoe-pairs: %s model, %lld parameters; %lld pair photos of %dx%dx%d (%s), "
              "%zu owners; examples train %zu / validation %zu / test %zu (negatives: %s); "
              "Adam lr %g, weight decay %g, batch %d, device %s\n",
              o.model.c_str(), static_cast<long long>(model->parameter_count()),
              static_cast<long long>(photos.size()), o.size, o.size, loaded.channels,
              loaded.stand_in ? "stand-in: mirrored Fashion-MNIST shoes" : o.common.data.c_str(),
              photos.group_names.size(), train_examples.size(), val_examples.size(),
              test_examples.size(), o.negatives.c_str(), o.common.lr, o.weight_decay,
              o.common.batch_size, device.str().c_str());
  std::fflush(stdout);

  app::prepare_run_folder(o.common);
  const nlohmann::json config = {
      {"model", o.model}, {"size", o.size}, {"channels", loaded.channels},
      {"lr", o.common.lr}, {"weight_decay", o.weight_decay}, {"batch_size", o.common.batch_size},
      {"seed", o.common.seed}, {"negatives", o.negatives}, {"data", o.common.data},
      {"limit", o.common.limit}, {"pairs_per_owner", o.pairs_per_owner},
      {"validation", o.validation}, {"test", o.test}, {"epochs", o.common.epochs},
      {"device", device.str()}};
  train::TrainResult result;
  if (!o.common.eval_only) {
    optim::Adam optimizer(model->parameters(), {.lr = static_cast<float>(o.common.lr),
                                                .weight_decay = static_cast<float>(o.weight_decay)});
    Generator shuffle_rng(o.common.seed + 1);
    train::TrainerOptions trainer_options;
    trainer_options.epochs = o.common.epochs;
    trainer_options.run_dir = o.common.out;
    trainer_options.seed = o.common.seed;
    trainer_options.config = config;
    trainer_options.config_may_change = {"epochs", "data", "device"};
    trainer_options.resume = o.common.resume;
    trainer_options.skip_nonfinite_steps = o.common.skip_nonfinite_steps;
    trainer_options.profile_steps = o.common.profile_steps;
    train::Trainer trainer(*model, optimizer, trainer_options);
    trainer.register_generator("shuffle", shuffle_rng);
    train::ModelCheckpointOptions best;
    best.monitor = "val_accuracy";
    trainer.add_callback(std::make_shared<train::ModelCheckpoint>(best));
    const train::StepHooks hooks = trainer.step_hooks();
    result = trainer.fit(
        [&](int) {
          const train::EpochResult t = models::pair_train_epoch(
              *model, optimizer, photos, train_examples, o.common.batch_size, device, shuffle_rng, hooks);
          return train::Metrics{{"loss", t.loss}, {"accuracy", t.accuracy}};
        },
        [&](int) {
          return validation_metrics(models::evaluate_pairs(*model, photos, val_examples, 256, device));
        });
    if (result.interrupted) return result.exit_code();
    // The seed kept the weights of the best validation epoch; so does the test.
    const std::string best_file = (fs::path(o.common.out) / "best.safetensors").string();
    if (fs::exists(best_file)) app::load_weights(*model, best_file);
  }

  const models::PairEvaluation validation =
      models::evaluate_pairs(*model, photos, val_examples, 256, device);
  const models::PairEvaluation tested =
      models::evaluate_pairs(*model, photos, test_examples, 256, device);
  std::printf("test: pair accuracy %.4f (positives %.4f, negatives %.4f), ROC AUC %.4f, "
              "%lld examples; validation accuracy %.4f\n",
              tested.accuracy, tested.positive_accuracy, tested.negative_accuracy, tested.roc_auc,
              static_cast<long long>(tested.positives + tested.negatives), validation.accuracy);

  const nlohmann::json saved_model = {{"model", o.model}, {"size", o.size},
                                      {"channels", loaded.channels}};
  if (!o.common.eval_only) {
    app::save_model((fs::path(o.common.out) / "model.safetensors").string(), *model, "shoe-pairs",
                    {"not a pair", "same pair"}, {{"pair_model", saved_model.dump()}});
  }
  app::write_onnx("shoe-pairs", o.export_onnx, *model, onnx_options());
  const std::string figures = (fs::path(o.common.out) / "figures").string();
  save_pair_grid(figures + "/test-pairs.png", photos, test_examples, tested);
  std::printf("figures/test-pairs.png: the first test pairs (left above right), P(same pair) "
              "under each: green where the model is right, red where it is wrong\n");
  report::TrainingHistory curves;
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  for (const train::EpochRecord& row : result.history) {
    nlohmann::ordered_json entry = {{"epoch", row.epoch}};
    for (const auto& [name, value] : row.metrics.entries()) entry[name] = value;
    entry["seconds"] = row.seconds;
    history.push_back(entry);
    curves.train_loss.push_back(row.metrics.find("loss").value_or(0.0));
    curves.validation_loss.push_back(row.metrics.find("val_loss").value_or(0.0));
    curves.train_accuracy.push_back(row.metrics.find("accuracy").value_or(0.0));
    curves.validation_accuracy.push_back(row.metrics.find("val_accuracy").value_or(0.0));
  }
  if (!result.history.empty()) {
    report::save_training_curves(figures + "/curves.png", curves, "shoe pairs, " + o.model);
  }

  nlohmann::ordered_json report = app::report_header("shoe-pairs", "test_accuracy", tested.accuracy,
                                                     result.epochs_completed, device,
                                                     clock.seconds(), config);
  report["test"] = evaluation_json(tested);
  report["validation"] = evaluation_json(validation);
  report["split"] = {{"owners", photos.group_names.size()}, {"pairs", photos.size() / 2},
                     {"train_examples", train_examples.size()},
                     {"validation_examples", val_examples.size()},
                     {"test_examples", test_examples.size()},
                     {"rule", "by owner: no owner has photos in two parts"}};
  report["skipped_images"] = loaded.skipped_images;
  if (loaded.stand_in) {
    report["stand_in"] = "Fashion-MNIST shoes (Sandal, Sneaker, Ankle boot) stand in for seed "
                         "001's photos: each image is a left shoe, its right shoe the image "
                         "mirrored with a small random shift, turn and zoom; synthetic owners of " +
                         std::to_string(o.pairs_per_owner) + " pairs of one class, so hard "
                         "negatives are other shoes of the same class";
  }
  if (o.common.eval_only) report["weights"] = o.common.weights;
  report["resumed_from"] = o.common.resume;
  report["history"] = history;
  std::printf("wrote %s%s\n", app::write_report(o.common.out, report).c_str(),
              o.common.eval_only ? "" : (" and " + o.common.out + "/model.safetensors").c_str());
  return 0;
}

int run_sanity(const Options& o) {
  const app::Stopwatch clock;
  const Device device = resolve_device(o.common.device);
  manual_seed(o.common.seed);
  Generator data_rng(o.common.seed + 3);
  // Enough stand-in shoes of each class for the owners the few pairs need.
  const int64_t owners_needed = (o.sanity_pairs + o.pairs_per_owner - 1) / o.pairs_per_owner;
  const int64_t per_class = o.pairs_per_owner * ((owners_needed + 2) / 3);
  const Photos loaded = load_photos(o, per_class, data_rng);
  std::vector<int64_t> few;  // the photos of the first owners, up to sanity_pairs pairs
  for (int64_t i = 0; i < loaded.photos.size() && static_cast<int>(few.size()) < 2 * o.sanity_pairs; ++i) {
    few.push_back(i);
  }
  const auto examples = data::make_pairs(loaded.photos, pair_options(o), data_rng, few);
  auto model = models::make_pair_model(pair_config(o.model, o.size, loaded.channels));
  model->to(device);
  optim::Adam optimizer(model->parameters(), {.lr = static_cast<float>(o.common.lr),
                                              .weight_decay = static_cast<float>(o.weight_decay)});
  Generator shuffle_rng(o.common.seed + 1);
  std::printf("sanity check: %s model trained and validated on the same %zu examples (%zu photos), "
              "batch %d, %d epochs\n", o.model.c_str(), examples.size(), few.size(),
              o.sanity_batch, o.common.epochs);
  models::PairEvaluation seen;
  for (int epoch = 1; epoch <= o.common.epochs; ++epoch) {
    const train::EpochResult t = models::pair_train_epoch(*model, optimizer, loaded.photos, examples,
                                                          o.sanity_batch, device, shuffle_rng);
    seen = models::evaluate_pairs(*model, loaded.photos, examples, 256, device);
    std::printf("epoch %3d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f\n", epoch,
                t.loss, t.accuracy, seen.loss, seen.accuracy);
  }
  std::fflush(stdout);
  app::prepare_run_folder(o.common);
  const nlohmann::json config = {{"model", o.model}, {"size", o.size}, {"lr", o.common.lr},
                                 {"batch_size", o.sanity_batch}, {"pairs", o.sanity_pairs},
                                 {"epochs", o.common.epochs}, {"seed", o.common.seed}};
  nlohmann::ordered_json report = app::report_header("shoe-pairs-sanity", "sanity_accuracy",
                                                     seen.accuracy, o.common.epochs, device,
                                                     clock.seconds(), config);
  report["sanity"] = evaluation_json(seen);
  report["passed"] = seen.accuracy > 0.9;
  app::write_report(o.common.out, report);
  WEFT_CHECK(seen.accuracy > 0.9, "sanity check failed: accuracy ", seen.accuracy, " on the ",
             examples.size(), " training examples is not above 0.9 (the model cannot even learn "
             "what it has seen)");
  std::printf("sanity check passed: accuracy %.4f > 0.9 on the examples it trained on\n",
              seen.accuracy);
  return 0;
}

}  // namespace weft::pairs_app
