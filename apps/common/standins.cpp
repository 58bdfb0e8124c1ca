// Stand-in subsets, resizing and splits for the apps (see standins.h).
#include "apps/common/standins.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "engine/data/resize.h"
#include "engine/data/splits.h"
#include "kernels/error.h"

namespace weft::app {

namespace {

// A random subset of 0..count-1 of `keep` indices, ascending.
std::vector<int64_t> random_subset(int64_t count, int64_t keep, Generator& generator) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  generator.shuffle(order);
  order.resize(static_cast<size_t>(std::min(count, keep)));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

data::LabeledImages fashion_mnist_classes(const data::LabeledImages& full,
                                          const std::vector<int>& classes) {
  std::vector<int32_t> new_label(data::kFashionMnistClasses.size(), -1);
  data::LabeledImages out;
  for (size_t k = 0; k < classes.size(); ++k) {
    const int c = classes[k];
    WEFT_CHECK(c >= 0 && c < static_cast<int>(new_label.size()), "Fashion-MNIST has no class ",
               c);
    new_label[static_cast<size_t>(c)] = static_cast<int32_t>(k);
    out.class_names.push_back(data::kFashionMnistClasses[static_cast<size_t>(c)]);
  }
  const std::vector<int32_t> labels = data::label_vector(full);
  std::vector<int64_t> keep;
  std::vector<int32_t> kept_labels;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int32_t label = new_label[static_cast<size_t>(labels[i])];
    if (label < 0) continue;
    keep.push_back(static_cast<int64_t>(i));
    kept_labels.push_back(label);
  }
  out.images = data::gather_rows(full.images, keep);
  out.labels = Tensor::from_vector(kept_labels, {static_cast<int64_t>(kept_labels.size())});
  return out;
}

data::LabeledImages concat_images(const data::LabeledImages& first,
                                  const data::LabeledImages& second) {
  WEFT_CHECK(first.class_names == second.class_names, "concat_images: different class lists");
  Shape a = first.images.shape(), b = second.images.shape();
  WEFT_CHECK(a.size() == 4 && b.size() == 4 && a[1] == b[1] && a[2] == b[2] && a[3] == b[3],
             "concat_images: image shapes ", shape_str(a), " and ", shape_str(b), " differ");
  data::LabeledImages out;
  out.class_names = first.class_names;
  a[0] += b[0];
  out.images = Tensor::empty(a, DType::u8);
  std::memcpy(out.images.data<uint8_t>(), first.images.data<uint8_t>(),
              static_cast<size_t>(first.images.numel()));
  std::memcpy(out.images.data<uint8_t>() + first.images.numel(), second.images.data<uint8_t>(),
              static_cast<size_t>(second.images.numel()));
  std::vector<int32_t> labels = data::label_vector(first);
  const std::vector<int32_t> more = data::label_vector(second);
  labels.insert(labels.end(), more.begin(), more.end());
  out.labels = Tensor::from_vector(labels, {static_cast<int64_t>(labels.size())});
  return out;
}

data::IndexList per_class_indices(const std::vector<int32_t>& labels,
                                  const std::vector<int64_t>& counts, Generator& generator) {
  std::vector<std::vector<int64_t>> members(counts.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto label = static_cast<size_t>(labels[i]);
    if (label < members.size()) members[label].push_back(static_cast<int64_t>(i));
  }
  data::IndexList keep;
  for (size_t k = 0; k < counts.size(); ++k) {
    for (int64_t j : random_subset(static_cast<int64_t>(members[k].size()), counts[k], generator)) {
      keep.push_back(members[k][static_cast<size_t>(j)]);
    }
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

data::LabeledImages take_per_class(const data::LabeledImages& data,
                                   const std::vector<int64_t>& counts, Generator& generator) {
  return data::select(data, per_class_indices(data::label_vector(data), counts, generator));
}

data::IndexList limit_indices(const std::vector<int32_t>& labels, int64_t limit,
                              Generator& generator) {
  const auto size = static_cast<int64_t>(labels.size());
  if (limit <= 0 || size <= limit) return limit_indices(size, 0, generator);
  // Every class present keeps at least one image (a quick run of an imbalanced task should
  // still see its rare classes); the rest of the budget is shared in proportion to class size.
  const int32_t largest = *std::max_element(labels.begin(), labels.end());
  std::vector<int64_t> sizes(static_cast<size_t>(largest) + 1, 0);
  for (int32_t label : labels) ++sizes[static_cast<size_t>(label)];
  const int64_t present = std::count_if(sizes.begin(), sizes.end(), [](int64_t n) { return n > 0; });
  if (present >= limit) return random_subset(size, limit, generator);
  std::vector<int64_t> counts(sizes.size(), 0);
  for (size_t c = 0; c < sizes.size(); ++c) {
    if (sizes[c] == 0) continue;
    const int64_t share = (limit - present) * sizes[c] / size;
    counts[c] = std::min(sizes[c], 1 + share);
  }
  return per_class_indices(labels, counts, generator);
}

data::IndexList limit_indices(int64_t count, int64_t limit, Generator& generator) {
  if (limit > 0 && count > limit) return random_subset(count, limit, generator);
  data::IndexList all(static_cast<size_t>(count));
  std::iota(all.begin(), all.end(), 0);
  return all;
}

data::LabeledImages limit_images(const data::LabeledImages& data, int64_t limit,
                                 Generator& generator) {
  if (limit <= 0 || data.size() <= limit) return data;
  return data::select(data, limit_indices(data::label_vector(data), limit, generator));
}

data::MultiLabelImages limit_images(const data::MultiLabelImages& data, int64_t limit,
                                    Generator& generator) {
  if (limit <= 0 || data.size() <= limit) return data;
  return data::select(data, limit_indices(data.size(), limit, generator));
}

std::vector<int32_t> labels_at(const std::vector<int32_t>& labels, const data::IndexList& indices) {
  std::vector<int32_t> out;
  out.reserve(indices.size());
  for (const int64_t i : indices) out.push_back(labels.at(static_cast<size_t>(i)));
  return out;
}

data::IndexList compose(const data::IndexList& indices, const data::IndexList& within) {
  data::IndexList out;
  out.reserve(within.size());
  for (const int64_t i : within) out.push_back(indices.at(static_cast<size_t>(i)));
  return out;
}

std::vector<data::IndexList> split_then_limit(const std::vector<int32_t>& labels,
                                              const std::vector<double>& ratios, int64_t limit,
                                              Generator& split_generator,
                                              Generator& limit_generator) {
  std::vector<data::IndexList> parts = data::stratified_split(labels, ratios, split_generator);
  for (data::IndexList& part : parts) {
    part = compose(part, limit_indices(labels_at(labels, part), limit, limit_generator));
  }
  return parts;
}

Tensor resize_images(const Tensor& images, int height, int width) {
  WEFT_CHECK(images.defined() && images.dtype() == DType::u8 && images.ndim() == 4,
             "resize_images: expected uint8 [N, C, H, W], got ",
             images.defined() ? images.str() : "an undefined tensor");
  WEFT_CHECK(height > 0 && width > 0, "resize_images: size ", height, "x", width);
  const int64_t n = images.dim(0), c = images.dim(1);
  const int in_h = static_cast<int>(images.dim(2)), in_w = static_cast<int>(images.dim(3));
  if (in_h == height && in_w == width) return images;
  Tensor out = Tensor::empty({n, c, height, width}, DType::u8);
  const uint8_t* src = images.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t plane = 0; plane < n * c; ++plane) {
    data::resize_pixels(src + plane * in_h * in_w, in_w, in_h, 1,
                        dst + plane * int64_t{height} * width, width, height);
  }
  return out;
}

Tensor gray_to_rgb(const Tensor& images) {
  WEFT_CHECK(images.defined() && images.dtype() == DType::u8 && images.ndim() == 4 &&
                 images.dim(1) == 1,
             "gray_to_rgb: expected uint8 [N, 1, H, W], got ",
             images.defined() ? images.str() : "an undefined tensor");
  const int64_t n = images.dim(0), plane = images.dim(2) * images.dim(3);
  Tensor out = Tensor::empty({n, 3, images.dim(2), images.dim(3)}, DType::u8);
  const uint8_t* src = images.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) std::memcpy(dst + (i * 3 + c) * plane, src + i * plane, plane);
  }
  return out;
}

Tensor conform_images(const Tensor& images, int channels, int size) {
  Tensor out = resize_images(images, size, size);
  if (out.dim(1) == channels) return out;
  WEFT_CHECK(out.dim(1) == 1 && channels == 3, "cannot turn ", out.dim(1),
             "-channel images into ", channels, "-channel ones");
  return gray_to_rgb(out);
}

}  // namespace weft::app
