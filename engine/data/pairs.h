// Image pairs for "same pair or not" models (seed 001: is this left shoe the partner of that
// right shoe?), from a folder of shoe photos per owner or from any labelled image set.
//
// Shoe-pair folder layout:
//
//   root/<owner>/<pair>/left.<ext>     one photo of the left shoe  (.jpg .jpeg .png .bmp .pgm .ppm)
//   root/<owner>/<pair>/right.<ext>    one photo of the right shoe
//
// e.g. shoes/alice/sneakers/left.jpg, shoes/alice/sneakers/right.jpg, shoes/alice/boots/...
// Owners and pairs are sorted by name; names starting with "." are ignored; the file stems
// "left" and "right" are matched without regard to case. A pair folder without exactly one of
// each, or an owner folder without pairs, is an error that names the folder.
//
// Examples (make_pairs):
//   positive (target 1)  the two photos of one item: left and right shoe of one pair
//   negative (target 0)  the first photo of an item with the second photo of another item -
//                        Negatives::same_group draws the other item from the same owner (seed
//                        001's hard negatives), Negatives::anyone from any owner
// Each example carries its owner (group), so splits can keep an owner on one side:
// grouped_split(photos.group, ...) splits the photos; make_pairs(..., within = one part) then
// builds that part's examples from its own photos only.
#pragma once

#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/data/image_folder.h"
#include "engine/random.h"

namespace weft::data {

struct PairedImages {
  Tensor images;               // uint8 [M, C, H, W]; the photos of one item are consecutive
  std::vector<int32_t> item;   // per photo: its pair (shoes) or class (labelled sets)
  std::vector<int32_t> group;  // per photo: its owner (0 for all when there are no owners)
  std::vector<int32_t> slot;   // per photo: 0 left / first, 1 right / second (see make_pairs)
  std::vector<std::string> item_names;   // shoes: "owner/pair"
  std::vector<std::string> group_names;  // shoes: owner folder names
  std::vector<std::string> paths;        // per photo, when loaded from files
  std::vector<SkippedImage> skipped;     // with BadImages::skip: bad photos and their partners
  DecodeStats decode;
  int64_t size() const { return static_cast<int64_t>(item.size()); }
};

// Reads the layout above (options.class_depth is not used). With BadImages::skip a pair with a
// bad photo is left out whole, both photos listed in `skipped`.
PairedImages load_shoe_pairs(const std::string& root, const ImageFolderOptions& options = {});

// Any labelled set as pairs material: item = class label; slot = position within the class,
// alternating 0, 1, 0, 1 in dataset order; group = groups[i] (all 0 when groups is empty).
PairedImages paired_from_labels(const LabeledImages& data,
                                const std::vector<int32_t>& groups = {});

enum class Negatives { same_group, anyone };

struct PairOptions {
  Negatives negatives = Negatives::same_group;
  int negatives_per_positive = 1;
};

struct PairExample {
  int64_t first = 0;   // photo index (slot 0)
  int64_t second = 0;  // photo index (slot 1)
  int32_t target = 0;  // 1: same item, 0: different items
  int32_t group = 0;   // the first photo's group
};

// Positives: within each item, consecutive photos (slot 0, slot 1) - for shoes exactly (left,
// right). Negatives: for each positive (a, b), `negatives_per_positive` distinct photos c of other
// items with slot(c) = slot(b) (a right shoe for a left shoe), drawn from the same group when
// asked and possible; an item whose group has no other item falls back to anyone. Only photos
// in `within` are used (all when empty). Examples come item by item: a positive, then its
// negatives.
std::vector<PairExample> make_pairs(const PairedImages& photos, const PairOptions& options,
                                    Generator& generator, const std::vector<int64_t>& within = {});

}  // namespace weft::data
