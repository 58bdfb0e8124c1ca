// The DCGAN generator and discriminator (models/dcgan.h): both standard sizes' shapes and
// parameter counts (worked out by hand in the header), PyTorch-example names, Radford et al.'s
// initialisation, the size rule, and the class-conditional inputs: labels change the output,
// are checked, and the discriminator's gradient reaches the generator through them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine_test_util.h"
#include "model_test_util.h"
#include "models/dcgan.h"

namespace {
using weft::Shape;
using weft::Tensor;
using weft::models::DcganDiscriminator;
using weft::models::DcganGenerator;

double largest_difference(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double largest = 0.0;
  for (size_t i = 0; i < x.size(); ++i) largest = std::max(largest, std::fabs(double{x[i]} - y[i]));
  return largest;
}
}  // namespace

TEST_CASE("dcgan: the 64x64 RGB layout, 3,576,704 + 2,765,568 parameters", "[models][dcgan]") {
  weft::manual_seed(64);
  DcganGenerator generator(weft::models::dcgan64_rgb());
  DcganDiscriminator discriminator(weft::models::dcgan64_rgb());
  CHECK(generator.parameter_count() == 3576704);
  CHECK(discriminator.parameter_count() == 2765568);
  // PyTorch's DCGAN example: transposed convs at main.0, 3, 6, 9, 12 and BN at 1, 4, 7, 10;
  // convs at main.0, 2, 5, 8, 11 and BN at 3, 6, 9 (none after the first conv).
  CHECK(weft::test::names_of(generator.named_parameters()) ==
        std::vector<std::string>{"main.0.weight", "main.1.weight", "main.1.bias", "main.3.weight",
                                 "main.4.weight", "main.4.bias", "main.6.weight", "main.7.weight",
                                 "main.7.bias", "main.9.weight", "main.10.weight", "main.10.bias",
                                 "main.12.weight"});
  CHECK(weft::test::names_of(discriminator.named_parameters()) ==
        std::vector<std::string>{"main.0.weight", "main.2.weight", "main.3.weight", "main.3.bias",
                                 "main.5.weight", "main.6.weight", "main.6.bias", "main.8.weight",
                                 "main.9.weight", "main.9.bias", "main.11.weight"});
  CHECK(weft::test::shape_of(generator, "main.0.weight") == Shape{100, 512, 4, 4});
  CHECK(weft::test::shape_of(generator, "main.12.weight") == Shape{64, 3, 4, 4});
  CHECK(weft::test::shape_of(discriminator, "main.0.weight") == Shape{64, 3, 4, 4});
  CHECK(weft::test::shape_of(discriminator, "main.11.weight") == Shape{1, 512, 4, 4});

  // Radford et al.: weights normal(0, 0.02); BN weight normal(1, 0.02), bias 0.
  const auto deconv =
      weft::test::spread_of(weft::test::entry(generator, "main.3.weight"));  // 2.1M draws
  CHECK(std::fabs(deconv.stddev - 0.02) < 0.001);
  CHECK(std::fabs(deconv.mean) < 0.0002);
  const auto bn_weight =
      weft::test::spread_of(weft::test::entry(generator, "main.1.weight"));  // 512 draws
  CHECK(std::fabs(bn_weight.mean - 1.0) < 0.005);
  CHECK(std::fabs(bn_weight.stddev - 0.02) < 0.005);
  CHECK(weft::test::spread_of(weft::test::entry(generator, "main.1.bias")).largest == 0.0);

  const Tensor images = generator(weft::models::dcgan_noise(2, 100));
  CHECK(images.shape() == Shape{2, 3, 64, 64});
  CHECK(weft::test::spread_of(images).largest < 1.0);  // tanh
  CHECK(discriminator(images).shape() == Shape{2, 1});
}

TEST_CASE("dcgan: the 32x32 grayscale layout and the size rule", "[models][dcgan]") {
  CHECK(weft::models::dcgan_stride2_layers(64) == 4);
  CHECK(weft::models::dcgan_stride2_layers(32) == 3);
  CHECK(weft::models::dcgan_stride2_layers(8) == 1);
  CHECK_THAT(weft::test::error_message([] { weft::models::dcgan_stride2_layers(28); }),
             Catch::Contains("4 * 2^L"));

  weft::manual_seed(32);
  DcganGenerator generator(weft::models::dcgan32_gray());
  DcganDiscriminator discriminator(weft::models::dcgan32_gray());
  CHECK(generator.parameter_count() == 1066880);
  CHECK(discriminator.parameter_count() == 661248);
  const Tensor images = generator(weft::models::dcgan_noise(3, 100));
  CHECK(images.shape() == Shape{3, 1, 32, 32});
  CHECK(discriminator(images).shape() == Shape{3, 1});
}

TEST_CASE("dcgan: class-conditional generator and discriminator", "[models][dcgan]") {
  weft::manual_seed(33);
  const auto config = weft::models::dcgan32_gray(3);
  DcganGenerator generator(config);
  DcganDiscriminator discriminator(config);
  // The first layers grow by the one-hot inputs: G 3*256*16 = 12,288, D 3*64*16 = 3,072.
  CHECK(generator.parameter_count() == 1066880 + 12288);
  CHECK(discriminator.parameter_count() == 661248 + 3072);
  CHECK(weft::test::shape_of(generator, "main.0.weight") == Shape{103, 256, 4, 4});
  CHECK(weft::test::shape_of(discriminator, "main.0.weight") == Shape{64, 4, 4, 4});

  generator.eval();
  discriminator.eval();
  const Tensor noise = weft::models::dcgan_noise(1, 100);
  const Tensor label0 = Tensor::from_vector(std::vector<int32_t>{0}, {1});
  const Tensor label2 = Tensor::from_vector(std::vector<int32_t>{2}, {1});
  {
    weft::NoGradGuard no_grad;
    const Tensor image0 = generator.forward(noise, label0);
    CHECK(image0.shape() == Shape{1, 1, 32, 32});
    // The same noise with another label is another image; the same image judged under another
    // label gets another score.
    CHECK(largest_difference(image0, generator.forward(noise, label2)) > 1e-4);
    CHECK(largest_difference(discriminator.forward(image0, label0),
                             discriminator.forward(image0, label2)) > 1e-6);
  }
  CHECK_THAT(weft::test::error_message([&] { generator(noise); }),
             Catch::Contains("class-conditional"));
  CHECK_THAT(weft::test::error_message([&] {
               generator.forward(noise, Tensor::from_vector(std::vector<int32_t>{3}, {1}));
             }),
             Catch::Contains("label 3 is outside [0, 3)"));

  // One generator step's gradient: D's verdict on G's images, through the concatenated label
  // planes, back to G's first layer.
  generator.train();
  discriminator.train();
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 1}, {4});
  const Tensor fake = generator.forward(weft::models::dcgan_noise(4, 100), labels);
  const Tensor logits = discriminator.forward(fake, labels);
  weft::bce_with_logits(logits, Tensor::ones({4, 1})).backward();
  const Tensor first_grad = weft::test::entry(generator, "main.0.weight").grad();
  REQUIRE(first_grad.defined());
  CHECK(weft::test::spread_of(first_grad).largest > 0.0);
}
