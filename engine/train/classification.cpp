// Shared training and evaluation loop for classifiers (see classification.h).
#include "engine/train/classification.h"

#include <cstring>
#include <mutex>
#include <numeric>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/data/sharding.h"
#include "engine/distributed/communicator.h"
#include "engine/ops.h"
#include "engine/train/captured_steps.h"
#include "engine/train/interrupt.h"
#include "engine/train/step_meter.h"
#include "kernels/error.h"

namespace weft::train {

namespace {
// The Normalization applied to float pixels already in 0..255.
Tensor normalize_floats(const Tensor& pixels, const Normalization& norm) {
  Tensor out = Tensor::empty_like(pixels);
  const float* src = pixels.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < pixels.numel(); ++i) dst[i] = src[i] * norm.scale + norm.shift;
  return out;
}

EdgeFill edge_fill(data::FillMode fill) {
  switch (fill) {
    case data::FillMode::nearest:
      return EdgeFill::nearest;
    case data::FillMode::reflect:
      return EdgeFill::reflect;
    case data::FillMode::wrap:
      return EdgeFill::wrap;
    case data::FillMode::constant:
      break;
  }
  return EdgeFill::constant;
}

// The moves (int32 [end - begin, 5], kernels/params.h ImageGatherParams) of the images
// order[begin, end), drawn from the augmentation's generator in the order and number the host
// path draws them (data::augment: one draw_params per image), so both give the same batch.
Tensor draw_moves(const data::LabeledImages& data, const std::vector<int64_t>& order, int64_t begin,
                  int64_t end, const BatchAugmentation& augmentation) {
  const int height = static_cast<int>(data.images.dim(2));
  const int width = static_cast<int>(data.images.dim(3));
  Tensor moves = Tensor::empty({end - begin, kImageMoveFields}, DType::i32);
  int32_t* m = moves.data<int32_t>();
  for (int64_t i = begin; i < end; ++i, m += kImageMoveFields) {
    const data::AugmentParams a =
        data::draw_params(augmentation.options, height, width, *augmentation.generator);
    m[0] = static_cast<int32_t>(order[static_cast<size_t>(i)]);
    m[1] = a.flip_horizontal ? 1 : 0;
    m[2] = a.flip_vertical ? 1 : 0;
    m[3] = static_cast<int32_t>(a.shift_x);  // whole pixels: whole_pixel_moves()
    m[4] = static_cast<int32_t>(a.shift_y);
  }
  return moves;
}
}  // namespace

HostBatch gather_batch(const data::LabeledImages& data, const std::vector<int64_t>& indices,
                       int64_t begin, int64_t end, const Normalization& norm,
                       const BatchAugmentation& augmentation) {
  const int64_t count = end - begin;
  Shape shape = data.images.shape();
  const int64_t image_elements = data.images.numel() / shape[0];
  shape[0] = count;
  Tensor pixels = Tensor::empty(shape, DType::u8);
  Tensor labels = Tensor::empty({count}, DType::i32);
  const uint8_t* src = data.images.data<uint8_t>();
  const int32_t* src_labels = data.labels.data<int32_t>();
  uint8_t* dst = pixels.data<uint8_t>();
  int32_t* dst_labels = labels.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t j = indices[static_cast<size_t>(begin + i)];
    std::memcpy(dst + i * image_elements, src + j * image_elements,
                static_cast<size_t>(image_elements));
    dst_labels[i] = src_labels[j];
  }
  if (augmentation.active()) {
    // Augmentation works on float pixels (0..255) on the host; normalise after it.
    const Tensor augmented =
        data::augment(u8_to_f32(pixels, 1.0f, 0.0f), augmentation.options, *augmentation.generator);
    return {normalize_floats(augmented, norm), labels};
  }
  // Bytes go up (4x less traffic than floats) and are converted on the device.
  return {pixels, labels};
}

Batch device_batch(const Tensor& images, const Tensor& labels, const Normalization& norm) {
  if (images.dtype() == DType::u8) return {u8_to_f32(images, norm.scale, norm.shift), labels};
  return {images, labels};
}

Batch make_batch(const data::LabeledImages& data, const std::vector<int64_t>& indices,
                 int64_t begin, int64_t end, Device device, const Normalization& norm,
                 const BatchAugmentation& augmentation) {
  const HostBatch host = gather_batch(data, indices, begin, end, norm, augmentation);
  return device_batch(host.images.to(device), host.labels.to(device), norm);
}

std::vector<int32_t> argmax_rows(const std::vector<float>& values, int64_t rows, int64_t cols) {
  std::vector<int32_t> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * cols;
    int32_t best = 0;
    for (int64_t c = 1; c < cols; ++c) {
      if (row[c] > row[best]) best = static_cast<int32_t>(c);
    }
    out[static_cast<size_t>(r)] = best;
  }
  return out;
}

Tensor resident_images(const data::LabeledImages& data, Device device) {
  if (!(device.is_cuda() || device.is_emu()) || data.images.dtype() != DType::u8 ||
      data.images.numel() > kResidentLimitBytes || data.size() == 0) {
    return Tensor();
  }
  // One entry: the last data set uploaded, kept with a reference to its host tensor so that its
  // storage (whose address is the key) cannot be freed and reused for other data while cached.
  // Never destroyed: a device tensor must not be freed after the CUDA runtime has shut down.
  struct Cache {
    std::mutex mutex;
    Tensor host, on_device;
  };
  static Cache* cache = new Cache;
  std::lock_guard<std::mutex> lock(cache->mutex);
  const bool hit = cache->host.defined() && cache->host.raw_data() == data.images.raw_data() &&
                   cache->host.shape() == data.images.shape() &&
                   cache->on_device.device() == device;
  if (!hit) {
    cache->on_device = Tensor();  // the previous copy goes first
    cache->on_device = data.images.to(device);
    cache->host = data.images;
  }
  return cache->on_device;
}

EpochResult train_epoch(nn::Module& model, optim::Optimizer& optimizer,
                        const data::LabeledImages& data, int batch_size, Device device,
                        Generator& generator, const Normalization& norm,
                        const StepHooks& hooks, const BatchAugmentation& augmentation) {
  WEFT_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  model.train();
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  generator.shuffle(order);
  // A data-parallel run trains each rank on its share of the epoch (engine/data/sharding.h).
  order = data::shard_order(order, batch_size, dist::shard());
  const int64_t n = static_cast<int64_t>(order.size());
  EpochResult result;
  StepMeter meter(device, hooks);
  const int64_t steps = (n + batch_size - 1) / batch_size;
  // Declared after the meter, so the graph (which writes the meter's sums) goes first.
  CapturedSteps captured(hooks.skip_nonfinite ? Device::cpu() : device);
  // The data set on the device when it can live there (resident_images), else undefined. Flips
  // and whole-pixel shifts are then applied there too (gather_augment_u8_to_f32); other
  // augmentations run on the host.
  const bool moves_on_device = augmentation.active() &&
                               data::whole_pixel_moves(augmentation.options) &&
                               data.images.ndim() == 4;
  const Tensor resident = (augmentation.active() && !moves_on_device) || hooks.skip_nonfinite
                              ? Tensor()
                              : resident_images(data, device);
  const EdgeFill fill = edge_fill(augmentation.options.fill_mode);
  const auto train_step = [&](const Tensor& images, const Tensor& labels, int64_t rows) {
    optimizer.zero_grad();
    Tensor logits = model(images);
    Tensor loss = cross_entropy(logits, labels);
    loss.backward();
    optimizer.step();
    meter.add_loss(loss, rows);
    meter.add_argmax_hits(logits.detach(), labels);
  };
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    if (stop_requested()) {
      result.completed = false;
      break;
    }
    const int64_t end = std::min<int64_t>(begin + batch_size, n);
    const int64_t step = begin / batch_size + 1;
    if (hooks.skip_nonfinite) {
      // Each loss is read before its update, so the step runs eagerly, in this order.
      const HostBatch host = gather_batch(data, order, begin, end, norm, augmentation);
      const Batch batch = device_batch(host.images.to(device), host.labels.to(device), norm);
      optimizer.zero_grad();
      Tensor logits = model(batch.images);
      Tensor loss = cross_entropy(logits, batch.labels);
      loss.backward();
      if (meter.skip(step, loss)) continue;
      if (hooks.before_step) hooks.before_step();
      optimizer.step();
      meter.add_loss(loss, end - begin);
      meter.add_argmax_hits(logits.detach(), batch.labels);
    } else if (resident.defined() && augmentation.active()) {
      // The batch's moves and labels go up; rows are gathered, moved and normalised there.
      Tensor moves = draw_moves(data, order, begin, end, augmentation);
      Tensor labels = Tensor::empty({end - begin}, DType::i32);
      for (int64_t i = begin; i < end; ++i) {
        labels.data<int32_t>()[i - begin] =
            data.labels.data<int32_t>()[order[static_cast<size_t>(i)]];
      }
      if (hooks.before_step) hooks.before_step();
      captured.run({moves, labels}, [&](const std::vector<Tensor>& in) {
        const float fill_value = augmentation.options.fill_value;
        train_step(
            gather_augment_u8_to_f32(resident, in[0], fill, fill_value, norm.scale, norm.shift),
            in[1], end - begin);
      });
    } else if (resident.defined()) {
      // Only the batch's row numbers and labels go up; the rows are gathered on the device.
      Tensor rows = Tensor::empty({end - begin}, DType::i32);
      Tensor labels = Tensor::empty({end - begin}, DType::i32);
      const int32_t* all_labels = data.labels.data<int32_t>();
      for (int64_t i = begin; i < end; ++i) {
        const int64_t j = order[static_cast<size_t>(i)];
        rows.data<int32_t>()[i - begin] = static_cast<int32_t>(j);
        labels.data<int32_t>()[i - begin] = all_labels[j];
      }
      if (hooks.before_step) hooks.before_step();
      captured.run({rows, labels}, [&](const std::vector<Tensor>& in) {
        train_step(gather_u8_to_f32(resident, in[0], norm.scale, norm.shift), in[1], end - begin);
      });
    } else {
      const HostBatch host = gather_batch(data, order, begin, end, norm, augmentation);
      if (hooks.before_step) hooks.before_step();
      captured.run({host.images, host.labels}, [&](const std::vector<Tensor>& in) {
        const Batch batch = device_batch(in[0], in[1], norm);
        train_step(batch.images, batch.labels, end - begin);
      });
    }
    if (hooks.after_step) hooks.after_step(step, steps);
    meter.end_step(step);
  }
  meter.finish();
  result.samples = meter.samples();
  result.loss = meter.loss();
  result.accuracy = meter.accuracy();
  return result;
}

Evaluation evaluate(nn::Module& model, const data::LabeledImages& data, int batch_size,
                    Device device, const Normalization& norm) {
  WEFT_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  // Every batch's logits are copied into one device tensor and its loss * rows summed on the
  // device, so the host reads twice in all, not after every batch.
  Tensor all_logits;
  const Tensor loss_sum = Tensor::zeros({1}, DType::f32, device);
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min<int64_t>(begin + batch_size, data.size());
    Batch batch = make_batch(data, order, begin, end, device, norm);
    Tensor logits = model(batch.images);
    WEFT_CHECK(logits.ndim() == 2 && logits.dim(0) == end - begin, "evaluate: the model gave ",
               logits.str(), " for a batch of ", end - begin, " images; expected [rows, classes]");
    if (!all_logits.defined()) all_logits = Tensor::empty({data.size(), logits.dim(1)}, DType::f32, device);
    const Tensor loss = cross_entropy(logits, batch.labels);
    dispatch(device).axpy_accumulate(1, static_cast<float>(end - begin), loss.data<float>(),
                                     loss_sum.data<float>());
    copy_bytes(device, all_logits.data<float>() + begin * logits.dim(1), device,
               logits.data<float>(), static_cast<size_t>(logits.numel()) * sizeof(float));
  }
  Evaluation result;
  const double n = static_cast<double>(std::max<int64_t>(1, data.size()));
  if (all_logits.defined()) {
    result.predictions =
        argmax_rows(all_logits.to_vector<float>(), data.size(), all_logits.dim(1));
    const int32_t* truth = data.labels.data<int32_t>();
    int64_t correct = 0;
    for (int64_t i = 0; i < data.size(); ++i) {
      correct += result.predictions[static_cast<size_t>(i)] == truth[i];
    }
    result.loss = static_cast<double>(loss_sum.to_vector<float>()[0]) / n;
    result.accuracy = static_cast<double>(correct) / n;
  }
  model.train(was_training);
  return result;
}

}  // namespace weft::train
