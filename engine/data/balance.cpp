// Oversampling with augmented copies (see balance.h): the copies' random draws in order from
// the caller's generator, their warps on every core.
#include "engine/data/balance.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "engine/data/splits.h"
#include "engine/data/workers.h"
#include "kernels/error.h"

namespace weft::data {

namespace {

// std::round to the nearest byte (halves away from zero), then clamped to 0..255: the clamp
// first, which gives the same byte, then the rounding of a non-negative float without a library
// call (truncation is floor there, and v - floor(v) is exact below 2^23).
inline uint8_t to_byte(float v) {
  v = std::clamp(v, 0.0f, 255.0f);
  const int whole = static_cast<int>(v);
  return static_cast<uint8_t>(whole + (v - static_cast<float>(whole) >= 0.5f ? 1 : 0));
}

}  // namespace

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
  for (int64_t i = 0; i < total; ++i) {
    dst_labels[i] = labels[static_cast<size_t>(out.source[static_cast<size_t>(i)])];
  }
  // Each copy's draw in order from the one generator (what augment_image would draw one copy
  // after another), then the warps on every core: the copies do not depend on the thread count.
  const int64_t copies = total - out.originals;
  std::vector<AugmentParams> draws;
  draws.reserve(static_cast<size_t>(copies));
  for (int64_t k = 0; k < copies; ++k) {
    draws.push_back(draw_params(augment, height, width, generator));
  }
  std::atomic<int64_t> next{0};
  const auto work = [&] {
    std::vector<float> original(static_cast<size_t>(elements));
    std::vector<float> augmented(static_cast<size_t>(elements));
    for (int64_t k = next++; k < copies; k = next++) {
      const int64_t i = out.originals + k;
      const int64_t from = out.source[static_cast<size_t>(i)];
      std::copy(src + from * elements, src + (from + 1) * elements, original.begin());
      apply_augmentation(draws[static_cast<size_t>(k)], original.data(), augmented.data(),
                         channels, height, width, augment.fill_mode, augment.fill_value);
      for (int64_t e = 0; e < elements; ++e) dst[i * elements + e] = to_byte(augmented[static_cast<size_t>(e)]);
    }
  };
  const int workers = static_cast<int>(std::clamp<int64_t>(
      std::thread::hardware_concurrency(), 1, std::max<int64_t>(copies / 16, 1)));
  run_workers(workers, [&](int) { work(); });
  return out;
}

}  // namespace weft::data
