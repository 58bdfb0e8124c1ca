// FashionVgg: the small VGG-like batch-norm network behind `make run` (weft-fashion-mnist's
// default setup) and the one-GPU speedrun. Made for speed first: three stages, each halving
// the image with a max-pool right after its first convolution and before that convolution's
// batch norm and ReLU (airbench's order), so batch norm and ReLU - memory-bound, and on a
// 2-core CPU the step time is set by how many bytes the activations move, not by FLOPs - run on
// a quarter of the pixels. The large early activations are few channels wide.
//
//   [whiten 2x2, 1 -> 2*4, frozen, no padding: 28 -> 27 -> ReLU]   (speedrun only)
//   stage i = 0, 1, 2:  conv 3x3 pad 1, no bias -> MaxPool 2 -> bn -> ReLU
//                       then convs[i] - 1 more x (conv 3x3 pad 1, no bias -> bn -> ReLU)
//                       28 -> 14 -> 7 -> 3   (with the stem: 27 -> 13 -> 6 -> 3)
//   MaxPool 3 (the whole 3x3 map) -> flatten -> fc (widths[2] -> classes)
//
// Defaults {32, 64, 128}, one conv per stage: 94,186 parameters, 14.9 MFLOP (multiply-adds
// counted twice) forward per image: conv 0.45 + 7.23 + 7.23 M.
//
// The whitening layer (airbench's trick, used by --setup speedrun): a 2x2 convolution whose
// filters are the eigenvectors of the training images' 2x2 patch covariance, scaled by
// 1/sqrt(eigenvalue + eps), each used with both signs (so the ReLU after it keeps every
// direction). It is set once from data (init_whitening) and never trained.
//
// Names: whiten.weight, whiten.bias, features.<i>.{weight,running_mean,...} in the order above
// (conv, pool, bn, relu, [conv, bn, relu]... per stage), fc.weight, fc.bias - as the PyTorch twin in
// bench/pytorch/fashion_recipe.py builds it, so weights move between the two.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

struct FashionVggConfig {
  int in_channels = 1;
  int classes = 10;
  std::array<int, 3> widths = {32, 64, 128};
  std::array<int, 3> convs = {1, 1, 1};  // convolutions per stage (>= 1)
  bool whiten = false;                   // the frozen 2x2 whitening stem
};

class FashionVgg : public nn::Module {
 public:
  explicit FashionVgg(const FashionVggConfig& config = {});

  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "FashionVgg"; }

  // Set the whitening stem from training images (uint8 [N, C, H, W] normalised with
  // scale/shift as the loader does: x * scale + shift): the patch covariance of up to
  // `max_images` of them. An error when the model has no whitening stem.
  void init_whitening(const Tensor& images_u8, float scale, float shift, int max_images = 5000,
                      float eps = 5e-4f);

  FashionVggConfig config;
  std::shared_ptr<nn::Conv2d> whiten;  // null unless config.whiten
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace weft::models
