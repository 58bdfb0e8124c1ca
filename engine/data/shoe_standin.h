// Fashion-MNIST shoes standing in for shoe photos that are not on this machine: seed 000's UT
// Zappos50K (shoe types, and the DCGAN that makes synthetic shoes) and seed 001's photos of
// left and right shoes per owner (see ../shared/seeds/FACTS.md).
//
//   select_classes      keep some classes, relabelled 0..K-1 (the shoe classes Sandal 5,
//                       Sneaker 7, Ankle boot 9 become 0, 1, 2), optionally a few per class
//   pad_images          28x28 -> 32x32 by a border (the DCGAN and the pair CNN want sides that
//   crop_images         halve cleanly), and back to the centre 28x28 for a 28x28 classifier
//   mirrored_shoe_pairs stand-in shoe pairs: each image is a left shoe; its right shoe is the
//                       image mirrored left-right with a small random jitter (shift, rotation,
//                       zoom), so a pair's two photos differ the way two photos of a real pair
//                       do - mirrored and not quite aligned. Owners are synthetic: each owns
//                       `pairs_per_owner` pairs of one class (the seed's owners had 3 pairs), so
//                       hard negatives - a right shoe of another pair of the same owner - are
//                       other shoes of the same class.
//
// The result of mirrored_shoe_pairs is a PairedImages (pairs.h) like load_shoe_pairs' for a
// real folder, so make_pairs, grouped_split and the pair models take either.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/data/pairs.h"
#include "engine/random.h"

namespace weft::data {

// Fashion-MNIST's footwear: Sandal, Sneaker, Ankle boot.
extern const std::vector<int32_t> kFashionMnistShoeClasses;

// The images whose label is in `classes`, relabelled by position in that list, class_names cut
// to match. per_class > 0 keeps at most that many of each class: a random choice when
// `generator` is given, the first ones in dataset order otherwise. Dataset order is kept.
LabeledImages select_classes(const LabeledImages& data, const std::vector<int32_t>& classes,
                             int64_t per_class = 0, Generator* generator = nullptr);
// The positions (ascending) of the images select_classes keeps, from the labels alone (of
// `num_classes` classes), with the same draws from `generator`.
std::vector<int64_t> select_class_indices(const std::vector<int32_t>& labels,
                                          const std::vector<int32_t>& classes, int num_classes,
                                          int64_t per_class = 0, Generator* generator = nullptr);

// uint8 [N, C, H, W] -> [N, C, H + 2 pad, W + 2 pad], the border filled with `value`.
Tensor pad_images(const Tensor& images, int pad, uint8_t value = 0);

// uint8 [N, C, H, W] -> the centred size x size window, [N, C, size, size] (size <= H, W).
Tensor crop_images(const Tensor& images, int size);

struct MirroredPairOptions {
  int pairs_per_owner = 3;
  float max_shift = 1.5f;     // pixels, uniform in [-s, s] in x and y
  float max_rotation = 6.0f;  // degrees, uniform in [-r, r]
  float max_zoom = 0.05f;     // magnification uniform in [1 - z, 1 + z]
};

// One pair per image of `shoes` (uint8 [N, C, H, W], any labels): photo 2i is image i (the left
// shoe, slot 0), photo 2i + 1 its mirrored, jittered copy (the right shoe, slot 1). Within each
// class the images are shuffled and dealt out to owners of pairs_per_owner pairs; a class's
// last few images that do not fill an owner are left out. item = pair index, group = owner;
// item_names "owner-0007/Sneaker-2", group_names "owner-0007".
PairedImages mirrored_shoe_pairs(const LabeledImages& shoes, const MirroredPairOptions& options,
                                 Generator& generator);

}  // namespace weft::data
