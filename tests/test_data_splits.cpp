// Tests of engine/data/splits.h and balance.h: stratification within one image per class,
// grouping, reproducibility per seed, class dropping, oversampling and augmented balancing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/data/balance.h"
#include "engine/data/image_folder.h"
#include "engine/data/splits.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;

namespace {

// Uneven classes: class c has sizes[c] images, interleaved.
std::vector<int32_t> make_labels(const std::vector<int>& sizes) {
  std::vector<int32_t> labels;
  std::vector<int> left = sizes;
  bool any = true;
  while (any) {
    any = false;
    for (size_t c = 0; c < left.size(); ++c) {
      if (left[c] > 0) {
        labels.push_back(static_cast<int32_t>(c));
        --left[c];
        any = true;
      }
    }
  }
  return labels;
}

// Every index appears in exactly one part.
void check_partition(const std::vector<IndexList>& parts, size_t n) {
  std::vector<int> seen(n, 0);
  for (const IndexList& part : parts) {
    CHECK(std::is_sorted(part.begin(), part.end()));
    for (int64_t i : part) ++seen[static_cast<size_t>(i)];
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

}  // namespace

TEST_CASE("stratified split keeps each class within one image of its share", "[data][splits]") {
  const std::vector<int> sizes = {100, 37, 9, 3, 1, 250};
  const std::vector<int32_t> labels = make_labels(sizes);
  for (const std::vector<double>& ratios :
       {std::vector<double>{0.7, 0.15, 0.15}, std::vector<double>{0.8, 0.2}}) {
    Generator generator(1);
    const std::vector<IndexList> parts = stratified_split(labels, ratios, generator);
    REQUIRE(parts.size() == ratios.size());
    check_partition(parts, labels.size());
    for (size_t k = 0; k < parts.size(); ++k) {
      std::map<int32_t, int> per_class;
      for (int64_t i : parts[k]) ++per_class[labels[static_cast<size_t>(i)]];
      for (size_t c = 0; c < sizes.size(); ++c) {
        const double expected = sizes[c] * ratios[k];
        CHECK(std::abs(per_class[static_cast<int32_t>(c)] - expected) < 1.0 + 1e-9);
      }
      // Part sizes follow the ratios too, to within one image.
      CHECK(std::abs(static_cast<double>(parts[k].size()) - labels.size() * ratios[k]) <= 1.0);
    }
  }
}

TEST_CASE("splits are reproducible for a seed and differ for another", "[data][splits]") {
  const std::vector<int32_t> labels = make_labels({40, 40, 20});
  Generator a(5), b(5), c(6);
  const auto pa = stratified_split(labels, {0.8, 0.2}, a);
  const auto pb = stratified_split(labels, {0.8, 0.2}, b);
  const auto pc = stratified_split(labels, {0.8, 0.2}, c);
  CHECK(pa == pb);
  CHECK(pa != pc);
  Generator r1(9), r2(9), r3(10);
  CHECK(random_split(50, {0.5, 0.5}, r1) == random_split(50, {0.5, 0.5}, r2));
  CHECK(random_split(50, {0.5, 0.5}, r1) != random_split(50, {0.5, 0.5}, r3));
}

TEST_CASE("grouped split never puts a group in two parts", "[data][splits]") {
  // 30 owners with 2..7 photos each.
  std::vector<int32_t> groups;
  for (int32_t owner = 0; owner < 30; ++owner) {
    for (int k = 0; k < 2 + owner % 6; ++k) groups.push_back(owner * 3 + 1);  // sparse ids
  }
  Generator generator(2);
  const auto parts = grouped_split(groups, {0.8, 0.2}, generator);
  check_partition(parts, groups.size());
  std::set<int32_t> train_groups, test_groups;
  for (int64_t i : parts[0]) train_groups.insert(groups[static_cast<size_t>(i)]);
  for (int64_t i : parts[1]) test_groups.insert(groups[static_cast<size_t>(i)]);
  for (int32_t g : test_groups) CHECK(train_groups.count(g) == 0);
  CHECK(train_groups.size() + test_groups.size() == 30);
  // Sizes near the ratios (within the largest group's 7 photos).
  CHECK(std::abs(static_cast<double>(parts[1].size()) - 0.2 * groups.size()) <= 7);
  Generator again(2), other(3);
  CHECK(grouped_split(groups, {0.8, 0.2}, again) == parts);
  CHECK(grouped_split(groups, {0.8, 0.2}, other) != parts);
  // Few groups: every part still gets one.
  Generator few(4);
  const auto three = grouped_split({0, 0, 0, 0, 1, 2}, {0.7, 0.15, 0.15}, few);
  for (const IndexList& part : three) CHECK(!part.empty());
}

TEST_CASE("bad ratios and labels are errors that say what was expected", "[data][splits]") {
  Generator generator(0);
  CHECK_THROWS_WITH(stratified_split({0, 1}, {0.5, 0.4}, generator),
                    Catch::Contains("ratios sum to 0.9, expected 1"));
  CHECK_THROWS_WITH(stratified_split({0, 1}, {1.2, -0.2}, generator),
                    Catch::Contains("ratio 1 is -0.2"));
  CHECK_THROWS_WITH(stratified_split({0, -1}, {1.0}, generator),
                    Catch::Contains("label of entry 1 is -1"));
  CHECK_THROWS_WITH(grouped_split({0, 1}, {}, generator), Catch::Contains("no ratios"));
}

TEST_CASE("classes with fewer than N images are dropped and the rest renumbered",
          "[data][splits]") {
  // Sizes 5, 2, 7, 4 with min 4: classes 0, 2, 3 stay as 0, 1, 2.
  const std::vector<int32_t> labels = make_labels({5, 2, 7, 4});
  const ClassSelection s = classes_with_at_least(labels, 4);
  CHECK(s.kept == std::vector<int32_t>{0, 2, 3});
  CHECK(s.new_label == std::vector<int32_t>{0, -1, 1, 2});
  CHECK(s.counts == std::vector<int64_t>{5, 2, 7, 4});
  CHECK(s.indices.size() == 16);

  // A file listing cut to those classes (weft-shoes' --min-count): each path names its old index.
  LabeledFiles files;
  for (size_t i = 0; i < labels.size(); ++i) files.paths.push_back(std::to_string(i));
  files.labels = labels;
  files.class_names = {"a", "b", "c", "d"};
  const LabeledFiles kept = keep_classes(files, s);
  CHECK(kept.class_names == std::vector<std::string>{"a", "c", "d"});
  REQUIRE(kept.size() == 16);
  REQUIRE(kept.labels.size() == 16);
  int64_t previous = -1;
  for (size_t i = 0; i < kept.paths.size(); ++i) {
    const int64_t old = std::stoll(kept.paths[i]);
    CHECK(old > previous);  // the listing's order
    previous = old;
    CHECK(kept.labels[i] == s.new_label[static_cast<size_t>(labels[static_cast<size_t>(old)])]);
    CHECK(kept.labels[i] >= 0);
  }
}

TEST_CASE("oversampling makes every class as large as the largest", "[data][splits]") {
  const std::vector<int32_t> labels = make_labels({10, 3, 1});
  Generator generator(8);
  const IndexList all = oversample_indices(labels, generator);
  std::map<int32_t, int> counts;
  for (int64_t i : all) ++counts[labels[static_cast<size_t>(i)]];
  CHECK(counts[0] == 10);
  CHECK(counts[1] == 10);
  CHECK(counts[2] == 10);
  // Class 1's three images are repeated evenly: 3 + 7 = 10 -> each 3 or 4 times.
  std::map<int64_t, int> uses;
  for (int64_t i : all) {
    if (labels[static_cast<size_t>(i)] == 1) ++uses[i];
  }
  for (const auto& [index, times] : uses) CHECK((times == 3 || times == 4));
}

TEST_CASE("balancing by augmentation keeps the originals and adds changed copies",
          "[data][balance]") {
  // 6 images of class 0, 2 of class 1; 4x4 gradient images.
  const int64_t n = 8;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 16));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 13) % 256);
  LabeledImages data;
  data.images = Tensor::from_vector(pixels, {n, 1, 4, 4});
  data.labels = Tensor::from_vector(std::vector<int32_t>{0, 0, 1, 0, 0, 1, 0, 0}, {n});
  data.class_names = {"casual", "formal"};
  AugmentOptions augment;
  augment.horizontal_flip = true;
  augment.rotation_degrees = 20;
  Generator generator(4);
  const BalancedImages balanced = balance_by_augmentation(data, augment, generator);
  CHECK(class_counts(balanced) == std::vector<int64_t>{6, 6});
  CHECK(balanced.originals == 8);
  const std::vector<uint8_t> out = balanced.images.to_vector<uint8_t>();
  CHECK(std::equal(pixels.begin(), pixels.end(), out.begin()));
  int changed = 0;
  for (int64_t i = balanced.originals; i < balanced.size(); ++i) {
    const int64_t from = balanced.source[static_cast<size_t>(i)];
    CHECK(balanced.labels.to_vector<int32_t>()[static_cast<size_t>(i)] == 1);
    changed += !std::equal(out.begin() + i * 16, out.begin() + (i + 1) * 16,
                           pixels.begin() + from * 16);
  }
  CHECK(changed >= 3);  // of 4 copies, at most one may draw no flip and ~0 rotation
}

TEST_CASE("balancing by augmentation: each copy is augment_image's with the generator's draws in "
          "order, whatever the threads",
          "[data][balance]") {
  // 40 images of class 0, 3 of class 1: 37 copies of 3 x 9 x 11 pictures, spread over threads.
  const int64_t n = 43, elements = 3 * 9 * 11;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * elements));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 29) % 253);
  std::vector<int32_t> labels(static_cast<size_t>(n), 0);
  labels[5] = labels[17] = labels[30] = 1;
  LabeledImages data;
  data.images = Tensor::from_vector(pixels, {n, 3, 9, 11});
  data.labels = Tensor::from_vector(labels, {n});
  data.class_names = {"casual", "formal"};
  AugmentOptions augment;
  augment.horizontal_flip = true;
  augment.rotation_degrees = 30;
  augment.shear_degrees = 10;
  augment.zoom = 0.2f;
  Generator generator(11);
  const BalancedImages balanced = balance_by_augmentation(data, augment, generator);
  REQUIRE(balanced.size() == 80);

  // The reference: the same oversampling draw, then one copy after another with augment_image
  // and std::round, from a generator in the same state.
  Generator reference(11);
  (void)oversample_indices(labels, reference);
  const std::vector<uint8_t> out = balanced.images.to_vector<uint8_t>();
  int differing = 0;
  std::vector<float> original(static_cast<size_t>(elements)), copy(original.size());
  for (int64_t i = balanced.originals; i < balanced.size(); ++i) {
    const int64_t from = balanced.source[static_cast<size_t>(i)];
    for (int64_t e = 0; e < elements; ++e) {
      original[static_cast<size_t>(e)] = pixels[static_cast<size_t>(from * elements + e)];
    }
    augment_image(augment, original.data(), copy.data(), 3, 9, 11, reference);
    for (int64_t e = 0; e < elements; ++e) {
      const float v = std::clamp(std::round(copy[static_cast<size_t>(e)]), 0.0f, 255.0f);
      differing += out[static_cast<size_t>(i * elements + e)] != static_cast<uint8_t>(v);
    }
  }
  CHECK(differing == 0);
  CHECK(generator.uniform() == reference.uniform());  // both generators left in the same state
}
