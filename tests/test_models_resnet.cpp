// ResNet-18 and ResNet-50 (models/resnet.h) against torchvision: parameter counts, the full list
// of state_dict names and shapes (generated below from torchvision's naming rules, so that a
// converted torchvision checkpoint loads), a dozen literal names, the small-input stem, the
// features/head split Grad-CAM uses, the initialisation, and head replacement with freezing.
#include <algorithm>
#include <array>
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
#include "models/resnet.h"

namespace {
using weft::Shape;
using weft::Tensor;
using weft::models::ResNet;

struct Entry {
  std::string name;
  Shape shape;
};

// torchvision's resnet state_dict, in its order: PyTorch visits modules depth first in
// registration order and lists each module's parameters, then its buffers. torchvision
// registers conv1, bn1, layer1..layer4, fc on the ResNet; conv1, bn1, conv2, bn2[, conv3, bn3],
// downsample on a block; downsample = Sequential(conv "0", BatchNorm "1"). A block gets a
// downsample when its stride is 2 or its input channels differ from planes * expansion.
std::vector<Entry> torchvision_state_dict(bool bottleneck, std::array<int, 4> blocks,
                                          int in_channels, int classes) {
  std::vector<Entry> out;
  auto conv = [&](const std::string& name, int64_t o, int64_t i, int64_t k) {
    out.push_back({name + ".weight", {o, i, k, k}});
  };
  auto batch_norm = [&](const std::string& name, int64_t c) {
    for (const char* field : {".weight", ".bias", ".running_mean", ".running_var"}) {
      out.push_back({name + field, {c}});
    }
    out.push_back({name + ".num_batches_tracked", {}});
  };
  const int expansion = bottleneck ? 4 : 1;
  conv("conv1", 64, in_channels, 7);
  batch_norm("bn1", 64);
  int in_planes = 64;
  for (int i = 0; i < 4; ++i) {
    const int planes = 64 << i;
    for (int j = 0; j < blocks[i]; ++j) {
      const std::string block = "layer" + std::to_string(i + 1) + "." + std::to_string(j) + ".";
      if (bottleneck) {
        conv(block + "conv1", planes, in_planes, 1);
        batch_norm(block + "bn1", planes);
        conv(block + "conv2", planes, planes, 3);
        batch_norm(block + "bn2", planes);
        conv(block + "conv3", planes * 4, planes, 1);
        batch_norm(block + "bn3", planes * 4);
      } else {
        conv(block + "conv1", planes, in_planes, 3);
        batch_norm(block + "bn1", planes);
        conv(block + "conv2", planes, planes, 3);
        batch_norm(block + "bn2", planes);
      }
      const bool stride2 = i > 0 && j == 0;
      if (stride2 || in_planes != planes * expansion) {
        conv(block + "downsample.0", planes * expansion, in_planes, 1);
        batch_norm(block + "downsample.1", planes * expansion);
      }
      in_planes = planes * expansion;
    }
  }
  out.push_back({"fc.weight", {classes, 512 * expansion}});
  out.push_back({"fc.bias", {classes}});
  return out;
}

bool is_buffer(const std::string& name) {
  return name.ends_with("running_mean") || name.ends_with("running_var") ||
         name.ends_with("num_batches_tracked");
}

// Compares a model with torchvision's list: parameters in the same order, buffers in the same
// order, every state_dict entry with the same shape, and nothing more or less.
void check_against_torchvision(const ResNet& model, const std::vector<Entry>& expected) {
  std::vector<std::string> parameters, buffers;
  std::map<std::string, Shape> expected_shapes;
  for (const auto& [name, shape] : expected) {
    (is_buffer(name) ? buffers : parameters).push_back(name);
    expected_shapes[name] = shape;
  }
  CHECK(weft::test::names_of(model.named_parameters()) == parameters);
  CHECK(weft::test::names_of(model.named_buffers()) == buffers);
  const weft::nn::NamedTensors state = model.state_dict();
  CHECK(state.size() == expected.size());
  for (const auto& [name, tensor] : state) {
    INFO(name);
    REQUIRE(expected_shapes.count(name) == 1);
    CHECK(tensor.shape() == expected_shapes[name]);
    CHECK(tensor.dtype() ==
          (name.ends_with("num_batches_tracked") ? weft::DType::i64 : weft::DType::f32));
  }
}

}  // namespace

TEST_CASE("resnet: ResNet-50 has torchvision's 320 state_dict entries and 25,557,032 parameters",
          "[models][resnet]") {
  weft::manual_seed(50);
  const auto model = weft::models::resnet50();
  const std::vector<Entry> expected = torchvision_state_dict(true, {3, 4, 6, 3}, 3, 1000);
  // 53 convolutions (the stem, 3 in each of 16 blocks, 4 downsample projections), each one
  // weight; 53 BatchNorms, each 2 parameters and 3 buffers; fc weight and bias:
  // 53 + 2*53 + 2 = 161 parameters, 3*53 = 159 buffers, 320 entries.
  REQUIRE(expected.size() == 320);
  check_against_torchvision(*model, expected);
  CHECK(model->named_parameters().size() == 161);
  CHECK(model->named_buffers().size() == 159);

  int64_t expected_count = 0;
  for (const auto& [name, shape] : expected) {
    if (!is_buffer(name)) expected_count += weft::shape_numel(shape);
  }
  CHECK(expected_count == 25557032);
  CHECK(model->parameter_count() == 25557032);

  // Literal names a torchvision user knows, with their shapes.
  const std::vector<std::pair<std::string, Shape>> literal = {
      {"conv1.weight", {64, 3, 7, 7}},
      {"bn1.running_mean", {64}},
      {"bn1.num_batches_tracked", {}},
      {"layer1.0.conv1.weight", {64, 64, 1, 1}},
      {"layer1.0.downsample.0.weight", {256, 64, 1, 1}},
      {"layer1.0.downsample.1.running_var", {256}},
      {"layer2.0.conv2.weight", {128, 128, 3, 3}},
      {"layer2.3.bn3.bias", {512}},
      {"layer3.5.conv3.weight", {1024, 256, 1, 1}},
      {"layer4.0.downsample.0.weight", {2048, 1024, 1, 1}},
      {"layer4.2.bn3.running_var", {2048}},
      {"fc.weight", {1000, 2048}},
      {"fc.bias", {1000}},
  };
  for (const auto& [name, shape] : literal) {
    INFO(name);
    CHECK(weft::test::shape_of(*model, name) == shape);
  }

  SECTION("a forward pass on a tiny image") {
    // 32 -> conv1 16 -> max-pool 8 -> layer2 4 -> layer3 2 -> layer4 1.
    weft::NoGradGuard no_grad;
    model->eval();
    const Tensor images = weft::test::random_images({1, 3, 32, 32}, 51);
    CHECK(model->features(images).shape() == Shape{1, 2048, 1, 1});
    CHECK(model->forward(images).shape() == Shape{1, 1000});
  }
}

TEST_CASE("resnet: ResNet-18 has torchvision's 122 entries, 11,689,512 parameters and shapes",
          "[models][resnet]") {
  weft::manual_seed(18);
  const auto model = weft::models::resnet18();
  // 20 convolutions (stem, 2 in each of 8 blocks, 3 downsamples in layers 2-4), 20 BatchNorms,
  // fc: 20 + 40 + 2 = 62 parameters, 60 buffers, 122 entries.
  check_against_torchvision(*model, torchvision_state_dict(false, {2, 2, 2, 2}, 3, 1000));
  CHECK(model->state_dict().size() == 122);
  CHECK(model->parameter_count() == 11689512);
  CHECK(model->feature_channels() == 512);

  // Batch 2 in train mode (a batch of 1 at layer4's 1x1 would leave BatchNorm one value per
  // channel); features then head is the forward pass.
  const Tensor images = weft::test::random_images({2, 3, 32, 32}, 19);
  Tensor features = model->features(images);
  CHECK(features.shape() == Shape{2, 512, 1, 1});
  features.retain_grad();
  const Tensor logits = model->head(features);
  CHECK(logits.shape() == Shape{2, 1000});
  // What Grad-CAM needs: the gradient of one class score at the last conv block's output.
  weft::sum(logits.slice(1, 7, 8)).backward();
  REQUIRE(features.grad().defined());
  CHECK(features.grad().shape() == features.shape());

  SECTION("in eval mode forward() equals head(features())") {
    weft::NoGradGuard no_grad;
    model->eval();
    weft::test::check_close("forward vs head(features)", model->forward(images).to_vector<float>(),
                            model->head(model->features(images)).to_vector<float>(), 0.0, 0.0);
  }
}

TEST_CASE("resnet: the input-size rule and the small-input stem", "[models][resnet]") {
  CHECK(weft::models::resnet_feature_size(224, false) == 7);
  CHECK(weft::models::resnet_feature_size(32, false) == 1);
  CHECK(weft::models::resnet_feature_size(28, false) == 1);  // 14, 7, 4, 2, 1
  CHECK(weft::models::resnet_feature_size(28, true) == 4);   // 28, 14, 7, 4
  CHECK(weft::models::resnet_feature_size(32, true) == 4);

  weft::manual_seed(28);
  const auto small =
      weft::models::resnet18({.in_channels = 1, .num_classes = 10, .small_input = true});
  // torchvision's names and shapes, but for conv1: 3x3 instead of 7x7.
  std::vector<Entry> expected = torchvision_state_dict(false, {2, 2, 2, 2}, 1, 10);
  REQUIRE(expected.front().name == "conv1.weight");
  expected.front().shape = {64, 1, 3, 3};
  check_against_torchvision(*small, expected);
  CHECK(small->parameter_count() == 11689512 - 64 * 3 * 49 + 64 * 9 - 512 * 990 - 990);

  weft::NoGradGuard no_grad;
  small->eval();
  // 16x16 keeps the test fast: 16, 8, 4, 2.
  const Tensor images = weft::test::random_images({2, 1, 16, 16}, 29);
  CHECK(small->features(images).shape() == Shape{2, 512, 2, 2});
  CHECK(small->forward(images).shape() == Shape{2, 10});
  CHECK_THAT(weft::test::error_message([&] {
               small->forward(weft::test::random_images({2, 3, 16, 16}, 30));
             }),
             Catch::Contains("ResNet expects images [N, 1, H, W]"));
}

TEST_CASE("resnet: torchvision's initialisation", "[models][resnet]") {
  weft::manual_seed(3);
  const auto model = weft::models::resnet18();
  // kaiming_normal_(fan_out, relu): layer4.1.conv2 [512, 512, 3, 3] has fan_out 4608, so
  // std sqrt(2 / 4608) = 0.02083; 2.4M draws pin the sample std to 0.05% (5% is a wrong formula).
  const auto block = std::dynamic_pointer_cast<weft::models::BasicBlock>(model->layers[3]->at(1));
  REQUIRE(block != nullptr);
  const auto conv = weft::test::spread_of(block->conv2->weight);
  const double expected = std::sqrt(2.0 / 4608.0);
  INFO("std " << conv.stddev << ", expected " << expected);
  CHECK(std::fabs(conv.stddev - expected) < 0.05 * expected);
  // BatchNorm weight 1, bias 0.
  const auto bn = weft::test::spread_of(model->bn1->weight);
  CHECK(bn.mean == 1.0);
  CHECK(bn.stddev == 0.0);
  CHECK(weft::test::spread_of(model->bn1->bias).largest == 0.0);
  // fc: PyTorch's Linear default, inside +-1/sqrt(512).
  CHECK(weft::test::spread_of(model->fc->weight).largest <= 1.0 / std::sqrt(512.0));
}

TEST_CASE("resnet: replace_head, freeze_backbone and unfreeze", "[models][resnet]") {
  weft::manual_seed(4);
  const auto model =
      weft::models::resnet18({.in_channels = 1, .num_classes = 10, .small_input = true});
  const int64_t backbone = model->parameter_count() - (512 * 10 + 10);
  model->replace_head(3);
  CHECK(weft::test::shape_of(*model, "fc.weight") == Shape{3, 512});
  CHECK(model->parameter_count() == backbone + 512 * 3 + 3);
  CHECK(model->state_dict().size() == 122);

  model->freeze_backbone();
  CHECK(weft::test::trainable_names(*model) == std::vector<std::string>{"fc.weight", "fc.bias"});
  const Tensor images = weft::test::random_images({2, 1, 16, 16}, 5);
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 2}, {2});
  const Tensor logits = model->forward(images);
  CHECK(logits.shape() == Shape{2, 3});
  weft::cross_entropy(logits, labels).backward();
  CHECK(model->fc->weight.grad().defined());
  CHECK_FALSE(model->conv1->weight.grad().defined());
  CHECK_FALSE(model->bn1->weight.grad().defined());

  model->unfreeze();
  CHECK(weft::test::trainable_names(*model).size() == 62);
}
