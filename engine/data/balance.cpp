// Oversampling with augmented copies (see balance.h).
#include "engine/data/balance.h"

#include <algorithm>
#include <cmath>

#include "engine/data/splits.h"
#include "kernels/error.h"

namespace weft::data {

std::vector<int64_t> class_counts(const LabeledImages& data) {
  const std::vector<int32_t> labels = label_vector(data);
  int64_t classes = static_cast<int64_t>(data.class_names.size());
  for (int32_t label : labels) classes = std::max<int64_t>(classes, int64_t{label} + 1);
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (int32_t label : labels) {
    WEFT_CHECK(label >= 0, "class_counts: negative label ", label);
    ++counts[static_cast<size_t>(label)];
  }
  return counts;
}

BalancedImages balance_by_augmentation(const LabeledImages& data, const AugmentOptions& augment,
                                       Generator& generator) {
  WEFT_CHECK(data.images.defined() && data.images.dtype() == DType::u8 &&
                 data.images.ndim() == 4,
             "balance_by_augmentation: expected uint8 [N, C, H, W] images");
  const std::vector<int32_t> labels = label_vector(data);
  // oversample_indices returns the originals plus the repeats, sorted; the repeats are the
  // second and later occurrences of an index.
  const IndexList all = oversample_indices(labels, generator);
  BalancedImages out;
  out.class_names = data.class_names;
  out.originals = data.size();
  for (int64_t i = 0; i < data.size(); ++i) out.source.push_back(i);
  for (size_t k = 1; k < all.size(); ++k) {
    if (all[k] == all[k - 1]) out.source.push_back(all[k]);
  }

  const int channels = static_cast<int>(data.images.dim(1));
  const int height = static_cast<int>(data.images.dim(2));
  const int width = static_cast<int>(data.images.dim(3));
  const int64_t elements = int64_t{channels} * height * width;
  const int64_t total = static_cast<int64_t>(out.source.size());
  out.images = Tensor::empty({total, channels, height, width}, DType::u8);
  out.labels = Tensor::empty({total}, DType::i32);
  const uint8_t* src = data.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  int32_t* dst_labels = out.labels.data<int32_t>();
  std::copy(src, src + data.size() * elements, dst);
  std::vector<float> original(static_cast<size_t>(elements));
  std::vector<float> augmented(static_cast<size_t>(elements));
  for (int64_t i = 0; i < total; ++i) {
    const int64_t from = out.source[static_cast<size_t>(i)];
    dst_labels[i] = labels[static_cast<size_t>(from)];
    if (i < out.originals) continue;
    std::copy(src + from * elements, src + (from + 1) * elements, original.begin());
    augment_image(augment, original.data(), augmented.data(), channels, height, width, generator);
    for (int64_t e = 0; e < elements; ++e) {
      const float v = std::round(augmented[static_cast<size_t>(e)]);
      dst[i * elements + e] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
    }
  }
  return out;
}

}  // namespace weft::data
