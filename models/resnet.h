// ResNet-18 and ResNet-50 (He et al., "Deep Residual Learning for Image Recognition", 2015) with
// torchvision's architecture and parameter names, so a torchvision state_dict converted to
// safetensors loads into them as it is. Seed 002 (../shared/seeds/FACTS.md) fine-tunes an
// ImageNet ResNet-50 with a new head and looks at it with Grad-CAM; ResNet-18 is the CPU-sized
// sibling. Neighbours: models/simple_cnn.h is seed 002's first model; engine/nn/layers.h holds
// the layers used here.
//
// Layout (torchvision.models.resnet, v1.5: a bottleneck's stride sits on its 3x3 conv):
//   conv1 7x7/2 pad 3 (no bias) -> bn1 -> ReLU -> max-pool 3x3/2 pad 1
//   layer1 .. layer4: blocks with 64, 128, 256, 512 "planes"; the first block of layers 2-4
//                     has stride 2; a block whose input shape differs from its output gets
//                     downsample = Sequential(conv 1x1/stride (no bias), BatchNorm)
//   global average pool -> fc (Linear)
//   BasicBlock (ResNet-18, [2, 2, 2, 2], expansion 1):
//     conv1 3x3/s -> bn1 -> ReLU -> conv2 3x3 -> bn2 -> + shortcut -> ReLU
//   Bottleneck (ResNet-50, [3, 4, 6, 3], expansion 4):
//     conv1 1x1 -> bn1 -> ReLU -> conv2 3x3/s -> bn2 -> ReLU -> conv3 1x1 (4 x planes) -> bn3
//     -> + shortcut -> ReLU
// Names: conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
// layer1.0.conv1.weight, layer1.0.bn1.*, ..., layer1.0.downsample.0.weight,
// layer1.0.downsample.1.*, ..., fc.weight, fc.bias.
// Counts with 3 input channels and 1000 classes, as torchvision's: ResNet-18 11,689,512
// parameters, 122 state_dict entries; ResNet-50 25,557,032 parameters, 320 entries.
//
// Input sizes: any H x W. The standard stem divides by 4 (conv1 and the max-pool each map n to
// ceil(n / 2)) and layers 2-4 halve again: 224 -> 7, 32 -> 1 (resnet_feature_size). The
// small-input stem (for 28x28 Fashion-MNIST stand-ins or 32x32 CIFAR-like images) is conv1 3x3
// stride 1 pad 1 without the max-pool: 28 -> 4, 32 -> 4. It changes conv1's shape only; every
// name stays the same.
//
// Initialisation as torchvision: convs kaiming_normal (fan_out, ReLU gain), BatchNorm weight 1
// and bias 0, fc PyTorch's Linear default.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

struct ResNetOptions {
  int in_channels = 3;  // 1 for grayscale stand-ins, 3 for RGB
  int num_classes = 1000;
  bool small_input = false;  // conv1 3x3 stride 1 and no max-pool (see above)
};

// Spatial size of features() for an input side of `input_size` pixels.
int resnet_feature_size(int input_size, bool small_input);

class BasicBlock : public nn::Module {
 public:
  static constexpr int expansion = 1;
  BasicBlock(int in_planes, int planes, int stride);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity
};

class Bottleneck : public nn::Module {
 public:
  static constexpr int expansion = 4;
  Bottleneck(int in_planes, int planes, int stride);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm> bn1, bn2, bn3;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity
};

enum class ResNetBlock { basic, bottleneck };

class ResNet : public nn::Module {
 public:
  // `blocks`: how many blocks each of layer1..layer4 has.
  ResNet(ResNetBlock block, std::array<int, 4> blocks, const ResNetOptions& options = {});

  // The last conv block's activation, [N, feature_channels(), h, w]: what Grad-CAM weighs.
  Tensor features(const Tensor& images);
  // Global average pool and fc: features [N, C, h, w] -> logits [N, num_classes].
  Tensor head(const Tensor& features);
  // images [N, in_channels, H, W] -> logits [N, num_classes]; head(features(images)).
  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "ResNet"; }

  // Transfer learning. replace_head puts a new, freshly initialised fc with `num_classes`
  // outputs in place of the old one (its gradients on). freeze_backbone turns gradients off
  // for every parameter but fc's; unfreeze turns them on for all. Freezing does not stop the
  // frozen BatchNorm layers from updating their running statistics in train mode (as in
  // PyTorch): call eval() on the model, or keep it in train mode on purpose.
  void replace_head(int num_classes);
  void freeze_backbone();
  void unfreeze();

  int feature_channels() const { return feature_channels_; }
  const ResNetOptions& options() const { return options_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm> bn1;
  std::array<std::shared_ptr<nn::Sequential>, 4> layers;  // layer1 .. layer4
  std::shared_ptr<nn::Linear> fc;

 private:
  ResNetOptions options_;
  int feature_channels_ = 0;
};

std::shared_ptr<ResNet> resnet18(const ResNetOptions& options = {});
std::shared_ptr<ResNet> resnet50(const ResNetOptions& options = {});

}  // namespace weft::models
