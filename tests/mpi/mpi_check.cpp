// weft_mpi_check: a tiny classifier trained through the shared Trainer and classification loop,
// for the data-parallel tests (tests/CMakeLists.txt, label `mpi`, run by tests/mpi/mpi_test.sh).
//
//   weft_mpi_check train --out DIR [--batch B] [--epochs E] [--samples N] [--resume]
//                        [--step-delay-ms MS] [--adam] [--batchnorm] [--dropout]
//                        [--sync-batchnorm]
//       one run, as one process or as every rank under mpirun: DIR/last.safetensors and
//       DIR/metrics.jsonl (rank 0 writes them). --step-delay-ms makes each step last that long
//       (the fault tests need a run that is still going when they strike). The optimizer is
//       SGD with momentum, or Adam with --adam. --batchnorm puts a BatchNorm2d after the
//       convolution, --dropout a Dropout(0.5) before the linear layer; --sync-batchnorm
//       synchronises batch norm across the ranks (engine/distributed/sync_batchnorm.h).
//       --disagree-picks: before training, every rank but 0 runs one forward pass and then
//       turns each of auto's picks to the other candidate (restore_kernel_picks), as a rank
//       whose timings came out otherwise would have. Every rank writes auto's picks at the end
//       to DIR/picks-rank<R>.json (the trainer shares rank 0's after each epoch).
//   weft_mpi_check compare DIR_A DIR_B --tolerance T
//       exit 0 when the two runs' float tensors (weights and batch-norm running statistics:
//       largest absolute difference) and per-epoch training losses (largest relative
//       difference) agree within T (0: bit for bit), 1 otherwise.
//   weft_mpi_check dropout
//       every rank applies Dropout(0.5) in training mode to ones [4, 32] from the same generator
//       state; every rank exits 1 when two ranks drew the same mask, or when the ranks' masks put
//       together differ from one process's mask of ones [4 x ranks, 32] from that state (drawn
//       by rank 0, whose slice starts where one process's does).
//
// The model (Conv 4x3x3 -> [BatchNorm2d] -> ReLU -> Flatten -> [Dropout] -> Linear 10) and the
// data (8x8 images whose class lights one pixel, over seeded noise) make a step of N ranks with
// batch B the same computation as one process with batch N x B, up to float summation order -
// with batch norm only when it is synchronised (each rank's own statistics differ from the
// global batch's), with dropout because each rank draws the masks at its samples' global
// position.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/dispatch.h"
#include "engine/distributed/communicator.h"
#include "engine/distributed/gradient_reducer.h"
#include "engine/distributed/sync_batchnorm.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/classification.h"
#include "engine/train/trainer.h"
#include "kernels/error.h"

namespace {

using namespace weft;

struct Options {
  std::string out;
  int batch = 4;
  int epochs = 3;
  int64_t samples = 64;
  bool resume = false;
  int step_delay_ms = 0;
  bool adam = false;
  bool batchnorm = false;
  bool dropout = false;
  bool sync_batchnorm = false;
  bool disagree_picks = false;
};

// 8x8 single-channel images; class c lights pixel 6c (mod 64) above uniform noise.
data::LabeledImages make_data(int64_t count, uint64_t seed) {
  data::LabeledImages d;
  d.images = Tensor::empty({count, 1, 8, 8}, DType::u8);
  d.labels = Tensor::empty({count}, DType::i32);
  Generator noise(seed);
  uint8_t* pixels = d.images.data<uint8_t>();
  int32_t* labels = d.labels.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int32_t label = static_cast<int32_t>(noise.randint(10));
    labels[i] = label;
    for (int p = 0; p < 64; ++p) pixels[i * 64 + p] = static_cast<uint8_t>(noise.randint(100));
    pixels[i * 64 + (label * 6) % 64] = 255;
  }
  return d;
}

std::shared_ptr<nn::Sequential> make_model(const Options& o) {
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Conv2d>(1, 4, 3));
  if (o.batchnorm) model->push_back(nn::BatchNorm2d(4));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Flatten>());
  if (o.dropout) model->push_back(std::make_shared<nn::Dropout>(0.5f));
  model->push_back(std::make_shared<nn::Linear>(4 * 6 * 6, 10));
  return model;
}

// One forward pass of a training batch's shape (it makes auto pick for the forward passes; no
// backward, so no gradient exchange), then every pick turned to the other candidate.
void disagree_with_rank_zero(nn::Module& model, const data::LabeledImages& images, int batch) {
  model(Tensor::zeros({batch, images.images.dim(1), images.images.dim(2), images.images.dim(3)}));
  std::map<std::string, std::string> flipped;
  for (const auto& [key, pick] : kernel_picks()) {
    flipped[key] = pick == "cpu" ? "cpu-vendor" : "cpu";
  }
  restore_kernel_picks(flipped);
}

int train_run(const Options& o) {
  WEFT_CHECK(!o.out.empty(), "train: --out DIR is required");
  default_generator().set_state(7, 0);
  dist::set_sync_batchnorm(o.sync_batchnorm);
  const data::LabeledImages train_set = make_data(o.samples, 11);
  const data::LabeledImages val_set = make_data(32, 12);
  auto model = make_model(o);
  std::unique_ptr<optim::Optimizer> optimizer_owner;
  if (o.adam) {
    optimizer_owner = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-3f});
  } else {
    optimizer_owner = std::make_unique<optim::SGD>(model->parameters(),
                                                   optim::SgdOptions{.lr = 0.05f, .momentum = 0.9f});
  }
  optim::Optimizer& optimizer = *optimizer_owner;
  Generator shuffle(5);
  nlohmann::json config = {{"batch_size", o.batch}, {"samples", o.samples}};
  train::Trainer trainer(*model, optimizer,
                         {.epochs = o.epochs, .run_dir = o.out, .seed = 7, .config = config,
                          .resume = o.resume ? o.out : std::string(),
                          .progress = train::ProgressStyle::lines});
  trainer.register_generator("shuffle", shuffle);
  if (o.disagree_picks && !dist::is_main()) disagree_with_rank_zero(*model, train_set, o.batch);
  train::StepHooks hooks = trainer.step_hooks();
  if (o.step_delay_ms > 0) {
    hooks.after_step = [&o](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(o.step_delay_ms));
    };
  }
  const auto started = std::chrono::steady_clock::now();
  const train::TrainResult result = trainer.fit(
      [&](int) {
        const train::EpochResult r = train::train_epoch(*model, optimizer, train_set, o.batch,
                                                        Device::cpu(), shuffle, {}, hooks);
        return train::Metrics{{"loss", r.loss}, {"accuracy", r.accuracy}};
      },
      [&](int) {
        const train::Evaluation e = train::evaluate(*model, val_set, 16, Device::cpu());
        return train::Metrics{{"val_loss", e.loss}, {"val_accuracy", e.accuracy}};
      });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ofstream(o.out + "/picks-rank" + std::to_string(dist::world().rank()) + ".json")
      << nlohmann::json(kernel_picks()).dump(1) << "\n";
  const dist::ExchangeTotals& totals = dist::exchange_totals();
  std::fprintf(stderr, "weft_mpi_check: %s: %d epochs in %.3f s, %lld gradient exchanges, %.3f s exchanging\n",
               dist::world().who().c_str(), result.epochs_completed, seconds,
               static_cast<long long>(totals.steps), totals.exchange_seconds);
  return result.exit_code();
}

std::vector<double> epoch_losses(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  WEFT_CHECK(in.good(), "compare: cannot read ", dir, "/metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    losses.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  }
  return losses;
}

int compare_runs(const std::string& a, const std::string& b, double tolerance) {
  const io::SafetensorsContents first = io::load_safetensors(a + "/last.safetensors");
  const io::SafetensorsContents second = io::load_safetensors(b + "/last.safetensors");
  double weight_difference = 0;
  int64_t compared = 0;
  for (const auto& [name, tensor] : first.tensors) {
    if (name.rfind("model.", 0) != 0 || tensor.dtype() != DType::f32) continue;
    auto other = second.tensors.find(name);
    WEFT_CHECK(other != second.tensors.end(), "compare: ", b, " has no tensor ", name);
    const std::vector<float> x = tensor.to_vector<float>(), y = other->second.to_vector<float>();
    WEFT_CHECK(x.size() == y.size(), "compare: ", name, " differs in size");
    for (size_t i = 0; i < x.size(); ++i) {
      weight_difference = std::max(weight_difference, static_cast<double>(std::fabs(x[i] - y[i])));
    }
    ++compared;
  }
  WEFT_CHECK(compared > 0, "compare: ", a, " holds no model tensors");
  const std::vector<double> la = epoch_losses(a), lb = epoch_losses(b);
  WEFT_CHECK(!la.empty() && la.size() == lb.size(), "compare: ", a, " has ", la.size(),
             " epochs of metrics, ", b, " has ", lb.size());
  double loss_difference = 0;
  for (size_t e = 0; e < la.size(); ++e) {
    loss_difference = std::max(loss_difference, std::fabs(la[e] - lb[e]) / std::max(1e-12, std::fabs(lb[e])));
  }
  std::printf("compared %lld tensors and %zu epochs: largest weight difference %.3g, largest "
              "relative loss difference %.3g (tolerance %.3g); losses",
              static_cast<long long>(compared), la.size(), weight_difference, loss_difference,
              tolerance);
  for (size_t e = 0; e < la.size(); ++e) std::printf(" %.6f/%.6f", la[e], lb[e]);
  std::printf("\n");
  return weight_difference <= tolerance && loss_difference <= tolerance ? 0 : 1;
}

int dropout_check() {
  const int ranks = dist::world().world_size(), rank = dist::world().rank();
  const int64_t rows = 4, cols = 32, local = rows * cols;
  default_generator().set_state(7, 0);
  const std::vector<float> mine = dropout(Tensor::ones({rows, cols}), 0.5f, true).to_vector<float>();
  // Every rank's mask in its slot (a gather as a sum: the other slots are zero).
  std::vector<double> all(static_cast<size_t>(local * ranks), 0.0);
  for (int64_t i = 0; i < local; ++i) all[static_cast<size_t>(rank * local + i)] = mine[static_cast<size_t>(i)];
  dist::world().allreduce_sum(all.data(), static_cast<int64_t>(all.size()), "dropout masks");
  // One process's mask of the global batch, drawn on rank 0: its slice of a tensor of the
  // global batch's size starts at the generator's offset, as one process's tensor does.
  default_generator().set_state(7, 0);
  const std::vector<float> whole =
      dropout(Tensor::ones({rows * ranks, cols}), 0.5f, true).to_vector<float>();
  int64_t equal_to_rank0 = 0, differ_from_whole = 0;
  for (int r = 1; r < ranks; ++r) {
    bool same = true;
    for (int64_t i = 0; i < local; ++i) same = same && all[static_cast<size_t>(r * local + i)] == all[static_cast<size_t>(i)];
    equal_to_rank0 += same ? 1 : 0;
  }
  for (size_t i = 0; i < all.size(); ++i) differ_from_whole += all[i] != whole[i] ? 1 : 0;
  std::printf("dropout masks of %d ranks: %lld ranks draw rank 0's mask, %lld of %zu elements "
              "differ from one process's mask of the global batch\n",
              ranks, static_cast<long long>(equal_to_rank0), static_cast<long long>(differ_from_whole),
              all.size());
  int32_t verdict = equal_to_rank0 == 0 && differ_from_whole == 0 ? 0 : 1;
  dist::world().broadcast(&verdict, sizeof(verdict), 0, "dropout verdict");
  return verdict;
}

int run(int argc, char** argv) {
  WEFT_CHECK(argc >= 2, "usage: weft_mpi_check train --out DIR ... | compare A B --tolerance T | dropout");
  const std::string command = argv[1];
  if (command == "compare") {
    WEFT_CHECK(argc == 6 && std::string(argv[4]) == "--tolerance",
               "usage: weft_mpi_check compare DIR_A DIR_B --tolerance T");
    return compare_runs(argv[2], argv[3], std::atof(argv[5]));
  }
  if (command == "dropout") return dropout_check();
  WEFT_CHECK(command == "train", "unknown command '", command, "' (expected train, compare or dropout)");
  Options o;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      WEFT_CHECK(i + 1 < argc, flag, " needs a value");
      return argv[++i];
    };
    if (flag == "--out") o.out = value();
    else if (flag == "--batch") o.batch = std::stoi(value());
    else if (flag == "--epochs") o.epochs = std::stoi(value());
    else if (flag == "--samples") o.samples = std::stoll(value());
    else if (flag == "--step-delay-ms") o.step_delay_ms = std::stoi(value());
    else if (flag == "--resume") o.resume = true;
    else if (flag == "--adam") o.adam = true;
    else if (flag == "--batchnorm") o.batchnorm = true;
    else if (flag == "--dropout") o.dropout = true;
    else if (flag == "--sync-batchnorm") o.sync_batchnorm = true;
    else if (flag == "--disagree-picks") o.disagree_picks = true;
    else throw Error("unknown flag '" + flag + "'");
  }
  return train_run(o);
}

}  // namespace

int main(int argc, char** argv) {
  int status = 1;
  try {
    dist::init(&argc, &argv);
    status = run(argc, argv);
  } catch (const std::exception& e) {
    const std::string who = weft::dist::world().who();
    const std::string message = e.what();
    std::fprintf(stderr, "weft_mpi_check: error: %s\n",
                 (message.rfind(who, 0) == 0 ? message : who + ": " + message).c_str());
    status = 1;
  }
  dist::shutdown(status != 0 && status != 130 && status != 143);
  return status;
}
