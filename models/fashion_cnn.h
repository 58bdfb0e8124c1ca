// The seed-004 Fashion-MNIST classifier (see ../shared/seeds/FACTS.md):
//   Conv2d(1, filters, 3) -> ReLU -> MaxPool 2x2 -> Flatten -> [Dropout p] -> Linear(filters*13*13, 32)
//   -> ReLU -> Linear(32, 10)
// The seed's three setups are filters 32 / 64 / 64 with dropout 0.3. The seed does not say
// where its dropout sits; here it is on the flattened features, before the hidden layer, the
// usual place in Keras examples of this model. Softmax is folded into the cross-entropy loss.
// Parameter names: features.0.*, classifier.2.*, classifier.4.*
#pragma once

#include <memory>

#include "engine/nn/layers.h"

namespace weft::models {

struct FashionCnnConfig {
  int filters = 64;
  float dropout = 0.3f;
  int hidden = 32;
  int classes = 10;
};

class FashionCnn : public nn::Module {
 public:
  explicit FashionCnn(const FashionCnnConfig& config = {});
  Tensor forward(const Tensor& images) override;  // [N, 1, 28, 28] floats -> [N, classes] logits
  std::string type_name() const override { return "FashionCnn"; }

  FashionCnnConfig config;
  std::shared_ptr<nn::Sequential> features, classifier;
};

}  // namespace weft::models
