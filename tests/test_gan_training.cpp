// DCGAN training as weft-dcgan runs it (models/dcgan_training.h): both networks under one
// module at the app's two configurations, a few GAN steps moving both losses, sampling that
// leaves the model untouched, a resumed run (both networks, both optimizers) equal to an
// uninterrupted one, an epoch as a replayed CUDA graph on the emulated device equal to eager
// steps, and the Fashion-MNIST judge (models/fashion_judge.h).
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "data_test_util.h"
#include "engine/data/shoe_standin.h"
#include "engine/graph.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/train/classification.h"
#include "engine/train/trainer.h"
#include "engine_test_util.h"
#include "kernels/runtime_counters.h"
#include "model_test_util.h"
#include "models/dcgan_training.h"
#include "models/fashion_judge.h"

namespace {
using weft::Shape;
using weft::Tensor;
using weft::models::DcganConfig;
using weft::models::DcganPair;

// Random uint8 images [n, channels, side, side] with labels cycling over `classes`.
weft::data::LabeledImages random_set(int64_t n, int channels, int side, int classes,
                                     uint64_t seed) {
  weft::Generator rng(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * channels * side * side));
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng.randint(256));
  weft::data::LabeledImages set;
  set.images = Tensor::from_vector(pixels, {n, channels, side, side});
  set.labels = Tensor::from_vector(weft::models::cycling_labels(n, classes), {n});
  for (int c = 0; c < classes; ++c) set.class_names.push_back("class" + std::to_string(c));
  return set;
}

// The float tensors of `state` by name, read back to the host from any device.
std::map<std::string, std::vector<float>> copy_state(const weft::nn::NamedTensors& state) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, tensor] : state) {
    if (tensor.dtype() == weft::DType::f32) {
      out[name] = tensor.to(weft::Device::cpu()).to_vector<float>();
    }
  }
  return out;
}

// Everything a GAN run has learned: both networks' state and both optimizers' (prefixed g_opt.
// and d_opt.).
std::map<std::string, std::vector<float>> learned_state(DcganPair& nets,
                                                        const weft::optim::Optimizer& g_opt,
                                                        const weft::optim::Optimizer& d_opt) {
  auto learned = copy_state(nets.state_dict());
  for (const auto& [name, values] : copy_state(g_opt.state_tensors())) {
    learned["g_opt." + name] = values;
  }
  for (const auto& [name, values] : copy_state(d_opt.state_tensors())) {
    learned["d_opt." + name] = values;
  }
  return learned;
}

double largest_change(const std::map<std::string, std::vector<float>>& before,
                      const weft::nn::NamedTensors& after) {
  double largest = 0.0;
  for (const auto& [name, tensor] : after) {
    if (tensor.dtype() != weft::DType::f32) continue;
    const std::vector<float> now = tensor.to_vector<float>();
    const std::vector<float>& then = before.at(name);
    for (size_t i = 0; i < now.size(); ++i) {
      largest = std::max(largest, std::fabs(double{now[i]} - then[i]));
    }
  }
  return largest;
}
}  // namespace

TEST_CASE("gan: the app's two configurations, both networks in one module", "[gan]") {
  weft::manual_seed(3);
  SECTION("64x64 RGB shoe photos, 4 classes (UT Zappos50K's categories)") {
    DcganPair nets({.image_size = 64,
                    .channels = 3,
                    .z_dim = 100,
                    .generator_features = 8,
                    .discriminator_features = 8,
                    .num_classes = 4});
    const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3}, {2});
    const Tensor images = nets.generate(weft::models::dcgan_noise(2, 100), labels);
    CHECK(images.shape() == Shape{2, 3, 64, 64});
    CHECK(nets.discriminate(images, labels).shape() == Shape{2, 1});
    CHECK(weft::test::shape_of(nets, "generator.main.0.weight") == Shape{104, 64, 4, 4});
    CHECK(weft::test::shape_of(nets, "discriminator.main.0.weight") == Shape{8, 7, 4, 4});
  }
  SECTION("32x32 grayscale Fashion-MNIST shoes, 3 classes") {
    DcganPair nets({.image_size = 32,
                    .channels = 1,
                    .z_dim = 100,
                    .generator_features = 8,
                    .discriminator_features = 8,
                    .num_classes = 3});
    const Tensor labels = Tensor::from_vector(std::vector<int32_t>{2, 1, 0}, {3});
    const Tensor images = nets.generate(weft::models::dcgan_noise(3, 100), labels);
    CHECK(images.shape() == Shape{3, 1, 32, 32});
    CHECK(nets.discriminate(images, labels).shape() == Shape{3, 1});
    CHECK(weft::test::shape_of(nets, "discriminator.main.0.weight") == Shape{8, 4, 4, 4});
  }
}

TEST_CASE("gan: a few steps move both losses and both networks, all finite", "[gan]") {
  weft::manual_seed(11);
  DcganPair nets({.image_size = 32,
                  .channels = 1,
                  .z_dim = 16,
                  .generator_features = 8,
                  .discriminator_features = 8,
                  .num_classes = 3});
  weft::optim::Adam g_opt(nets.generator->parameters(), weft::models::gan_adam_options({}));
  weft::optim::Adam d_opt(nets.discriminator->parameters(), weft::models::gan_adam_options({}));
  CHECK(g_opt.lr() == Approx(2e-4));
  CHECK(g_opt.options.beta1 == Approx(0.5));
  const weft::data::LabeledImages real = random_set(16, 1, 32, 3, 1);
  const Tensor images =
      weft::u8_to_f32(real.images, weft::models::kGanPixelScale, weft::models::kGanPixelShift);
  const auto g_before = copy_state(nets.generator->named_parameters());
  const auto d_before = copy_state(nets.discriminator->named_parameters());
  weft::Generator noise(2);
  std::set<double> d_losses, g_losses;
  for (int step = 0; step < 4; ++step) {
    const auto s = weft::models::gan_step(nets, g_opt, d_opt, images, real.labels, noise);
    for (double v : {s.d_loss, s.g_loss, s.d_real, s.d_fake, s.d_fake_after}) {
      REQUIRE(std::isfinite(v));
    }
    CHECK(s.d_loss > 0.0);
    CHECK(s.g_loss > 0.0);
    for (double p : {s.d_real, s.d_fake, s.d_fake_after}) CHECK((p > 0.0 && p < 1.0));
    d_losses.insert(s.d_loss);
    g_losses.insert(s.g_loss);
  }
  CHECK(d_losses.size() == 4);  // every step's loss differs from the others
  CHECK(g_losses.size() == 4);
  CHECK(largest_change(g_before, nets.generator->named_parameters()) > 1e-5);
  CHECK(largest_change(d_before, nets.discriminator->named_parameters()) > 1e-5);
  CHECK(g_opt.step_count() == 4);
  CHECK(d_opt.step_count() == 4);
}

TEST_CASE("gan: sampling gives the same images for the same noise and leaves the model as it was",
          "[gan]") {
  weft::manual_seed(12);
  DcganPair nets({.image_size = 16,
                  .channels = 1,
                  .z_dim = 8,
                  .generator_features = 4,
                  .discriminator_features = 4,
                  .num_classes = 2});
  const auto before = copy_state(nets.generator->state_dict());
  const Tensor noise = weft::models::dcgan_noise(6, 8);
  const std::vector<int32_t> labels = weft::models::cycling_labels(6, 2);
  CHECK(labels == std::vector<int32_t>{0, 1, 0, 1, 0, 1});
  const Tensor first = weft::models::generate_pixels(nets, noise, labels, 4);
  const Tensor second = weft::models::generate_pixels(nets, noise, labels, 4);
  CHECK(first.shape() == Shape{6, 1, 16, 16});
  CHECK(first.dtype() == weft::DType::u8);
  CHECK(first.to_vector<uint8_t>() == second.to_vector<uint8_t>());
  CHECK(largest_change(before, nets.generator->state_dict()) == 0.0);
  CHECK(weft::test::entry(nets, "generator.main.1.num_batches_tracked").to_vector<int64_t>()[0] ==
        0);
}

TEST_CASE("gan: a resumed run restores both networks and both optimizers exactly", "[gan]") {
  const weft::data::LabeledImages data = random_set(32, 1, 8, 2, 4);
  const DcganConfig config{.image_size = 8,
                           .channels = 1,
                           .z_dim = 8,
                           .generator_features = 4,
                           .discriminator_features = 4,
                           .num_classes = 2};
  weft::testing::TempDir dir;
  // Train up to `epochs`, from scratch or from `resume`; return everything that was learned.
  auto train = [&](int epochs, const std::string& run_dir, const std::string& resume) {
    weft::manual_seed(5);
    DcganPair nets(config);
    weft::optim::Adam g_opt(nets.generator->parameters(), weft::models::gan_adam_options({}));
    weft::optim::Adam d_opt(nets.discriminator->parameters(), weft::models::gan_adam_options({}));
    weft::Generator shuffle(6), noise(7);
    weft::train::TrainerOptions options;
    options.epochs = epochs;
    options.run_dir = run_dir;
    options.seed = 5;
    options.resume = resume;
    options.progress = weft::train::ProgressStyle::quiet;
    options.handle_signals = false;
    weft::train::Trainer trainer(nets, g_opt, options);
    trainer.register_generator("shuffle", shuffle);
    trainer.register_generator("noise", noise);
    trainer.add_callback(
        std::make_shared<weft::models::OptimizerStateCallback>("discriminator_optimizer", d_opt));
    trainer.fit([&](int) {
      const auto e = weft::models::gan_train_epoch(nets, g_opt, d_opt, data, 8, weft::Device::cpu(),
                                                   shuffle, noise);
      return weft::train::Metrics{{"d_loss", e.mean.d_loss}, {"g_loss", e.mean.g_loss}};
    });
    return learned_state(nets, g_opt, d_opt);
  };
  const auto straight = train(3, dir.dir("straight"), "");
  train(1, dir.dir("resumed"), "");
  const auto resumed = train(3, "", dir.path() + "/resumed");
  REQUIRE(straight.size() == resumed.size());
  for (const auto& [name, values] : straight) {
    INFO(name);
    CHECK(values == resumed.at(name));
  }
  const auto checkpoint = weft::io::load_safetensors(dir.path() + "/resumed/last.safetensors");
  CHECK(checkpoint.tensors.count("model.generator.main.0.weight") == 1);
  CHECK(checkpoint.tensors.count("model.discriminator.main.0.weight") == 1);
  CHECK(checkpoint.tensors.count("optimizer.0.exp_avg") == 1);
  CHECK(checkpoint.tensors.count("callback.discriminator_optimizer.0.exp_avg") == 1);
  CHECK(checkpoint.metadata.at("callback.discriminator_optimizer.optimizer.step") == "12");
}

// gan_train_epoch through train::CapturedSteps: with graphs on (emu captures under `on`) each
// epoch runs its first iteration eagerly and replays one graph for the other three, and the
// statistics, both networks, both optimizers and the noise generator end exactly as with graphs
// off.
TEST_CASE("gan: an epoch with graphs on replays one graph and ends as with graphs off",
          "[gan][emu]") {
  const weft::data::LabeledImages data = random_set(8, 1, 8, 2, 4);
  const DcganConfig config{.image_size = 8,
                           .channels = 1,
                           .z_dim = 4,
                           .generator_features = 4,
                           .discriminator_features = 4,
                           .num_classes = 2};
  struct Outcome {
    std::vector<weft::models::GanEpochStats> epochs;
    std::map<std::string, std::vector<float>> learned;
    int64_t next_noise = 0;
    int64_t graph_launches = 0;
  };
  auto train = [&](weft::graph::Mode mode) {
    const weft::test::GraphModeGuard guard(mode);
    weft::manual_seed(5);
    DcganPair nets(config);
    nets.to(weft::Device::emu());
    weft::optim::Adam g_opt(nets.generator->parameters(), weft::models::gan_adam_options({}));
    weft::optim::Adam d_opt(nets.discriminator->parameters(), weft::models::gan_adam_options({}));
    weft::Generator shuffle(6), noise(7);
    Outcome out;
    const weft::RuntimeCounters before = weft::runtime_counters();
    for (int epoch = 0; epoch < 2; ++epoch) {
      out.epochs.push_back(weft::models::gan_train_epoch(nets, g_opt, d_opt, data, 2,
                                                         weft::Device::emu(), shuffle, noise));
    }
    out.graph_launches = (weft::runtime_counters() - before).graph_launches;
    out.learned = learned_state(nets, g_opt, d_opt);
    out.next_noise = noise.randint(1 << 30);
    return out;
  };
  const Outcome eager = train(weft::graph::Mode::off);
  const Outcome graphed = train(weft::graph::Mode::on);
  CHECK(eager.graph_launches == 0);
  CHECK(graphed.graph_launches == 6);  // 2 epochs x 3 replayed iterations
  for (size_t e = 0; e < 2; ++e) {
    const weft::models::GanStepStats& a = eager.epochs[e].mean;
    const weft::models::GanStepStats& b = graphed.epochs[e].mean;
    CHECK(a.d_loss == b.d_loss);
    CHECK(a.g_loss == b.g_loss);
    CHECK(a.d_real == b.d_real);
    CHECK(a.d_fake == b.d_fake);
    CHECK(a.d_fake_after == b.d_fake_after);
    CHECK(graphed.epochs[e].samples == 8);
  }
  REQUIRE(eager.learned.size() == graphed.learned.size());
  for (const auto& [name, values] : eager.learned) {
    INFO(name);
    CHECK(values == graphed.learned.at(name));
  }
  CHECK(eager.next_noise == graphed.next_noise);
}

TEST_CASE("gan: the Fashion-MNIST judge reads weft-fashion-mnist's files", "[gan][judge]") {
  weft::manual_seed(21);
  weft::models::FashionCnn classifier({.filters = 4, .dropout = 0.0f, .hidden = 8, .classes = 10});
  weft::testing::TempDir dir;
  weft::io::save_safetensors(dir.file("run/model.safetensors"), classifier.state_dict());
  weft::nn::NamedTensors checkpoint;
  for (const auto& [name, tensor] : classifier.state_dict())
    checkpoint.emplace_back("model." + name, tensor);
  weft::io::save_safetensors(dir.file("last.safetensors"), checkpoint);

  weft::data::LabeledImages set = random_set(5, 1, 28, 10, 3);
  const Tensor padded = weft::data::pad_images(set.images, 2);
  for (const std::string& path : {dir.path() + "/run", dir.path() + "/last.safetensors"}) {
    const auto judge = weft::models::FashionJudge::load(path, weft::Device::cpu());
    CHECK(judge.config().filters == 4);
    CHECK(judge.config().hidden == 8);
    const weft::models::Judgement view = judge.judge(padded, 2);
    CHECK(view.count == 5);
    CHECK(view.dim == 8);
    CHECK(view.features.size() == 40);
    for (float f : view.features) CHECK(f >= 0.0f);  // after the hidden layer's ReLU
    // The 32x32 images are judged by their centre 28x28: the unpadded images' answers.
    classifier.eval();
    const Tensor logits = classifier(weft::u8_to_f32(set.images, 1.0f / 255.0f, 0.0f));
    CHECK(view.predicted == weft::train::argmax_rows(logits.to_vector<float>(), 5, 10));
    // Equal up to rounding: under kernel choice auto the CPU may run oneDNN for one batch size
    // and the hand kernels for the other (engine/dispatch.h picks per shape).
    const std::vector<float> whole = judge.judge(set.images).features;
    REQUIRE(whole.size() == view.features.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      CHECK(whole[i] == Approx(view.features[i]).margin(1e-5).epsilon(1e-5));
    }
  }
  weft::io::save_safetensors(dir.file("other.safetensors"), {{"weight", Tensor::zeros({2, 2})}});
  CHECK_THAT(weft::test::error_message([&] {
               weft::models::FashionJudge::load(dir.path() + "/other.safetensors",
                                                weft::Device::cpu());
             }),
             Catch::Contains("is not a FashionCnn"));
}
