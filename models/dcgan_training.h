// How the DCGAN (dcgan.h) is trained and sampled: Radford et al.'s recipe as PyTorch's DCGAN
// example runs it, in pieces the app (apps/dcgan) and the tests share.
//
// One iteration on a batch of real images x with labels y (class-conditional: the fakes get the
// real batch's labels, so every class is generated as often as it is seen):
//
//   1. discriminator step   z ~ N(0, 1);  fake = G(z, y)
//        loss_D = BCE(D(x, y), 1) + BCE(D(fake.detach(), y), 0)   (labels: 1 real, 0 fake)
//        backward, Adam step on D only (detach keeps G's gradient empty)
//   2. generator step       loss_G = BCE(D(fake, y), 1)
//        the non-saturating loss: G maximises log D(G(z)) instead of minimising
//        log(1 - D(G(z))), whose gradient vanishes while D easily spots the fakes early on.
//        backward passes through D to the fakes but not into D's parameters: they are frozen
//        for this step (their weight gradients would only be dropped before D's next step),
//        so D's backward-filter passes run once per iteration, not twice, and D's gradients
//        keep the values of step 1. Only G's Adam steps.
//
// BCE is bce_with_logits on D's logit. Reported per iteration, as the PyTorch example prints:
// loss_D, loss_G, D(x) = mean sigmoid(D(x)), D(G(z)) = mean sigmoid(D(fake)) in step 1 and again
// in step 2 (after D's update). In a healthy run D(x) stays below 1 and D(G(z)) above 0; D(x)
// -> 1 with D(G(z)) -> 0 and a climbing loss_G is the discriminator winning outright.
//
// Both networks sit in one Module (DcganPair: generator.*, discriminator.*), so the trainer's
// checkpoint (engine/train/trainer.h) holds both; the trainer knows one optimizer (G's), and
// D's Adam travels in the same checkpoint as a callback's state (OptimizerStateCallback).
//
// Sampling (generate_pixels) runs the generator in training mode - batch statistics in its
// batch norms, as the PyTorch example samples its fixed-noise grids - without a tape, and puts
// the running statistics back afterwards, so sampling never changes the model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/callbacks.h"
#include "engine/train/trainer.h"
#include "models/dcgan.h"

namespace weft::models {

// Radford et al.: Adam with lr 2e-4 and beta1 0.5 for both networks.
struct GanOptimizerOptions {
  float lr = 2e-4f;
  float beta1 = 0.5f;
  float beta2 = 0.999f;
};
optim::AdamOptions gan_adam_options(const GanOptimizerOptions& options);

class DcganPair : public nn::Module {
 public:
  explicit DcganPair(const DcganConfig& config);
  // G(noise, labels) / D(images, labels); `labels` (int32 [N]) only for a conditional config,
  // an undefined tensor otherwise.
  Tensor generate(const Tensor& noise, const Tensor& labels);
  Tensor discriminate(const Tensor& images, const Tensor& labels);
  std::string type_name() const override { return "DcganPair"; }

  DcganConfig config;
  std::shared_ptr<DcganGenerator> generator;
  std::shared_ptr<DcganDiscriminator> discriminator;
};

struct GanStepStats {
  double d_loss = 0;        // BCE on reals + BCE on fakes
  double g_loss = 0;        // non-saturating BCE of the fakes against "real"
  double d_real = 0;        // mean D(x), as a probability
  double d_fake = 0;        // mean D(G(z)) in the discriminator step
  double d_fake_after = 0;  // mean D(G(z)) in the generator step, after D's update
};

// One iteration (the two steps above). real: float [N, C, S, S] in [-1, 1] on the networks'
// device; labels: int32 [N] on any device, or undefined for an unconditional config. Noise is
// drawn from `noise`.
GanStepStats gan_step(DcganPair& nets, optim::Optimizer& generator_optimizer,
                      optim::Optimizer& discriminator_optimizer, const Tensor& real,
                      const Tensor& labels, Generator& noise);

// The same iteration without reading anything back: its five statistics (GanStepStats' order:
// d_loss, g_loss, d_real, d_fake, d_fake_after) times `weight` are added to `sums`, float [5] on
// the networks' device. gan_train_epoch sums an epoch this way and reads once at its end.
void gan_step_accumulate(DcganPair& nets, optim::Optimizer& generator_optimizer,
                         optim::Optimizer& discriminator_optimizer, const Tensor& real,
                         const Tensor& labels, Generator& noise, const Tensor& sums, float weight);

// The noise one iteration draws for `n` real images on this rank, in host memory: one draw of
// `noise`, the one gan_step_accumulate makes. With gan_step_accumulate_with_noise a caller draws
// it before the step and hands it in, so that the step itself does no host work.
Tensor gan_step_noise(const DcganPair& nets, int64_t n, Generator& noise);

// gan_step_accumulate with its noise given: float [n, z_dim] on the networks' device (the
// upload of gan_step_noise). It only queues device work, so a CUDA graph can capture it
// (engine/graph.h); gan_train_epoch runs it through train::CapturedSteps.
void gan_step_accumulate_with_noise(DcganPair& nets, optim::Optimizer& generator_optimizer,
                                    optim::Optimizer& discriminator_optimizer, const Tensor& real,
                                    const Tensor& labels, const Tensor& noise, const Tensor& sums,
                                    float weight);

struct GanEpochStats {
  GanStepStats mean;    // each number averaged over the epoch's iterations, by batch size
  int64_t samples = 0;  // real images seen
  int64_t steps = 0;
  bool completed = true;  // false when a stop request ended the pass early
};

// Pixels (uint8) -> the generator's range: x / 127.5 - 1, so 0 -> -1 and 255 -> 1.
constexpr float kGanPixelScale = 2.0f / 255.0f;
constexpr float kGanPixelShift = -1.0f;

// One pass over `data` (uint8 [N, C, S, S] at the model's size, labels 0..K-1) in shuffled
// batches of `batch_size`. Only full batches are used, so batch norm never sees a tiny last
// batch; a set smaller than one batch is one batch. Stops early (completed = false) when
// train::stop_requested() turns true. `hooks` as in engine/train/classification.h. With graphs
// on for `device` (--cuda-graphs, engine/graph.h) the iterations after the first are one
// captured graph replayed per batch, the batch's images, labels and noise copied into its input
// buffers first (train::CapturedSteps); the results are those of eager iterations.
GanEpochStats gan_train_epoch(DcganPair& nets, optim::Optimizer& generator_optimizer,
                              optim::Optimizer& discriminator_optimizer,
                              const data::LabeledImages& data, int batch_size, Device device,
                              Generator& shuffle, Generator& noise,
                              const train::StepHooks& hooks = {});

// Generator output in (-1, 1) -> uint8 pixels round((x + 1) * 127.5), on the CPU.
Tensor gan_output_to_pixels(const Tensor& images);

// Images for `noise` [N, z] (and `labels`, N of them, for a conditional model), in batches of
// at most `batch_size`, as uint8 [N, C, S, S] on the CPU. See "Sampling" above.
Tensor generate_pixels(DcganPair& nets, const Tensor& noise, const std::vector<int32_t>& labels,
                       int64_t batch_size = 256);

// `count` labels cycling 0, 1, ..., K-1, 0, 1, ... so that every sampling batch mixes the
// classes as the training batches do.
std::vector<int32_t> cycling_labels(int64_t count, int num_classes);

// Carries an optimizer the trainer does not know about (the discriminator's Adam) through the
// trainer's checkpoints: its buffers become callback.<key>.<index>.<buffer> tensors and its step
// count and learning rate callback.<key>.optimizer.* metadata, restored on resume.
class OptimizerStateCallback : public train::Callback {
 public:
  OptimizerStateCallback(std::string key, optim::Optimizer& optimizer)
      : key_(std::move(key)), optimizer_(optimizer) {}
  std::string key() const override { return key_; }
  std::string describe() const override;
  void save_state(train::CallbackState& state) const override;
  void load_state(const train::CallbackState& state) override;

 private:
  std::string key_;
  optim::Optimizer& optimizer_;
};

}  // namespace weft::models
