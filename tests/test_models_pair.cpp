// Seed 001's shoe-pair models (models/pair_cnn.h): the stacked "CNN", the 6-channel
// "CNNChannel" and the siamese network. Parameter counts at the seed's 224x224 photos (worked
// out in the header), names, the input-size rule, and the point of a siamese network: one
// tower used twice, whose gradient is the sum of the gradients of the two uses.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine_test_util.h"
#include "kernel_test_util.h"
#include "model_test_util.h"
#include "models/pair_cnn.h"

namespace {
using weft::Shape;
using weft::Tensor;
using weft::models::PairCnn;
using weft::models::SiameseNet;

std::map<std::string, Tensor> as_map(const weft::nn::NamedTensors& entries) {
  return {entries.begin(), entries.end()};
}
}  // namespace

TEST_CASE("pair cnn: the seed's models at 224x224, counts and names", "[models][pair]") {
  weft::manual_seed(1);
  PairCnn stacked(weft::models::stacked_cnn_config());
  PairCnn channels(weft::models::channel_cnn_config());
  SiameseNet siamese(weft::models::siamese_config());
  CHECK(stacked.parameter_count() == 1272182);
  CHECK(channels.parameter_count() == 644962);
  CHECK(siamese.parameter_count() == 657774);

  CHECK(weft::test::names_of(stacked.named_parameters()) ==
        std::vector<std::string>{"conv1.weight", "conv1.bias", "bn1.weight",    "bn1.bias",
                                 "conv2.weight", "conv2.bias", "bn2.weight",    "bn2.bias",
                                 "conv3.weight", "conv3.bias", "bn3.weight",    "bn3.bias",
                                 "conv4.weight", "conv4.bias", "bn4.weight",    "bn4.bias",
                                 "fc1.weight",   "fc1.bias",   "bn_fc1.weight", "bn_fc1.bias",
                                 "fc2.weight",   "fc2.bias"});
  // 448x224 -> 28x14 after four pools; 224x224 -> 14x14.
  CHECK(weft::test::shape_of(stacked, "fc1.weight") == Shape{100, 32 * 28 * 14});
  CHECK(weft::test::shape_of(channels, "conv1.weight") == Shape{4, 6, 5, 5});
  CHECK(weft::test::shape_of(channels, "fc1.weight") == Shape{100, 32 * 14 * 14});
  CHECK(channels.named_buffers().empty());  // no batch norm
  CHECK(weft::test::shape_of(siamese, "tower.conv1.weight") == Shape{4, 3, 5, 5});
  CHECK(weft::test::shape_of(siamese, "tower.bn_fc1.running_var") == Shape{100});
  CHECK(weft::test::shape_of(siamese, "head.0.weight") == Shape{64, 200});
  CHECK(weft::test::shape_of(siamese, "head.2.weight") == Shape{2, 64});

  // One pair of 224x224 photos through each model.
  const Tensor left = weft::test::random_images({2, 3, 224, 224}, 11);
  const Tensor right = weft::test::random_images({2, 3, 224, 224}, 12);
  CHECK(stacked.forward_pair(left, right).shape() == Shape{2, 2});
  CHECK(channels.forward_pair(left, right).shape() == Shape{2, 2});
  CHECK(siamese.forward_pair(left, right).shape() == Shape{2, 2});
  CHECK_THAT(weft::test::error_message([&] {
               siamese.forward_pair(left, weft::test::random_images({2, 3, 112, 112}, 13));
             }),
             Catch::Contains("the right photo must be [N, 3, 224, 224]"));
}

TEST_CASE("pair cnn: input sizes, stacking and symmetry on small photos", "[models][pair]") {
  weft::manual_seed(2);
  // 40x24 photos: stacked 80x24 -> 5x1; one photo 40x24 -> 2x1.
  auto stacked = weft::models::make_pair_model(weft::models::stacked_cnn_config(40, 24));
  auto channels = weft::models::make_pair_model(weft::models::channel_cnn_config(40, 24));
  auto siamese = weft::models::make_pair_model(weft::models::siamese_config(40, 24));
  CHECK(stacked->type_name() == "PairCnn");
  CHECK(siamese->type_name() == "SiameseNet");
  CHECK(weft::test::shape_of(*stacked, "fc1.weight") == Shape{100, 32 * 5 * 1});
  CHECK(weft::test::shape_of(*channels, "fc1.weight") == Shape{100, 32 * 2 * 1});
  CHECK(weft::test::shape_of(*siamese, "tower.fc1.weight") == Shape{100, 32 * 2 * 1});

  weft::NoGradGuard no_grad;
  stacked->eval();
  siamese->eval();
  const Tensor left = weft::test::random_images({3, 3, 40, 24}, 21);
  const Tensor right = weft::test::random_images({3, 3, 40, 24}, 22);
  // The stacked model sees the left photo above the right one.
  weft::test::check_close("stacked", stacked->forward_pair(left, right).to_vector<float>(),
                          stacked->forward(weft::concat({left, right}, 2)).to_vector<float>(), 0.0,
                          0.0);
  // The siamese head only sees |a - b| and a * b: swapping the photos changes nothing.
  weft::test::check_close("siamese swap", siamese->forward_pair(left, right).to_vector<float>(),
                          siamese->forward_pair(right, left).to_vector<float>(), 0.0, 0.0);
  CHECK_THAT(weft::test::error_message(
                 [] { weft::models::make_pair_model(weft::models::siamese_config(15, 224)); }),
             Catch::Contains("at least 16x16"));
}

TEST_CASE("pair cnn: the siamese tower's gradient is the sum of its two uses' gradients",
          "[models][pair]") {
  weft::manual_seed(3);
  const auto config = weft::models::siamese_config(32, 32);
  SiameseNet shared(config);
  // Two more copies with the same values: tower A takes only the left photos, tower B only
  // the right ones, so each holds the gradient of one use.
  SiameseNet copy_a(config), copy_b(config);
  copy_a.load_state_dict(as_map(shared.state_dict()));
  copy_b.load_state_dict(as_map(shared.state_dict()));

  const Tensor left = weft::test::random_images({4, 3, 32, 32}, 31);
  const Tensor right = weft::test::random_images({4, 3, 32, 32}, 32);
  const Tensor targets = Tensor::from_vector(std::vector<int32_t>{1, 0, 1, 0}, {4});
  // Train mode: each use normalises with its own batch's statistics, in both set-ups alike.
  weft::cross_entropy(shared.forward_pair(left, right), targets).backward();
  weft::cross_entropy(copy_a.compare(copy_a.tower->forward(left), copy_b.tower->forward(right)),
                      targets)
      .backward();

  const auto tower = shared.tower->named_parameters();
  const auto tower_a = copy_a.tower->named_parameters();
  const auto tower_b = copy_b.tower->named_parameters();
  REQUIRE(tower.size() == 20);
  for (size_t i = 0; i < tower.size(); ++i) {
    const Tensor& g = tower[i].second.grad();
    const Tensor& ga = tower_a[i].second.grad();
    const Tensor& gb = tower_b[i].second.grad();
    REQUIRE(g.defined());
    REQUIRE(ga.defined());
    REQUIRE(gb.defined());
    const std::vector<float> a = ga.to_vector<float>(), b = gb.to_vector<float>();
    std::vector<float> sum(a.size());
    for (size_t k = 0; k < a.size(); ++k) sum[k] = a[k] + b[k];
    weft::test::check_close(tower[i].first.c_str(), g.to_vector<float>(), sum, 1e-6, 1e-4);
  }
  // And the head, used once, has the same gradient in both set-ups.
  const auto head = shared.head->named_parameters();
  const auto head_a = copy_a.head->named_parameters();
  for (size_t i = 0; i < head.size(); ++i) {
    weft::test::check_close(head[i].first.c_str(), head[i].second.grad().to_vector<float>(),
                            head_a[i].second.grad().to_vector<float>(), 1e-6, 1e-4);
  }
}
