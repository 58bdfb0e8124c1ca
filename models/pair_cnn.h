// Seed 001's shoe-pair models (../shared/seeds/FACTS.md): is this left shoe the partner of
// that right shoe? Three ways to look at the two photos, all ending in 2 logits (class 1 =
// same pair, cross-entropy in the loss), all behind PairModel::forward_pair(left, right):
//
//   stacked   the seed's "CNN": left photo above right photo, one 3 x 2H x W image (448x224)
//   channels  the seed's "CNNChannel": the two photos as one 6 x H x W input, no batch norm
//   siamese   one shared tower applied to each photo (the same parameters used twice, so the
//             tower's gradient is the sum of the two uses' gradients), then a head on the pair
//             of embeddings a, b: concat(|a - b|, a * b) -> Linear -> ReLU -> Linear -> 2.
//             Both features are symmetric in a and b, so swapping the photos cannot change the
//             answer; |a - b| says where the shoes differ, a * b where both show a feature.
//
// The convolutional trunk, as the seed's: four blocks of
//   conv k x k "same" (pad k/2; k odd; default 5) -> [BN] -> ReLU -> MaxPool 2x2
// with n, 2n, 4n, 8n channels (n = 4: 4/8/16/32), then Flatten -> fc1 (hidden 100) -> [BN1d]
// -> ReLU. The stacked and channel models add fc2 (hidden -> 2); the siamese tower stops at
// fc1's ReLU (a 100-number embedding).
// Input sizes: each pool floors, so a side of s pixels ends as s/16 (integer division at each
// halving): fc1 takes 8n * (height/16) * (width/16) features, computed from the config.
//   stacked  224x224 photos: 448x224 -> 28x14, fc1 32*28*14 = 12,544 -> 100
//   channels 224x224 photos: 224x224 -> 14x14, fc1 32*14*14 =  6,272 -> 100
//   siamese  224x224 photos: each 14x14,       fc1 6,272 -> 100; head 200 -> 64 -> 2
// Parameter counts at the defaults (n 4, k 5, 224x224 photos):
//   conv 3*4*25+4 = 304, 4*8*25+8 = 808, 8*16*25+16 = 3,216, 16*32*25+32 = 12,832 (17,160)
//   stacked  convs 17,160 + BN 2*(4+8+16+32) = 120 + fc1 1,254,500 + BN1d 200 + fc2 202
//            = 1,272,182
//   channels convs (first one 6*4*25+4 = 604) 17,460 + fc1 627,300 + fc2 202 = 644,962
//   siamese  tower 17,160 + 120 + 627,300 + 200 = 644,780; head 12,864 + 130 -> 657,774
// Names: conv1..conv4, bn1..bn4, fc1, bn_fc1, fc2; the siamese model's are tower.conv1.weight,
// ..., tower.bn_fc1.*, head.0.*, head.2.*. PyTorch's default init.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

enum class PairInput { stacked, channels, siamese };

struct PairCnnConfig {
  PairInput input = PairInput::stacked;
  int image_channels = 3;                     // of one photo
  int image_height = 224, image_width = 224;  // of one photo
  int base_channels = 4;                      // n: the blocks have n, 2n, 4n, 8n channels
  int kernel = 5;                             // odd
  int hidden = 100;                           // fc1 (the siamese embedding)
  bool batch_norm = true;
  int head_hidden = 64;  // siamese only
};

// The seed's defaults for each model, for photos of the given size.
PairCnnConfig stacked_cnn_config(int image_height = 224, int image_width = 224);
PairCnnConfig channel_cnn_config(int image_height = 224, int image_width = 224);
PairCnnConfig siamese_config(int image_height = 224, int image_width = 224);

// The four conv blocks and fc1 shared by the three models. Not a Module itself: the model that
// owns it registers its layers under their own names (conv1, bn1, ...) via for_each_layer.
struct ConvTrunk {
  ConvTrunk(int in_channels, int height, int width, const PairCnnConfig& config);
  // [N, in_channels, height, width] -> [N, hidden], after fc1's BN (if any) and ReLU.
  Tensor forward(const Tensor& x) const;
  template <typename Add>
  void for_each_layer(Add&& add) const {
    for (int i = 0; i < 4; ++i) {
      add("conv" + std::to_string(i + 1), convs[i]);
      if (norms[i]) add("bn" + std::to_string(i + 1), norms[i]);
    }
    add("fc1", fc1);
    if (bn_fc1) add("bn_fc1", bn_fc1);
  }

  int in_channels, height, width;
  std::array<std::shared_ptr<nn::Conv2d>, 4> convs;
  std::array<std::shared_ptr<nn::BatchNorm>, 4> norms;  // null without batch norm
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::BatchNorm> bn_fc1;  // null without batch norm
};

class PairModel : public nn::Module {
 public:
  // left, right: [N, image_channels, image_height, image_width] -> [N, 2] logits.
  virtual Tensor forward_pair(const Tensor& left, const Tensor& right) = 0;
  const PairCnnConfig& config() const { return config_; }

 protected:
  explicit PairModel(const PairCnnConfig& config) : config_(config) {}
  void check_photo(const Tensor& photo, const char* which) const;
  PairCnnConfig config_;
};

// The stacked ("CNN") and channel ("CNNChannel") models.
class PairCnn : public PairModel {
 public:
  explicit PairCnn(const PairCnnConfig& config);
  // The combined input: [N, C, 2H, W] stacked, or [N, 2C, H, W] channels -> [N, 2] logits.
  Tensor forward(const Tensor& combined) override;
  // Stacks or concatenates the photos as the config says, then forward().
  Tensor forward_pair(const Tensor& left, const Tensor& right) override;
  std::string type_name() const override { return "PairCnn"; }

  ConvTrunk trunk;
  std::shared_ptr<nn::Linear> fc2;
};

// The siamese network's tower: one photo -> its embedding [N, hidden].
class SiameseTower : public nn::Module {
 public:
  explicit SiameseTower(const PairCnnConfig& config);
  Tensor forward(const Tensor& photo) override { return trunk.forward(photo); }
  std::string type_name() const override { return "SiameseTower"; }

  ConvTrunk trunk;
};

class SiameseNet : public PairModel {
 public:
  explicit SiameseNet(const PairCnnConfig& config);
  // compare(tower(left), tower(right)).
  Tensor forward_pair(const Tensor& left, const Tensor& right) override;
  // The head on two embeddings [N, hidden] -> [N, 2] logits.
  Tensor compare(const Tensor& a, const Tensor& b);
  std::string type_name() const override { return "SiameseNet"; }

  std::shared_ptr<SiameseTower> tower;
  std::shared_ptr<nn::Sequential> head;
};

// The model the config's `input` names.
std::shared_ptr<PairModel> make_pair_model(const PairCnnConfig& config);

}  // namespace weft::models
