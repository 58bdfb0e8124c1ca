// Tests of engine/data/device_prefetch.h: the prefetcher hands out exactly the loader's batches
// (values, targets, indices, numbers, in order) on the device, with two counted uploads per
// batch and no host synchronisation; a loader error reaches next() at its batch; an epoch
// stopped part-way or restarted does not hang. On `emu` in CI, and on a GPU when one is present
// ([gpu]: the copy stream, the pinned slots and the events).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/data/device_prefetch.h"
#include "engine/runtime.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"
#include "tests/gpu_test_util.h"

using namespace weft;
using namespace weft::data;

namespace {

// n images of 2x3x3 with distinct pixel values; label i % 5.
std::shared_ptr<ImageDataset> distinct_images(int64_t n, Transform transform = {}) {
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    for (int p = 0; p < 18; ++p) pixels.push_back(static_cast<uint8_t>((i * 7 + p) % 251));
    labels.push_back(static_cast<int32_t>(i % 5));
  }
  return std::make_shared<ImageDataset>(Tensor::from_vector(pixels, {n, 2, 3, 3}),
                                        Tensor::from_vector(labels, {n}), std::vector<int64_t>{},
                                        std::move(transform));
}

struct Seen {
  std::vector<float> inputs;
  std::vector<int32_t> targets;
  std::vector<int64_t> indices;
  int64_t number;
  Shape shape;
};

std::vector<Seen> loader_epoch(Loader& loader, int64_t epoch) {
  std::vector<Seen> out;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    out.push_back({batch->inputs.to_vector<float>(), batch->targets.to_vector<int32_t>(),
                   batch->indices, batch->number, batch->inputs.shape()});
  }
  return out;
}

// One epoch through the prefetcher; `uploads` gets the counters of the next() calls alone.
std::vector<Seen> prefetched_epoch(DevicePrefetcher& batches, Device device, int64_t epoch,
                                   RuntimeCounters& uploads) {
  std::vector<Seen> out;
  batches.start_epoch(epoch);
  for (;;) {
    const RuntimeCounters before = runtime_counters();
    std::optional<DeviceBatch> batch = batches.next();
    const RuntimeCounters step = runtime_counters() - before;
    uploads.h2d_copies += step.h2d_copies;
    uploads.h2d_bytes += step.h2d_bytes;
    uploads.host_syncs += step.host_syncs;
    if (!batch) break;
    CHECK(batch->inputs.device() == device);
    CHECK(batch->targets.device() == device);
    out.push_back({batch->inputs.to_vector<float>(), batch->targets.to_vector<int32_t>(),
                   batch->indices, batch->number, batch->inputs.shape()});
  }
  return out;
}

void check_same_batches(Device device) {
  Transform augmented;
  augmented.augment = AugmentOptions{};
  augmented.augment->horizontal_flip = true;
  augmented.augment->crop_padding = 1;
  for (int workers : {0, 2}) {
    INFO("workers " << workers);
    LoaderOptions options;
    options.batch_size = 4;
    options.workers = workers;
    options.seed = 11;
    Loader plain(distinct_images(37, augmented), options);
    Loader wrapped(distinct_images(37, augmented), options);
    DevicePrefetcher batches(wrapped, device);
    for (int64_t epoch : {1, 2}) {
      INFO("epoch " << epoch);
      const std::vector<Seen> expected = loader_epoch(plain, epoch);
      RuntimeCounters uploads;
      const std::vector<Seen> got = prefetched_epoch(batches, device, epoch, uploads);
      REQUIRE(got.size() == expected.size());
      REQUIRE(got.size() == 10);  // 9 of 4 and a last one of 1
      for (size_t b = 0; b < got.size(); ++b) {
        INFO("batch " << b);
        CHECK(got[b].number == static_cast<int64_t>(b));
        CHECK(got[b].shape == expected[b].shape);
        CHECK(got[b].indices == expected[b].indices);
        CHECK(got[b].targets == expected[b].targets);
        CHECK(got[b].inputs == expected[b].inputs);
      }
      // Inputs and targets uploaded once per batch, and the host never waited for the device.
      CHECK(uploads.h2d_copies == 2 * static_cast<int64_t>(got.size()));
      CHECK(uploads.h2d_bytes == 37 * (18 * 4 + 4));
      CHECK(uploads.host_syncs == 0);
    }
  }
}

}  // namespace

TEST_CASE("device prefetcher: the loader's batches, in order, on emu", "[data][loader][emu]") {
  check_same_batches(Device::emu());
}

TEST_CASE("device prefetcher: on the CPU the loader's batches pass through", "[data][loader]") {
  LoaderOptions options;
  options.batch_size = 8;
  Loader plain(distinct_images(20), options);
  Loader wrapped(distinct_images(20), options);
  DevicePrefetcher batches(wrapped, Device::cpu());
  RuntimeCounters uploads;
  const std::vector<Seen> got = prefetched_epoch(batches, Device::cpu(), 0, uploads);
  const std::vector<Seen> expected = loader_epoch(plain, 0);
  REQUIRE(got.size() == 3);
  for (size_t b = 0; b < got.size(); ++b) CHECK(got[b].inputs == expected[b].inputs);
  CHECK(uploads.h2d_copies == 0);
}

TEST_CASE("device prefetcher: a loader error reaches next() at its batch; stopping does not hang",
          "[data][loader][emu]") {
  LoaderOptions options;
  options.batch_size = 2;
  Loader loader(distinct_images(6), options);
  {
    DevicePrefetcher batches(loader, Device::emu());
    CHECK_THROWS_WITH(batches.next(), Catch::Contains("before start_epoch"));
  }

  // A normalisation with 3 means for 2 channels fails when the first batch is built.
  Transform wrong;
  wrong.normalize.mean = {0.1f, 0.2f, 0.3f};
  options.workers = 1;
  Loader failing(distinct_images(6, wrong), options);
  DevicePrefetcher failing_batches(failing, Device::emu());
  failing_batches.start_epoch(0);
  CHECK_THROWS_WITH(failing_batches.next(), Catch::Contains("3 mean values for 2 channels"));

  // Two batches taken of a long epoch, then a new epoch, then destruction mid-epoch.
  options.batch_size = 1;
  Loader long_loader(distinct_images(50), options);
  DevicePrefetcher partial(long_loader, Device::emu());
  partial.start_epoch(0);
  REQUIRE(partial.next().has_value());
  REQUIRE(partial.next().has_value());
  partial.start_epoch(1);
  std::optional<DeviceBatch> first = partial.next();
  REQUIRE(first.has_value());
  CHECK(first->number == 0);
}

TEST_CASE("device prefetcher: the loader's batches, in order, on a GPU", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  check_same_batches(Device::cuda(0));
#endif
}
