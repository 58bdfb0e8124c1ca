// Class balancing by augmented oversampling (seed 002: Casual 93.4%, Formal 6.4%, Smart Casual
// 0.2%; the minority classes were grown with rotated, sheared, flipped copies).
//
// balance_by_augmentation keeps every original image unchanged and appends augmented copies of
// randomly chosen members of each smaller class until every class has as many images as the
// largest. The copies are real pixels (uint8), so the result can be saved, inspected in a sample
// grid, or split like any dataset. For data that would not fit in memory that way, use
// oversample_indices (splits.h) with the loader's on-the-fly augmentation instead.
#pragma once

#include <vector>

#include "engine/data/augment.h"
#include "engine/data/fashion_mnist.h"

namespace weft::data {

struct BalancedImages : LabeledImages {
  int64_t originals = 0;        // images [0, originals) are the input, in order
  std::vector<int64_t> source;  // per image: the input index it was made from
};

// `data` is uint8 [N, C, H, W] with int32 labels. Copies are augmented with one draw of
// `augment` each (round to nearest, clamp to 0..255), drawn from `generator`.
BalancedImages balance_by_augmentation(const LabeledImages& data, const AugmentOptions& augment,
                                       Generator& generator);

// Images per class (length = number of classes: class_names.size(), or 1 + the largest label).
std::vector<int64_t> class_counts(const LabeledImages& data);

}  // namespace weft::data
