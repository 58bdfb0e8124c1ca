// A trained Fashion-MNIST classifier (FashionCnn, fashion_cnn.h) used as the judge of
// generated images: its penultimate activations are the feature space of the DCGAN app's
// Fréchet distance (engine/report/frechet.h), and its predictions say whether a generated
// "Sneaker" looks like a sneaker to a classifier that never saw a generated image.
//
// The judge is whatever weft-fashion-mnist trained: its model.safetensors (FashionCnn names,
// features.0.*, classifier.2.*, classifier.4.*) or one of its training checkpoints
// (model.features.0.weight, ...). The configuration is read from the weight shapes (filters
// from features.0.weight [filters, 1, 3, 3], hidden units from classifier.2.weight), so any of
// the seed's setups works. The judge runs in eval mode (no dropout).
//
// Features: the output of classifier.3 (the ReLU after the hidden layer), `hidden` numbers per
// image (32 for the seed's model). Images: uint8 [N, 1, 28, 28], or [N, 1, 32, 32] (the padded
// size the GAN works at), whose centre 28x28 is used; pixels / 255 as in training.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/fashion_cnn.h"

namespace weft::models {

struct Judgement {
  int64_t count = 0;
  int64_t dim = 0;                  // feature size (the hidden layer's width)
  std::vector<float> features;      // count * dim, row after row
  std::vector<int32_t> predicted;   // the judge's class (0..9) per image
};

class FashionJudge {
 public:
  // weft::Error naming the file when it is missing or is not a FashionCnn.
  static FashionJudge load(const std::string& path, Device device);

  Judgement judge(const Tensor& images, int64_t batch_size = 500) const;
  const FashionCnnConfig& config() const { return model_->config; }
  const std::string& path() const { return path_; }

 private:
  std::shared_ptr<FashionCnn> model_;
  std::string path_;
  Device device_ = Device::cpu();
};

}  // namespace weft::models
