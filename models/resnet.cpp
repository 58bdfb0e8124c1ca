// ResNet-18 / ResNet-50 with torchvision's names (see resnet.h).
#include "models/resnet.h"

#include "engine/nn/init.h"
#include "engine/ops.h"
#include "kernels/error.h"

namespace weft::models {
namespace {

// A bias-free convolution initialised as torchvision does: kaiming_normal_(mode="fan_out",
// nonlinearity="relu"), std = sqrt(2 / (out_channels * kh * kw)).
std::shared_ptr<nn::Conv2d> conv(int in_channels, int out_channels, int kernel, int stride,
                                 int padding) {
  auto layer =
      std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, stride, padding, false);
  nn::init::kaiming_normal_(layer->weight, 0.0f, nn::init::FanMode::fan_out);
  return layer;
}

// The shortcut projection torchvision adds when a block changes the shape: conv 1x1 with the
// block's stride, then BatchNorm. Null (the identity) when nothing changes.
std::shared_ptr<nn::Sequential> shortcut(int in_planes, int out_planes, int stride) {
  if (stride == 1 && in_planes == out_planes) return nullptr;
  return std::make_shared<nn::Sequential>(
      nn::Sequential{conv(in_planes, out_planes, 1, stride, 0), nn::BatchNorm2d(out_planes)});
}

// torchvision's stem pool, nn.MaxPool2d(kernel_size=3, stride=2, padding=1).
Pool2dOptions stem_pool() {
  Pool2dOptions pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.stride_h = pool.stride_w = 2;
  pool.pad_h = pool.pad_w = 1;
  return pool;
}

int halve_rounding_up(int n) {
  return (n + 1) / 2;
}

}  // namespace

int resnet_feature_size(int input_size, bool small_input) {
  int size = input_size;
  if (!small_input) size = halve_rounding_up(halve_rounding_up(size));  // conv1, max-pool
  for (int layer = 2; layer <= 4; ++layer) size = halve_rounding_up(size);
  return size;
}

BasicBlock::BasicBlock(int in_planes, int planes, int stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  downsample = shortcut(in_planes, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward(conv1->forward(x), fused_relu());
  out = bn2->forward(conv2->forward(out));
  const Tensor identity = downsample ? downsample->forward(x) : x;
  return add_relu(out, identity);  // relu(out + identity) in one kernel (engine/ops.h)
}

Bottleneck::Bottleneck(int in_planes, int planes, int stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 1, 1, 0));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1, 0));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * expansion));
  downsample = shortcut(in_planes, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn1->forward(conv1->forward(x), fused_relu());
  out = bn2->forward(conv2->forward(out), fused_relu());
  out = bn3->forward(conv3->forward(out));
  const Tensor identity = downsample ? downsample->forward(x) : x;
  return add_relu(out, identity);  // relu(out + identity) in one kernel (engine/ops.h)
}

ResNet::ResNet(ResNetBlock block, std::array<int, 4> blocks, const ResNetOptions& options)
    : options_(options) {
  WEFT_CHECK(options.in_channels > 0 && options.num_classes > 0,
             "ResNet needs positive in_channels and num_classes, got ", options.in_channels,
             " and ", options.num_classes);
  conv1 = register_module("conv1", options.small_input ? conv(options.in_channels, 64, 3, 1, 1)
                                                       : conv(options.in_channels, 64, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));

  const int expansion = block == ResNetBlock::basic ? BasicBlock::expansion : Bottleneck::expansion;
  int in_planes = 64;
  for (int i = 0; i < 4; ++i) {
    const int planes = 64 << i;
    auto layer = std::make_shared<nn::Sequential>();
    for (int j = 0; j < blocks[i]; ++j) {
      const int stride = (i > 0 && j == 0) ? 2 : 1;
      if (block == ResNetBlock::basic) {
        layer->push_back(std::make_shared<BasicBlock>(in_planes, planes, stride));
      } else {
        layer->push_back(std::make_shared<Bottleneck>(in_planes, planes, stride));
      }
      in_planes = planes * expansion;
    }
    layers[i] = register_module("layer" + std::to_string(i + 1), layer);
  }
  feature_channels_ = in_planes;
  fc = register_module("fc", std::make_shared<nn::Linear>(feature_channels_, options.num_classes));
}

Tensor ResNet::features(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == options_.in_channels,
             "ResNet expects images [N, ", options_.in_channels, ", H, W], got ", images.str());
  Tensor x = bn1->forward(conv1->forward(images), fused_relu());
  if (!options_.small_input) x = max_pool2d(x, stem_pool());
  for (const auto& layer : layers) x = layer->forward(x);
  return x;
}

Tensor ResNet::head(const Tensor& features) {
  return fc->forward(global_avg_pool2d(features));
}

Tensor ResNet::forward(const Tensor& images) {
  return head(features(images));
}

void ResNet::replace_head(int num_classes) {
  WEFT_CHECK(num_classes > 0, "replace_head needs a positive class count, got ", num_classes);
  fc = std::make_shared<nn::Linear>(feature_channels_, num_classes);
  fc->to(device());
  fc->train(is_training());
  replace_module("fc", fc);
  options_.num_classes = num_classes;
}

void ResNet::freeze_backbone() {
  set_requires_grad(false);
  fc->set_requires_grad(true);
}

void ResNet::unfreeze() {
  set_requires_grad(true);
}

std::shared_ptr<ResNet> resnet18(const ResNetOptions& options) {
  return std::make_shared<ResNet>(ResNetBlock::basic, std::array<int, 4>{2, 2, 2, 2}, options);
}

std::shared_ptr<ResNet> resnet50(const ResNetOptions& options) {
  return std::make_shared<ResNet>(ResNetBlock::bottleneck, std::array<int, 4>{3, 4, 6, 3}, options);
}

}  // namespace weft::models
