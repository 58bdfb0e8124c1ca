// Tests of engine/data/loader.h: batch shapes, drop_last, shuffling per epoch, identical
// batches for any worker count (with augmentation), multi-hot targets, pair layouts, and
// errors raised in workers; and of the batch jobs' workers (engine/data/workers.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "engine/data/loader.h"
#include "engine/data/workers.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;

namespace {

// n images of 1x3x3, image i filled with value i; label i % 3.
std::shared_ptr<ImageDataset> numbered(int64_t n, Transform transform = {},
                                       std::vector<int64_t> indices = {}) {
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    pixels.insert(pixels.end(), 9, static_cast<uint8_t>(i));
    labels.push_back(static_cast<int32_t>(i % 3));
  }
  return std::make_shared<ImageDataset>(Tensor::from_vector(pixels, {n, 1, 3, 3}),
                                        Tensor::from_vector(labels, {n}), std::move(indices),
                                        std::move(transform));
}

Transform raw() {
  Transform t;
  t.normalize.scale = 1.0f;  // keep pixel values as they are
  return t;
}

// Every batch of one epoch: inputs and targets flattened.
std::vector<std::pair<std::vector<float>, std::vector<int32_t>>> epoch(Loader& loader, int64_t e) {
  std::vector<std::pair<std::vector<float>, std::vector<int32_t>>> out;
  loader.start_epoch(e);
  while (auto batch = loader.next()) {
    out.push_back({batch->inputs.to_vector<float>(), batch->targets.to_vector<int32_t>()});
  }
  return out;
}

}  // namespace

TEST_CASE("loader batches cover the data once; drop_last drops the short batch",
          "[data][loader]") {
  const auto data = numbered(10, raw());
  LoaderOptions options;
  options.batch_size = 4;
  options.shuffle = false;
  Loader keep(data, options);
  CHECK(keep.batches_per_epoch() == 3);
  keep.start_epoch(0);
  std::vector<int64_t> sizes;
  std::vector<float> firsts;
  while (auto batch = keep.next()) {
    sizes.push_back(batch->inputs.dim(0));
    CHECK(batch->inputs.shape() == Shape{batch->inputs.dim(0), 1, 3, 3});
    CHECK(batch->targets.shape() == Shape{batch->inputs.dim(0)});
    const std::vector<float> px = batch->inputs.to_vector<float>();
    for (int64_t i = 0; i < batch->inputs.dim(0); ++i) firsts.push_back(px[static_cast<size_t>(i * 9)]);
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(firsts == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(!keep.next().has_value());

  options.drop_last = true;
  Loader drop(data, options);
  CHECK(drop.batches_per_epoch() == 2);
  CHECK(epoch(drop, 0).size() == 2);
}

TEST_CASE("loader shuffles differently per epoch and per seed, reproducibly", "[data][loader]") {
  const auto data = numbered(20);
  LoaderOptions options;
  options.seed = 3;
  Loader a(data, options), b(data, options);
  CHECK(a.epoch_order(0) == b.epoch_order(0));
  CHECK(a.epoch_order(0) != a.epoch_order(1));
  std::vector<int64_t> sorted = a.epoch_order(1);
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(20);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted == all);
  options.seed = 4;
  Loader c(data, options);
  CHECK(c.epoch_order(0) != a.epoch_order(0));
}

TEST_CASE("loader batches are identical for 0, 1 and 3 workers, augmentation included",
          "[data][loader]") {
  Transform transform;
  AugmentOptions augment;
  augment.rotation_degrees = 40;
  augment.horizontal_flip = true;
  augment.width_shift = 0.2f;
  augment.fill_mode = FillMode::constant;
  augment.fill_value = 255;
  transform.augment = augment;
  transform.normalize.mean = {0.5f};
  // Images with structure so that augmentation changes them.
  const int64_t n = 37;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 16));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 29) % 256);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  std::iota(labels.begin(), labels.end(), 0);
  const auto data = std::make_shared<ImageDataset>(Tensor::from_vector(pixels, {n, 1, 4, 4}),
                                                   Tensor::from_vector(labels, {n}),
                                                   std::vector<int64_t>{}, transform);
  LoaderOptions options;
  options.batch_size = 5;
  options.seed = 12;
  options.prefetch = 2;
  Loader serial(data, options);
  options.workers = 1;
  Loader one(data, options);
  options.workers = 3;
  Loader three(data, options);
  for (int64_t e = 0; e < 2; ++e) {
    const auto expected = epoch(serial, e);
    CHECK(expected.size() == 8);
    CHECK(epoch(one, e) == expected);
    CHECK(epoch(three, e) == expected);
  }
  CHECK(epoch(serial, 0) != epoch(serial, 1));
  // Restarting an epoch (as a resumed run does) gives the same batches again.
  CHECK(epoch(three, 1) == epoch(serial, 1));
}

TEST_CASE("loader carries multi-hot targets and index lists", "[data][loader]") {
  const std::vector<uint8_t> pixels(4 * 3, 7);
  const std::vector<float> targets = {1, 0, 0, 1, 1, 1, 0, 0};
  const auto data = std::make_shared<ImageDataset>(Tensor::from_vector(pixels, {4, 3, 1, 1}),
                                                   Tensor::from_vector(targets, {4, 2}),
                                                   std::vector<int64_t>{3, 1, 1});
  CHECK(data->size() == 3);
  LoaderOptions options;
  options.batch_size = 3;
  options.shuffle = false;
  Loader loader(data, options);
  loader.start_epoch(0);
  const auto batch = loader.next();
  REQUIRE(batch.has_value());
  CHECK(batch->targets.shape() == Shape{3, 2});
  CHECK(batch->targets.to_vector<float>() == std::vector<float>{0, 0, 0, 1, 0, 1});
  CHECK(batch->inputs.to_vector<float>()[0] == Approx(7.0f / 255.0f));
  CHECK(batch->indices == std::vector<int64_t>{0, 1, 2});
}

TEST_CASE("pair dataset stacks along channels or height", "[data][loader]") {
  PairedImages photos;
  // Two 1-channel 1x2 photos: [1, 2] and [3, 4].
  photos.images = Tensor::from_vector(std::vector<uint8_t>{1, 2, 3, 4}, {2, 1, 1, 2});
  photos.item = {0, 0};
  photos.group = {0, 0};
  photos.slot = {0, 1};
  const std::vector<PairExample> examples = {{0, 1, 1, 0}, {1, 0, 0, 0}};
  Transform t = raw();
  const PairDataset channels(photos, examples, PairLayout::channels, t);
  const PairDataset stacked(photos, examples, PairLayout::stacked, t);
  CHECK(channels.input_shape() == Shape{2, 1, 2});
  CHECK(stacked.input_shape() == Shape{1, 2, 2});
  std::vector<float> input(4);
  int32_t target = -1;
  Generator generator(0);
  channels.get(0, input.data(), &target, generator);
  CHECK(input == std::vector<float>{1, 2, 3, 4});
  CHECK(target == 1);
  stacked.get(1, input.data(), &target, generator);
  CHECK(input == std::vector<float>{3, 4, 1, 2});
  CHECK(target == 0);
  CHECK_THROWS_WITH(PairDataset(photos, {{0, 5, 1, 0}}, PairLayout::channels),
                    Catch::Contains("example 0 refers to photos 0 and 5 of 2"));
}

TEST_CASE("loader errors: bad options, bad indices, worker exceptions reach next()",
          "[data][loader]") {
  CHECK_THROWS_WITH(numbered(3, {}, {0, 7}), Catch::Contains("entry 1 of the index list is 7"));
  LoaderOptions bad;
  bad.batch_size = 0;
  CHECK_THROWS_WITH(Loader(numbered(3), bad), Catch::Contains("batch_size must be positive"));
  Loader unstarted(numbered(3), {});
  CHECK_THROWS_WITH(unstarted.next(), Catch::Contains("call start_epoch"));

  // A normalisation with 2 means for 1 channel fails inside the worker.
  Transform wrong;
  wrong.normalize.mean = {0.1f, 0.2f};
  LoaderOptions options;
  options.workers = 2;
  options.batch_size = 2;
  Loader loader(numbered(6, wrong), options);
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("2 mean values for 1 channels"));
}

namespace {

// Samples of one float whose get() takes 30 ms and records how many calls run at once.
class SlowDataset : public Dataset {
 public:
  int64_t size() const override { return 16; }
  Shape input_shape() const override { return {1}; }
  Shape target_shape() const override { return {}; }
  DType target_dtype() const override { return DType::i32; }
  void get(int64_t index, float* input, void* target, Generator&) const override {
    const int now = ++active_;
    int seen = most_;
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    *input = static_cast<float>(index);
    *static_cast<int32_t*>(target) = 0;
    --active_;
  }
  int most() const { return most_; }

 private:
  mutable std::atomic<int> active_{0};
  mutable std::atomic<int> most_{0};
};

}  // namespace

TEST_CASE("loader: every worker builds a batch at once, beyond the prefetch count",
          "[data][loader]") {
  auto dataset = std::make_shared<SlowDataset>();
  LoaderOptions options;
  options.batch_size = 1;
  options.shuffle = false;
  options.workers = 4;
  options.prefetch = 1;
  Loader loader(dataset, options);
  loader.start_epoch(0);
  int64_t batches = 0;
  while (auto batch = loader.next()) {
    CHECK(batch->inputs.to_vector<float>()[0] == static_cast<float>(batches));
    ++batches;
  }
  CHECK(batches == 16);
  // Four workers with 30 ms samples overlap (with at most `prefetch` batches in flight, one
  // would build at a time).
  CHECK(dataset->most() >= 3);
}

TEST_CASE("run_workers: every worker once, worker 0 on the caller, a worker's error rethrown "
          "after all have finished", "[data][workers]") {
  std::vector<std::atomic<int>> calls(4);
  std::atomic<int> finished{0};
  std::thread::id first;
  weft::data::run_workers(4, [&](int worker) {
    ++calls[static_cast<size_t>(worker)];
    if (worker == 0) first = std::this_thread::get_id();
  });
  for (const std::atomic<int>& count : calls) CHECK(count.load() == 1);
  CHECK(first == std::this_thread::get_id());
  CHECK_THROWS_WITH(weft::data::run_workers(3,
                                            [&](int worker) {
                                              if (worker == 2) throw std::runtime_error("two");
                                              std::this_thread::sleep_for(
                                                  std::chrono::milliseconds(20));
                                              ++finished;
                                            }),
                    "two");
  CHECK(finished.load() == 2);  // the others ran to their end, joined before the rethrow
  int ran = 0;
  weft::data::run_workers(0, [&](int) { ++ran; });  // fewer than one: the caller alone
  CHECK(ran == 1);
}
