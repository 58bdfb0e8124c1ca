// DCGAN generator and discriminator (see dcgan.h).
#include "models/dcgan.h"

#include <algorithm>
#include <vector>

#include "engine/nn/init.h"
#include "engine/ops.h"
#include "kernels/error.h"

namespace weft::models {
namespace {

// Radford et al.'s initialisation over a Sequential's layers: every conv and transposed-conv
// weight normal(0, 0.02); BN weight normal(1, 0.02) and bias 0.
void dcgan_init(nn::Sequential& layers) {
  for (const auto& [name, layer] : layers.children()) {
    if (auto conv = std::dynamic_pointer_cast<nn::Conv2d>(layer)) {
      nn::init::dcgan_normal_(conv->weight);
    } else if (auto deconv = std::dynamic_pointer_cast<nn::ConvTranspose2d>(layer)) {
      nn::init::dcgan_normal_(deconv->weight);
    } else if (auto norm = std::dynamic_pointer_cast<nn::BatchNorm>(layer)) {
      nn::init::normal_(norm->weight, 1.0f, 0.02f);
      nn::init::constant_(norm->bias, 0.0f);
    }
  }
}

void check_config(const DcganConfig& c) {
  dcgan_stride2_layers(c.image_size);
  WEFT_CHECK(c.channels > 0 && c.z_dim > 0 && c.generator_features > 0 &&
                 c.discriminator_features > 0 && c.num_classes >= 0,
             "DCGAN sizes must be positive (num_classes may be 0)");
}

void check_noise(const Tensor& noise, const DcganConfig& c) {
  WEFT_CHECK(noise.ndim() == 2 && noise.dim(1) == c.z_dim, "DCGAN noise must be [N, ", c.z_dim,
             "], got ", noise.str());
}

void check_images(const Tensor& images, const DcganConfig& c) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == c.channels && images.dim(2) == c.image_size &&
                 images.dim(3) == c.image_size,
             "DCGAN discriminator expects images [N, ", c.channels, ", ", c.image_size, ", ",
             c.image_size, "], got ", images.str());
}

// The labels, checked against the batch size and, when they are on the CPU, the class count.
void check_labels(const Tensor& labels, int64_t batch, int num_classes) {
  WEFT_CHECK(num_classes > 0, "labels given to an unconditional DCGAN model");
  WEFT_CHECK(labels.dtype() == DType::i32 && labels.ndim() == 1 && labels.dim(0) == batch,
             "DCGAN labels must be int32 [", batch, "], got ", labels.str());
  if (!labels.device().is_cpu()) return;
  for (int32_t label : labels.to_vector<int32_t>()) {
    WEFT_CHECK(label >= 0 && label < num_classes, "DCGAN label ", label, " is outside [0, ",
               num_classes, ")");
  }
}

// One-hot codes [N, K, height, width] on `device`: plane k of example i is all ones when label i
// is k; with height = width = 1 the one-hot vector appended to the generator's noise. Gathered
// on the device from `table`, uint8 [K, K, height, width] holding class k's code in row k (built
// on first use and kept, rebuilt when the device changes), by labels that live there: so a
// training step reads no label back and uploads no codes, and a CUDA graph can capture it. The
// codes are exactly 1 and 0, as the ops that read them expect.
Tensor one_hot_planes(const Tensor& labels, int num_classes, int64_t height, int64_t width,
                      Device device, Tensor& table) {
  if (!table.defined() || table.device() != device) {
    const int64_t plane = height * width;
    std::vector<uint8_t> codes(static_cast<size_t>(num_classes * num_classes * plane), 0);
    for (int64_t k = 0; k < num_classes; ++k) {
      uint8_t* first = codes.data() + (k * num_classes + k) * plane;
      std::fill(first, first + plane, uint8_t{1});
    }
    table = Tensor::from_vector(codes, {num_classes, num_classes, height, width}).to(device);
  }
  return gather_u8_to_f32(table, labels.to(device), 1.0f, 0.0f);
}

}  // namespace

DcganConfig dcgan64_rgb(int num_classes) {
  return {.image_size = 64,
          .channels = 3,
          .z_dim = 100,
          .generator_features = 64,
          .discriminator_features = 64,
          .num_classes = num_classes};
}

DcganConfig dcgan32_gray(int num_classes) {
  return {.image_size = 32,
          .channels = 1,
          .z_dim = 100,
          .generator_features = 64,
          .discriminator_features = 64,
          .num_classes = num_classes};
}

int dcgan_stride2_layers(int image_size) {
  int layers = 0;
  for (int side = 4; side < image_size; side *= 2) ++layers;
  WEFT_CHECK(layers >= 1 && (4 << layers) == image_size,
             "DCGAN image size must be 4 * 2^L with L >= 1 (8, 16, 32, 64, ...), got ", image_size);
  return layers;
}

DcganGenerator::DcganGenerator(const DcganConfig& c) : config(c) {
  using namespace nn;
  check_config(c);
  const int stride2 = dcgan_stride2_layers(c.image_size);
  main = register_module("main", std::make_shared<Sequential>());
  int channels = c.generator_features << (stride2 - 1);
  main->push_back(
      std::make_shared<ConvTranspose2d>(c.z_dim + c.num_classes, channels, 4, 1, 0, 0, false));
  main->push_back(BatchNorm2d(channels));
  main->push_back(std::make_shared<ReLU>());
  for (int i = 1; i < stride2; ++i) {
    main->push_back(std::make_shared<ConvTranspose2d>(channels, channels / 2, 4, 2, 1, 0, false));
    channels /= 2;
    main->push_back(BatchNorm2d(channels));
    main->push_back(std::make_shared<ReLU>());
  }
  main->push_back(std::make_shared<ConvTranspose2d>(channels, c.channels, 4, 2, 1, 0, false));
  main->push_back(std::make_shared<Tanh>());
  dcgan_init(*main);
}

Tensor DcganGenerator::forward(const Tensor& noise) {
  WEFT_CHECK(config.num_classes == 0, "this DCGAN generator is class-conditional: call ",
             "forward(noise, labels)");
  check_noise(noise, config);
  return main->forward(noise.reshape({noise.dim(0), config.z_dim, 1, 1}));
}

Tensor DcganGenerator::forward(const Tensor& noise, const Tensor& labels) {
  check_noise(noise, config);
  const int64_t n = noise.dim(0);
  check_labels(labels, n, config.num_classes);
  const Tensor codes =
      one_hot_planes(labels, config.num_classes, 1, 1, noise.device(), label_codes_);
  return main->forward(concat({noise.reshape({n, config.z_dim, 1, 1}), codes}, 1));
}

DcganDiscriminator::DcganDiscriminator(const DcganConfig& c) : config(c) {
  using namespace nn;
  check_config(c);
  const int stride2 = dcgan_stride2_layers(c.image_size);
  main = register_module("main", std::make_shared<Sequential>());
  int channels = c.discriminator_features;
  main->push_back(std::make_shared<Conv2d>(c.channels + c.num_classes, channels, 4, 2, 1, false));
  main->push_back(std::make_shared<LeakyReLU>(0.2f));
  for (int i = 1; i < stride2; ++i) {
    main->push_back(std::make_shared<Conv2d>(channels, channels * 2, 4, 2, 1, false));
    channels *= 2;
    main->push_back(BatchNorm2d(channels));
    main->push_back(std::make_shared<LeakyReLU>(0.2f));
  }
  main->push_back(std::make_shared<Conv2d>(channels, 1, 4, 1, 0, false));
  dcgan_init(*main);
}

Tensor DcganDiscriminator::forward(const Tensor& images) {
  WEFT_CHECK(config.num_classes == 0, "this DCGAN discriminator is class-conditional: call ",
             "forward(images, labels)");
  check_images(images, config);
  return main->forward(images).reshape({images.dim(0), 1});
}

Tensor DcganDiscriminator::forward(const Tensor& images, const Tensor& labels) {
  check_images(images, config);
  const int64_t n = images.dim(0);
  check_labels(labels, n, config.num_classes);
  const Tensor codes = one_hot_planes(labels, config.num_classes, config.image_size,
                                      config.image_size, images.device(), label_codes_);
  return main->forward(concat({images, codes}, 1)).reshape({n, 1});
}

Tensor dcgan_noise(int64_t n, int z_dim, Device device, Generator* generator) {
  Generator& g = generator != nullptr ? *generator : default_generator();
  return Tensor::from_vector(g.normal(n * z_dim, 0.0f, 1.0f), {n, z_dim}).to(device);
}

}  // namespace weft::models
