// DCGAN training steps, epochs and sampling (see dcgan_training.h).
#include "models/dcgan_training.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "engine/autograd.h"
#include "engine/data/sharding.h"
#include "engine/dispatch.h"
#include "engine/distributed/communicator.h"
#include "engine/ops.h"
#include "engine/train/captured_steps.h"
#include "engine/train/classification.h"
#include "engine/train/interrupt.h"
#include "kernels/error.h"

namespace weft::models {
namespace {

// The statistics of GanStepStats, in its order, as slots of a float [5] tensor on the device.
enum Slot { kDLoss, kGLoss, kDReal, kDFake, kDFakeAfter, kSlots };

// sums[slot] += weight * value[0], on the device (value: one element).
void add_to_slot(const Tensor& sums, Slot slot, const Tensor& value, float weight) {
  dispatch(sums.device())
      .axpy_accumulate(1, weight, value.data<float>(), sums.data<float>() + slot);
}

// sums[slot] += weight * mean(sigmoid(logits)): the discriminator's average "this is real".
void add_mean_probability(const Tensor& sums, Slot slot, const Tensor& logits, float weight) {
  NoGradGuard no_grad;
  add_to_slot(sums, slot, mean(sigmoid(logits)), weight);
}

// The generator's input for this rank's `n` rows. In a data-parallel run every rank draws the
// noise of the whole global batch (n x ranks rows) and keeps its own rows, so the ranks
// generate what one process with the global batch would, and the generator stays the same on
// every rank.
Tensor rank_noise(int64_t n, int z_dim, Device device, Generator& noise) {
  const int ranks = dist::world().world_size();
  if (ranks == 1) return models::dcgan_noise(n, z_dim, device, &noise);
  const int64_t first = n * dist::world().rank();
  return models::dcgan_noise(n * ranks, z_dim, Device::cpu(), &noise)
      .slice(0, first, first + n)
      .to(device);
}

// Turns off the gradients of a module's parameters while it lives, leaving the gradients they
// hold as they are, and turns back on those it turned off (also when an error unwinds).
class FrozenParameters {
 public:
  explicit FrozenParameters(const nn::Module& module) {
    for (Tensor& parameter : module.parameters()) {
      if (!parameter.requires_grad()) continue;
      parameter.set_requires_grad(false);
      frozen_.push_back(parameter);
    }
  }
  ~FrozenParameters() {
    for (Tensor& parameter : frozen_) parameter.set_requires_grad(true);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<Tensor> frozen_;
};

GanStepStats stats_of(const std::vector<float>& sums, double scale) {
  GanStepStats stats;
  stats.d_loss = sums[kDLoss] * scale;
  stats.g_loss = sums[kGLoss] * scale;
  stats.d_real = sums[kDReal] * scale;
  stats.d_fake = sums[kDFake] * scale;
  stats.d_fake_after = sums[kDFakeAfter] * scale;
  return stats;
}

}  // namespace

Tensor gan_step_noise(const DcganPair& nets, int64_t n, Generator& noise) {
  return rank_noise(n, nets.config.z_dim, Device::cpu(), noise);
}

void gan_step_accumulate(DcganPair& nets, optim::Optimizer& generator_optimizer,
                         optim::Optimizer& discriminator_optimizer, const Tensor& real,
                         const Tensor& labels, Generator& noise, const Tensor& sums, float weight) {
  const Tensor z = rank_noise(real.dim(0), nets.config.z_dim, real.device(), noise);
  gan_step_accumulate_with_noise(nets, generator_optimizer, discriminator_optimizer, real, labels,
                                 z, sums, weight);
}

void gan_step_accumulate_with_noise(DcganPair& nets, optim::Optimizer& generator_optimizer,
                                    optim::Optimizer& discriminator_optimizer, const Tensor& real,
                                    const Tensor& labels, const Tensor& noise, const Tensor& sums,
                                    float weight) {
  const int64_t n = real.dim(0);
  const Device device = real.device();
  const Tensor ones = Tensor::ones({n, 1}, device);
  const Tensor zeros = Tensor::zeros({n, 1}, DType::f32, device);

  // 1. Discriminator: real -> 1, fake -> 0. The fakes are detached, so G gets no gradient.
  discriminator_optimizer.zero_grad();
  const Tensor real_logits = nets.discriminate(real, labels);
  const Tensor fake = nets.generate(noise, labels);
  const Tensor fake_logits = nets.discriminate(fake.detach(), labels);
  const Tensor d_loss = bce_with_logits(real_logits, ones) + bce_with_logits(fake_logits, zeros);
  d_loss.backward();
  discriminator_optimizer.step();
  add_to_slot(sums, kDLoss, d_loss, weight);
  add_mean_probability(sums, kDReal, real_logits, weight);
  add_mean_probability(sums, kDFake, fake_logits, weight);

  // 2. Generator: the same fakes, judged by the updated D, pushed towards "real". D's
  // parameters are frozen for it: the gradient flows through D to the fakes, not into D.
  generator_optimizer.zero_grad();
  Tensor judged, g_loss;
  {
    const FrozenParameters frozen(*nets.discriminator);
    judged = nets.discriminate(fake, labels);
    g_loss = bce_with_logits(judged, ones);
    g_loss.backward();
  }
  generator_optimizer.step();
  add_to_slot(sums, kGLoss, g_loss, weight);
  add_mean_probability(sums, kDFakeAfter, judged, weight);
}

optim::AdamOptions gan_adam_options(const GanOptimizerOptions& options) {
  return {.lr = options.lr, .beta1 = options.beta1, .beta2 = options.beta2};
}

DcganPair::DcganPair(const DcganConfig& c) : config(c) {
  generator = register_module("generator", std::make_shared<DcganGenerator>(c));
  discriminator = register_module("discriminator", std::make_shared<DcganDiscriminator>(c));
}

Tensor DcganPair::generate(const Tensor& noise, const Tensor& labels) {
  return config.num_classes > 0 ? generator->forward(noise, labels) : generator->forward(noise);
}

Tensor DcganPair::discriminate(const Tensor& images, const Tensor& labels) {
  return config.num_classes > 0 ? discriminator->forward(images, labels)
                                : discriminator->forward(images);
}

GanStepStats gan_step(DcganPair& nets, optim::Optimizer& generator_optimizer,
                      optim::Optimizer& discriminator_optimizer, const Tensor& real,
                      const Tensor& labels, Generator& noise) {
  const Tensor sums = Tensor::zeros({kSlots}, DType::f32, real.device());
  gan_step_accumulate(nets, generator_optimizer, discriminator_optimizer, real, labels, noise, sums,
                      1.0f);
  return stats_of(sums.to_vector<float>(), 1.0);
}

GanEpochStats gan_train_epoch(DcganPair& nets, optim::Optimizer& generator_optimizer,
                              optim::Optimizer& discriminator_optimizer,
                              const data::LabeledImages& data, int batch_size, Device device,
                              Generator& shuffle, Generator& noise, const train::StepHooks& hooks) {
  WEFT_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  WEFT_CHECK(data.size() > 0, "the GAN's training set is empty");
  nets.train();
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  shuffle.shuffle(order);
  // A data-parallel run trains each rank on its share of the epoch (engine/data/sharding.h);
  // only full batches are used, as in one process.
  order = data::shard_order(order, batch_size, dist::shard());
  const int64_t n = static_cast<int64_t>(order.size());
  WEFT_CHECK(n > 0, "the GAN's training set (", data.size(),
             " images) has fewer images than ranks");
  const int64_t batch = std::min<int64_t>(batch_size, n);
  const int64_t steps = n / batch;

  GanEpochStats epoch;
  // The statistics stay on the device until the epoch ends: no host synchronisation per step.
  const Tensor sums = Tensor::zeros({kSlots}, DType::f32, device);
  const train::Normalization norm{kGanPixelScale, kGanPixelShift};
  const bool conditional = nets.config.num_classes > 0;
  // Declared after `sums`, so the graph (which adds to it) goes first.
  train::CapturedSteps captured(device);
  for (int64_t step = 0; step < steps; ++step) {
    if (train::stop_requested()) {
      epoch.completed = false;
      break;
    }
    const train::HostBatch real =
        train::gather_batch(data, order, step * batch, (step + 1) * batch, norm);
    if (hooks.before_step) hooks.before_step();
    // Drawn after the hook, as the step drew it when it ran eagerly: a checkpoint written by
    // the hook saves the noise generator before this step's draw.
    const Tensor z = gan_step_noise(nets, batch, noise);
    captured.run({real.images, real.labels, z}, [&](const std::vector<Tensor>& in) {
      const train::Batch on_device = train::device_batch(in[0], in[1], norm);
      gan_step_accumulate_with_noise(nets, generator_optimizer, discriminator_optimizer,
                                     on_device.images, conditional ? on_device.labels : Tensor(),
                                     in[2], sums, static_cast<float>(batch));
    });
    epoch.samples += batch;
    epoch.steps += 1;
    if (hooks.after_step) hooks.after_step(step + 1, steps);
  }
  const double scale = epoch.samples > 0 ? 1.0 / static_cast<double>(epoch.samples) : 0.0;
  epoch.mean = stats_of(sums.to_vector<float>(), scale);
  return epoch;
}

Tensor gan_output_to_pixels(const Tensor& images) {
  const std::vector<float> values = images.to_vector<float>();
  std::vector<uint8_t> pixels(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const long level = std::lround((static_cast<double>(values[i]) + 1.0) * 127.5);
    pixels[i] = static_cast<uint8_t>(std::clamp(level, 0L, 255L));
  }
  return Tensor::from_vector(pixels, images.shape());
}

Tensor generate_pixels(DcganPair& nets, const Tensor& noise, const std::vector<int32_t>& labels,
                       int64_t batch_size) {
  const int64_t n = noise.dim(0);
  WEFT_CHECK(nets.config.num_classes == 0 || static_cast<int64_t>(labels.size()) == n,
             "generate_pixels: ", labels.size(), " labels for ", n, " noise vectors");
  WEFT_CHECK(batch_size > 0, "generate_pixels: batch size must be positive");
  // Keep the batch norms' running statistics as they are (see "Sampling" in the header).
  std::map<std::string, Tensor> saved;
  for (const auto& [name, buffer] : nets.generator->named_buffers()) saved[name] = buffer.clone();
  const bool was_training = nets.generator->is_training();
  nets.generator->train();
  const Device device = nets.generator->device();

  std::vector<Tensor> parts;
  {
    NoGradGuard no_grad;
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const int64_t end = std::min(n, begin + batch_size);
      Tensor batch_labels;
      if (nets.config.num_classes > 0) {
        batch_labels = Tensor::from_vector(
            std::vector<int32_t>(labels.begin() + begin, labels.begin() + end), {end - begin});
      }
      const Tensor z = noise.slice(0, begin, end).to(device);
      parts.push_back(gan_output_to_pixels(nets.generate(z, batch_labels)));
    }
  }
  nets.generator->load_state_dict(saved, /*strict=*/false);
  nets.generator->train(was_training);
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

std::vector<int32_t> cycling_labels(int64_t count, int num_classes) {
  std::vector<int32_t> labels(static_cast<size_t>(count), 0);
  if (num_classes > 0) {
    for (int64_t i = 0; i < count; ++i) labels[i] = static_cast<int32_t>(i % num_classes);
  }
  return labels;
}

std::string OptimizerStateCallback::describe() const {
  return "OptimizerStateCallback(key=" + key_ + ", optimizer=" + optimizer_.name() +
         "): the second optimizer's state is saved and resumed with the run";
}

void OptimizerStateCallback::save_state(train::CallbackState& state) const {
  for (const auto& [name, tensor] : optimizer_.state_tensors()) state.tensors[name] = tensor;
  for (const auto& [name, value] : optimizer_.state_metadata()) state.values[name] = value;
}

void OptimizerStateCallback::load_state(const train::CallbackState& state) {
  optimizer_.load_state(state.tensors, state.values);
}

}  // namespace weft::models
