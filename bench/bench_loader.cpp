// Loader benchmarks: the CPU work that feeds a training step when the batches come from the
// host loader (engine/data/loader.h) rather than from the device-resident path: augmentation
// (one affine warp per image, engine/data/augment.h) and whole batches built by the loader's
// worker threads, with the seed apps' augmentations at their image sizes.
//
//   augment/apparel_96       seed 003's tagger: 3 x 96 x 96, rotation 45, shifts 0.1, zoom 0.2,
//                            horizontal flip (apps/apparel)
//   augment/shoes_64         seed 000's shoe classifier: 3 x 64 x 64, rotation 15, shifts 0.1,
//                            zoom 0.1, flip (apps/shoes)
//   augment/clothing_224     seed 002's balancing: 3 x 224 x 224, rotation 20, shear 12, flip
//   loader/apparel_96_b64/workers:N   batches of 64 from the loader with N worker threads
//                            (0: built inside next()), augmentation and normalisation included
//   balance/clothing_224     seed 002's balancing at load (engine/data/balance.h): 64 casual and
//                            8 formal images of 3 x 224 x 224 grown to 64 + 64 with augmented
//                            copies, on every core
//
// A GPU trains the apparel CNN at about 12,000 images/s at fp32 and 20,000 at bf16 (H200,
// docs/benchmarks.md): the loader rows say how many threads keep up with that.
//
//   build/bench/bench_loader [--benchmark_filter=augment]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/data/augment.h"
#include "engine/data/balance.h"
#include "engine/data/loader.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace {

using weft::Generator;
using weft::data::AugmentOptions;

// Photo-like float pixels (0..255): a gradient with a texture.
std::vector<float> picture(int channels, int height, int width) {
  std::vector<float> pixels(static_cast<size_t>(channels) * height * width);
  for (int c = 0; c < channels; ++c) {
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const float value = 40.0f + 150.0f * x / width + 50.0f * y / height + 20.0f * c +
                            10.0f * static_cast<float>((x * 7 + y * 3) % 5);
        pixels[(static_cast<size_t>(c) * height + y) * width + x] = value;
      }
    }
  }
  return pixels;
}

// The apps' augmentations: rotation, shifts (of the side), zoom and shear, horizontal flip.
AugmentOptions app_augment(float rotation, float shift, float zoom, float shear) {
  AugmentOptions a;
  a.rotation_degrees = rotation;
  a.width_shift = a.height_shift = shift;
  a.zoom = zoom;
  a.shear_degrees = shear;
  a.horizontal_flip = true;
  return a;
}
AugmentOptions apparel_augment() { return app_augment(45, 0.1f, 0.2f, 0); }
AugmentOptions shoes_augment() { return app_augment(15, 0.1f, 0.1f, 0); }
AugmentOptions clothing_augment() { return app_augment(20, 0, 0, 12); }

void augment(benchmark::State& state, AugmentOptions options, int side) {
  const std::vector<float> src = picture(3, side, side);
  std::vector<float> dst(src.size());
  Generator generator(1);
  for (auto _ : state) {
    weft::data::augment_image(options, src.data(), dst.data(), 3, side, side, generator);
    benchmark::DoNotOptimize(dst.data());
  }
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// One epoch of 1,024 apparel images in batches of 64 per iteration, real time (the work is on
// the worker threads).
void loader(benchmark::State& state) {
  constexpr int kImages = 1024, kSide = 96;
  weft::Tensor images = weft::Tensor::empty({kImages, 3, kSide, kSide}, weft::DType::u8);
  auto* bytes = images.data<uint8_t>();
  for (int64_t i = 0; i < images.numel(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 % 251);
  weft::Tensor labels = weft::Tensor::zeros({kImages, 7});
  weft::data::Transform transform;
  transform.augment = apparel_augment();
  auto dataset = std::make_shared<weft::data::ImageDataset>(images, labels,
                                                            std::vector<int64_t>{}, transform);
  weft::data::LoaderOptions options;
  options.batch_size = 64;
  options.workers = static_cast<int>(state.range(0));
  weft::data::Loader loader(dataset, options);
  int64_t epoch = 0, produced = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    while (auto batch = loader.next()) {
      produced += batch->inputs.dim(0);
      benchmark::DoNotOptimize(batch->inputs.data<float>());
    }
  }
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(produced), benchmark::Counter::kIsRate);
}

// 56 augmented copies per iteration, real time (the copies are made on every core).
void balance(benchmark::State& state) {
  constexpr int kCasual = 64, kFormal = 8, kSide = 224;
  weft::data::LabeledImages data;
  data.images = weft::Tensor::empty({kCasual + kFormal, 3, kSide, kSide}, weft::DType::u8);
  auto* bytes = data.images.data<uint8_t>();
  for (int64_t i = 0; i < data.images.numel(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 % 251);
  std::vector<int32_t> labels(kCasual + kFormal, 0);
  for (int i = 0; i < kFormal; ++i) labels[static_cast<size_t>(i * 9)] = 1;
  data.labels = weft::Tensor::from_vector(labels, {kCasual + kFormal});
  data.class_names = {"Casual", "Formal"};
  Generator generator(1);
  int64_t copies = 0;
  for (auto _ : state) {
    const weft::data::BalancedImages out =
        weft::data::balance_by_augmentation(data, clothing_augment(), generator);
    copies += out.size() - out.originals;
  }
  state.counters["copies_per_s"] =
      benchmark::Counter(static_cast<double>(copies), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(balance)->Name("balance/clothing_224")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(augment, apparel_96, apparel_augment(), 96)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(augment, shoes_64, shoes_augment(), 64)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(augment, clothing_224, clothing_augment(), 224)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(loader)
    ->Name("loader/apparel_96_b64")
    ->ArgName("workers")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
