// weft-dcgan: training with the shared trainer, the judge's numbers, report.json and
// `generate` (see dcgan_app.h and main.cpp).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "apps/common/export_onnx.h"
#include "apps/dcgan/dcgan_app.h"
#include "engine/data/image_folder.h"
#include "engine/data/shoe_standin.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "engine/report/canvas.h"
#include "engine/report/figure.h"
#include "engine/report/frechet.h"
#include "engine/runtime.h"
#include "engine/train/trainer.h"
#include "kernels/error.h"
#include "models/dcgan_training.h"
#include "models/fashion_judge.h"

namespace weft::dcgan_app {
namespace fs = std::filesystem;

bool is_fashion_mnist_dir(const std::string& dir) {
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                           "fashion-mnist_train.csv"}) {
    if (fs::exists(fs::path(dir) / name)) return true;
  }
  return false;
}

std::vector<int32_t> fashion_classes(const std::string& which) {
  if (which == "shoes") return data::kFashionMnistShoeClasses;
  WEFT_CHECK(which == "all", "--classes must be shoes or all, got '", which, "'");
  return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
}

GanData load_gan_data(const Options& o) {
  const std::string dir = o.common.data.empty() ? data::kFashionMnistDir : o.common.data;
  WEFT_CHECK(fs::is_directory(dir), "--data ", dir, ": no such directory");
  Generator subset_rng(o.common.seed + 11);
  GanData out;
  const Options defaults;
  if (is_fashion_mnist_dir(dir)) {
    app::refuse_flags({{"--size", o.size != defaults.size}},
                      "to an ImageFolder of shoe photos; Fashion-MNIST's images are 28 x 28, "
                      "padded to 32 x 32");
    out.fashion_mnist = true;
    out.source_labels = fashion_classes(o.classes);
    const int64_t k = static_cast<int64_t>(out.source_labels.size());
    const int64_t per_class = o.common.limit > 0 ? std::max<int64_t>(1, o.common.limit / k) : 0;
    out.train = data::select_classes(data::load_fashion_mnist(dir, "train"), out.source_labels,
                                     per_class, &subset_rng);
    out.source_size = static_cast<int>(out.train.images.dim(2));
    // 28 -> 32: every generator and discriminator layer then halves or doubles cleanly.
    out.train.images = data::pad_images(out.train.images, 2);
    out.real_test = data::select_classes(data::load_fashion_mnist(dir, "test"), out.source_labels);
  } else {
    app::refuse_flags({{"--classes", o.classes != defaults.classes}},
                      "to Fashion-MNIST; an ImageFolder's classes are its folders");
    data::ImageFolderOptions folder;
    folder.image = {.height = o.size, .width = o.size, .channels = 3, .fit = data::Fit::crop};
    folder.bad_images = app::bad_images_policy(o.skip_bad_images);
    folder.progress = app::decode_progress("dcgan");
    // --limit's share of each class chosen from the file list; only those files are decoded.
    const data::LabeledFiles files = data::list_labeled_files(dir);
    std::vector<int32_t> all(files.class_names.size());
    for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int32_t>(c);
    const int64_t k = static_cast<int64_t>(all.size());
    const int64_t per_class = o.common.limit > 0 ? std::max<int64_t>(1, o.common.limit / k) : 0;
    const std::vector<std::vector<int64_t>> chosen = {data::select_class_indices(
        files.labels, all, static_cast<int>(k), per_class, &subset_rng)};
    app::print_limit_choice("dcgan", o.common.limit, chosen, files.size());
    data::DecodedParts shoes = data::decode_parts(files, chosen, folder, dir);
    out.skipped_images = app::print_image_load("dcgan", shoes.skipped, shoes.decode);
    out.train = std::move(shoes.parts[0]);
    out.source_size = o.size;
  }
  return out;
}

models::DcganConfig gan_config(const Options& o, const GanData& data) {
  return {.image_size = static_cast<int>(data.train.images.dim(2)),
          .channels = static_cast<int>(data.train.images.dim(1)),
          .z_dim = o.z_dim,
          .generator_features = o.features,
          .discriminator_features = o.features,
          .num_classes = static_cast<int>(data.train.class_names.size())};
}

nlohmann::json config_json(const models::DcganConfig& c) {
  return {{"image_size", c.image_size}, {"channels", c.channels}, {"z_dim", c.z_dim},
          {"generator_features", c.generator_features},
          {"discriminator_features", c.discriminator_features}, {"num_classes", c.num_classes}};
}

SavedGan read_saved_gan(const std::string& path) {
  SavedGan saved;
  saved.file = fs::is_directory(path) ? (fs::path(path) / "model.safetensors").string() : path;
  WEFT_CHECK(fs::is_regular_file(saved.file), "--weights ", saved.file, ": no such file");
  const auto metadata = io::load_safetensors(saved.file).metadata;
  // model.safetensors keeps the GAN's settings in "gan"; a training checkpoint in its config.
  nlohmann::json gan;
  try {
    if (metadata.count("gan")) {
      gan = nlohmann::json::parse(metadata.at("gan"));
    } else if (metadata.count("config")) {
      gan = nlohmann::json::parse(metadata.at("config")).at("gan");
    }
    const nlohmann::json& c = gan.at("dcgan");
    saved.config = {.image_size = c.at("image_size").get<int>(),
                    .channels = c.at("channels").get<int>(),
                    .z_dim = c.at("z_dim").get<int>(),
                    .generator_features = c.at("generator_features").get<int>(),
                    .discriminator_features = c.at("discriminator_features").get<int>(),
                    .num_classes = c.at("num_classes").get<int>()};
    saved.class_names = gan.at("class_names").get<std::vector<std::string>>();
    saved.source_labels = gan.at("source_labels").get<std::vector<int32_t>>();
    saved.source_size = gan.at("source_size").get<int>();
  } catch (const nlohmann::json::exception&) {
    throw Error(saved.file + " is not a weft-dcgan model: its metadata lacks the GAN's settings");
  }
  return saved;
}

namespace {

// What the judge says about a generator: Fréchet distance to the real test images in the
// judge's feature space, and how often it sees the class the image was generated for.
struct JudgeScore {
  report::FrechetDistance frechet;
  double class_share = 0;
  std::vector<double> per_class_share;
  int64_t samples = 0;
};

class GanJudge {
 public:
  // `real`: the test images generated ones are compared with; `train`: real training images,
  // whose distance to the test images (as many of them as generated ones) is the floor that a
  // perfect generator would reach with this judge and this many samples.
  GanJudge(const std::string& path, Device device, const data::LabeledImages& real,
           const data::LabeledImages& train, std::vector<int32_t> source_labels, int64_t samples,
           uint64_t seed)
      : judge_(models::FashionJudge::load(path, device)),
        source_labels_(std::move(source_labels)), samples_(samples), seed_(seed) {
    const models::Judgement real_view = judge_.judge(real.images);
    real_stats_ = report::gaussian_stats(real_view.features, real_view.count, real_view.dim);
    const int64_t n = std::min(samples, train.size());
    const models::Judgement train_view = judge_.judge(train.images.slice(0, 0, n));
    real_baseline_ = report::frechet_distance(
        real_stats_, report::gaussian_stats(train_view.features, train_view.count, train_view.dim));
    std::printf("judge %s: FashionCnn (%d filters, %d features), %lld real test images; "
                "Frechet distance of %lld real training images to them: %.4f\n",
                judge_.path().c_str(), judge_.config().filters, judge_.config().hidden,
                static_cast<long long>(real_view.count), static_cast<long long>(n),
                real_baseline_.value);
  }

  // The same noise every time (a fresh generator from the seed), so epochs are comparable.
  JudgeScore score(models::DcganPair& nets) const {
    Generator noise_rng(seed_);
    const int k = std::max(1, nets.config.num_classes);
    const std::vector<int32_t> labels = models::cycling_labels(samples_, nets.config.num_classes);
    const Tensor noise = models::dcgan_noise(samples_, nets.config.z_dim, Device::cpu(), &noise_rng);
    const models::Judgement view = judge_.judge(models::generate_pixels(nets, noise, labels));
    JudgeScore score;
    score.samples = samples_;
    score.frechet = report::frechet_distance(
        real_stats_, report::gaussian_stats(view.features, view.count, view.dim));
    std::vector<int64_t> right(static_cast<size_t>(k), 0), total(static_cast<size_t>(k), 0);
    for (size_t i = 0; i < labels.size(); ++i) {
      total[labels[i]] += 1;
      right[labels[i]] += view.predicted[i] == source_labels_[labels[i]];
    }
    int64_t all_right = 0;
    for (int c = 0; c < k; ++c) {
      score.per_class_share.push_back(total[c] ? static_cast<double>(right[c]) / total[c] : 0.0);
      all_right += right[c];
    }
    score.class_share = static_cast<double>(all_right) / static_cast<double>(samples_);
    return score;
  }

  const std::string& path() const { return judge_.path(); }
  int64_t dim() const { return real_stats_.dim; }
  double real_baseline() const { return real_baseline_.value; }

 private:
  models::FashionJudge judge_;
  report::GaussianStats real_stats_;
  report::FrechetDistance real_baseline_;
  std::vector<int32_t> source_labels_;
  int64_t samples_;
  uint64_t seed_;
};

nlohmann::ordered_json judge_json(const GanJudge& judge, const JudgeScore& s,
                                  const std::vector<std::string>& class_names) {
  nlohmann::ordered_json per_class;
  for (size_t c = 0; c < s.per_class_share.size(); ++c) {
    per_class[c < class_names.size() ? class_names[c] : std::to_string(c)] = s.per_class_share[c];
  }
  return {{"judge", judge.path()},
          {"generated_images", s.samples},
          {"frechet_distance", s.frechet.value},
          {"mean_term", s.frechet.mean_term},
          {"covariance_term", s.frechet.covariance_term},
          {"real_training_images_frechet_distance", judge.real_baseline()},
          {"class_share", s.class_share},
          {"class_share_per_class", per_class},
          {"note", "Frechet distance (squared, as FID reports it) between Gaussians fitted to the "
                   "judge's penultimate-layer features (" + std::to_string(judge.dim()) +
                   " numbers) of generated and real test images; the judge is weft's own "
                   "Fashion-MNIST classifier, so this is NOT the Inception FID and compares only "
                   "with numbers from the same judge checkpoint. "
                   "real_training_images_frechet_distance: the same measure for as many real "
                   "training images, the floor for this judge and sample size. class_share: "
                   "generated images "
                   "the judge assigns to the class they were generated for."}};
}

// A grid from fixed noise: 8 columns, each class on its own row(s), captions = class names.
void save_samples(models::DcganPair& nets, const std::vector<std::string>& class_names,
                  uint64_t seed, const std::string& path, const std::string& title) {
  const int k = std::max(1, nets.config.num_classes);
  const int rows_per_class = std::max(1, 8 / k);
  const int64_t per_class = 8 * rows_per_class;
  std::vector<int32_t> labels;
  std::vector<std::string> captions;
  for (int c = 0; c < k; ++c) {
    for (int64_t i = 0; i < per_class; ++i) {
      labels.push_back(c);
      captions.push_back(nets.config.num_classes > 0 ? class_names[c] : "");
    }
  }
  Generator fixed(seed);
  const Tensor noise = models::dcgan_noise(static_cast<int64_t>(labels.size()),
                                           nets.config.z_dim, Device::cpu(), &fixed);
  report::SampleGridOptions grid;
  grid.columns = 8;
  grid.min_tile = 64;
  grid.title = title;
  report::save_sample_grid(path, models::generate_pixels(nets, noise, labels), captions, grid);
}

nlohmann::json gan_settings(const models::DcganConfig& config, const GanData& data) {
  return {{"dcgan", config_json(config)}, {"class_names", data.train.class_names},
          {"source_labels", data.source_labels}, {"source_size", data.source_size}};
}

}  // namespace

// --export-onnx FILE: the generator to FILE, the discriminator to FILE's stem +
// "-discriminator.onnx", both with the class names their labels input indexes.
void export_gan(const std::string& path, const models::DcganPair& nets,
                const std::vector<std::string>& class_names, int source_size) {
  if (path.empty()) return;
  std::map<std::string, std::string> metadata;
  if (nets.config.num_classes > 0) metadata["labels"] = "int64 index into class_names";
  if (source_size > 0 && source_size < nets.config.image_size) {
    metadata["source_size"] = std::to_string(source_size);  // real images padded to image_size
  }
  // Images in (-1, 1): x = pixel * 2 / 255 - 1, what the generator writes and the
  // discriminator reads.
  const data::Normalize images{.scale = 1.0f / 255.0f, .mean = {0.5f}, .std = {0.5f}};
  app::write_onnx("dcgan", path, *nets.generator,
                  {.class_names = class_names, .normalize = images, .metadata = metadata});
  const fs::path file(path);
  const std::string discriminator =
      (file.parent_path() / (file.stem().string() + "-discriminator.onnx")).string();
  app::write_onnx("dcgan", discriminator, *nets.discriminator,
                  {.class_names = class_names, .normalize = images, .metadata = metadata});
}

int run_training(const Options& o) {
  const app::Stopwatch clock;
  const Device device = resolve_device(o.common.device);
  WEFT_CHECK(o.common.predict.empty(), "weft-dcgan does not classify images, so it has no ",
             "--predict; use `weft-dcgan generate --weights RUN --count N`");
  if (app::export_without_training(o.common, o.export_onnx)) {
    const SavedGan saved = read_saved_gan(o.common.weights);
    models::DcganPair nets(saved.config);
    app::load_weights(nets, saved.file);
    export_gan(o.export_onnx, nets, saved.class_names, saved.source_size);
    return 0;
  }
  manual_seed(o.common.seed);
  GanData data = load_gan_data(o);
  models::DcganConfig config = gan_config(o, data);
  if (o.common.eval_only) {
    const SavedGan saved = read_saved_gan(o.common.weights);
    config = saved.config;
    WEFT_CHECK(saved.source_labels == data.source_labels, "--weights ", saved.file,
               " was trained on other classes than --classes ", o.classes, " selects");
  }
  WEFT_CHECK(o.judge.empty() || data.fashion_mnist, "--judge compares generated images with ",
             "Fashion-MNIST test images; give --data a Fashion-MNIST folder");
  WEFT_CHECK(!o.common.eval_only || !o.judge.empty(), "--eval-only measures a generator with ",
             "the judge: give --judge FILE (weft-fashion-mnist's model.safetensors)");
  WEFT_CHECK(o.judge.empty() || o.judge_samples >= 2, "--judge-samples must be at least 2 (a ",
             "covariance needs two images), got ", o.judge_samples);

  models::DcganPair nets(config);
  const uint64_t grid_seed = o.common.seed + 101, judge_seed = o.common.seed + 202;
  if (!o.common.weights.empty()) {
    app::load_weights(nets, read_saved_gan(o.common.weights).file);
  }
  nets.to(device);
  std::optional<GanJudge> judge;
  if (!o.judge.empty()) {
    judge.emplace(o.judge, device, data.real_test, data.train, data.source_labels,
                  o.judge_samples, judge_seed);
  }
  app::prepare_run_folder(o.common);
  const std::string figures = (fs::path(o.common.out) / "figures").string();
  const nlohmann::json settings = gan_settings(config, data);
  const nlohmann::json run_config = {
      {"gan", settings}, {"lr", o.common.lr}, {"beta1", o.beta1},
      {"batch_size", o.common.batch_size}, {"seed", o.common.seed},
      {"data", o.common.data}, {"limit", o.common.limit}, {"epochs", o.common.epochs},
      {"device", device.str()}, {"judge", o.judge}, {"judge_samples", o.judge_samples},
      // The flags that shape the networks and the data, by their flag names, so that --resume
      // restores them (app_common.h); "gan" above holds the networks' own description.
      {"features", o.features}, {"z_dim", o.z_dim}, {"classes", o.classes}, {"size", o.size}};

  if (o.common.eval_only) {
    const JudgeScore score = judge->score(nets);
    save_samples(nets, data.train.class_names, grid_seed, figures + "/samples.png", "samples");
    std::printf("Frechet distance (judge features) %.4f, judge class share %.4f\n",
                score.frechet.value, score.class_share);
    nlohmann::ordered_json report = app::report_header(
        "dcgan", "frechet_distance", score.frechet.value, 0, device, clock.seconds(), run_config);
    report["weights"] = o.common.weights;
    report["judge"] = judge_json(*judge, score, data.train.class_names);
    std::printf("wrote %s\n", app::write_report(o.common.out, report).c_str());
    export_gan(o.export_onnx, nets, data.train.class_names, data.source_size);
    return 0;
  }

  std::printf("weft-dcgan: %lld training images %dx%dx%d, %d classes (%s), G %lld + D %lld "
              "parameters, Adam lr %g beta1 %g, batch %d, device %s\n",
              static_cast<long long>(data.train.size()), config.image_size, config.image_size,
              config.channels, config.num_classes,
              data.fashion_mnist ? "Fashion-MNIST stand-in for shoe photos" : "ImageFolder",
              static_cast<long long>(nets.generator->parameter_count()),
              static_cast<long long>(nets.discriminator->parameter_count()), o.common.lr, o.beta1,
              o.common.batch_size, device.str().c_str());
  std::fflush(stdout);

  const models::GanOptimizerOptions adam{.lr = static_cast<float>(o.common.lr),
                                         .beta1 = static_cast<float>(o.beta1)};
  optim::Adam g_opt(nets.generator->parameters(), models::gan_adam_options(adam));
  optim::Adam d_opt(nets.discriminator->parameters(), models::gan_adam_options(adam));
  Generator shuffle_rng(o.common.seed + 1), noise_rng(o.common.seed + 2);
  train::TrainerOptions trainer_options;
  trainer_options.epochs = o.common.epochs;
  trainer_options.run_dir = o.common.out;
  trainer_options.seed = o.common.seed;
  trainer_options.config = run_config;
  trainer_options.config_may_change = {"epochs", "data", "device", "judge", "judge_samples"};
  trainer_options.resume = o.common.resume;
  trainer_options.skip_nonfinite_steps = o.common.skip_nonfinite_steps;
  trainer_options.profile_steps = o.common.profile_steps;
  train::Trainer trainer(nets, g_opt, trainer_options);
  trainer.register_generator("shuffle", shuffle_rng);
  trainer.register_generator("noise", noise_rng);
  trainer.add_callback(
      std::make_shared<models::OptimizerStateCallback>("discriminator_optimizer", d_opt));
  const train::StepHooks hooks = trainer.step_hooks();

  std::optional<JudgeScore> last_score;
  const train::TrainResult result = trainer.fit(
      [&](int) {
        const models::GanEpochStats e =
            models::gan_train_epoch(nets, g_opt, d_opt, data.train, o.common.batch_size, device,
                                    shuffle_rng, noise_rng, hooks);
        return train::Metrics{{"d_loss", e.mean.d_loss}, {"g_loss", e.mean.g_loss},
                              {"d_x", e.mean.d_real}, {"d_g_z", e.mean.d_fake},
                              {"d_g_z_after", e.mean.d_fake_after}};
      },
      [&](int epoch) {
        char name[64];
        std::snprintf(name, sizeof(name), "/samples-epoch-%03d.png", epoch);
        save_samples(nets, data.train.class_names, grid_seed, figures + name,
                     "epoch " + std::to_string(epoch) + ", fixed noise");
        if (!judge) return train::Metrics{};
        last_score = judge->score(nets);
        return train::Metrics{{"frechet", last_score->frechet.value},
                              {"judge_class_share", last_score->class_share}};
      });
  if (result.interrupted) return result.exit_code();

  app::save_model((fs::path(o.common.out) / "model.safetensors").string(), nets, "dcgan",
                  data.train.class_names, {{"gan", settings.dump()}});
  export_gan(o.export_onnx, nets, data.train.class_names, data.source_size);
  save_samples(nets, data.train.class_names, grid_seed, figures + "/samples.png",
               "fixed noise after " + std::to_string(result.epochs_completed) + " epochs");
  std::vector<report::Series> losses(2), verdicts(3);
  const char* loss_names[] = {"D loss", "G loss"};
  const char* verdict_names[] = {"D(x)", "D(G(z)) in D's step", "D(G(z)) in G's step"};
  for (int i = 0; i < 2; ++i) {
    losses[i].name = loss_names[i];
    losses[i].color = report::palette(i);
  }
  for (int i = 0; i < 3; ++i) {
    verdicts[i].name = verdict_names[i];
    verdicts[i].color = report::palette(i == 0 ? 0 : 1);
  }
  verdicts[2].dashed = true;
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  for (const train::EpochRecord& row : result.history) {
    nlohmann::ordered_json entry = {{"epoch", row.epoch}};
    for (const auto& [name, value] : row.metrics.entries()) entry[name] = value;
    entry["seconds"] = row.seconds;
    history.push_back(entry);
    losses[0].y.push_back(row.metrics.find("d_loss").value_or(0.0));
    losses[1].y.push_back(row.metrics.find("g_loss").value_or(0.0));
    verdicts[0].y.push_back(row.metrics.find("d_x").value_or(0.0));
    verdicts[1].y.push_back(row.metrics.find("d_g_z").value_or(0.0));
    verdicts[2].y.push_back(row.metrics.find("d_g_z_after").value_or(0.0));
  }
  report::LineChartOptions chart;
  chart.title = "DCGAN losses";
  report::save_line_chart(figures + "/losses.png", losses, chart);
  chart.title = "The discriminator's mean verdict";
  chart.y_label = "P(real)";
  report::save_line_chart(figures + "/discriminator.png", verdicts, chart);

  const train::Metrics last = result.history.empty() ? train::Metrics{} : result.history.back().metrics;
  if (judge && !last_score) last_score = judge->score(nets);  // a resumed run with no epoch left
  const std::string headline = judge ? "frechet_distance" : "g_loss";
  const double headline_value = judge && last_score ? last_score->frechet.value
                                                    : last.find("g_loss").value_or(0.0);
  nlohmann::ordered_json report = app::report_header("dcgan", headline, headline_value,
                                                     result.epochs_completed, device,
                                                     clock.seconds(), run_config);
  nlohmann::ordered_json final_epoch;
  for (const auto& [name, value] : last.entries()) final_epoch[name] = value;
  report["final_epoch"] = final_epoch;
  if (judge && last_score) report["judge"] = judge_json(*judge, *last_score, data.train.class_names);
  if (data.fashion_mnist) {
    report["stand_in"] = "Fashion-MNIST classes (" + o.classes + "), padded 28x28 -> 32x32, stand "
                         "in for UT Zappos50K shoe photos (seed 000), which are not on this machine";
  }
  report["resumed_from"] = o.common.resume;
  report["skipped_images"] = data.skipped_images;
  report["history"] = history;
  report["figures"] = {"figures/samples.png", "figures/losses.png", "figures/discriminator.png",
                       "figures/samples-epoch-NNN.png"};
  std::printf("wrote %s, %s/model.safetensors and figures/\n",
              app::write_report(o.common.out, report).c_str(), o.common.out.c_str());
  return 0;
}

int run_generate(const Options& o) {
  WEFT_CHECK(!o.common.weights.empty(), "generate needs --weights (a weft-dcgan run folder, its ",
             "model.safetensors or a checkpoint)");
  WEFT_CHECK(o.count >= 1, "--count must be at least 1");
  const Device device = resolve_device(o.common.device);
  const SavedGan saved = read_saved_gan(o.common.weights);
  models::DcganPair nets(saved.config);
  app::load_weights(nets, saved.file);
  nets.to(device);

  const int k = std::max(1, saved.config.num_classes);
  const std::vector<int32_t> labels = models::cycling_labels(o.count * k, saved.config.num_classes);
  Generator noise_rng(o.common.seed);
  const Tensor noise = models::dcgan_noise(o.count * k, saved.config.z_dim, Device::cpu(), &noise_rng);
  Tensor pixels = models::generate_pixels(nets, noise, labels);
  // A generator trained on padded images writes them at the real images' size again.
  if (saved.source_size > 0 && saved.source_size < saved.config.image_size) {
    pixels = data::crop_images(pixels, saved.source_size);
  }

  const int channels = static_cast<int>(pixels.dim(1));
  const int side = static_cast<int>(pixels.dim(2));
  const int64_t image_bytes = int64_t{channels} * side * side;
  std::vector<std::string> folders;
  for (int c = 0; c < k; ++c) {
    std::string name = c < static_cast<int>(saved.class_names.size()) ? saved.class_names[c]
                                                                      : std::to_string(c);
    std::replace(name.begin(), name.end(), '/', '-');  // "T-shirt/top" cannot be a folder name
    const fs::path folder = fs::path(o.common.out) / name;
    fs::create_directories(folder);
    for (const auto& entry : fs::directory_iterator(folder)) {  // replace an earlier `generate`
      if (entry.path().filename().string().rfind("dcgan-", 0) == 0) fs::remove(entry.path());
    }
    folders.push_back(folder.string());
  }
  std::vector<int64_t> written(static_cast<size_t>(k), 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    report::Canvas image(side, side);
    image.blit(pixels.data<uint8_t>() + static_cast<int64_t>(i) * image_bytes, channels, side,
               side, 0, 0);
    char name[32];
    std::snprintf(name, sizeof(name), "/dcgan-%06lld.png",
                  static_cast<long long>(written[labels[i]]++));
    image.save_png(folders[labels[i]] + name);
  }
  std::printf("wrote %lld images per class (%dx%dx%d) for %d classes into %s/<class>/\n",
              static_cast<long long>(o.count), side, side, channels, k, o.common.out.c_str());
  return 0;
}

}  // namespace weft::dcgan_app
