// Seed 003's multi-label apparel CNN (see apparel_cnn.h).
#include "models/apparel_cnn.h"

#include "engine/nn/init.h"
#include "kernels/error.h"

namespace weft::models {
namespace {

// Keras BatchNormalization defaults: momentum 0.99 on the running average, which is PyTorch's
// momentum 1 - 0.99 = 0.01 on the new batch; epsilon 1e-3.
constexpr float kKerasBatchNormEps = 1e-3f;
constexpr float kKerasBatchNormMomentum = 0.01f;

std::shared_ptr<nn::BatchNorm> keras_batch_norm2d(int channels) {
  return nn::BatchNorm2d(channels, kKerasBatchNormEps, kKerasBatchNormMomentum);
}

std::shared_ptr<KerasSameConv2d> keras_conv(int in_channels, int out_channels, int kernel) {
  auto layer = std::make_shared<KerasSameConv2d>(in_channels, out_channels, kernel);
  nn::init::he_normal_keras_(layer->weight);
  layer->bias.zero_();
  return layer;
}

std::shared_ptr<nn::Linear> keras_dense(int in_features, int out_features) {
  auto layer = std::make_shared<nn::Linear>(in_features, out_features);
  nn::init::he_normal_keras_(layer->weight);
  layer->bias.zero_();
  return layer;
}

}  // namespace

KerasSameConv2d::KerasSameConv2d(int in_channels, int out_channels, int kernel)
    : nn::Conv2d(in_channels, out_channels, kernel, 1, kernel / 2), crop_(kernel % 2 == 0) {}

Tensor KerasSameConv2d::forward(const Tensor& x) { return forward(x, FusedActivation{}); }

// The activation commutes with the crop, so it is fused into the padded convolution.
Tensor KerasSameConv2d::forward(const Tensor& x, const FusedActivation& act) {
  const Tensor padded = nn::Conv2d::forward(x, act);
  if (crop_ == 0) return padded;
  return padded.slice(2, crop_, padded.dim(2)).slice(3, crop_, padded.dim(3));
}

ApparelCnn::ApparelCnn(const ApparelCnnConfig& c) : config(c) {
  using namespace nn;
  const int side = feature_size(c.image_size);
  WEFT_CHECK(side >= 1, "ApparelCnn needs images of at least 12x12, got ", c.image_size);
  auto relu = [] { return std::make_shared<ReLU>(); };
  // One line per block of the layout in apparel_cnn.h.
  // clang-format off
  features = register_module(
      "features",
      std::make_shared<Sequential>(Sequential{
          keras_conv(c.in_channels, 32, 3), relu(), keras_batch_norm2d(32),
          std::make_shared<MaxPool2d>(3), std::make_shared<Dropout>(0.25f),
          keras_conv(32, 64, 3), relu(), keras_batch_norm2d(64),
          keras_conv(64, 64, 3), relu(), keras_batch_norm2d(64),
          std::make_shared<MaxPool2d>(2), std::make_shared<Dropout>(0.25f),
          keras_conv(64, 128, 3), relu(), keras_batch_norm2d(128),
          keras_conv(128, 128, 2), relu(), keras_batch_norm2d(128),
          std::make_shared<MaxPool2d>(2), std::make_shared<Dropout>(0.25f)}));
  // clang-format on
  classifier = register_module(
      "classifier", std::make_shared<Sequential>(Sequential{
                        std::make_shared<Flatten>(), keras_dense(128 * side * side, 1024), relu(),
                        BatchNorm1d(1024, kKerasBatchNormEps, kKerasBatchNormMomentum),
                        std::make_shared<Dropout>(0.5f), keras_dense(1024, c.labels)}));
}

Tensor ApparelCnn::forward(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == config.in_channels &&
                 images.dim(2) == config.image_size && images.dim(3) == config.image_size,
             "ApparelCnn expects images [N, ", config.in_channels, ", ", config.image_size, ", ",
             config.image_size, "], got ", images.str());
  return classifier->forward(features->forward(images));
}

}  // namespace weft::models
