// Tests of engine/data/pairs.h: the shoe-pair folder layout, positives and hard / any
// negatives, grouping by owner, pairs from a labelled set, and layout errors.
#include <catch2/catch.hpp>

#include <set>

#include "data_test_util.h"
#include "engine/data/pairs.h"
#include "engine/data/splits.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

ImageFolderOptions small() {
  ImageFolderOptions options;
  options.image.height = options.image.width = 4;
  return options;
}

// Owners ann (3 pairs), bob (3 pairs), cy (1 pair); pixel value = 10 * pair + side.
void write_shoes(const TempDir& dir) {
  int pair = 0;
  for (const auto& [owner, count] : {std::pair{"ann", 3}, std::pair{"bob", 3}, std::pair{"cy", 1}}) {
    for (int p = 0; p < count; ++p, ++pair) {
      const std::string folder = std::string("shoes/") + owner + "/pair" + std::to_string(p);
      testing::write_png(dir.file(folder + "/left.png"), 4, 4, 3, 10 * pair);
      testing::write_png(dir.file(folder + "/Right.png"), 4, 4, 3, 10 * pair + 1);
    }
  }
}

}  // namespace

TEST_CASE("shoe pairs load left then right per pair, with owners as groups", "[data][pairs]") {
  TempDir dir;
  write_shoes(dir);
  const PairedImages photos = load_shoe_pairs(dir.file("shoes"), small());
  REQUIRE(photos.size() == 14);
  CHECK(photos.group_names == std::vector<std::string>{"ann", "bob", "cy"});
  CHECK(photos.item_names.front() == "ann/pair0");
  CHECK(photos.item_names.back() == "cy/pair0");
  CHECK(photos.item == std::vector<int32_t>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6});
  CHECK(photos.group == std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2});
  CHECK(photos.slot == std::vector<int32_t>{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  const std::vector<uint8_t> px = photos.images.to_vector<uint8_t>();
  CHECK(px[0] == 0);        // ann/pair0/left
  CHECK(px[48] == 1);       // ann/pair0/right
  CHECK(px[13 * 48] == 61);  // cy/pair0/right
}

TEST_CASE("pairs: positives are the two shoes of a pair, hard negatives come from the same "
          "owner",
          "[data][pairs]") {
  TempDir dir;
  write_shoes(dir);
  const PairedImages photos = load_shoe_pairs(dir.file("shoes"), small());
  PairOptions options;
  options.negatives_per_positive = 2;
  Generator generator(1);
  const std::vector<PairExample> examples = make_pairs(photos, options, generator);
  int positives = 0, negatives = 0;
  for (const PairExample& e : examples) {
    const size_t a = static_cast<size_t>(e.first), b = static_cast<size_t>(e.second);
    CHECK(photos.slot[a] == 0);  // a left shoe ...
    CHECK(photos.slot[b] == 1);  // ... with a right shoe
    CHECK(e.group == photos.group[a]);
    if (e.target == 1) {
      ++positives;
      CHECK(photos.item[a] == photos.item[b]);
    } else {
      ++negatives;
      CHECK(photos.item[a] != photos.item[b]);
      // Hard negatives stay with the owner, except cy, who has no other pair.
      if (photos.group_names[static_cast<size_t>(photos.group[a])] != "cy") {
        CHECK(photos.group[a] == photos.group[b]);
      }
    }
  }
  CHECK(positives == 7);
  CHECK(negatives == 14);

  options.negatives = Negatives::anyone;
  options.negatives_per_positive = 5;
  Generator any_generator(2);
  bool crossed_owner = false;
  for (const PairExample& e : make_pairs(photos, options, any_generator)) {
    if (e.target == 0) {
      crossed_owner = crossed_owner || photos.group[static_cast<size_t>(e.first)] !=
                                           photos.group[static_cast<size_t>(e.second)];
    }
  }
  CHECK(crossed_owner);
}

TEST_CASE("pairs: a grouped split keeps each owner's examples on one side", "[data][pairs]") {
  TempDir dir;
  write_shoes(dir);
  const PairedImages photos = load_shoe_pairs(dir.file("shoes"), small());
  Generator generator(3);
  const auto parts = grouped_split(photos.group, {0.6, 0.4}, generator);
  std::set<int32_t> owners[2];
  for (int k = 0; k < 2; ++k) {
    Generator pair_generator(4);
    for (const PairExample& e : make_pairs(photos, {}, pair_generator, parts[static_cast<size_t>(k)])) {
      owners[k].insert(photos.group[static_cast<size_t>(e.first)]);
      owners[k].insert(photos.group[static_cast<size_t>(e.second)]);
    }
  }
  for (int32_t owner : owners[0]) CHECK(owners[1].count(owner) == 0);
  CHECK(owners[0].size() + owners[1].size() == 3);
}

TEST_CASE("pairs from a labelled set: consecutive images of a class are positives",
          "[data][pairs]") {
  LabeledImages data;
  data.images = Tensor::from_vector(std::vector<uint8_t>{0, 1, 2, 3, 4, 5}, {6, 1, 1, 1});
  data.labels = Tensor::from_vector(std::vector<int32_t>{1, 0, 1, 0, 1, 1}, {6});
  data.class_names = {"x", "y"};
  const PairedImages photos = paired_from_labels(data);
  CHECK(photos.item == std::vector<int32_t>{0, 0, 1, 1, 1, 1});
  CHECK(photos.images.to_vector<uint8_t>() == std::vector<uint8_t>{1, 3, 0, 2, 4, 5});
  CHECK(photos.slot == std::vector<int32_t>{0, 1, 0, 1, 0, 1});
  Generator generator(0);
  const auto examples = make_pairs(photos, {}, generator);
  int positives = 0;
  for (const PairExample& e : examples) {
    positives += e.target;
    CHECK((e.target == 1) == (photos.item[static_cast<size_t>(e.first)] ==
                              photos.item[static_cast<size_t>(e.second)]));
  }
  CHECK(positives == 3);  // (1, 3) of class x; (0, 2) and (4, 5) of class y
  CHECK(examples.size() == 6);
  CHECK_THROWS_WITH(paired_from_labels(data, {0, 1}), Catch::Contains("2 groups for 6 images"));
}

TEST_CASE("shoe pair layout errors name the folder", "[data][pairs]") {
  TempDir dir;
  testing::write_png(dir.file("a/ann/p0/left.png"), 4, 4, 3, 1);
  CHECK_THROWS_WITH(load_shoe_pairs(dir.file("a"), small()),
                    Catch::Contains("p0: expected one right.<") &&
                        Catch::Contains("found 0 (files: left.png)"));
  testing::write_png(dir.file("b/ann/p0/left.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("b/ann/p0/left.jpg"), 4, 4, 3, 1);
  testing::write_png(dir.file("b/ann/p0/right.png"), 4, 4, 3, 1);
  CHECK_THROWS_WITH(load_shoe_pairs(dir.file("b"), small()),
                    Catch::Contains("expected one left.<jpg|jpeg|png|bmp|pgm|ppm> photo, found 2"));
  dir.dir("c/bob");
  CHECK_THROWS_WITH(load_shoe_pairs(dir.file("c"), small()),
                    Catch::Contains("bob: owner folder without pair folders"));
  CHECK_THROWS_WITH(load_shoe_pairs(dir.path() + "/missing", small()),
                    Catch::Contains("missing: no such directory"));
}

TEST_CASE("a shoe pair with a corrupt photo is skipped whole", "[data][pairs]") {
  TempDir dir;
  write_shoes(dir);
  testing::write_text(dir.file("shoes/bob/pair1/left.png"), "garbage");
  CHECK_THROWS_WITH(load_shoe_pairs(dir.file("shoes"), small()),
                    Catch::Contains("bob/pair1/left.png: not a JPEG, PNG"));
  ImageFolderOptions options = small();
  options.bad_images = BadImages::skip;
  const PairedImages photos = load_shoe_pairs(dir.file("shoes"), options);
  CHECK(photos.size() == 12);
  REQUIRE(photos.skipped.size() == 2);
  CHECK_THAT(photos.skipped[1].reason, Catch::Contains("its partner"));
  // Item ids keep their meaning: bob/pair1 (item 4) is gone, bob/pair2 is still item 5.
  CHECK(std::count(photos.item.begin(), photos.item.end(), 4) == 0);
  CHECK(photos.item[8] == 5);
  CHECK(photos.images.to_vector<uint8_t>()[8 * 48] == 50);
}
