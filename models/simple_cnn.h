// Seed 002's first model (../shared/seeds/FACTS.md: "2 Conv2D+ReLU+MaxPool, Flatten, 2 Dense,
// softmax"), the baseline beside ResNet-50 transfer (models/resnet.h) on the imbalanced
// clothing task. The seed gives no sizes; these are the usual Keras-tutorial ones:
//   features:   Conv2d(in, 32, 3) -> ReLU -> MaxPool 2 -> Conv2d(32, 64, 3) -> ReLU -> MaxPool 2
//   classifier: Flatten -> Linear(64 * h * w, 128) -> ReLU -> Linear(128, classes)
// Convolutions are unpadded ("valid", Keras' default) and the pools floor, so a side of n
// pixels becomes h = ((n - 2) / 2 - 2) / 2 (integer division): 28 -> 5, 32 -> 6, 64 -> 14.
// The softmax is folded into the cross-entropy loss; forward() returns logits.
// Defaults: 1 x 28 x 28 input (the Fashion-MNIST stand-in), 3 classes: 224,131 parameters
// (conv 320 + conv 18,496 + dense 1600*128+128 = 204,928 + dense 387).
// Names: features.0.*, features.3.*, classifier.1.*, classifier.3.*; PyTorch's default init.
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

struct SimpleCnnConfig {
  int in_channels = 1;
  int height = 28, width = 28;
  int filters1 = 32, filters2 = 64;
  int hidden = 128;
  int classes = 3;
};

class SimpleCnn : public nn::Module {
 public:
  explicit SimpleCnn(const SimpleCnnConfig& config = {});
  // [N, in_channels, height, width] -> [N, classes] logits
  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "SimpleCnn"; }

  // Side of the last feature map for an input side of `n` pixels.
  static int feature_size(int n) { return ((n - 2) / 2 - 2) / 2; }

  SimpleCnnConfig config;
  std::shared_ptr<nn::Sequential> features, classifier;
};

}  // namespace weft::models
