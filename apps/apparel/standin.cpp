// The multi-label stand-in for seed 003's apparel photos (which are not on this machine), made
// honestly from Fashion-MNIST so that each label is something the image really shows:
//
//   garment  Fashion-MNIST class   label        colour  garment tint (RGB, +-25 per channel)
//   dress    Dress (3)             "dress"      black   ( 30,  30,  30)
//   pants    Trouser (1)           "pants"      blue    ( 35,  65, 190)
//   shirt    Shirt (6)             "shirt"
//   shoes    Sneaker (7)           "shoes"
//
// A Fashion-MNIST image is a bright garment on black, its pixel value v in 0..255 saying how much
// garment there is. Each image gets a colour at random and is painted as product photos are, a
// garment on a light background: pixel = (1 - v/255) * background + (v/255) * tint, with a
// background grey drawn per image from 215..255. The 28x28 result is upscaled to the requested
// size (engine/data/resize.h, per channel). Labels are {colour, garment}, e.g. black + dress, as
// the seed's folder names black_dress/ give them; the seed's seventh label, shorts, has no
// Fashion-MNIST class and is left out. Images come from Fashion-MNIST's training file, the first
// `per_garment` of each class in file order.
#include <algorithm>
#include <cmath>

#include "apparel.h"
#include "apps/common/standins.h"
#include "engine/data/fashion_mnist.h"
#include "engine/random.h"
#include "kernels/error.h"

namespace weft::apparel {

const char* const kStandinNote =
    "stand-in: Fashion-MNIST Dress, Trouser, Shirt and Sneaker images tinted black or blue on a "
    "light background (labels colour + garment: black, blue, dress, pants, shirt, shoes), not "
    "the seed's apparel photos; its numbers are not comparable with the seed's";

namespace {

struct Garment {
  int fashion_class;
  const char* label;
};
constexpr Garment kGarments[] = {{3, "dress"}, {1, "pants"}, {6, "shirt"}, {7, "shoes"}};

struct Colour {
  const char* label;
  float r, g, b;
};
constexpr Colour kColours[] = {{"black", 30, 30, 30}, {"blue", 35, 65, 190}};

constexpr float kJitter = 25.0f;

}  // namespace

data::MultiLabelImages tinted_standin(int size, int per_garment, uint64_t seed) {
  WEFT_CHECK(per_garment > 0, "the stand-in needs at least one image per garment");
  const data::LabeledImages source =
      data::load_fashion_mnist(data::kFashionMnistDir, "train");
  const std::vector<int32_t> classes = source.labels.to_vector<int32_t>();

  // Label order: the sorted names, as the folder and CSV loaders give them.
  data::MultiLabelImages out;
  out.label_names = {"black", "blue", "dress", "pants", "shirt", "shoes"};
  auto label_index = [&](const std::string& name) {
    return static_cast<int64_t>(std::find(out.label_names.begin(), out.label_names.end(), name) -
                                out.label_names.begin());
  };
  for (const Colour& colour : kColours) {
    for (const Garment& garment : kGarments) {
      out.label_set_names.push_back(std::string(colour.label) + ";" + garment.label);
    }
  }
  std::sort(out.label_set_names.begin(), out.label_set_names.end());

  std::vector<int64_t> rows;
  std::vector<size_t> garment_of;
  for (size_t g = 0; g < std::size(kGarments); ++g) {
    int taken = 0;
    for (size_t i = 0; i < classes.size() && taken < per_garment; ++i) {
      if (classes[i] != kGarments[g].fashion_class) continue;
      rows.push_back(static_cast<int64_t>(i));
      garment_of.push_back(g);
      ++taken;
    }
  }
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t labels = static_cast<int64_t>(out.label_names.size());
  Tensor small = Tensor::empty({n, 3, 28, 28}, DType::u8);
  out.targets = Tensor::zeros({n, labels});
  Generator generator(seed);
  const uint8_t* pixels = source.images.data<uint8_t>();
  uint8_t* painted = small.data<uint8_t>();
  float* targets = out.targets.data<float>();
  for (int64_t k = 0; k < n; ++k) {
    const Garment& garment = kGarments[garment_of[static_cast<size_t>(k)]];
    const Colour& colour = kColours[generator.randint(std::size(kColours))];
    const std::vector<float> jitter = generator.uniform(3, -kJitter, kJitter);
    const float tint[3] = {colour.r + jitter[0], colour.g + jitter[1], colour.b + jitter[2]};
    const float background = 215.0f + 40.0f * generator.uniform();
    const uint8_t* image = pixels + rows[static_cast<size_t>(k)] * 28 * 28;
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 28 * 28; ++p) {
        const float amount = static_cast<float>(image[p]) / 255.0f;
        const float value = (1 - amount) * background + amount * tint[c];
        painted[(k * 3 + c) * 28 * 28 + p] =
            static_cast<uint8_t>(std::lround(std::clamp(value, 0.0f, 255.0f)));
      }
    }
    targets[k * labels + label_index(colour.label)] = 1.0f;
    targets[k * labels + label_index(garment.label)] = 1.0f;
    const std::string set = std::string(colour.label) + ";" + garment.label;
    out.label_set.push_back(static_cast<int32_t>(
        std::find(out.label_set_names.begin(), out.label_set_names.end(), set) -
        out.label_set_names.begin()));
  }
  out.images = app::resize_images(small, size, size);
  return out;
}

}  // namespace weft::apparel
