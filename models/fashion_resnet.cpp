// The small residual network of the "strong" Fashion-MNIST setup (see fashion_resnet.h).
#include "models/fashion_resnet.h"

#include "engine/nn/init.h"
#include "engine/ops.h"
#include "kernels/error.h"

namespace weft::models {

FashionResNet::FashionResNet(const FashionResNetConfig& c) : config(c) {
  WEFT_CHECK(c.in_channels > 0 && c.classes > 0, "FashionResNet needs positive in_channels and "
             "classes, got ", c.in_channels, " and ", c.classes);
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(c.in_channels, c.widths[0], 3, 1,
                                                                1, false));
  nn::init::kaiming_normal_(conv1->weight, 0.0f, nn::init::FanMode::fan_out);
  bn1 = register_module("bn1", nn::BatchNorm2d(c.widths[0]));
  int in_planes = c.widths[0];
  for (size_t i = 0; i < layers.size(); ++i) {
    auto layer = std::make_shared<nn::Sequential>();
    for (int j = 0; j < c.blocks[i]; ++j) {
      const int stride = (i > 0 && j == 0) ? 2 : 1;
      layer->push_back(std::make_shared<BasicBlock>(in_planes, c.widths[i], stride));
      in_planes = c.widths[i];
    }
    layers[i] = register_module("layer" + std::to_string(i + 1), layer);
  }
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  fc = register_module("fc", std::make_shared<nn::Linear>(in_planes, c.classes));
}

Tensor FashionResNet::features(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == config.in_channels, "FashionResNet expects "
             "images [N, ", config.in_channels, ", H, W], got ", images.str());
  Tensor x = bn1->forward(conv1->forward(images), fused_relu());
  for (const auto& layer : layers) x = layer->forward(x);
  return x;
}

Tensor FashionResNet::head(const Tensor& features) {
  return fc->forward(dropout->forward(global_avg_pool2d(features)));
}

}  // namespace weft::models
