// Whole seed models on the emulated GPU (`--device emu`): one training step of every seed model at
// batch 2 runs the hand CUDA kernels end to end under the host emulation and must match the same
// step on the CPU (loss, every gradient, every updated weight and batch-norm buffer). The second
// step is measured with the runtime counters (kernels/runtime_counters.h) and held to the budget
// of docs/benchmarks.md ("Runtime counters"): no host synchronisation and no device->host copy
// inside a step, and no more kernel launches than the table says. The same step at bf16 is held
// to the bf16 column of that table, and its loss to the CPU step's at bf16 (check_model_bf16).
// Label: emu.
//
// Sizes are the seed models' own layers on small images (the emulation runs a few million CUDA
// threads a second), and SGD with momentum updates the weights, so an updated weight differs from
// the CPU's by the learning rate times the gradient's difference (Adam would divide tiny
// gradients by their own size and magnify rounding).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/module.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "kernels/runtime_counters.h"
#include "kernels/selection.h"
#include "models/apparel_cnn.h"
#include "models/dcgan_training.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/fashion_vgg.h"
#include "models/image_classifier.h"
#include "models/pair_cnn.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::Device;
using weft::Tensor;
namespace nn = weft::nn;
namespace models = weft::models;

// Uniform(-1, 1) images and class labels, the same for every device.
Tensor images(const weft::Shape& shape, uint64_t seed) {
  weft::Generator generator(seed);
  std::vector<float> values(static_cast<size_t>(weft::shape_numel(shape)));
  for (float& v : values) v = generator.uniform() * 2.0f - 1.0f;
  return Tensor::from_vector(values, shape);
}

Tensor labels(int64_t n, int classes) {
  std::vector<int32_t> values;
  for (int64_t i = 0; i < n; ++i) values.push_back(static_cast<int32_t>((3 * i + 1) % classes));
  return Tensor::from_vector(values, {n});
}

// One training step of a model already on its device; returns what the step reports (the loss,
// or the DCGAN's five statistics), still on the device.
using StepFunction = std::function<Tensor()>;

// A seed model, and how to train it: `trainer` builds the optimizers of `model` on `device` and
// returns its step.
struct ModelCase {
  std::string name;
  std::function<std::shared_ptr<nn::Module>()> make;
  std::function<StepFunction(std::shared_ptr<nn::Module> model, Device device)> trainer;
  int64_t launch_budget;  // per training step, from docs/benchmarks.md
  // Models with batch norm are held as a whole in train mode, within this relative difference
  // of all gradients together (0: each tensor on its own, see check_model), and each tensor in
  // eval mode (batch norm from running statistics).
  double train_mode_tolerance = 0.0;
};

weft::optim::SgdOptions sgd() { return {.lr = 0.05f, .momentum = 0.9f}; }

// A step that minimises loss(model, device) with SGD.
std::function<StepFunction(std::shared_ptr<nn::Module>, Device)> minimise(
    std::function<Tensor(nn::Module&, Device)> loss) {
  return [loss](std::shared_ptr<nn::Module> model, Device device) -> StepFunction {
    auto optimizer = std::make_shared<weft::optim::SGD>(model->parameters(), sgd());
    return [=] {
      optimizer->zero_grad();
      const Tensor value = loss(*model, device);
      value.backward();
      optimizer->step();
      return value;
    };
  };
}

// A classifier: images [2, C, S, S] -> logits, cross-entropy (or BCE for multi-label).
ModelCase classifier(std::string name, std::function<std::shared_ptr<nn::Module>()> make,
                     weft::Shape shape, int classes, bool multi_label, int64_t budget) {
  return {std::move(name), std::move(make),
          minimise([shape, classes, multi_label](nn::Module& model, Device device) {
            const Tensor x = images(shape, 5).to(device);
            const Tensor logits = model(x);
            if (!multi_label) {
              return weft::cross_entropy(logits, labels(shape[0], classes).to(device));
            }
            std::vector<float> t = images({shape[0], classes}, 9).to_vector<float>();
            for (float& v : t) v = v > 0.0f ? 1.0f : 0.0f;
            return weft::bce_with_logits(logits,
                                         Tensor::from_vector(t, {shape[0], classes}).to(device));
          }),
          budget};
}

ModelCase pair_model(std::string name, models::PairCnnConfig config, int64_t budget) {
  return {std::move(name),
          [config] { return std::static_pointer_cast<nn::Module>(models::make_pair_model(config)); },
          minimise([config](nn::Module& module, Device device) {
            auto& model = dynamic_cast<models::PairModel&>(module);
            const weft::Shape shape = {2, config.image_channels, config.image_height,
                                       config.image_width};
            const Tensor left = images(shape, 5).to(device);
            const Tensor right = images(shape, 6).to(device);
            return weft::cross_entropy(model.forward_pair(left, right), labels(2, 2).to(device));
          }),
          budget};
}

// The DCGAN of weft-dcgan at 32 x 32 grey: one iteration (discriminator step, generator step).
ModelCase dcgan(int64_t budget) {
  const models::DcganConfig config = models::dcgan32_gray();
  return {"dcgan 32x32 generator + discriminator",
          [config] { return std::make_shared<models::DcganPair>(config); },
          [](std::shared_ptr<nn::Module> module, Device device) -> StepFunction {
            auto nets = std::dynamic_pointer_cast<models::DcganPair>(module);
            auto g = std::make_shared<weft::optim::SGD>(nets->generator->parameters(), sgd());
            auto d = std::make_shared<weft::optim::SGD>(nets->discriminator->parameters(), sgd());
            auto noise = std::make_shared<weft::Generator>(3);
            const Tensor real = images({2, 1, 32, 32}, 5);
            return [=] {
              const Tensor sums = Tensor::zeros({5}, weft::DType::f32, device);
              models::gan_step_accumulate(*nets, *g, *d, real.to(device), Tensor(), *noise, sums,
                                          1.0f);
              return sums;
            };
          },
          budget};
}

ModelCase with_batch_norm(ModelCase c, double train_mode_tolerance = 1e-4) {
  c.train_mode_tolerance = train_mode_tolerance;
  return c;
}

ModelCase image_classifier(const std::string& net, int64_t budget) {
  // 16 x 16: a ResNet takes it as a small input (3 x 3 stem, no max-pool), layer4 at 2 x 2.
  ModelCase c = classifier("shoes/clothing " + net,
                           [net] { return models::make_image_classifier({net, 3, 16, 4}); },
                           {2, 3, 16, 16}, 4, false, budget);
  if (net == "simple") return c;
  return with_batch_norm(c, net == "resnet50" ? 1e-1 : 1e-4);
}

// Every parameter's gradient and every float tensor of the state dict, by name, on the host.
using NamedValues = std::vector<std::pair<std::string, std::vector<float>>>;

NamedValues values_of(const nn::Module& model) {
  NamedValues out;
  for (const auto& [name, tensor] : model.state_dict()) {
    if (tensor.dtype() == weft::DType::f32) out.emplace_back(name, tensor.to_vector<float>());
  }
  return out;
}

NamedValues grads_of(const nn::Module& model) {
  NamedValues out;
  for (const auto& [name, tensor] : model.named_parameters()) {
    if (tensor.grad().defined()) out.emplace_back(name, tensor.grad().to_vector<float>());
  }
  return out;
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t k = 0; k < b.size(); ++k) {
    const double d = std::fabs(static_cast<double>(a[k]) - b[k]);
    worst = std::isnan(d) ? HUGE_VAL : std::max(worst, d);
  }
  return worst;
}

// Each tensor of `got` within `tolerance` times the reference's largest magnitude (at least 1).
void check_each_close(const std::string& what, const NamedValues& got, const NamedValues& want,
                      double tolerance) {
  REQUIRE(got.size() == want.size());
  REQUIRE_FALSE(want.empty());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(what << " " << want[i].first);
    REQUIRE(got[i].first == want[i].first);
    REQUIRE(got[i].second.size() == want[i].second.size());
    double scale = 1.0;
    for (float v : want[i].second) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    const double worst = largest_difference(got[i].second, want[i].second);
    INFO("largest difference " << worst << ", largest reference magnitude " << scale);
    CHECK(worst <= tolerance * scale);
  }
}

// All tensors of `got` together within `tolerance` of the reference: the norm of the difference
// of the concatenated values over the norm of the reference's.
void check_all_close(const std::string& what, const NamedValues& got, const NamedValues& want,
                     double tolerance) {
  REQUIRE(got.size() == want.size());
  REQUIRE_FALSE(want.empty());
  double difference = 0.0, reference = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    REQUIRE(got[i].first == want[i].first);
    REQUIRE(got[i].second.size() == want[i].second.size());
    for (size_t k = 0; k < want[i].second.size(); ++k) {
      const double d = static_cast<double>(got[i].second[k]) - want[i].second[k];
      difference += std::isnan(d) ? HUGE_VAL : d * d;
      reference += static_cast<double>(want[i].second[k]) * want[i].second[k];
    }
  }
  const double relative = std::sqrt(difference / std::max(reference, 1e-30));
  std::cout << what << ": relative difference of all tensors " << relative << std::endl;
  INFO(what << ": relative difference of all tensors " << relative);
  CHECK(relative <= tolerance);
}

struct StepResult {
  std::vector<float> reported;  // the step's loss (or statistics)
  NamedValues grads, values;    // after the step
  weft::RuntimeCounters counted;  // the step itself, without the reads above
};

// One step of `c` on `device`: what it reported, the gradients, the weights after it, and the
// runtime counters of the step. (A first step also fills the caching pool, so its driver
// allocations are not those of a steady state; its launches, copies and syncs are.)
StepResult train_one_step(const ModelCase& c, Device device, bool training) {
  // The CPU reference is weft's own CPU kernels, not what `auto` timed fastest: the picks follow
  // the machine's load (under ctest -j a descheduled trial can give oneDNN one batch-norm shape
  // of ResNet-50 and weft's kernels the next), and a step mixing implementations differs from
  // the emulated one by their roundings, magnified through the network, not by a wiring error.
  // The reset forgets the precision too (selection.h): the caller's is set again.
  struct HandKernels {
    weft::MathPrecision precision = weft::math_precision();
    HandKernels() { weft::set_kernel_choice(weft::KernelChoice::hand); }
    ~HandKernels() {
      weft::reset_kernel_choices();
      weft::set_math_precision(precision);
    }
  } hand_kernels;
  weft::manual_seed(7);
  std::shared_ptr<nn::Module> model = c.make();
  model->to(device);
  model->train(training);
  const StepFunction step = c.trainer(model, device);
  weft::manual_seed(11);  // the same dropout masks and noise on both devices
  const weft::RuntimeCounters before = weft::runtime_counters();
  const Tensor reported = step();
  StepResult r;
  r.counted = weft::runtime_counters() - before;
  r.reported = reported.to_vector<float>();
  r.grads = grads_of(*model);
  r.values = values_of(*model);
  return r;
}

// An emulated step's counters: no host synchronisation, no device->host copy, no library call,
// and at least one launch and at most `launch_budget`. Uploads are the step's own inputs only
// (images and labels; two photos and labels for a pair model; real images and noise for the
// DCGAN): batch norm's step counter stays on the host.
void check_counters(const weft::RuntimeCounters& counted, int64_t launch_budget) {
  CHECK(counted.host_syncs == 0);
  CHECK(counted.d2h_copies == 0);
  CHECK(counted.h2d_copies <= 3);
  CHECK(counted.library_calls == 0);
  CHECK(counted.launches > 0);
  CHECK(counted.launches <= launch_budget);
}

// The CPU step and the emulated one agree, and the emulated one keeps to the budget.
//
// How close is close: the emulated kernels sum in other orders than the CPU's, so results differ
// by roundings, and a network magnifies them by its own conditioning. The plain seed models agree
// to 2e-3 of each tensor's scale. Residual networks at batch 2 in train mode do not: their batch
// norms normalise a handful of values each (layer3 of ResNet-50 on 16 x 16 images: 32 per
// channel), and the CPU step alone, on inputs changed by 1e-7 relative, moved single gradient
// tensors of ResNet-50 by up to 20% (measured when this test was written). So for models with
// batch norm the train-mode step is held as a whole (all gradients together within 1e-4 in norm,
// where FashionResNet and ResNet-18 measured 1e-6 and 8e-6; 1e-1 for ResNet-50, whose 53 batch
// norms left 3.4%; the weights after the step within a fifth of that), and the step is repeated
// in eval mode (batch
// norm from running statistics, well conditioned), where every tensor must agree to 1e-4: that
// holds each kernel's gradient tightly. A wiring error (a wrong kernel, argument or buffer) shows
// up at order 1 in both.
void check_model(const ModelCase& c) {
  const StepResult cpu = train_one_step(c, Device::cpu(), true);
  const StepResult emu = train_one_step(c, Device::emu(), true);
  std::cout << "one training step of " << c.name << " on emu: " << emu.counted.str() << std::endl;
  INFO(c.name << ": one training step on emu: " << emu.counted.str());
  REQUIRE(emu.reported.size() == cpu.reported.size());
  for (size_t i = 0; i < cpu.reported.size(); ++i) {
    CHECK(emu.reported[i] == Approx(cpu.reported[i]).epsilon(1e-4).margin(1e-6));
  }
  if (c.train_mode_tolerance == 0.0) {
    check_each_close("gradient", emu.grads, cpu.grads, 2e-3);
    check_each_close("after the step", emu.values, cpu.values, 2e-4);
  } else {
    check_all_close(c.name + " gradients", emu.grads, cpu.grads, c.train_mode_tolerance);
    check_all_close(c.name + " weights after the step", emu.values, cpu.values,
                    c.train_mode_tolerance * 0.2);
    const StepResult cpu_eval = train_one_step(c, Device::cpu(), false);
    const StepResult emu_eval = train_one_step(c, Device::emu(), false);
    check_each_close("gradient in eval mode", emu_eval.grads, cpu_eval.grads, 1e-4);
    check_each_close("after the step in eval mode", emu_eval.values, cpu_eval.values, 1e-5);
  }
  check_counters(emu.counted, c.launch_budget);
  // The CPU counts nothing: no device was involved.
  CHECK(cpu.counted.launches == 0);
  CHECK(cpu.counted.h2d_copies == 0);
}

// The same step at bf16 (the tensor-core kernels, operands rounded to BF16 on both devices): no
// host synchronisation and no device->host copy, launches held to the budget (the bf16 column of
// docs/benchmarks.md), and the reported loss (or the DCGAN's statistics) within 2% of the CPU
// step's at bf16, for models with batch norm in eval mode. Not every gradient: where the two
// devices' sums in other orders round a value to neighbouring BF16 numbers (2^-9 apart,
// relative), a network at batch 2 magnifies it, through its batch norms most (in train mode all
// gradients together differed by 17% on ResNet-18, 8% on FashionResNet, 3e-5 on FashionVgg,
// and ResNet-50's loss by 3%, when this was written: layer4's batch norms normalise 8 values a
// channel). In eval mode ResNet-50's loss was 1.1% apart (1.3824 on emu, 1.3980 on the CPU,
// 1.3918 at fp32), the others at most 0.4%. A wiring error moves the loss by its order; the fp32
// steps above hold the wiring tightly, and the op table each kernel's BF16 arithmetic.
void check_model_bf16(const ModelCase& c) {
  const weft::test::PrecisionScope scope(weft::MathPrecision::bf16);
  const StepResult emu = train_one_step(c, Device::emu(), true);
  std::cout << "one training step of " << c.name << " on emu at bf16: " << emu.counted.str()
            << std::endl;
  INFO(c.name << ": one training step on emu at bf16: " << emu.counted.str());
  CHECK(weft::math_precision() == weft::MathPrecision::bf16);
  const bool batch_norm = c.train_mode_tolerance != 0.0;
  const StepResult cpu_loss = train_one_step(c, Device::cpu(), !batch_norm);
  const StepResult emu_loss = batch_norm ? train_one_step(c, Device::emu(), false) : emu;
  REQUIRE(emu_loss.reported.size() == cpu_loss.reported.size());
  for (size_t i = 0; i < cpu_loss.reported.size(); ++i) {
    CHECK(emu_loss.reported[i] == Approx(cpu_loss.reported[i]).epsilon(2e-2).margin(1e-6));
  }
  check_counters(emu.counted, c.launch_budget);
}

}  // namespace

// The launch budgets are the counts measured when the table in docs/benchmarks.md was written;
// a change that adds launches to a step must update both.
TEST_CASE("emu step: fashion-mnist FashionCnn (seed setups)", "[emu]") {
  check_model(classifier("FashionCnn", [] { return std::make_shared<models::FashionCnn>(); },
                         {2, 1, 28, 28}, 10, false, 20));
}

TEST_CASE("emu step: fashion-mnist FashionVgg (default setup, make run)", "[emu]") {
  check_model(with_batch_norm(
      classifier("FashionVgg", [] { return std::make_shared<models::FashionVgg>(); },
                 {2, 1, 28, 28}, 10, false, 33)));
}

TEST_CASE("emu step: fashion-mnist FashionResNet (strong setup)", "[emu]") {
  check_model(with_batch_norm(
      classifier("FashionResNet", [] { return std::make_shared<models::FashionResNet>(); },
                 {2, 1, 28, 28}, 10, false, 124)));
}

TEST_CASE("emu step: shoes/clothing SimpleCnn", "[emu]") {
  check_model(image_classifier("simple", 24));
}
TEST_CASE("emu step: clothing ResNet-18", "[emu]") {
  check_model(image_classifier("resnet18", 155));
}
TEST_CASE("emu step: clothing ResNet-50", "[emu]") {
  check_model(image_classifier("resnet50", 382));
}

TEST_CASE("emu step: apparel ApparelCnn (multi-label)", "[emu]") {
  check_model(classifier(
      "ApparelCnn",
      [] { return std::make_shared<models::ApparelCnn>(models::ApparelCnnConfig{3, 48, 7}); },
      {2, 3, 48, 48}, 7, true, 72));
}

TEST_CASE("emu step: dcgan 32x32 generator + discriminator", "[emu]") { check_model(dcgan(112)); }

TEST_CASE("emu step: shoe-pairs stacked, channels and siamese", "[emu]") {
  check_model(pair_model("stacked", models::stacked_cnn_config(32, 32), 51));
  check_model(pair_model("channels", models::channel_cnn_config(32, 32), 39));
  check_model(pair_model("siamese", models::siamese_config(32, 32), 134));
}


// At bf16: the budgets are the last column of the launch table in docs/benchmarks.md.
TEST_CASE("emu step at bf16: fashion-mnist models", "[emu]") {
  check_model_bf16(classifier("FashionCnn", [] { return std::make_shared<models::FashionCnn>(); },
                              {2, 1, 28, 28}, 10, false, 21));
  check_model_bf16(with_batch_norm(
      classifier("FashionVgg", [] { return std::make_shared<models::FashionVgg>(); },
                 {2, 1, 28, 28}, 10, false, 37)));
  check_model_bf16(with_batch_norm(
      classifier("FashionResNet", [] { return std::make_shared<models::FashionResNet>(); },
                 {2, 1, 28, 28}, 10, false, 158)));
}

TEST_CASE("emu step at bf16: shoes/clothing SimpleCnn, ResNet-18, ApparelCnn", "[emu]") {
  check_model_bf16(image_classifier("simple", 26));
  check_model_bf16(image_classifier("resnet18", 202));
  check_model_bf16(classifier(
      "ApparelCnn",
      [] { return std::make_shared<models::ApparelCnn>(models::ApparelCnnConfig{3, 48, 7}); },
      {2, 3, 48, 48}, 7, true, 80));
}

TEST_CASE("emu step at bf16: clothing ResNet-50", "[emu]") {
  check_model_bf16(image_classifier("resnet50", 495));
}

TEST_CASE("emu step at bf16: dcgan and shoe-pair models", "[emu]") {
  check_model_bf16(dcgan(126));
  check_model_bf16(pair_model("stacked", models::stacked_cnn_config(32, 32), 54));
  check_model_bf16(pair_model("channels", models::channel_cnn_config(32, 32), 43));
  check_model_bf16(pair_model("siamese", models::siamese_config(32, 32), 140));
}
