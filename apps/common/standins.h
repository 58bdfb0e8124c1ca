// Dataset plumbing the apps share: subsets of Fashion-MNIST that stand in for the seed
// projects' own data (which is not on this machine), resizing and channel conversion, caps for
// quick runs, and stratified three-way splits.
//
// What stands in for what (each app says so in its report.json and README):
//   shoes     Sandal, Sneaker, Ankle boot           for UT Zappos50K's shoe categories
//   clothing  T-shirt/top, Shirt, Pullover at 93.4 / 6.4 / 0.2 %   for Fashion Product Images'
//             Casual / Formal / Smart Casual; the other seven classes pretrain a backbone
//   apparel   tinted garments, labels colour + type (apps/apparel/standin.cpp)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/data/image_folder.h"
#include "engine/data/splits.h"
#include "engine/random.h"

namespace weft::app {

// The images of the given Fashion-MNIST classes (indices into kFashionMnistClasses), relabelled
// 0..K-1 in the order given, class_names set to theirs. Image order is kept.
data::LabeledImages fashion_mnist_classes(const data::LabeledImages& full,
                                          const std::vector<int>& classes);

// Two datasets with the same image shape and class names, one after the other.
data::LabeledImages concat_images(const data::LabeledImages& first,
                                  const data::LabeledImages& second);

// `counts[k]` images of class k drawn at random (all of them when it asks for more), in the
// original order.
data::LabeledImages take_per_class(const data::LabeledImages& data,
                                   const std::vector<int64_t>& counts, Generator& generator);

// At most `limit` images chosen at random, in their original order (limit 0: all). Labelled
// images are drawn class by class: each class present keeps at least one image and the rest of
// the budget goes in proportion to class size.
data::LabeledImages limit_images(const data::LabeledImages& data, int64_t limit,
                                 Generator& generator);
data::MultiLabelImages limit_images(const data::MultiLabelImages& data, int64_t limit,
                                    Generator& generator);

// The choices above made from labels alone, as positions into them, ascending: the same
// choice, with the same draws from `generator`, as take_per_class and limit_images (so an app
// can choose its files before decoding them: image_folder.h, "Choosing before decoding").
// The multi-label form draws `limit` of `count` rows; limit 0 (or count <= limit): all.
data::IndexList per_class_indices(const std::vector<int32_t>& labels,
                                  const std::vector<int64_t>& counts, Generator& generator);
data::IndexList limit_indices(const std::vector<int32_t>& labels, int64_t limit,
                              Generator& generator);
data::IndexList limit_indices(int64_t count, int64_t limit, Generator& generator);

// labels[indices[i]] for each i.
std::vector<int32_t> labels_at(const std::vector<int32_t>& labels, const data::IndexList& indices);
// indices[within[i]] for each i: positions chosen within a part, as positions in the whole.
data::IndexList compose(const data::IndexList& indices, const data::IndexList& within);

// stratified_split's parts, each then cut to `limit` by limit_indices, part after part, from
// limit_generator: the images a stratified split of decoded images, each part then cut by
// limit_images, would keep, as index lists.
std::vector<data::IndexList> split_then_limit(const std::vector<int32_t>& labels,
                                              const std::vector<double>& ratios, int64_t limit,
                                              Generator& split_generator,
                                              Generator& limit_generator);

// uint8 [N, C, H, W] images resized to height x width, each channel with the loaders' resize
// (engine/data/resize.h: Mitchell filter when shrinking, Catmull-Rom when enlarging). The same
// tensor when the size already matches.
Tensor resize_images(const Tensor& images, int height, int width);

// uint8 [N, 1, H, W] -> [N, 3, H, W], the grey value in every channel.
Tensor gray_to_rgb(const Tensor& images);

// Images brought to `channels` (1 stays 1 or becomes 3; 3 must stay 3) and size x size.
Tensor conform_images(const Tensor& images, int channels, int size);

struct ThreeWaySplit {
  data::LabeledImages train, validation, test;
};

}  // namespace weft::app
