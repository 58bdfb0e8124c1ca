// The small VGG-like network of `make run` and the speedrun (see fashion_vgg.h).
#include "models/fashion_vgg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/ops.h"
#include "engine/report/frechet.h"
#include "kernels/error.h"

namespace weft::models {

FashionVgg::FashionVgg(const FashionVggConfig& c) : config(c) {
  WEFT_CHECK(c.in_channels > 0 && c.classes > 0, "FashionVgg needs positive in_channels and "
             "classes, got ", c.in_channels, " and ", c.classes);
  int channels = c.in_channels;
  if (c.whiten) {
    const int patch = 4 * c.in_channels;
    whiten = register_module("whiten", std::make_shared<nn::Conv2d>(channels, 2 * patch, 2));
    whiten->weight.set_requires_grad(false);
    whiten->bias.set_requires_grad(false);
    channels = 2 * patch;
  }
  features = register_module("features", std::make_shared<nn::Sequential>());
  for (size_t stage = 0; stage < c.widths.size(); ++stage) {
    WEFT_CHECK(c.widths[stage] > 0 && c.convs[stage] > 0, "FashionVgg stage ", stage,
               " needs a positive width and conv count, got ", c.widths[stage], " and ",
               c.convs[stage]);
    for (int i = 0; i < c.convs[stage]; ++i) {
      features->push_back(std::make_shared<nn::Conv2d>(channels, c.widths[stage], 3, 1, 1, false));
      if (i == 0) features->push_back(std::make_shared<nn::MaxPool2d>(2));
      features->push_back(nn::BatchNorm2d(c.widths[stage]));
      features->push_back(std::make_shared<nn::ReLU>());
      channels = c.widths[stage];
    }
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(channels, c.classes));
}

Tensor FashionVgg::forward(const Tensor& images) {
  WEFT_CHECK(images.ndim() == 4 && images.dim(1) == config.in_channels, "FashionVgg expects "
             "images [N, ", config.in_channels, ", H, W], got ", images.str());
  Tensor x = images;
  if (whiten) x = whiten->forward(x, fused_relu());
  x = features->forward(x);
  // The last map is 3x3 for 27- or 28-pixel inputs; a max over all of it, whatever its size.
  Pool2dOptions whole;
  whole.kernel_h = whole.stride_h = static_cast<int>(x.dim(2));
  whole.kernel_w = whole.stride_w = static_cast<int>(x.dim(3));
  return fc->forward(max_pool2d(x, whole).flatten(1));
}

void FashionVgg::init_whitening(const Tensor& images_u8, float scale, float shift, int max_images,
                                float eps) {
  WEFT_CHECK(whiten != nullptr, "FashionVgg::init_whitening: this model has no whitening stem "
             "(FashionVggConfig::whiten)");
  WEFT_CHECK(images_u8.ndim() == 4 && images_u8.dim(1) == config.in_channels &&
                 images_u8.dtype() == DType::u8 && images_u8.dim(2) >= 2 && images_u8.dim(3) >= 2,
             "FashionVgg::init_whitening expects uint8 images [N, ", config.in_channels,
             ", H >= 2, W >= 2], got ", images_u8.str());
  const Tensor host = images_u8.to(Device::cpu());
  const int64_t n = std::min<int64_t>(host.dim(0), max_images);
  const int64_t channels = host.dim(1), height = host.dim(2), width = host.dim(3);
  const int64_t dim = 4 * channels;  // a patch: channel-major, then row, then column (as weights)
  const uint8_t* pixels = host.data<uint8_t>();
  // Mean and covariance of every 2x2 patch (stride 1) of the first n images, in doubles.
  std::vector<double> mean(dim, 0.0), covariance(dim * dim, 0.0), patch(dim);
  int64_t patches = 0;
  for (int64_t image = 0; image < n; ++image) {
    const uint8_t* base = pixels + image * channels * height * width;
    for (int64_t y = 0; y + 1 < height; ++y) {
      for (int64_t x = 0; x + 1 < width; ++x) {
        for (int64_t c = 0; c < channels; ++c) {
          for (int64_t k = 0; k < 4; ++k) {
            const uint8_t value = base[(c * height + y + k / 2) * width + x + k % 2];
            patch[c * 4 + k] = value * static_cast<double>(scale) + shift;
          }
        }
        for (int64_t i = 0; i < dim; ++i) {
          mean[i] += patch[i];
          for (int64_t j = 0; j < dim; ++j) covariance[i * dim + j] += patch[i] * patch[j];
        }
        ++patches;
      }
    }
  }
  WEFT_CHECK(patches > 1, "FashionVgg::init_whitening: no patches in ", images_u8.str());
  for (double& m : mean) m /= static_cast<double>(patches);
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t j = 0; j < dim; ++j) {
      covariance[i * dim + j] = covariance[i * dim + j] / static_cast<double>(patches) -
                                mean[i] * mean[j];
    }
  }
  // Filter e (and its negative, filter e + dim) projects a patch on eigenvector e, scaled to unit
  // variance; the bias removes the patch mean, so each output has mean 0 and variance ~1.
  const report::SymmetricEigen eigen = report::symmetric_eigen(covariance, dim);
  std::vector<float> weights(2 * dim * dim), bias(2 * dim);
  for (int64_t e = 0; e < dim; ++e) {
    const double norm = 1.0 / std::sqrt(std::max(eigen.values[e], 0.0) + eps);
    double offset = 0.0;
    for (int64_t i = 0; i < dim; ++i) {
      const double w = eigen.vectors[i * dim + e] * norm;
      weights[e * dim + i] = static_cast<float>(w);
      weights[(e + dim) * dim + i] = static_cast<float>(-w);
      offset += w * mean[i];
    }
    bias[e] = static_cast<float>(-offset);
    bias[e + dim] = static_cast<float>(offset);
  }
  const Device device = whiten->weight.device();
  whiten->weight.copy_(Tensor::from_vector(weights, whiten->weight.shape()).to(device));
  whiten->bias.copy_(Tensor::from_vector(bias, whiten->bias.shape()).to(device));
}

}  // namespace weft::models
