// Train / validation / test splits and class selection, as index lists into a dataset.
//
// Every split is seeded through a Generator, so the same seed gives the same lists on every
// machine and another seed gives other lists. Each function returns one sorted index list per
// ratio; use data::select (fashion_mnist.h) or the loader's index list to apply them.
//
//   stratified_split   every class is divided in the ratios: each part's count of a class is
//                      n_c * ratio rounded down or up (never further off), and the rounding is
//                      spread over the classes so that part sizes also follow the ratios
//                      (70/15/15 for seed 002, 80/20 for seed 004)
//   grouped_split      whole groups go to one part (no owner in both train and test: seed 001)
//   random_split       plain shuffled split
//   classes_with_at_least
//                      the classes with at least N images and their new ids 0..K-1 (seed 000:
//                      N=100; image_folder.h's keep_classes applies it to a file listing)
//   oversample_indices index list in which every class appears as often as the largest one
//                      (repeats drawn at random; the loader's augmentation varies them)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/random.h"

namespace weft::data {

using IndexList = std::vector<int64_t>;

// Ratios must be positive and sum to 1 (within 1e-6); labels must be >= 0.
std::vector<IndexList> stratified_split(const std::vector<int32_t>& labels,
                                        const std::vector<double>& ratios, Generator& generator);

// Groups are any non-negative ids (owners). Groups are shuffled and each goes whole to the part
// that is furthest below its share of images, so part sizes follow the ratios as closely as the
// group sizes allow. Every part gets at least one group when there are enough groups.
std::vector<IndexList> grouped_split(const std::vector<int32_t>& groups,
                                     const std::vector<double>& ratios, Generator& generator);

std::vector<IndexList> random_split(int64_t count, const std::vector<double>& ratios,
                                    Generator& generator);

// The labels of a LabeledImages as a host vector (a convenience for the functions above).
std::vector<int32_t> label_vector(const LabeledImages& data);

struct ClassSelection {
  IndexList indices;                // images of the kept classes, ascending
  std::vector<int32_t> kept;        // old class id of each new class, ascending
  std::vector<int32_t> new_label;   // per old class: its new id, or -1 when dropped
  std::vector<int64_t> counts;      // per old class: its number of images
};

// Classes with at least `min_count` images; `num_classes` old classes (0: 1 + the largest label).
ClassSelection classes_with_at_least(const std::vector<int32_t>& labels, int64_t min_count,
                                     int num_classes = 0);

// `indices` (or all of 0..labels.size()-1 when empty) plus random repeats of each smaller class's
// members until every class present has as many entries as the largest. Sorted ascending.
IndexList oversample_indices(const std::vector<int32_t>& labels, Generator& generator,
                             const IndexList& indices = {});

}  // namespace weft::data
