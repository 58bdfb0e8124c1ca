// Fashion-MNIST shoes as stand-ins for shoe photos (see shoe_standin.h).
#include "engine/data/shoe_standin.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "engine/data/augment.h"
#include "engine/data/image_io.h"
#include "kernels/error.h"

namespace weft::data {

const std::vector<int32_t> kFashionMnistShoeClasses = {5, 7, 9};

std::vector<int64_t> select_class_indices(const std::vector<int32_t>& labels,
                                          const std::vector<int32_t>& classes, int num_classes,
                                          int64_t per_class, Generator* generator) {
  WEFT_CHECK(!classes.empty(), "select_classes: no classes given");
  std::map<int32_t, int32_t> new_label;
  for (size_t k = 0; k < classes.size(); ++k) {
    WEFT_CHECK(classes[k] >= 0 && classes[k] < num_classes, "select_classes: class ", classes[k],
               " is not one of the ", num_classes, " classes");
    WEFT_CHECK(new_label.emplace(classes[k], static_cast<int32_t>(k)).second,
               "select_classes: class ", classes[k], " is listed twice");
  }
  // Members of each kept class, in dataset order; then the per-class cut.
  std::vector<std::vector<int64_t>> members(classes.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    auto found = new_label.find(labels[i]);
    if (found != new_label.end()) members[found->second].push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> kept;
  for (std::vector<int64_t>& list : members) {
    if (per_class > 0 && static_cast<int64_t>(list.size()) > per_class) {
      if (generator != nullptr) generator->shuffle(list);
      list.resize(static_cast<size_t>(per_class));
    }
    kept.insert(kept.end(), list.begin(), list.end());
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

LabeledImages select_classes(const LabeledImages& data, const std::vector<int32_t>& classes,
                             int64_t per_class, Generator* generator) {
  const std::vector<int64_t> kept =
      select_class_indices(data.labels.to_vector<int32_t>(), classes,
                           static_cast<int>(data.class_names.size()), per_class, generator);
  std::map<int32_t, int32_t> new_label;
  for (size_t k = 0; k < classes.size(); ++k) new_label[classes[k]] = static_cast<int32_t>(k);
  LabeledImages out = select(data, kept);
  std::vector<int32_t> relabelled = out.labels.to_vector<int32_t>();
  for (int32_t& label : relabelled) label = new_label.at(label);
  out.labels = Tensor::from_vector(relabelled, {static_cast<int64_t>(relabelled.size())});
  out.class_names.clear();
  for (int32_t c : classes) out.class_names.push_back(data.class_names[c]);
  return out;
}

Tensor pad_images(const Tensor& images, int pad, uint8_t value) {
  WEFT_CHECK(images.ndim() == 4 && images.dtype() == DType::u8 && images.device().is_cpu() &&
                 pad >= 0,
             "pad_images: expected uint8 [N, C, H, W] on the CPU and pad >= 0, got ",
             images.str(), " and pad ", pad);
  const int64_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  const int64_t out_h = h + 2 * pad, out_w = w + 2 * pad;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * c * out_h * out_w), value);
  const uint8_t* src = images.data<uint8_t>();
  for (int64_t plane = 0; plane < n * c; ++plane) {
    for (int64_t y = 0; y < h; ++y) {
      std::memcpy(pixels.data() + (plane * out_h + y + pad) * out_w + pad,
                  src + (plane * h + y) * w, static_cast<size_t>(w));
    }
  }
  return Tensor::from_vector(pixels, {n, c, out_h, out_w});
}

Tensor crop_images(const Tensor& images, int size) {
  WEFT_CHECK(images.ndim() == 4 && images.dtype() == DType::u8 && images.device().is_cpu() &&
                 size >= 1 && size <= images.dim(2) && size <= images.dim(3),
             "crop_images: expected uint8 [N, C, H, W] on the CPU with H, W >= ", size, ", got ",
             images.str());
  const int64_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  const int64_t top = (h - size) / 2, left = (w - size) / 2;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * c * size * size));
  const uint8_t* src = images.data<uint8_t>();
  for (int64_t plane = 0; plane < n * c; ++plane) {
    for (int64_t y = 0; y < size; ++y) {
      std::memcpy(pixels.data() + (plane * size + y) * size,
                  src + (plane * h + top + y) * w + left, static_cast<size_t>(size));
    }
  }
  return Tensor::from_vector(pixels, {n, c, size, size});
}

namespace {

// The right shoe of a pair: the left image mirrored, then shifted, turned and zoomed a little
// (one affine warp, bilinear, the uncovered border filled with black like Fashion-MNIST's).
void mirrored_copy(const uint8_t* left, uint8_t* right, int channels, int height, int width,
                   const MirroredPairOptions& options, Generator& generator) {
  auto symmetric = [&](float range) { return range * (2.0f * generator.uniform() - 1.0f); };
  AugmentParams params;
  params.flip_horizontal = true;
  params.rotation_degrees = symmetric(options.max_rotation);
  params.shift_x = symmetric(options.max_shift);
  params.shift_y = symmetric(options.max_shift);
  params.zoom_x = params.zoom_y = 1.0f + symmetric(options.max_zoom);
  const size_t count = static_cast<size_t>(channels) * height * width;
  std::vector<float> source(left, left + count), warped(count);
  apply_augmentation(params, source.data(), warped.data(), channels, height, width,
                     FillMode::constant, 0.0f);
  for (size_t i = 0; i < count; ++i) {
    right[i] = static_cast<uint8_t>(std::clamp(std::lround(warped[i]), 0L, 255L));
  }
}

}  // namespace

PairedImages mirrored_shoe_pairs(const LabeledImages& shoes, const MirroredPairOptions& options,
                                 Generator& generator) {
  WEFT_CHECK(options.pairs_per_owner >= 1, "mirrored_shoe_pairs: pairs_per_owner is ",
             options.pairs_per_owner, ", expected >= 1");
  WEFT_CHECK(shoes.images.ndim() == 4 && shoes.images.dtype() == DType::u8,
             "mirrored_shoe_pairs: expected uint8 [N, C, H, W] images, got ", shoes.images.str());
  const std::vector<int32_t> labels = shoes.labels.to_vector<int32_t>();
  std::map<int32_t, std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int64_t>(i));

  // Deal each class's shuffled images out to owners, pairs_per_owner at a time.
  std::vector<std::vector<int64_t>> owners;
  for (auto& [label, members] : by_class) {
    generator.shuffle(members);
    const size_t per_owner = static_cast<size_t>(options.pairs_per_owner);
    for (size_t first = 0; first + per_owner <= members.size(); first += per_owner) {
      owners.emplace_back(members.begin() + static_cast<int64_t>(first),
                          members.begin() + static_cast<int64_t>(first + per_owner));
    }
  }
  WEFT_CHECK(!owners.empty(), "mirrored_shoe_pairs: ", shoes.size(), " images do not fill one ",
             "owner of ", options.pairs_per_owner, " pairs of one class");

  const int channels = static_cast<int>(shoes.images.dim(1));
  const int height = static_cast<int>(shoes.images.dim(2));
  const int width = static_cast<int>(shoes.images.dim(3));
  const size_t image_bytes = static_cast<size_t>(channels) * height * width;
  const size_t pairs = owners.size() * static_cast<size_t>(options.pairs_per_owner);
  std::vector<uint8_t> pixels(2 * pairs * image_bytes);
  const uint8_t* src = shoes.images.data<uint8_t>();

  PairedImages out;
  int32_t pair = 0;
  for (size_t owner = 0; owner < owners.size(); ++owner) {
    char owner_name[32];
    std::snprintf(owner_name, sizeof(owner_name), "owner-%04zu", owner);
    out.group_names.emplace_back(owner_name);
    for (size_t k = 0; k < owners[owner].size(); ++k, ++pair) {
      const int64_t image = owners[owner][k];
      uint8_t* left = pixels.data() + (2 * static_cast<size_t>(pair)) * image_bytes;
      std::memcpy(left, src + static_cast<size_t>(image) * image_bytes, image_bytes);
      mirrored_copy(left, left + image_bytes, channels, height, width, options, generator);
      for (int32_t slot : {0, 1}) {
        out.item.push_back(pair);
        out.group.push_back(static_cast<int32_t>(owner));
        out.slot.push_back(slot);
      }
      const int32_t label = labels[static_cast<size_t>(image)];
      const std::string class_name = label >= 0 && label < static_cast<int32_t>(shoes.class_names.size())
                                         ? shoes.class_names[label]
                                         : std::to_string(label);
      out.item_names.push_back(std::string(owner_name) + "/" + class_name + "-" +
                               std::to_string(k));
    }
  }
  out.images = Tensor::from_vector(
      pixels, {static_cast<int64_t>(2 * pairs), channels, height, width});
  return out;
}

}  // namespace weft::data
