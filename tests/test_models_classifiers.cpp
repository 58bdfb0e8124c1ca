// Seed 002's simple CNN (models/simple_cnn.h) and seed 003's multi-label apparel CNN
// (models/apparel_cnn.h): output shapes, parameter counts worked out by hand in the headers,
// names, the input-size rules, Keras' "same" padding of an even kernel, and the Keras-style
// initialisation and batch-norm settings.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine_test_util.h"
#include "kernel_test_util.h"
#include "model_test_util.h"
#include "models/apparel_cnn.h"
#include "models/simple_cnn.h"

namespace {
using weft::Shape;
using weft::Tensor;
}  // namespace

TEST_CASE("simple cnn: seed 002's baseline, 224,131 parameters at 1x28x28 and 3 classes",
          "[models][simple_cnn]") {
  weft::manual_seed(2);
  weft::models::SimpleCnn model;
  CHECK(weft::test::names_of(model.named_parameters()) ==
        std::vector<std::string>{"features.0.weight", "features.0.bias", "features.3.weight",
                                 "features.3.bias", "classifier.1.weight", "classifier.1.bias",
                                 "classifier.3.weight", "classifier.3.bias"});
  // conv 1*9*32+32 = 320; conv 32*9*64+64 = 18,496; 28 -> 26 -> 13 -> 11 -> 5, so dense
  // 64*5*5*128+128 = 204,928; dense 128*3+3 = 387.
  CHECK(model.parameter_count() == 224131);
  CHECK(weft::test::shape_of(model, "classifier.1.weight") == Shape{128, 1600});
  const Tensor logits = model(weft::test::random_images({2, 1, 28, 28}, 3));
  CHECK(logits.shape() == Shape{2, 3});

  SECTION("the dense layer follows the input size") {
    CHECK(weft::models::SimpleCnn::feature_size(64) == 14);  // 62, 31, 29, 14
    CHECK(weft::models::SimpleCnn::feature_size(10) == 1);
    weft::models::SimpleCnn rgb({.in_channels = 3, .height = 64, .width = 48});
    CHECK(weft::test::shape_of(rgb, "classifier.1.weight") == Shape{128, 64 * 14 * 10});
    CHECK(rgb(weft::test::random_images({1, 3, 64, 48}, 4)).shape() == Shape{1, 3});
    CHECK_THAT(weft::test::error_message([] { weft::models::SimpleCnn tiny({.height = 9}); }),
               Catch::Contains("at least 10x10"));
  }
}

TEST_CASE("apparel cnn: Keras' 'same' padding of a 2x2 kernel pads bottom and right",
          "[models][apparel]") {
  // TensorFlow pads an even kernel's extra row and column after the data: output (i, j) sees
  // input rows i, i+1 and columns j, j+1, with zeros past the bottom and right edges.
  weft::models::KerasSameConv2d conv(1, 1, 2);
  conv.weight.copy_(Tensor::from_vector(std::vector<float>{1, 10, 100, 1000}, {1, 1, 2, 2}));
  conv.bias.zero_();
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor y = conv(x);
  REQUIRE(y.shape() == Shape{1, 1, 3, 3});
  // (0, 0) = 1*1 + 2*10 + 4*100 + 5*1000; (0, 2) = 3*1 + 6*100 (the column past the edge is 0).
  weft::test::check_close("2x2 same", y.to_vector<float>(),
                          std::vector<float>{5421, 6532, 603, 8754, 9865, 906, 87, 98, 9}, 0.0,
                          0.0);
  // An odd kernel is padded symmetrically and nothing is cropped.
  weft::models::KerasSameConv2d odd(1, 1, 3);
  CHECK(odd(x).shape() == Shape{1, 1, 3, 3});
}

TEST_CASE("apparel cnn: seed 003's model, 8,598,407 Keras parameters (8,595,527 trainable)",
          "[models][apparel]") {
  weft::manual_seed(3);
  weft::models::ApparelCnn model;
  CHECK(model.parameter_count() == 8595527);
  // Keras' total also counts the BatchNormalization moving mean and variance:
  // 2 * (32 + 64 + 64 + 128 + 128 + 1024) = 2,880.
  int64_t moving_statistics = 0;
  for (const auto& [name, tensor] : model.named_buffers()) {
    if (!name.ends_with("num_batches_tracked")) moving_statistics += tensor.numel();
  }
  CHECK(moving_statistics == 2880);
  CHECK(model.parameter_count() + moving_statistics == 8598407);

  const std::vector<std::pair<std::string, Shape>> literal = {
      {"features.0.weight", {32, 3, 3, 3}},
      {"features.2.running_var", {32}},
      {"features.5.weight", {64, 32, 3, 3}},
      {"features.8.weight", {64, 64, 3, 3}},
      {"features.13.weight", {128, 64, 3, 3}},
      {"features.16.weight", {128, 128, 2, 2}},
      {"features.18.bias", {128}},
      {"classifier.1.weight", {1024, 8192}},
      {"classifier.3.running_mean", {1024}},
      {"classifier.5.weight", {7, 1024}},
  };
  for (const auto& [name, shape] : literal) {
    INFO(name);
    CHECK(weft::test::shape_of(model, name) == shape);
  }

  // Keras BatchNormalization: momentum 0.99 on the average = PyTorch momentum 0.01; eps 1e-3.
  const auto bn = std::dynamic_pointer_cast<weft::nn::BatchNorm>(model.classifier->at(3));
  REQUIRE(bn != nullptr);
  CHECK(bn->momentum == Approx(0.01f));
  CHECK(bn->eps == Approx(1e-3f));

  // he_normal: a normal truncated at two standard deviations, rescaled so the sample keeps
  // std sqrt(2 / fan_in); the dense kernel has fan_in 8192 and 8.4M draws.
  const auto dense_layer = std::dynamic_pointer_cast<weft::nn::Linear>(model.classifier->at(1));
  REQUIRE(dense_layer != nullptr);
  const auto dense = weft::test::spread_of(dense_layer->weight);
  const double expected = std::sqrt(2.0 / 8192.0);
  INFO("dense std " << dense.stddev << ", expected " << expected);
  CHECK(std::fabs(dense.stddev - expected) < 0.02 * expected);
  CHECK(dense.largest <= 2.0 * expected / 0.87962566 * 1.0001);
  CHECK(weft::test::spread_of(dense_layer->bias).largest == 0.0);

  // 96x96x3 images give 7 logits, in training (dropout on) and in eval.
  const Tensor images = weft::test::random_images({2, 3, 96, 96}, 31);
  CHECK(model(images).shape() == Shape{2, 7});
  weft::NoGradGuard no_grad;
  model.eval();
  CHECK(model(images).shape() == Shape{2, 7});
  CHECK_THAT(weft::test::error_message([&] {
               model(weft::test::random_images({1, 3, 48, 48}, 33));
             }),
             Catch::Contains("ApparelCnn expects images [N, 3, 96, 96]"));
}

TEST_CASE("apparel cnn: the dense layer follows the image size", "[models][apparel]") {
  CHECK(weft::models::ApparelCnn::feature_size(96) == 8);   // 32, 16, 8
  CHECK(weft::models::ApparelCnn::feature_size(48) == 4);   // 16, 8, 4
  CHECK(weft::models::ApparelCnn::feature_size(100) == 8);  // 33, 16, 8
  weft::models::ApparelCnn small({.image_size = 48, .labels = 5});
  CHECK(weft::test::shape_of(small, "classifier.1.weight") == Shape{1024, 128 * 4 * 4});
  CHECK(small(weft::test::random_images({2, 3, 48, 48}, 32)).shape() == Shape{2, 5});
  CHECK_THAT(weft::test::error_message([] { weft::models::ApparelCnn tiny({.image_size = 11}); }),
             Catch::Contains("at least 12x12"));
}
