// The seed-004 Fashion-MNIST CNN (see fashion_cnn.h).
#include "models/fashion_cnn.h"

namespace weft::models {

FashionCnn::FashionCnn(const FashionCnnConfig& c) : config(c) {
  using namespace nn;
  features = register_module(
      "features", std::make_shared<Sequential>(Sequential{
                      std::make_shared<Conv2d>(1, c.filters, 3), std::make_shared<ReLU>(),
                      std::make_shared<MaxPool2d>(2)}));
  classifier = register_module(
      "classifier", std::make_shared<Sequential>(Sequential{
                        std::make_shared<Flatten>(), std::make_shared<Dropout>(c.dropout),
                        std::make_shared<Linear>(c.filters * 13 * 13, c.hidden),
                        std::make_shared<ReLU>(), std::make_shared<Linear>(c.hidden, c.classes)}));
}

Tensor FashionCnn::forward(const Tensor& images) { return classifier->forward(features->forward(images)); }

}  // namespace weft::models
