// The shoe-pair stand-in and pair generation as weft-shoe-pairs uses them
// (engine/data/shoe_standin.h, engine/data/pairs.h, models/pair_training.h): mirrored pairs and
// synthetic owners, an owner split with no owner on two sides, half of the examples positive,
// hard negatives from the same owner, and batches that are exactly half positive.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "engine/data/pairs.h"
#include "engine/data/shoe_standin.h"
#include "engine/data/splits.h"
#include "engine_test_util.h"
#include "models/pair_training.h"
#include "pairs_test_util.h"

using namespace weft;

TEST_CASE("pairs stand-in: class selection, padding and cropping", "[pairs][standin]") {
  const data::LabeledImages shoes = test::rectangle_shoes(3, 5, 12, 1);
  const data::LabeledImages picked = data::select_classes(shoes, {2, 0}, 3);
  CHECK(picked.size() == 6);
  CHECK(picked.class_names == std::vector<std::string>{"shoe2", "shoe0"});
  for (int32_t label : picked.labels.to_vector<int32_t>()) CHECK((label == 0 || label == 1));
  CHECK_THAT(test::error_message([&] { data::select_classes(shoes, {3}); }),
             Catch::Contains("class 3 is not one of the 3 classes"));

  // From the labels alone: the same images, with the same draws (weft-dcgan decodes only these).
  Generator a(9), b(9);
  const data::LabeledImages drawn = data::select_classes(shoes, {1, 2}, 2, &a);
  const std::vector<int64_t> at = data::select_class_indices(
      shoes.labels.to_vector<int32_t>(), {1, 2}, 3, 2, &b);
  CHECK(data::gather_rows(shoes.images, at).to_vector<uint8_t>() ==
        drawn.images.to_vector<uint8_t>());
  CHECK(a.offset() == b.offset());

  const Tensor padded = data::pad_images(shoes.images, 2, 7);
  CHECK(padded.shape() == Shape{15, 1, 16, 16});
  CHECK(padded.to_vector<uint8_t>()[0] == 7);
  CHECK(data::crop_images(padded, 12).to_vector<uint8_t>() == shoes.images.to_vector<uint8_t>());
}

TEST_CASE("pairs stand-in: each right shoe is its left shoe mirrored; owners hold pairs of one "
          "class", "[pairs][standin]") {
  const data::LabeledImages shoes = test::rectangle_shoes(3, 7, 16, 2);
  data::MirroredPairOptions still;
  still.max_shift = still.max_rotation = still.max_zoom = 0.0f;
  Generator rng(1);
  const data::PairedImages photos = data::mirrored_shoe_pairs(shoes, still, rng);
  // 7 shoes per class make 2 owners of 3 pairs; the 7th is left out.
  REQUIRE(photos.size() == 36);
  CHECK(photos.group_names.size() == 6);
  std::map<int32_t, int> photos_per_owner;
  std::map<int32_t, std::set<std::string>> classes_per_owner;
  const std::vector<uint8_t> pixels = photos.images.to_vector<uint8_t>();
  for (int64_t i = 0; i < photos.size(); i += 2) {
    CHECK(photos.slot[i] == 0);
    CHECK(photos.slot[i + 1] == 1);
    CHECK(photos.item[i] == photos.item[i + 1]);
    CHECK(photos.group[i] == photos.group[i + 1]);
    photos_per_owner[photos.group[i]] += 2;
    const std::string& name = photos.item_names[photos.item[i]];
    classes_per_owner[photos.group[i]].insert(name.substr(name.find('/') + 1, 5));
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        REQUIRE(pixels[(i + 1) * 256 + y * 16 + x] == pixels[i * 256 + y * 16 + (15 - x)]);
      }
    }
  }
  for (const auto& [owner, count] : photos_per_owner) CHECK(count == 6);
  for (const auto& [owner, classes] : classes_per_owner) CHECK(classes.size() == 1);

  // With the default jitter the right shoe is close to the mirror, not equal to it.
  Generator rng2(1);
  const data::PairedImages jittered = data::mirrored_shoe_pairs(shoes, {}, rng2);
  CHECK(jittered.images.to_vector<uint8_t>() != pixels);
}

TEST_CASE("pairs: an owner split keeps every owner on one side, half the examples positive",
          "[pairs][standin]") {
  Generator rng(3);
  const data::PairedImages photos =
      data::mirrored_shoe_pairs(test::rectangle_shoes(3, 30, 16, 4), {}, rng);
  const auto parts = data::grouped_split(photos.group, {0.7, 0.15, 0.15}, rng);
  std::vector<std::set<int32_t>> owners(3);
  for (int part = 0; part < 3; ++part) {
    REQUIRE_FALSE(parts[part].empty());
    for (int64_t photo : parts[part]) owners[part].insert(photos.group[photo]);
  }
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      for (int32_t owner : owners[a]) CHECK(owners[b].count(owner) == 0);
    }
  }
  for (int part = 0; part < 3; ++part) {
    const std::set<int64_t> allowed(parts[part].begin(), parts[part].end());
    const auto examples = data::make_pairs(photos, {}, rng, parts[part]);
    int64_t positives = 0;
    for (const data::PairExample& e : examples) {
      CHECK(allowed.count(e.first) == 1);
      CHECK(allowed.count(e.second) == 1);
      CHECK(photos.slot[e.first] == 0);
      CHECK(photos.slot[e.second] == 1);
      CHECK(e.target == (photos.item[e.first] == photos.item[e.second] ? 1 : 0));
      CHECK(photos.group[e.first] == photos.group[e.second]);  // hard negatives: same owner
      positives += e.target;
    }
    CHECK(positives * 2 == static_cast<int64_t>(examples.size()));
  }
}

TEST_CASE("pairs: balanced order makes every batch of 42 half positive", "[pairs]") {
  Generator rng(5);
  const data::PairedImages photos =
      data::mirrored_shoe_pairs(test::rectangle_shoes(3, 42, 16, 6), {}, rng);
  const auto examples = data::make_pairs(photos, {}, rng);
  REQUIRE(examples.size() == 252);
  const std::vector<int64_t> order = models::balanced_order(examples, rng);
  CHECK(std::set<int64_t>(order.begin(), order.end()).size() == examples.size());
  for (size_t begin = 0; begin < order.size(); begin += 42) {
    int positives = 0;
    for (size_t i = begin; i < std::min(order.size(), begin + 42); ++i) {
      positives += examples[order[i]].target;
    }
    CHECK(positives == 21);
  }
  // Another epoch, another order.
  CHECK(models::balanced_order(examples, rng) != order);
}
