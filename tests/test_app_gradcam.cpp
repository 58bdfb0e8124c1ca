// Grad-CAM (engine/report/gradcam.h) on tiny hand-built models whose answer is known: the heatmap
// must light up where the hand-made input holds the evidence for the class asked about, and
// nowhere for a class with no positive evidence. Also the bilinear upsampling, the colour map,
// the overlay, and the features/head split of the apps' classifiers.
#include <catch2/catch.hpp>
#include <algorithm>
#include <memory>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/report/gradcam.h"
#include "model_test_util.h"
#include "models/image_classifier.h"

namespace {

using weft::Tensor;

// Two detectors, one per input channel: features = ReLU(conv with an identity 3x3 kernel per
// channel, optionally stride 2), head = global average pool -> Linear(2 -> 2) identity. So
// class 0's logit is the mean of channel 0 and class 1's the mean of channel 1.
struct TwoDetectors {
  explicit TwoDetectors(int stride) : conv(2, 2, 3, stride, 1, false), fc(2, 2, true) {
    std::vector<float> kernel(2 * 2 * 9, 0.0f);
    kernel[0 * 18 + 0 * 9 + 4] = 1.0f;  // output 0 sees the centre of input channel 0
    kernel[1 * 18 + 1 * 9 + 4] = 1.0f;  // output 1 sees the centre of input channel 1
    conv.weight.copy_(Tensor::from_vector(kernel, {2, 2, 3, 3}));
    fc.weight.copy_(Tensor::from_vector(std::vector<float>{1, 0, 0, 1}, {2, 2}));
    fc.bias.copy_(Tensor::from_vector(std::vector<float>{0, 0}, {2}));
  }
  weft::report::GradCamModel parts() {
    return {[this](const Tensor& x) { return weft::relu(conv.forward(x)); },
            [this](const Tensor& a) { return fc.forward(weft::global_avg_pool2d(a)); }, nullptr};
  }
  weft::nn::Conv2d conv;
  weft::nn::Linear fc;
};

// An 8x8 two-channel image: a 2x2 square of evidence for class 0 at (row0, col0) in channel 0,
// and for class 1 at (row1, col1) in channel 1.
Tensor two_squares(int row0, int col0, int row1, int col1) {
  std::vector<float> pixels(2 * 64, 0.0f);
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      pixels[static_cast<size_t>((row0 + dy) * 8 + col0 + dx)] = 1.0f;
      pixels[static_cast<size_t>(64 + (row1 + dy) * 8 + col1 + dx)] = 1.0f;
    }
  }
  return Tensor::from_vector(pixels, {1, 2, 8, 8});
}

// Row and column of the largest heatmap value (the first one on ties).
std::pair<int, int> peak(const weft::report::GradCam& cam) {
  const auto at = std::max_element(cam.heatmap.begin(), cam.heatmap.end()) - cam.heatmap.begin();
  return {static_cast<int>(at) / cam.width, static_cast<int>(at) % cam.width};
}

}  // namespace

TEST_CASE("gradcam: the heatmap of each class peaks on that class's evidence",
          "[app][gradcam]") {
  TwoDetectors model(1);
  const Tensor image = two_squares(1, 1, 5, 5);
  const auto cams = weft::report::grad_cam(model.parts(), image, {0});
  const auto other = weft::report::grad_cam(model.parts(), image, {1});
  REQUIRE(cams.size() == 1);
  const weft::report::GradCam& cam = cams.front();
  CHECK(cam.target == 0);
  CHECK(cam.height == 8);
  CHECK(cam.width == 8);
  const auto [row, col] = peak(cam);
  CHECK((row >= 1 && row <= 2 && col >= 1 && col <= 2));
  CHECK(*std::max_element(cam.heatmap.begin(), cam.heatmap.end()) == Approx(1.0f));
  // Class 0 uses channel 0 only: no heat where class 1's square is.
  CHECK(cam.heatmap[5 * 8 + 5] == Approx(0.0f).margin(1e-6));
  const auto [row1, col1] = peak(other.front());
  CHECK((row1 >= 5 && row1 <= 6 && col1 >= 5 && col1 <= 6));
  // The score is the class's logit: the mean of its channel, 4 / 64.
  CHECK(cam.score == Approx(4.0f / 64.0f));
}

TEST_CASE("gradcam: a coarse feature map is upsampled back onto the evidence",
          "[app][gradcam]") {
  TwoDetectors model(2);  // 8x8 -> 4x4 features
  const auto cam = weft::report::grad_cam(model.parts(), two_squares(4, 4, 0, 0), {0}).front();
  CHECK(cam.feature_height == 4);
  CHECK(cam.feature_width == 4);
  CHECK(cam.heatmap.size() == 64);
  const auto [row, col] = peak(cam);
  CHECK((row >= 4 && row <= 6 && col >= 4 && col <= 6));
  // The opposite corner is cold.
  CHECK(cam.heatmap[0] < 0.2f);
}

TEST_CASE("gradcam: no positive evidence gives an all-zero heatmap; -1 explains the prediction",
          "[app][gradcam]") {
  TwoDetectors model(1);
  // Negate class 1's weight: the more channel 1 there is, the lower class 1 scores.
  model.fc.weight.copy_(Tensor::from_vector(std::vector<float>{1, 0, 0, -1}, {2, 2}));
  const Tensor image = two_squares(1, 1, 5, 5);
  const auto against = weft::report::grad_cam(model.parts(), image, {1}).front();
  CHECK(std::all_of(against.heatmap.begin(), against.heatmap.end(), [](float v) { return v == 0.0f; }));
  const auto predicted = weft::report::grad_cam(model.parts(), image).front();
  CHECK(predicted.predicted == 0);
  CHECK(predicted.target == 0);
}

TEST_CASE("gradcam: bilinear upsampling, the jet colours and the overlay", "[app][gradcam]") {
  // A 1x2 map [0, 1] to 1x4: pixel centres at -0.25, 0.25, 0.75, 1.25 in the source.
  const std::vector<float> row = weft::report::upsample_bilinear({0.0f, 1.0f}, 1, 2, 1, 4);
  CHECK(row[0] == Approx(0.0f));
  CHECK(row[1] == Approx(0.25f));
  CHECK(row[2] == Approx(0.75f));
  CHECK(row[3] == Approx(1.0f));

  const weft::report::Color cold = weft::report::jet(0.0f), hot = weft::report::jet(1.0f),
                            middle = weft::report::jet(0.5f);
  CHECK((cold.r == 0 && cold.g == 0 && cold.b == 128));
  CHECK((hot.r == 128 && hot.g == 0 && hot.b == 0));
  CHECK((middle.g == 255 && middle.r == 128 && middle.b == 128));

  const std::vector<uint8_t> grey = {100, 100};
  const std::vector<uint8_t> out = weft::report::overlay_heatmap(grey.data(), 1, 1, 2, {0.0f, 1.0f}, 0.5f);
  REQUIRE(out.size() == 6);
  CHECK(out[0] == 50);   // red:  (100 + 0) / 2
  CHECK(out[1] == 114);  // red:  (100 + 128) / 2
  CHECK(out[4] == 114);  // blue: (100 + 128) / 2
}

TEST_CASE("gradcam: the apps' classifiers split into features and head", "[app][gradcam]") {
  for (const char* name : {"simple", "resnet18"}) {
    INFO(name);
    weft::manual_seed(7);
    const auto model = weft::models::make_image_classifier({name, 1, 28, 3});
    const weft::models::ClassifierParts parts = weft::models::classifier_parts(model);
    const Tensor images = weft::test::random_images({2, 1, 28, 28}, 8);
    const auto cams = weft::report::grad_cam({parts.features, parts.head, model.get()}, images, {2, -1});
    REQUIRE(cams.size() == 2);
    CHECK(cams[0].target == 2);
    CHECK(cams[0].heatmap.size() == 28 * 28);
    CHECK(model->is_training());  // restored
    for (const auto& [entry, tensor] : model->named_parameters()) CHECK_FALSE(tensor.grad().defined());
  }
}
