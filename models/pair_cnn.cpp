// Seed 001's shoe-pair models (see pair_cnn.h).
#include "models/pair_cnn.h"

#include "engine/ops.h"
#include "kernels/error.h"

namespace weft::models {
namespace {

// Four 2x2 pools, each flooring.
int after_four_pools(int side) {
  return side / 2 / 2 / 2 / 2;
}

}  // namespace

PairCnnConfig stacked_cnn_config(int image_height, int image_width) {
  return {.input = PairInput::stacked, .image_height = image_height, .image_width = image_width};
}

PairCnnConfig channel_cnn_config(int image_height, int image_width) {
  return {.input = PairInput::channels,
          .image_height = image_height,
          .image_width = image_width,
          .batch_norm = false};
}

PairCnnConfig siamese_config(int image_height, int image_width) {
  return {.input = PairInput::siamese, .image_height = image_height, .image_width = image_width};
}

ConvTrunk::ConvTrunk(int input_channels, int input_height, int input_width, const PairCnnConfig& c)
    : in_channels(input_channels), height(input_height), width(input_width) {
  WEFT_CHECK(c.kernel > 0 && c.kernel % 2 == 1, "the pair CNN's kernel must be odd (\"same\" ",
             "padding k/2), got ", c.kernel);
  const int out_height = after_four_pools(height), out_width = after_four_pools(width);
  WEFT_CHECK(out_height >= 1 && out_width >= 1, "the pair CNN needs inputs of at least 16x16, ",
             "got ", height, "x", width);
  int channels = in_channels;
  for (int i = 0; i < 4; ++i) {
    const int out = c.base_channels << i;
    convs[i] = std::make_shared<nn::Conv2d>(channels, out, c.kernel, 1, c.kernel / 2);
    if (c.batch_norm) norms[i] = nn::BatchNorm2d(out);
    channels = out;
  }
  fc1 = std::make_shared<nn::Linear>(channels * out_height * out_width, c.hidden);
  if (c.batch_norm) bn_fc1 = nn::BatchNorm1d(c.hidden);
}

Tensor ConvTrunk::forward(const Tensor& x) const {
  WEFT_CHECK(x.ndim() == 4 && x.dim(1) == in_channels && x.dim(2) == height && x.dim(3) == width,
             "the pair CNN expects [N, ", in_channels, ", ", height, ", ", width, "], got ",
             x.str());
  Tensor h = x;
  for (int i = 0; i < 4; ++i) {
    // conv -> [bn] -> ReLU -> 2x2 max pool, the ReLU fused into the pool (engine/ops.h: its
    // derivative then multiplies only the winners' gradients). Without batch norm the
    // convolution and its pool are one op (conv2d_max_pool2d, as Sequential does): where the
    // device has a kernel for both, the full-size convolution output is never stored.
    if (norms[i]) {
      h = max_pool2d(norms[i]->forward(convs[i]->forward(h)), Pool2dOptions{}, fused_relu());
    } else {
      h = convs[i]->forward_max_pool(h, Pool2dOptions{}, fused_relu());
    }
  }
  // fc1 -> [bn] -> ReLU, the ReLU fused into the last of the two.
  h = h.flatten(1);
  return bn_fc1 ? bn_fc1->forward(fc1->forward(h), fused_relu()) : fc1->forward(h, fused_relu());
}

void PairModel::check_photo(const Tensor& photo, const char* which) const {
  WEFT_CHECK(photo.ndim() == 4 && photo.dim(1) == config_.image_channels &&
                 photo.dim(2) == config_.image_height && photo.dim(3) == config_.image_width,
             "the ", which, " photo must be [N, ", config_.image_channels, ", ",
             config_.image_height, ", ", config_.image_width, "], got ", photo.str());
}

PairCnn::PairCnn(const PairCnnConfig& c)
    : PairModel(c),
      trunk(c.input == PairInput::channels ? 2 * c.image_channels : c.image_channels,
            c.input == PairInput::stacked ? 2 * c.image_height : c.image_height, c.image_width, c) {
  WEFT_CHECK(c.input != PairInput::siamese, "PairCnn is the stacked or channel model; use ",
             "SiameseNet (or make_pair_model) for the siamese one");
  trunk.for_each_layer([this](const std::string& name, std::shared_ptr<nn::Module> layer) {
    register_module(name, layer);
  });
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(c.hidden, 2));
}

Tensor PairCnn::forward(const Tensor& combined) {
  return fc2->forward(trunk.forward(combined));
}

Tensor PairCnn::forward_pair(const Tensor& left, const Tensor& right) {
  check_photo(left, "left");
  check_photo(right, "right");
  // Stacked: left above right along the height axis; channels: along the channel axis.
  return forward(concat({left, right}, config_.input == PairInput::stacked ? 2 : 1));
}

SiameseTower::SiameseTower(const PairCnnConfig& c)
    : trunk(c.image_channels, c.image_height, c.image_width, c) {
  trunk.for_each_layer([this](const std::string& name, std::shared_ptr<nn::Module> layer) {
    register_module(name, layer);
  });
}

SiameseNet::SiameseNet(const PairCnnConfig& c) : PairModel(c) {
  tower = register_module("tower", std::make_shared<SiameseTower>(c));
  head = register_module(
      "head", std::make_shared<nn::Sequential>(nn::Sequential{
                  std::make_shared<nn::Linear>(2 * c.hidden, c.head_hidden),
                  std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(c.head_hidden, 2)}));
}

Tensor SiameseNet::forward_pair(const Tensor& left, const Tensor& right) {
  check_photo(left, "left");
  check_photo(right, "right");
  // The same tower, so the same parameter tensors, twice: autograd sums the two gradients.
  return compare(tower->forward(left), tower->forward(right));
}

Tensor SiameseNet::compare(const Tensor& a, const Tensor& b) {
  const Tensor difference = a - b;
  // |d| as relu(d) + relu(-d): weft has no abs op, and this is exact, gradient included
  // (sign(d), and 0 at d = 0).
  const Tensor distance = relu(difference) + relu(-difference);
  return head->forward(concat({distance, a * b}, 1));
}

std::shared_ptr<PairModel> make_pair_model(const PairCnnConfig& config) {
  if (config.input == PairInput::siamese) return std::make_shared<SiameseNet>(config);
  return std::make_shared<PairCnn>(config);
}

}  // namespace weft::models
