// Seed 003's multi-label apparel tagger (../shared/seeds/FACTS.md): 96x96 RGB in, 7 labels
// out (black, blue, dress, pants, shirt, shoes, shorts), each a sigmoid in the binary
// cross-entropy loss (bce_with_logits), so forward() returns 7 logits. The layout is that of
// PyImageSearch's "SmallerVGGNet", a Keras model with "same" padding and ReLU before each
// BatchNormalization:
//
//   features.0-4    Conv 32 3x3 -> ReLU -> BN -> MaxPool 3x3 -> Dropout 0.25     96 -> 32
//   features.5-12   (Conv 64 3x3 -> ReLU -> BN) x 2 -> MaxPool 2 -> Dropout 0.25 32 -> 16
//   features.13-20  Conv 128 3x3 -> ReLU -> BN -> Conv 128 2x2 -> ReLU -> BN
//                   -> MaxPool 2 -> Dropout 0.25                                16 -> 8
//   classifier.0-5  Flatten (128*8*8 = 8192) -> Dense 1024 -> ReLU -> BN -> Dropout 0.5
//                   -> Dense 7
//
// The parameter count, by hand (Keras counts BatchNormalization as 4 per channel: gamma and
// beta trainable, moving mean and variance not):
//   conv 3*9*32+32 = 896          BN 4*32   = 128
//   conv 32*9*64+64 = 18,496      BN 4*64   = 256
//   conv 64*9*64+64 = 36,928      BN 4*64   = 256
//   conv 64*9*128+128 = 73,856    BN 4*128  = 512
//   conv 128*4*128+128 = 65,664   BN 4*128  = 512     (the 2x2 conv)
//   dense 8192*1024+1024 = 8,389,632                  BN 4*1024 = 4,096
//   dense 1024*7+7 = 7,175
//   Keras total 8,598,407 ("8.6M", as the seed reports), of which 2,880 moving statistics:
//   8,595,527 trainable = weft's parameter_count(). With a 3x3 second 128-conv (147,584) the
//   total would be 8,680,327 (8.7M), so the 2x2 kernel FACTS.md reports is what gives 8.6M.
// The Dense 1024 layer holds 97.6% of the parameters: the 8x8x128 map flattened.
//
// Input sizes: square, side n: the pools floor, n -> n/3 -> /2 -> /2; flatten 128*s*s with
// s = feature_size(n) (96 -> 8, 48 -> 4); n >= 12.
// Keras details kept: "same" padding of the 2x2 conv pads one row and column at the bottom
// and right only (KerasSameConv2d below); BatchNormalization momentum 0.99 (PyTorch momentum
// 0.01) and epsilon 1e-3; he_normal (truncated normal, init::he_normal_keras_) on every conv
// and dense kernel, biases zero. One difference: Keras flattens NHWC and weft NCHW, so Keras
// dense weights would need their rows permuted to load here.
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

// A stride-1 convolution with Keras/TensorFlow "same" padding: the output has the input's size,
// and for an even kernel the extra padding row and column go at the bottom and right (pad
// before (k-1)/2, after k/2). Computed as a convolution padded k/2 on every side, whose first
// output row and column (those that used the extra top and left padding) are then dropped.
// Parameter names are Conv2d's (weight, bias).
class KerasSameConv2d : public nn::Conv2d {
 public:
  KerasSameConv2d(int in_channels, int out_channels, int kernel);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const FusedActivation& act) override;
  std::string type_name() const override { return "KerasSameConv2d"; }

 private:
  int crop_;  // 1 for an even kernel, 0 for an odd one
};

struct ApparelCnnConfig {
  int in_channels = 3;
  int image_size = 96;
  int labels = 7;
};

class ApparelCnn : public nn::Module {
 public:
  explicit ApparelCnn(const ApparelCnnConfig& config = {});
  // [N, in_channels, image_size, image_size] -> [N, labels] logits
  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "ApparelCnn"; }

  static int feature_size(int n) { return n / 3 / 2 / 2; }

  ApparelCnnConfig config;
  std::shared_ptr<nn::Sequential> features, classifier;
};

}  // namespace weft::models
