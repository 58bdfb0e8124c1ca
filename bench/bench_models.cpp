// Whole-model benchmarks: one training step (forward, loss, backward, optimizer update) and one
// inference pass (eval mode, no tape) of every seed model at its seed's batch size, on the CPU
// and, when a GPU is usable, on CUDA with weft's hand kernels and with cuDNN/cuBLAS.
//
//   build/bench/bench_models                                     every model, every device
//   build/bench/bench_models --benchmark_filter='/fashion_cnn/'  one model
//   build/bench/bench_models --weft_device=cuda --benchmark_out=models.json
//                            --benchmark_out_format=json     (one command line)
//   build/bench/bench_models --weft_batch=2                      tiny batches (the ctest smoke run)
//   build/bench/bench_models --weft_kernel_report=kernels.txt    also write auto's table
//   build/bench/bench_models --weft_device=emu --weft_batch=2 --benchmark_min_time=0.01
//                            the emulated GPU (very slow): its runtime counters per step
//   build/bench/bench_models --weft_profile=profile.md           also profile 3 steps of each
//                            benchmark op by op (engine/profile.h) after its timed loop: a table
//                            per benchmark, slowest op first, and the rows in profile.md.json
//                            (by benchmark name); eager steps only (graphs off)
//   build/bench/bench_models --weft_graphs=auto                  steps captured once and replayed
//                            (CUDA graphs, engine/graph.h; `on` also on emu); default off. The
//                            DCGAN's noise is drawn on the host before each iteration and
//                            copied into the captured graph's input, as in gan_train_epoch.
//
// Names: train_step/<model>/<backend> and inference/<model>/<backend>, backend one of cpu,
// cuda-auto (weft's default: per shape the faster of hand and vendor, measured in the untimed
// first step, engine/dispatch.h), cuda-hand (every op family on weft's kernels,
// WEFT_KERNELS=hand) and cuda-vendor (cuDNN and cuBLAS for the families that have them,
// kernels/selection.h). bench/compare_pytorch.py runs
// the same models in PyTorch (bench/pytorch/seed_models.py) and prints the ratios.
//
// What is timed: the input batch is already on the device (random pixels, fixed targets), so
// the loader is not part of it. Each iteration ends by reading the loss (or one number of the
// output) on the host, which waits for the device, so wall-clock time per iteration is the time
// of one step; the time is real time, not CPU time, since OpenMP and the GPU both work outside
// the calling thread. Two untimed steps before the loop allocate the optimizer state and fill
// the CUDA caching pool; with graphs on, the second captures the step.
//
// Counters:
//   images_per_second  batch / seconds per iteration (a DCGAN iteration counts its real batch)
//   batch, parameters  the batch size and the trainable parameter count
//   peak_MiB           the most bytes held by live tensors during the timed steps (weft's
//                      allocator statistic: parameters, optimizer state, activations, gradients)
//   rss_MiB            the process's resident-set high-water mark so far (getrusage); run one
//                      model per process (as compare_pytorch.py does) for a per-model figure
//   launches, library_calls, host_syncs, h2d_copies, d2h_copies, driver_allocs, pool_hits,
//   graph_launches
//                      runtime counters per timed step (kernels/runtime_counters.h), the
//                      iteration's one read of the loss included (one host sync, one d2h copy)
//
// The models, their inputs and optimizers (the seeds' settings; ../shared/seeds/FACTS.md):
//   fashion_cnn        seed 004 CNN, 64 filters, dropout 0.3   [512, 1, 28, 28]  CE, Adam 1e-3
//   fashion_resnet     weft's strong Fashion-MNIST net          [128, 1, 28, 28]  CE, SGD Nesterov
//   shoes_simple       seed 000/002 small CNN, 4 classes        [64, 3, 64, 64]   CE, Adam 1e-3
//   dcgan64            seed 000 DCGAN, 64x64 RGB, z 100         128 real images   BCE, Adam 2e-4
//   pairs_stacked      seed 001 "CNN", photos stacked           42 x 2 x [3, 224, 224]
//   pairs_channels     seed 001 "CNNChannel", 6 channels        42 x 2 x [3, 224, 224]
//   pairs_siamese      weft's siamese pair net                  42 x 2 x [3, 224, 224]
//                      (the three pair models: CE over 2 logits, Adam 1e-3, weight decay 1e-4)
//   clothing_resnet50  seed 002 ResNet-50, 3 classes            [32, 3, 224, 224] CE, Adam 1e-3
//   apparel_cnn        seed 003 SmallerVGGNet, 7 labels         [64, 3, 96, 96]   BCE, Adam 1e-3
//   fashion_vgg        make run's FashionVgg 32-64-128          [128, 1, 28, 28]  CE, SGD Nesterov
//   fashion_vgg_speedrun  the speedrun's FashionVgg 64-128-256 with its frozen whitening stem
//                      (the GPU main job)                       [512, 1, 28, 28]  CE, SGD Nesterov
//                      (both: the app's SGD, momentum 0.9, weight decay 5e-4 on weights only,
//                      lr 0.1 / 0.2; label smoothing, the schedule and augmentation are left out)
// DCGAN inference is generating one batch of images.
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/graph.h"
#include "engine/io/atomic_file.h"
#include "engine/ops.h"
#include "engine/profile.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/runtime.h"
#include "engine/train/captured_steps.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"
#include "kernels/selection.h"
#include "models/apparel_cnn.h"
#include "models/dcgan_training.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/fashion_vgg.h"
#include "models/image_classifier.h"
#include "models/pair_cnn.h"
#include "models/resnet.h"

namespace {

using namespace weft;

// One model ready to step: its parameters, optimizer and input batch live on one device.
class Workload {
 public:
  virtual ~Workload() = default;
  // One training step; returns the loss, read on the host (which waits for the device).
  virtual float train_step() = 0;
  // One forward pass in eval mode without a tape; returns one output number, read on the host.
  virtual float inference() = 0;
  virtual int64_t parameters() const = 0;
};

Tensor random_normal(const Shape& shape, Device device, Generator& generator) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return Tensor::from_vector(generator.normal(count, 0.0f, 1.0f), shape).to(device);
}

Tensor random_labels(int64_t n, int classes, Generator& generator) {
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (auto& label : labels) label = static_cast<int32_t>(generator.randint(classes));
  return Tensor::from_vector(labels, {n});
}

// A step that returns one number, run eagerly, or - with graphs on for the device
// (--weft_graphs, engine/graph.h) - eagerly on its first call (the warm-up), captured on its
// second and replayed from then on. Either way the number is read on the host at the end.
class GraphedStep {
 public:
  float run(Device device, const std::function<Tensor()>& body) {
    if (!graph::enabled_for(device) || calls_++ == 0) return body().item();
    if (graph_ == nullptr) {
      auto captured = std::make_unique<graph::Graph>(device);
      captured->capture([&] { output_ = body(); });
      graph_ = std::move(captured);
    }
    graph_->replay();
    return output_.item();
  }

 private:
  int64_t calls_ = 0;
  Tensor output_;  // the captured step's result, rewritten by every replay
  std::unique_ptr<graph::Graph> graph_;
};

// A model trained by one optimizer on one loss of its output: the training step and the
// inference pass that every such model times, written once. Subclasses say what the forward
// pass is (on their fixed batch) and what the loss of its output is.
class SupervisedWorkload : public Workload {
 public:
  float train_step() override {
    model_->train();
    return train_.run(device_, [&] {
      optimizer_->zero_grad();
      Tensor loss = loss_of(forward());
      loss.backward();
      optimizer_->step();
      return loss;
    });
  }

  float inference() override {
    model_->eval();
    NoGradGuard no_grad;
    return inference_.run(device_, [&] { return sum(forward()); });
  }

  int64_t parameters() const override { return model_->trainable_parameter_count(); }

 protected:
  SupervisedWorkload(std::shared_ptr<nn::Module> model, Device device)
      : model_(std::move(model)), device_(device) {}
  virtual Tensor forward() = 0;
  virtual Tensor loss_of(const Tensor& output) = 0;

  std::shared_ptr<nn::Module> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  Device device_;
  GraphedStep train_, inference_;  // declared last: their graphs go before what they use
};

// An image classifier: images -> logits, cross-entropy over classes (targets int32 [N]) or
// binary cross-entropy over independent labels (targets float [N, labels] of 0/1).
class ClassifierWorkload : public SupervisedWorkload {
 public:
  enum class Loss { cross_entropy, binary };

  ClassifierWorkload(
      std::shared_ptr<nn::Module> model, Shape input_shape, int outputs, Loss loss, Device device,
      const std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)>& make_optimizer)
      : SupervisedWorkload(std::move(model), device), loss_(loss) {
    Generator generator(7);
    model_->to(device);
    optimizer_ = make_optimizer(*model_);
    input_ = random_normal(input_shape, device, generator);
    const int64_t n = input_shape[0];
    if (loss == Loss::cross_entropy) {
      targets_ = random_labels(n, outputs, generator).to(device);
    } else {
      std::vector<float> multi_hot(static_cast<size_t>(n * outputs));
      for (auto& v : multi_hot) v = generator.uniform() < 0.3f ? 1.0f : 0.0f;
      targets_ = Tensor::from_vector(multi_hot, {n, outputs}).to(device);
    }
  }

 private:
  Tensor forward() override { return model_->forward(input_); }
  Tensor loss_of(const Tensor& logits) override {
    return loss_ == Loss::cross_entropy ? cross_entropy(logits, targets_)
                                        : bce_with_logits(logits, targets_);
  }

  Loss loss_;
  Tensor input_, targets_;
};

// A shoe-pair model: (left, right) photos -> 2 logits, cross-entropy; half the pairs positive.
class PairWorkload : public SupervisedWorkload {
 public:
  PairWorkload(const models::PairCnnConfig& config, int batch, Device device)
      : SupervisedWorkload(models::make_pair_model(config), device),
        pair_(std::static_pointer_cast<models::PairModel>(model_)) {
    Generator generator(11);
    model_->to(device);
    optimizer_ = std::make_unique<optim::Adam>(
        model_->parameters(), optim::AdamOptions{.lr = 1e-3f, .weight_decay = 1e-4f});
    const Shape photo = {batch, config.image_channels, config.image_height, config.image_width};
    left_ = random_normal(photo, device, generator);
    right_ = random_normal(photo, device, generator);
    std::vector<int32_t> targets(static_cast<size_t>(batch));
    for (size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<int32_t>(i % 2);
    targets_ = Tensor::from_vector(targets, {batch}).to(device);
  }

 private:
  Tensor forward() override { return pair_->forward_pair(left_, right_); }
  Tensor loss_of(const Tensor& logits) override { return cross_entropy(logits, targets_); }

  std::shared_ptr<models::PairModel> pair_;  // model_, as the pair model it is
  Tensor left_, right_, targets_;
};

// The DCGAN: one iteration is a discriminator step and a generator step (dcgan_training.h);
// inference generates one batch. Both are graphed with graphs on, as in the other workloads.
class GanWorkload : public Workload {
 public:
  GanWorkload(int batch, Device device)
      : nets_(models::dcgan64_rgb()), noise_(13), device_(device), train_(device) {
    Generator generator(17);
    nets_.to(device);
    const auto adam = models::gan_adam_options({});
    g_optimizer_ = std::make_unique<optim::Adam>(nets_.generator->parameters(), adam);
    d_optimizer_ = std::make_unique<optim::Adam>(nets_.discriminator->parameters(), adam);
    const models::DcganConfig& config = nets_.config;
    real_ = random_normal({batch, config.channels, config.image_size, config.image_size}, device,
                          generator);
    fixed_noise_ = models::dcgan_noise(batch, nets_.config.z_dim, device, &generator);
  }

  // One iteration on the fixed real batch with fresh noise, drawn on the host and copied into
  // the step's input as the training loop does (gan_train_epoch): with graphs on, the iterations
  // after the first are one captured graph. Returns the sum of the five statistics (one read).
  float train_step() override {
    nets_.train();
    const Tensor z = models::gan_step_noise(nets_, real_.dim(0), noise_);
    train_.run({z}, [&](const std::vector<Tensor>& in) {
      const Tensor sums = Tensor::zeros({5}, DType::f32, device_);
      models::gan_step_accumulate_with_noise(nets_, *g_optimizer_, *d_optimizer_, real_, Tensor(),
                                             in[0], sums, 1.0f);
      total_ = sum(sums);
    });
    return total_.item();
  }

  // One batch from the fixed noise.
  float inference() override {
    nets_.generator->eval();
    NoGradGuard no_grad;
    return inference_.run(device_, [&] { return sum(nets_.generate(fixed_noise_, Tensor())); });
  }

  int64_t parameters() const override { return nets_.parameter_count(); }

 private:
  models::DcganPair nets_;
  Generator noise_;
  std::unique_ptr<optim::Optimizer> g_optimizer_, d_optimizer_;
  Tensor real_, fixed_noise_;
  Device device_;
  Tensor total_;  // the iteration's statistics summed; a captured step's is rewritten by replays
  // Declared last: their graphs go before what they use.
  train::CapturedSteps train_;
  GraphedStep inference_;
};

std::unique_ptr<optim::Optimizer> adam(nn::Module& model) {
  return std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions{.lr = 1e-3f});
}

// ---- the model table ---------------------------------------------------------------------------

struct ModelCase {
  const char* name;
  int batch;  // the seed's batch size
  std::function<std::unique_ptr<Workload>(int batch, Device device)> make;
};

// weft-fashion-mnist's SGD (apps/fashion-mnist/setups.cpp): Nesterov momentum 0.9, weight decay
// 5e-4, on 1-d tensors too only in the strong setup (decay_vectors).
std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)> recipe_sgd(
    float lr, bool decay_vectors = false) {
  return [lr, decay_vectors](nn::Module& model) -> std::unique_ptr<optim::Optimizer> {
    optim::SgdOptions options;
    options.lr = lr;
    options.momentum = 0.9f;
    options.nesterov = true;
    options.weight_decay = 5e-4f;
    options.decay_vectors = decay_vectors;
    return std::make_unique<optim::SGD>(model.parameters(), options);
  };
}

std::unique_ptr<Workload> classifier(std::shared_ptr<nn::Module> model, Shape input, int outputs,
                                     ClassifierWorkload::Loss loss, Device device) {
  return std::make_unique<ClassifierWorkload>(std::move(model), std::move(input), outputs, loss,
                                              device, adam);
}

const std::vector<ModelCase>& model_cases() {
  using Loss = ClassifierWorkload::Loss;
  static const std::vector<ModelCase> cases = {
      {"fashion_cnn", 512,
       [](int batch, Device device) {
         return classifier(
             std::make_shared<models::FashionCnn>(models::FashionCnnConfig{64, 0.3f, 32, 10}),
             {batch, 1, 28, 28}, 10, Loss::cross_entropy, device);
       }},
      {"fashion_resnet", 128,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<ClassifierWorkload>(
             std::make_shared<models::FashionResNet>(models::FashionResNetConfig{}),
             Shape{batch, 1, 28, 28}, 10, Loss::cross_entropy, device, recipe_sgd(0.05f, true));
       }},
      {"shoes_simple", 64,
       [](int batch, Device device) {
         return classifier(models::make_image_classifier({"simple", 3, 64, 4}), {batch, 3, 64, 64},
                           4, Loss::cross_entropy, device);
       }},
      {"dcgan64", 128,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<GanWorkload>(batch, device);
       }},
      {"pairs_stacked", 42,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<PairWorkload>(models::stacked_cnn_config(), batch, device);
       }},
      {"pairs_channels", 42,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<PairWorkload>(models::channel_cnn_config(), batch, device);
       }},
      {"pairs_siamese", 42,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<PairWorkload>(models::siamese_config(), batch, device);
       }},
      {"clothing_resnet50", 32,
       [](int batch, Device device) {
         return classifier(models::make_image_classifier({"resnet50", 3, 224, 3}),
                           {batch, 3, 224, 224}, 3, Loss::cross_entropy, device);
       }},
      {"apparel_cnn", 64,
       [](int batch, Device device) {
         return classifier(std::make_shared<models::ApparelCnn>(models::ApparelCnnConfig{}),
                           {batch, 3, 96, 96}, 7, Loss::binary, device);
       }},
      {"fashion_vgg", 128,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         return std::make_unique<ClassifierWorkload>(
             std::make_shared<models::FashionVgg>(models::FashionVggConfig{}),
             Shape{batch, 1, 28, 28}, 10, Loss::cross_entropy, device, recipe_sgd(0.1f));
       }},
      {"fashion_vgg_speedrun", 512,
       [](int batch, Device device) -> std::unique_ptr<Workload> {
         models::FashionVggConfig config;
         config.widths = {64, 128, 256};
         config.convs = {1, 2, 2};
         config.whiten = true;
         return std::make_unique<ClassifierWorkload>(std::make_shared<models::FashionVgg>(config),
                                                     Shape{batch, 1, 28, 28}, 10,
                                                     Loss::cross_entropy, device,
                                                     recipe_sgd(0.2f));
       }},
  };
  return cases;
}

// ---- backends ----------------------------------------------------------------------------------

struct BackendCase {
  std::string name;  // cpu, cuda-auto (weft's default), cuda-hand, cuda-vendor
  Device device;
  KernelChoice choice;  // for CUDA: every family's choice while the benchmark runs
};

double mebibytes(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

double max_rss_mebibytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

enum class Phase { train_step, inference };

// --weft_profile: the table of each benchmark run so far (Google Benchmark may call a benchmark
// several times while it sizes the loop: the last call's table stays), its rows as JSON for
// FILE.json, and how many steps each profiles.
struct ProfileTable {
  std::string name, markdown, json;
};
std::vector<ProfileTable> profile_tables;
constexpr int kProfileSteps = 3;

// Profiles kProfileSteps more steps op by op and adds their table to profile_tables.
void profile_steps(const std::string& name, const std::function<float()>& step) {
  profile::start();
  struct StopOnError {  // a step that throws leaves no profile recording behind
    ~StopOnError() {
      if (profile::recording()) profile::stop();
    }
  } stop_on_error;
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < kProfileSteps; ++i) step();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const profile::Profile p = profile::stop();
  char heading[256];
  std::snprintf(heading, sizeof heading,
                "## %s\n\n%d steps profiled, %.3f ms per step with the profile's "
                "synchronisations; ops %.3f ms\n\n",
                name.c_str(), kProfileSteps, wall * 1e3 / kProfileSteps,
                p.seconds() * 1e3 / kProfileSteps);
  ProfileTable table{name, heading + profile::format_table(p, kProfileSteps, wall) + "\n",
                     profile::format_json(p, kProfileSteps, wall)};
  for (ProfileTable& known : profile_tables) {
    if (known.name == name) {
      known = std::move(table);
      return;
    }
  }
  profile_tables.push_back(std::move(table));
}

void run_model(benchmark::State& state, const ModelCase& model, const BackendCase& backend,
               int batch, Phase phase, const std::string& profile_name) {
  if (backend.device.is_cuda()) set_kernel_choice(backend.choice);
  std::unique_ptr<Workload> workload = model.make(batch, backend.device);
  auto step = [&] {
    return phase == Phase::train_step ? workload->train_step() : workload->inference();
  };
  // Untimed: optimizer state, the CUDA pool, first-touch of the batch, under auto the
  // measurement of every new shape (engine/dispatch.h), and with graphs on the capture.
  float last = step();
  last = step();
  reset_peak_memory(backend.device);
  const RuntimeCounters before = runtime_counters();
  for (auto _ : state) {
    last = step();
    benchmark::DoNotOptimize(last);
  }
  // Per step, including the one read of the loss (or output sum) that ends each step here.
  const RuntimeCounters counted = runtime_counters() - before;
  const auto per_step = [&](int64_t value) {
    return static_cast<double>(value) /
           static_cast<double>(std::max<int64_t>(1, state.iterations()));
  };
  state.counters["launches"] = per_step(counted.launches);
  state.counters["library_calls"] = per_step(counted.library_calls);
  state.counters["host_syncs"] = per_step(counted.host_syncs);
  state.counters["h2d_copies"] = per_step(counted.h2d_copies);
  state.counters["d2h_copies"] = per_step(counted.d2h_copies);
  state.counters["driver_allocs"] = per_step(counted.driver_allocs);
  state.counters["pool_hits"] = per_step(counted.cache_hits);
  state.counters["graph_launches"] = per_step(counted.graph_launches);
  state.counters["images_per_second"] =
      benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["batch"] = batch;
  state.counters["parameters"] = static_cast<double>(workload->parameters());
  state.counters["peak_MiB"] = mebibytes(memory_stats(backend.device).peak_bytes);
  state.counters["rss_MiB"] = max_rss_mebibytes();
  if (!profile_name.empty()) profile_steps(profile_name, step);
  workload.reset();
  if (backend.device.is_cuda()) reset_kernel_choices();
}

// Removes `--name=value` from argv (before Google Benchmark parses the rest) and returns the value.
std::string take_flag(int& argc, char** argv, const char* name, const std::string& fallback) {
  const std::string prefix = std::string("--") + name + "=";
  std::string value = fallback;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      value = argv[i] + prefix.size();
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return value;
}

std::vector<BackendCase> backends(const std::string& which) {
  WEFT_CHECK(which == "cpu" || which == "cuda" || which == "all" || which == "emu",
             "--weft_device=" + which + ": expected cpu, cuda, all or emu");
  std::vector<BackendCase> list;
  // The emulated GPU, only when asked for: very slow, for its runtime counters (use --weft_batch).
  if (which == "emu") return {{"emu", Device::emu(), KernelChoice::hand}};
  if (which != "cuda") list.push_back({"cpu", Device::cpu(), KernelChoice::automatic});
  if (which != "cpu") {
    std::string reason;
    if (cuda_available(&reason)) {
      list.push_back({"cuda-auto", Device::cuda(0), KernelChoice::automatic});
      list.push_back({"cuda-hand", Device::cuda(0), KernelChoice::hand});
      list.push_back({"cuda-vendor", Device::cuda(0), KernelChoice::vendor});
    } else {
      std::printf("bench_models: no CUDA benchmarks: %s\n", reason.c_str());
    }
  }
  return list;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string device = take_flag(argc, argv, "weft_device", "all");
    const std::string batch_text = take_flag(argc, argv, "weft_batch", "0");
    const std::string report_path = take_flag(argc, argv, "weft_kernel_report", "");
    const std::string graphs = take_flag(argc, argv, "weft_graphs", "off");
    const std::string profile_path = take_flag(argc, argv, "weft_profile", "");
    graph::Mode graph_mode = graph::Mode::off;
    WEFT_CHECK(graph::parse_mode(graphs, &graph_mode),
               "--weft_graphs=" + graphs + ": expected on, off or auto");
    graph::set_mode(graph_mode);
    WEFT_CHECK(profile_path.empty() || graph_mode == graph::Mode::off,
               "--weft_profile needs --weft_graphs=off: a replayed graph runs no op the profile "
               "could time");
    int batch_override = 0;
    const auto [end, error] =
        std::from_chars(batch_text.data(), batch_text.data() + batch_text.size(), batch_override);
    WEFT_CHECK(
        error == std::errc() && end == batch_text.data() + batch_text.size() && batch_override >= 0,
        "--weft_batch=" + batch_text + ": expected a batch size (0: each seed's own)");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    for (const BackendCase& backend : backends(device)) {
      for (const ModelCase& model : model_cases()) {
        const int batch = batch_override > 0 ? batch_override : model.batch;
        for (Phase phase : {Phase::train_step, Phase::inference}) {
          const std::string name =
              std::string(phase == Phase::train_step ? "train_step/" : "inference/") + model.name +
              "/" + backend.name;
          benchmark::RegisterBenchmark(name.c_str(), run_model, model, backend, batch, phase,
                                       profile_path.empty() ? std::string() : name)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    // What auto measured and picked for every shape of every model (cuda-auto).
    if (!report_path.empty()) io::write_file_atomic(report_path, kernel_report());
    if (!profile_path.empty()) {
      std::string text = "# Op profiles (bench_models --weft_profile)\n\n";
      std::string json = "{";
      for (const ProfileTable& table : profile_tables) {
        text += table.markdown;
        json += (json.size() > 1 ? ",\n" : "\n") + nlohmann::json(table.name).dump() + ": " +
                table.json;
      }
      io::write_file_atomic(profile_path, text);
      io::write_file_atomic(profile_path + ".json", json + "\n}\n");
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_models: %s\n", error.what());
    return 1;
  }
}
