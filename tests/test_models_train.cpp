// End-to-end checks of the pieces working together: a small CNN (conv, batch norm, ReLU, max
// pool, flatten, two linear layers) trained with Adam on the CPU overfits one fixed batch; the
// Fashion-MNIST model (models/fashion_cnn.h) has PyTorch's parameter names and the expected
// parameter count; and the initialisers (engine/nn/init.h) draw with the documented spread.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "models/fashion_cnn.h"

namespace {
using weft::Tensor;
namespace nn = weft::nn;
}  // namespace

TEST_CASE("train: a small CNN overfits one fixed batch with Adam", "[train]") {
  weft::manual_seed(7);
  // [16, 1, 8, 8] -> conv 3x3 pad 1 -> [16, 8, 8, 8] -> pool -> [16, 8, 4, 4] -> 128 -> 32 -> 4
  nn::Sequential model{std::make_shared<nn::Conv2d>(1, 8, 3, 1, 1),
                       nn::BatchNorm2d(8),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::MaxPool2d>(2),
                       std::make_shared<nn::Flatten>(),
                       std::make_shared<nn::Linear>(8 * 4 * 4, 32),
                       std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(32, 4)};
  weft::Generator data_rng(8);
  const Tensor images = Tensor::from_vector(data_rng.uniform(16 * 64, -1.0f, 1.0f), {16, 1, 8, 8});
  std::vector<int32_t> label_values(16);
  for (int i = 0; i < 16; ++i) label_values[i] = i % 4;
  const Tensor labels = Tensor::from_vector(label_values, {16});

  weft::optim::Adam adam(model.parameters(), {.lr = 1e-2f});
  // Random images carry no pattern: reaching a small loss means the model memorised the batch,
  // which needs every layer's forward and backward and the optimizer to be right.
  // A fixed 100 steps (rather than stopping at the first small loss) also gives the batch-norm
  // running statistics time to settle on this batch's statistics for the eval check below.
  constexpr int kSteps = 100;
  float first_loss = 0.0f, loss_value = 0.0f;
  int first_step_below = -1;
  for (int step = 0; step < kSteps; ++step) {
    adam.zero_grad();
    const Tensor loss = weft::cross_entropy(model(images), labels);
    loss.backward();
    adam.step();
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
    if (first_step_below < 0 && loss_value < 0.05f) first_step_below = step;
  }
  INFO("first loss " << first_loss << ", below 0.05 from step " << first_step_below
                     << ", last loss " << loss_value);
  // Four balanced classes start near ln 4 = 1.386.
  CHECK(first_loss > 1.0f);
  CHECK(loss_value < 0.05f);

  // In eval mode (running statistics, which have followed this one batch) every image is
  // classified correctly.
  model.eval();
  weft::NoGradGuard no_grad;
  const std::vector<float> logits = model(images).to_vector<float>();
  int correct = 0;
  for (int i = 0; i < 16; ++i) {
    const auto row = logits.begin() + 4 * i;
    correct += (std::max_element(row, row + 4) - row) == label_values[i];
  }
  CHECK(correct == 16);
}

TEST_CASE("train: FashionCnn has PyTorch's parameter names and 347114 parameters",
          "[train][models]") {
  weft::models::FashionCnn model({.filters = 64});
  std::vector<std::string> names;
  for (const auto& [name, tensor] : model.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"features.0.weight", "features.0.bias",
                                          "classifier.2.weight", "classifier.2.bias",
                                          "classifier.4.weight", "classifier.4.bias"});
  // conv 64*1*3*3 + 64 = 640; hidden 64*13*13*32 + 32 = 346144; output 32*10 + 10 = 330.
  CHECK(model.parameter_count() == 347114);
  // A forward on a 28x28 image gives ten logits.
  weft::NoGradGuard no_grad;
  model.eval();
  CHECK(model(Tensor::zeros({2, 1, 28, 28})).shape() == weft::Shape{2, 10});
}

TEST_CASE("train: initialisers draw with the documented spread", "[train][init]") {
  SECTION("kaiming_normal_: std within 5% of sqrt(2 / fan_in), mean near 0") {
    // [128, 64, 3, 3]: fan_in 576, 73728 draws. The sample std's own relative error is about
    // 1 / sqrt(2 * 73728) = 0.26%, so 5% fails only for a wrong formula.
    Tensor weight = Tensor::empty({128, 64, 3, 3});
    weft::Generator rng(11);
    nn::init::kaiming_normal_(weight, 0.0f, nn::init::FanMode::fan_in, &rng);
    const std::vector<float> values = weight.to_vector<float>();
    double sum = 0.0, sum_squares = 0.0;
    for (float v : values) sum += v;
    const double mean = sum / static_cast<double>(values.size());
    for (float v : values) sum_squares += (v - mean) * (v - mean);
    const double stddev = std::sqrt(sum_squares / static_cast<double>(values.size()));
    const double expected = std::sqrt(2.0 / 576.0);
    INFO("std " << stddev << ", expected " << expected << ", mean " << mean);
    CHECK(std::fabs(stddev - expected) <= 0.05 * expected);
    // The mean's standard error is expected / sqrt(73728) = 0.0002; 0.002 is ten of them.
    CHECK(std::fabs(mean) <= 0.002);
  }
  SECTION("pytorch_default_: weight and bias inside +-1/sqrt(fan_in), and filling it") {
    // Linear(400 -> 50): bound 1 / sqrt(400) = 0.05.
    Tensor weight = Tensor::empty({50, 400}), bias = Tensor::empty({50});
    weft::Generator rng(12);
    nn::init::pytorch_default_(weight, bias, &rng);
    const double bound = 1.0 / std::sqrt(400.0);
    for (const Tensor* t : {&weight, &bias}) {
      const std::vector<float> values = t->to_vector<float>();
      float largest = 0.0f;
      for (float v : values) largest = std::max(largest, std::fabs(v));
      INFO(t->str() << ": largest |value| " << largest << ", bound " << bound);
      CHECK(largest <= bound);
      // Uniform over the whole interval: with 50 or more draws the largest is above 0.9 of the
      // bound unless the range is too narrow (the chance otherwise is 0.9^50 = 0.5%, and the
      // seed is fixed).
      CHECK(largest > 0.9 * bound);
    }
  }
}
