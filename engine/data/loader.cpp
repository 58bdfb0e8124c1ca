// Datasets for the loader and the threaded, deterministic batch loader (see loader.h).
#include "engine/data/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/error.h"

namespace weft::data {

namespace {

// SplitMix64's finaliser: spreads (seed, epoch, stream) over the whole 64-bit key space so
// nearby seeds and epochs give unrelated Philox keys.
uint64_t mix(uint64_t seed, uint64_t epoch, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (epoch + 1) + 0xD1B54A32D192ED03ull * stream;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kShuffleStream = 1;
constexpr uint64_t kSampleStream = 2;
// Philox counters reserved per sample: far more than any augmentation draws.
constexpr uint64_t kCountersPerSample = uint64_t{1} << 16;

// uint8 pixels -> augmented (optional) -> normalised floats in `out`.
void transform_image(const Transform& transform, const uint8_t* pixels, float* out, int channels,
                     int height, int width, Generator& generator) {
  const int64_t elements = int64_t{channels} * height * width;
  if (transform.augment && transform.augment->any()) {
    thread_local std::vector<float> scratch;
    scratch.assign(pixels, pixels + elements);
    augment_image(*transform.augment, scratch.data(), out, channels, height, width, generator);
  } else {
    std::copy(pixels, pixels + elements, out);
  }
  normalize_in_place(transform.normalize, out, channels, int64_t{height} * width);
}

void check_images(const Tensor& images, const char* who) {
  WEFT_CHECK(images.defined() && images.device().is_cpu() && images.dtype() == DType::u8 &&
                 images.ndim() == 4,
             who, ": expected uint8 [N, C, H, W] images on the CPU, got ",
             images.defined() ? images.str() : "an undefined tensor");
}

}  // namespace

// ---- ImageDataset ------------------------------------------------------------------------------

ImageDataset::ImageDataset(Tensor images, Tensor targets, std::vector<int64_t> indices,
                           Transform transform)
    : images_(std::move(images)),
      targets_(std::move(targets)),
      indices_(std::move(indices)),
      transform_(std::move(transform)) {
  check_images(images_, "ImageDataset");
  const int64_t n = images_.dim(0);
  WEFT_CHECK(targets_.defined() && targets_.device().is_cpu() &&
                 ((targets_.dtype() == DType::i32 && targets_.ndim() == 1) ||
                  (targets_.dtype() == DType::f32 && targets_.ndim() == 2)) &&
                 targets_.dim(0) == n,
             "ImageDataset: expected int32 [", n, "] labels or float [", n,
             ", L] multi-hot targets, got ", targets_.defined() ? targets_.str() : "none");
  if (indices_.empty()) {
    indices_.resize(static_cast<size_t>(n));
    std::iota(indices_.begin(), indices_.end(), 0);
  }
  for (size_t i = 0; i < indices_.size(); ++i) {
    WEFT_CHECK(indices_[i] >= 0 && indices_[i] < n, "ImageDataset: entry ", i, " of the index ",
               "list is ", indices_[i], ", outside the ", n, " images");
  }
}

Shape ImageDataset::input_shape() const {
  return {images_.dim(1), images_.dim(2), images_.dim(3)};
}

Shape ImageDataset::target_shape() const {
  return targets_.ndim() == 1 ? Shape{} : Shape{targets_.dim(1)};
}

void ImageDataset::get(int64_t index, float* input, void* target, Generator& generator) const {
  const int64_t row = indices_[static_cast<size_t>(index)];
  const int channels = static_cast<int>(images_.dim(1));
  const int height = static_cast<int>(images_.dim(2));
  const int width = static_cast<int>(images_.dim(3));
  const int64_t elements = int64_t{channels} * height * width;
  transform_image(transform_, images_.data<uint8_t>() + row * elements, input, channels, height,
                  width, generator);
  if (targets_.dtype() == DType::i32) {
    *static_cast<int32_t*>(target) = targets_.data<int32_t>()[row];
  } else {
    const int64_t labels = targets_.dim(1);
    const float* source = targets_.data<float>() + row * labels;
    std::copy(source, source + labels, static_cast<float*>(target));
  }
}

// ---- PairDataset -------------------------------------------------------------------------------

PairDataset::PairDataset(const PairedImages& photos, std::vector<PairExample> examples,
                         PairLayout layout, Transform transform)
    : images_(photos.images),
      examples_(std::move(examples)),
      layout_(layout),
      transform_(std::move(transform)) {
  check_images(images_, "PairDataset");
  const int64_t n = images_.dim(0);
  for (size_t i = 0; i < examples_.size(); ++i) {
    const PairExample& e = examples_[i];
    WEFT_CHECK(e.first >= 0 && e.first < n && e.second >= 0 && e.second < n, "PairDataset: ",
               "example ", i, " refers to photos ", e.first, " and ", e.second, " of ", n);
  }
}

Shape PairDataset::input_shape() const {
  const int64_t c = images_.dim(1), h = images_.dim(2), w = images_.dim(3);
  return layout_ == PairLayout::channels ? Shape{2 * c, h, w} : Shape{c, 2 * h, w};
}

void PairDataset::get(int64_t index, float* input, void* target, Generator& generator) const {
  const PairExample& example = examples_[static_cast<size_t>(index)];
  const int channels = static_cast<int>(images_.dim(1));
  const int height = static_cast<int>(images_.dim(2));
  const int width = static_cast<int>(images_.dim(3));
  const int64_t plane = int64_t{height} * width;
  const int64_t elements = channels * plane;
  thread_local std::vector<float> photo;
  photo.resize(static_cast<size_t>(elements));
  const int64_t rows[2] = {example.first, example.second};
  for (int k = 0; k < 2; ++k) {
    transform_image(transform_, images_.data<uint8_t>() + rows[k] * elements, photo.data(),
                    channels, height, width, generator);
    for (int c = 0; c < channels; ++c) {
      // channels: photo k's channel c is input channel k*C + c.
      // stacked: input channel c holds photo 0's rows, then photo 1's.
      float* destination = layout_ == PairLayout::channels
                               ? input + (int64_t{k} * channels + c) * plane
                               : input + (int64_t{c} * 2 + k) * plane;
      std::copy(photo.data() + c * plane, photo.data() + (c + 1) * plane, destination);
    }
  }
  *static_cast<int32_t*>(target) = example.target;
}

// ---- Loader ------------------------------------------------------------------------------------

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  WEFT_CHECK(dataset_ != nullptr, "Loader: no dataset");
  WEFT_CHECK(options_.batch_size > 0, "Loader: batch_size must be positive, got ",
             options_.batch_size);
  WEFT_CHECK(options_.workers >= 0, "Loader: workers must be >= 0, got ", options_.workers);
  WEFT_CHECK(options_.prefetch >= 1, "Loader: prefetch must be >= 1, got ", options_.prefetch);
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::batches_per_epoch() const {
  const int64_t n = shard_.count > 1 ? static_cast<int64_t>(positions_.size()) : dataset_->size();
  return options_.drop_last ? n / options_.batch_size
                            : (n + options_.batch_size - 1) / options_.batch_size;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_->size()));
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    Generator generator(mix(options_.seed, static_cast<uint64_t>(epoch), kShuffleStream));
    generator.shuffle(order);
  }
  return order;
}

void Loader::start_epoch(int64_t epoch, Shard shard) {
  WEFT_CHECK(epoch >= 0, "Loader: epoch must be >= 0, got ", epoch);
  stop_workers();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  shard_ = shard;
  positions_.clear();
  if (shard_.count > 1) positions_ = shard_positions(dataset_->size(), options_.batch_size, shard_);
  batches_ = batches_per_epoch();
  consumed_ = 0;
  handed_out_ = 0;
  for (int t = 0; t < options_.workers; ++t) workers_.emplace_back([this] { worker_loop(); });
}

HostBatch Loader::build(int64_t number) const {
  const bool sharded = shard_.count > 1;
  const int64_t available = sharded ? static_cast<int64_t>(positions_.size()) : dataset_->size();
  const int64_t begin = number * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, available);
  const int64_t count = end - begin;
  Shape input_shape = dataset_->input_shape();
  Shape target_shape = dataset_->target_shape();
  const int64_t input_elements = shape_numel(input_shape);
  const size_t target_bytes =
      static_cast<size_t>(shape_numel(target_shape)) * dtype_size(dataset_->target_dtype());
  input_shape.insert(input_shape.begin(), count);
  target_shape.insert(target_shape.begin(), count);

  HostBatch batch;
  batch.number = number;
  batch.inputs = Tensor::empty(input_shape);
  batch.targets = Tensor::empty(target_shape, dataset_->target_dtype());
  float* inputs = batch.inputs.data<float>();
  auto* targets = static_cast<uint8_t*>(batch.targets.raw_data());
  const uint64_t key = mix(options_.seed, static_cast<uint64_t>(epoch_), kSampleStream);
  for (int64_t i = 0; i < count; ++i) {
    // Within the whole epoch (a shard's k-th sample sits at positions_[k]).
    const int64_t position = sharded ? positions_[static_cast<size_t>(begin + i)] : begin + i;
    Generator generator(key);
    generator.set_state(key, static_cast<uint64_t>(position) * kCountersPerSample);
    const int64_t index = order_[static_cast<size_t>(position)];
    dataset_->get(index, inputs + i * input_elements, targets + static_cast<size_t>(i) * target_bytes,
                  generator);
    batch.indices.push_back(index);
  }
  return batch;
}

void Loader::worker_loop() {
  while (true) {
    int64_t number = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] {
        return stopping_ || handed_out_ >= batches_ ||
               handed_out_ < consumed_ + in_flight_limit();
      });
      if (stopping_ || handed_out_ >= batches_) return;
      number = handed_out_++;
    }
    HostBatch batch;
    std::exception_ptr error;
    try {
      batch = build(number);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error) {
        failed_[number] = error;
      } else {
        done_[number] = std::move(batch);
      }
    }
    batch_ready_.notify_all();
  }
}

std::optional<HostBatch> Loader::next() {
  WEFT_CHECK(epoch_ >= 0, "Loader: call start_epoch(epoch) before next()");
  if (consumed_ >= batches_) return std::nullopt;
  if (options_.workers == 0) return build(consumed_++);

  std::unique_lock<std::mutex> lock(mutex_);
  batch_ready_.wait(lock, [&] { return done_.count(consumed_) || failed_.count(consumed_); });
  const int64_t number = consumed_++;
  work_ready_.notify_all();
  if (auto failure = failed_.find(number); failure != failed_.end()) {
    const std::exception_ptr error = failure->second;
    failed_.erase(failure);
    std::rethrow_exception(error);
  }
  HostBatch batch = std::move(done_[number]);
  done_.erase(number);
  return batch;
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  done_.clear();
  failed_.clear();
}

}  // namespace weft::data
