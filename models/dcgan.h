// DCGAN (Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep
// Convolutional Generative Adversarial Networks", 2015) for seed 000's synthetic shoes
// (../shared/seeds/FACTS.md), with the layer names of PyTorch's DCGAN example (main.0.weight,
// main.1.weight, ...). The apps train it with bce_with_logits, so the discriminator ends in a
// logit rather than a sigmoid.
//
// Generator, for a side of 4 * 2^L pixels (L stride-2 layers; 64 -> L = 4, 32 -> L = 3):
//   noise [N, z] viewed as [N, z, 1, 1]
//   ConvTranspose 4x4/1 pad 0 -> ngf * 2^(L-1) channels, 4x4 -> BN -> ReLU
//   L - 1 times: ConvTranspose 4x4/2 pad 1, channels halve, side doubles -> BN -> ReLU
//   ConvTranspose 4x4/2 pad 1 -> image channels -> Tanh              [N, C, side, side]
// Discriminator, the mirror image:
//   Conv 4x4/2 pad 1 -> ndf channels -> LeakyReLU 0.2 (no BN on the input layer)
//   L - 1 times: Conv 4x4/2 pad 1, channels double, side halves -> BN -> LeakyReLU 0.2
//   Conv 4x4/1 pad 0 (4x4 -> 1x1) -> one logit                        [N, 1]
// No layer has a bias (each is followed by BN, or is the last). Init: conv and transposed-conv
// weights normal(0, 0.02), BN weight normal(1, 0.02), BN bias 0.
//
// The two sizes the apps use:
//   dcgan64_rgb():   64x64x3, z 100, ngf = ndf = 64, the standard layout:
//     G 100*512*16 + 512*256*16 + 256*128*16 + 128*64*16 + 64*3*16 = 3,574,784 conv weights
//       + BN 2*(512+256+128+64) = 1,920                               -> 3,576,704 parameters
//     D 3*64*16 + 64*128*16 + 128*256*16 + 256*512*16 + 512*16 = 2,763,776 conv weights
//       + BN 2*(128+256+512) = 1,792                                  -> 2,765,568 parameters
//   dcgan32_gray(): 32x32x1 for Fashion-MNIST (the data pipeline pads 28x28 by 2 pixels on
//     each side; 32 keeps every layer a clean halving, 28 would not), z 100, ngf = ndf = 64:
//     G 100*256*16 + 256*128*16 + 128*64*16 + 64*16 + BN 2*(256+128+64) = 1,066,880
//     D 64*16 + 64*128*16 + 128*256*16 + 256*16 + BN 2*(128+256)       =   661,248
//
// Class-conditional (num_classes K > 0): the generator's noise gets the label's one-hot vector
// appended ([N, z + K]), and the discriminator's image gets K one-hot planes (plane k all ones
// for label k, zeros otherwise; [N, C + K, side, side]). Only the first layer of each grows:
// by K*ngf*2^(L-1)*16 and K*ndf*16 weights. Generated images then have labels, so `generate`
// can write them into an ImageFolder for the shoe classifier.
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace weft::models {

struct DcganConfig {
  int image_size = 64;  // 4 * 2^L with L >= 1: 8, 16, 32, 64, 128, ...
  int channels = 3;
  int z_dim = 100;
  int generator_features = 64;      // ngf: the generator's last hidden layer's channels
  int discriminator_features = 64;  // ndf: the discriminator's first layer's channels
  int num_classes = 0;              // 0: unconditional; K > 0: class-conditional
};

DcganConfig dcgan64_rgb(int num_classes = 0);
DcganConfig dcgan32_gray(int num_classes = 0);

// The number L of stride-2 layers for `image_size`; an error unless it is 4 * 2^L, L >= 1.
int dcgan_stride2_layers(int image_size);

class DcganGenerator : public nn::Module {
 public:
  explicit DcganGenerator(const DcganConfig& config = {});
  // Unconditional: noise [N, z_dim] -> images [N, channels, side, side] in (-1, 1).
  Tensor forward(const Tensor& noise) override;
  // Conditional: labels int32 [N] in [0, num_classes). Labels on the CPU are checked; labels on
  // a device are used where they are, without a read-back (see one_hot_planes in dcgan.cpp), and
  // must be in range, as a data set's are.
  Tensor forward(const Tensor& noise, const Tensor& labels);
  std::string type_name() const override { return "DcganGenerator"; }

  DcganConfig config;
  std::shared_ptr<nn::Sequential> main;

 private:
  Tensor label_codes_;  // the one-hot code of each class, uint8, on the last device used
};

class DcganDiscriminator : public nn::Module {
 public:
  explicit DcganDiscriminator(const DcganConfig& config = {});
  // Unconditional: images [N, channels, side, side] -> logits [N, 1] ("real" when positive).
  Tensor forward(const Tensor& images) override;
  // Conditional: labels int32 [N] in [0, num_classes), as for the generator.
  Tensor forward(const Tensor& images, const Tensor& labels);
  std::string type_name() const override { return "DcganDiscriminator"; }

  DcganConfig config;
  std::shared_ptr<nn::Sequential> main;

 private:
  Tensor label_codes_;  // the one-hot planes of each class, uint8, on the last device used
};

// Standard-normal noise [n, z_dim] on `device` (the default generator when `generator` is null).
Tensor dcgan_noise(int64_t n, int z_dim, Device device = Device::cpu(),
                   Generator* generator = nullptr);

}  // namespace weft::models
