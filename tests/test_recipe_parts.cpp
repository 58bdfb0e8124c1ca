// The training recipe's reusable parts, each against a hand computation:
//   - WeightAverage (engine/train/weight_average.h): the average after k steps equals the
//     formula applied by hand to the weights each step left; validation sees the average and
//     training goes on with the trained weights; the run ends with the averaged weights; a run
//     resumed half-way averages exactly as an uninterrupted one;
//   - OneCycle with linear annealing: straight lines through its three corner values;
//   - SGD/Adam with decay_vectors = false: 1-d tensors get no weight decay, matrices do;
//   - predict() with flip test-time augmentation: the mean of the logits of the images and of
//     their mirror images; flip_horizontal reverses each row;
//   - FashionVgg: its shapes and parameter count, and its whitening stem, whose 8 outputs on
//     the training patches have zero mean and (nearly) unit variance.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/data/loader.h"
#include "engine/ops.h"
#include "engine/train/loader_epoch.h"
#include "engine/train/weight_average.h"
#include "models/fashion_vgg.h"
#include "tests/engine_test_util.h"
#include "tests/train_test_util.h"

namespace {

namespace train = weft::train;
using weft::Tensor;
using weft::test::TempDir;
using weft::test::TinyRun;

train::TrainerOptions quiet_options(const std::string& run_dir, int epochs,
                                    const std::string& resume = "") {
  train::TrainerOptions options;
  options.epochs = epochs;
  options.run_dir = run_dir;
  options.seed = 1;
  options.config = {{"model", "tiny"}, {"epochs", epochs}};
  options.resume = resume;
  options.progress = train::ProgressStyle::quiet;
  return options;
}

std::vector<std::vector<float>> weights_of(weft::nn::Module& model) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, tensor] : model.state_dict()) {
    if (tensor.dtype() == weft::DType::f32) out.push_back(tensor.to_vector<float>());
  }
  return out;
}

}  // namespace

TEST_CASE("WeightAverage: the average follows the formula, validation sees it, the run ends "
          "with it", "[train][recipe]") {
  TinyRun run(5);
  train::Trainer trainer(*run.model, *run.optimizer, quiet_options("", 2));
  auto average = std::make_shared<train::WeightAverage>(train::WeightAverageOptions{0.9});
  trainer.add_callback(average);
  // The hand average: starts at the initial weights, then the formula after every step with
  // the weights that step left.
  std::vector<std::vector<float>> expected = weights_of(*run.model);
  int64_t t = 0;
  trainer.register_generator("shuffle", run.shuffle);
  const train::StepHooks hooks = trainer.step_hooks();
  train::StepHooks spying = hooks;
  spying.after_step = [&](int64_t done, int64_t total) {
    const double d = std::min(0.9, (1.0 + static_cast<double>(t)) / (10.0 + static_cast<double>(t)));
    const auto now = weights_of(*run.model);
    for (size_t i = 0; i < expected.size(); ++i) {
      for (size_t j = 0; j < expected[i].size(); ++j) {
        expected[i][j] = static_cast<float>(d) * expected[i][j] +
                         static_cast<float>(1.0 - d) * now[i][j];
      }
    }
    ++t;
    hooks.after_step(done, total);
  };
  std::vector<std::vector<float>> validated, trained_after_validation;
  std::vector<std::vector<float>> before_validation;
  const train::TrainResult result = trainer.fit(
      [&](int epoch) {
        auto metrics = run.train_epoch(epoch, spying);
        before_validation = weights_of(*run.model);
        return metrics;
      },
      [&](int epoch) {
        validated = weights_of(*run.model);
        return run.validate(epoch);
      });
  REQUIRE(result.epochs_completed == 2);
  CHECK(average->updates() == 8);  // 2 epochs x 4 steps
  const auto final_weights = weights_of(*run.model);
  REQUIRE(final_weights.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    for (size_t j = 0; j < expected[i].size(); ++j) {
      CHECK(final_weights[i][j] == Approx(expected[i][j]).margin(1e-6));
      CHECK(validated[i][j] == Approx(expected[i][j]).margin(1e-6));
    }
  }
  // The trained weights differ from their average (else the checks above prove nothing).
  CHECK(before_validation[0] != validated[0]);
}

TEST_CASE("WeightAverage: 1 epoch + resume + 1 epoch equals 2 epochs straight", "[train][recipe]") {
  auto fit = [](TinyRun& run, const train::TrainerOptions& options) {
    train::Trainer trainer(*run.model, *run.optimizer, options);
    trainer.add_callback(std::make_shared<train::WeightAverage>(train::WeightAverageOptions{0.8}));
    return run.fit(trainer);
  };
  TinyRun straight(3);
  fit(straight, quiet_options("", 2));

  TempDir dir("weight_average_resume");
  {
    TinyRun first(3);
    fit(first, quiet_options(dir.path(), 1));
  }
  TinyRun resumed(44);
  const train::TrainResult rest = fit(resumed, quiet_options("", 2, dir.path()));
  CHECK(rest.first_epoch == 2);
  const auto a = straight.model->state_dict(), b = resumed.model->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(weft::test::same_bytes(a[i].second, b[i].second));
}

TEST_CASE("WeightAverage: a decay outside (0, 1) is refused", "[train][recipe]") {
  CHECK_THROWS_WITH(train::WeightAverage({1.0}), Catch::Contains("decay must be in (0, 1)"));
  CHECK(train::WeightAverage({0.99}).describe() == "WeightAverage(decay=0.99, ramp=(1+t)/(10+t))");
}

TEST_CASE("OneCycle linear: straight lines through initial, peak and final rates",
          "[train][recipe]") {
  // 11 steps, peak at step 0.2 * 11 - 1 = 1.2, last step 10.
  const train::OneCycle schedule({.max_lr = 1.0,
                                  .total_steps = 11,
                                  .pct_start = 0.2,
                                  .div_factor = 10,
                                  .final_div_factor = 100,
                                  .anneal = train::Anneal::linear});
  CHECK(schedule.lr_at(0) == Approx(0.1));
  CHECK(schedule.lr_at(1) == Approx(0.1 + 0.9 / 1.2));
  CHECK(schedule.lr_at(10) == Approx(0.001));
  // Halfway down: the mean of the peak and the final rate.
  CHECK(schedule.lr_at(static_cast<int64_t>(5.6)) == Approx(1.0 + (0.001 - 1.0) * (5.0 - 1.2) / 8.8));
  CHECK(schedule.lr_at(50) == Approx(0.001));
  CHECK_THAT(schedule.describe(), Catch::Contains("anneal=linear"));
}

TEST_CASE("optimizers: decay_vectors = false keeps weight decay off 1-d tensors",
          "[train][recipe]") {
  for (const bool adam : {false, true}) {
    Tensor matrix = Tensor::full({2, 2}, 1.0f).set_requires_grad();
    Tensor vector = Tensor::full({2}, 1.0f).set_requires_grad();
    std::unique_ptr<weft::optim::Optimizer> optimizer;
    if (adam) {
      optimizer = std::make_unique<weft::optim::AdamW>(
          std::vector<Tensor>{matrix, vector},
          weft::optim::AdamOptions{.lr = 0.1f, .weight_decay = 0.5f, .decay_vectors = false});
    } else {
      optimizer = std::make_unique<weft::optim::SGD>(
          std::vector<Tensor>{matrix, vector},
          weft::optim::SgdOptions{.lr = 0.1f, .weight_decay = 0.5f, .decay_vectors = false});
    }
    // A zero gradient: only weight decay can move a parameter.
    (weft::sum(matrix) * 0.0f + weft::sum(vector) * 0.0f).backward();
    optimizer->step();
    INFO((adam ? "AdamW" : "SGD"));
    CHECK(vector.to_vector<float>() == std::vector<float>{1.0f, 1.0f});
    // SGD: 1 - 0.1 * 0.5 * 1; AdamW (decoupled): 1 - 0.1 * 0.5 * 1 as well (zero Adam step).
    for (float v : matrix.to_vector<float>()) CHECK(v == Approx(0.95f));
  }
}

TEST_CASE("predict: flip TTA averages the logits of each image and its mirror image",
          "[train][recipe]") {
  const std::vector<float> pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const Tensor images = Tensor::from_vector(pixels, {2, 1, 2, 3});
  CHECK(weft::train::flip_horizontal(images).to_vector<float>() ==
        std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10});

  // A linear model over the 6 pixels whose weights are not mirror-symmetric.
  weft::manual_seed(2);
  auto model = std::make_shared<weft::nn::Sequential>(
      std::initializer_list<std::shared_ptr<weft::nn::Module>>{
          std::make_shared<weft::nn::Flatten>(), std::make_shared<weft::nn::Linear>(6, 2)});
  const std::vector<uint8_t> bytes(pixels.begin(), pixels.end());
  auto dataset = std::make_shared<weft::data::ImageDataset>(
      Tensor::from_vector(bytes, {2, 1, 2, 3}), Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}),
      std::vector<int64_t>{}, weft::data::Transform{std::nullopt, {}});
  weft::data::Loader loader(dataset, {.batch_size = 2, .shuffle = false});
  const auto plain = weft::train::predict(*model, loader, weft::Device::cpu(),
                                          weft::train::Objective::single_label);
  const auto tta = weft::train::predict(*model, loader, weft::Device::cpu(),
                                        weft::train::Objective::single_label,
                                        weft::train::TestTimeAugment::flip);
  weft::NoGradGuard no_grad;
  const Tensor scaled = images * (1.0f / 255.0f);
  const auto mirrored = (*model)(weft::train::flip_horizontal(scaled)).to_vector<float>();
  REQUIRE(tta.logits.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(tta.logits[i] == Approx((plain.logits[i] + mirrored[i]) / 2).margin(1e-6));
  }
  CHECK(tta.logits != plain.logits);
}

TEST_CASE("FashionVgg: shapes, parameters and a whitening stem that whitens", "[models][recipe]") {
  weft::models::FashionVgg net;
  CHECK(net.parameter_count() == 94186);
  const Tensor logits = net(Tensor::zeros({2, 1, 28, 28}));
  CHECK(logits.shape() == weft::Shape{2, 10});

  weft::models::FashionVgg speed({.widths = {8, 8, 16}, .convs = {1, 2, 2}, .whiten = true});
  REQUIRE(speed.whiten != nullptr);
  CHECK_FALSE(speed.whiten->weight.requires_grad());
  // The stem's 8 x 4 weights and 8 biases count as parameters but do not train.
  CHECK(speed.trainable_parameter_count() == speed.parameter_count() - 40);
  CHECK(net.trainable_parameter_count() == net.parameter_count());
  CHECK(speed(Tensor::zeros({1, 1, 28, 28})).shape() == weft::Shape{1, 10});
  CHECK_THROWS_WITH(net.init_whitening(Tensor::zeros({1, 1, 4, 4}, weft::DType::u8), 1, 0),
                    Catch::Contains("no whitening stem"));

  // Images with correlated neighbouring pixels; after whitening each of the first 4 outputs
  // has mean 0 and variance 1 over all patches (eps is tiny against these variances).
  weft::Generator rng(5);
  const std::vector<float> noise = rng.uniform(40 * 8 * 8, 0.0f, 1.0f);
  std::vector<uint8_t> bytes(noise.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    const float left = (i % 8 == 0) ? noise[i] : noise[i - 1];
    bytes[i] = static_cast<uint8_t>(std::lround(100 * noise[i] + 100 * left));
  }
  const Tensor images = Tensor::from_vector(bytes, {40, 1, 8, 8});
  speed.init_whitening(images, 1.0f / 255.0f, 0.0f, 40, 1e-9f);
  weft::NoGradGuard no_grad;
  const Tensor out = speed.whiten->forward(weft::u8_to_f32(images, 1.0f / 255.0f, 0.0f));
  const std::vector<float> v = out.to_vector<float>();
  const int64_t plane = 7 * 7;
  for (int64_t channel = 0; channel < 4; ++channel) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < 40; ++n) {
      for (int64_t k = 0; k < plane; ++k) {
        const double x = v[static_cast<size_t>((n * 8 + channel) * plane + k)];
        sum += x;
        squares += x * x;
      }
    }
    const double count = 40.0 * plane, mean = sum / count;
    INFO("channel " << channel);
    CHECK(mean == Approx(0.0).margin(1e-3));
    CHECK(squares / count - mean * mean == Approx(1.0).epsilon(1e-3));
  }
}
