// Seed 002's simple CNN (see simple_cnn.h).
#include "models/simple_cnn.h"

#include "kernels/error.h"

namespace weft::models {

SimpleCnn::SimpleCnn(const SimpleCnnConfig& c) : config(c) {
  using namespace nn;
  const int h = feature_size(c.height), w = feature_size(c.width);
  WEFT_CHECK(h >= 1 && w >= 1, "SimpleCnn needs inputs of at least 10x10, got ", c.height, "x",
             c.width);
  features = register_module(
      "features",
      std::make_shared<Sequential>(Sequential{
          std::make_shared<Conv2d>(c.in_channels, c.filters1, 3), std::make_shared<ReLU>(),
          std::make_shared<MaxPool2d>(2), std::make_shared<Conv2d>(c.filters1, c.filters2, 3),
          std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2)}));
  classifier = register_module(
      "classifier",
      std::make_shared<Sequential>(Sequential{
          std::make_shared<Flatten>(), std::make_shared<Linear>(c.filters2 * h * w, c.hidden),
          std::make_shared<ReLU>(), std::make_shared<Linear>(c.hidden, c.classes)}));
}

Tensor SimpleCnn::forward(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == config.in_channels &&
                 images.dim(2) == config.height && images.dim(3) == config.width,
             "SimpleCnn expects images [N, ", config.in_channels, ", ", config.height, ", ",
             config.width, "], got ", images.str());
  return classifier->forward(features->forward(images));
}

}  // namespace weft::models
