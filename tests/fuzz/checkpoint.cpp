// Fuzz target: a training checkpoint as --resume reads it (Trainer::load_checkpoint,
// engine/train/trainer.h) into a small model with batch norm, Adam, a shuffling generator and
// the callbacks whose state checkpoints carry. Beyond the safetensors layer this reaches the
// metadata's JSON: the run's settings, history, callback and generator states, kernel picks.
// `weft_fuzz_checkpoint --write-seed FILE` writes a valid checkpoint of this trainer (the seed
// corpus's start).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/callbacks.h"
#include "engine/train/trainer.h"
#include "fuzz_util.h"

namespace {

namespace train = weft::train;

// The model, optimizer, generator and trainer of one input (a fresh set each time, so one
// input's partial restore cannot leak into the next).
struct Run {
  Run() {
    model = std::make_shared<weft::nn::Sequential>(
        std::initializer_list<std::shared_ptr<weft::nn::Module>>{
            std::make_shared<weft::nn::Linear>(4, 6), weft::nn::BatchNorm1d(6),
            std::make_shared<weft::nn::ReLU>(), std::make_shared<weft::nn::Linear>(6, 3)});
    optimizer = std::make_unique<weft::optim::Adam>(model->parameters(),
                                                    weft::optim::AdamOptions{.lr = 0.01f});
    train::TrainerOptions options;
    options.epochs = 2;
    options.seed = 1;
    options.config = {{"model", "fuzz"}, {"epochs", 2}};
    options.progress = train::ProgressStyle::quiet;
    options.log = null_log();
    options.handle_signals = false;
    trainer = std::make_unique<train::Trainer>(*model, *optimizer, options);
    trainer->register_generator("shuffle", shuffle);
    trainer->add_callback(std::make_shared<train::ReduceLROnPlateau>());
    trainer->add_callback(std::make_shared<train::EarlyStopping>());
  }
  static std::FILE* null_log() {
    static std::FILE* file = std::fopen("/dev/null", "w");
    return file;
  }
  std::shared_ptr<weft::nn::Sequential> model;
  std::unique_ptr<weft::optim::Adam> optimizer;
  weft::Generator shuffle{7};
  std::unique_ptr<train::Trainer> trainer;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = weft::fuzz::write_scratch("last.safetensors", data, size);
  Run run;
  weft::fuzz::expect_clean_errors(path, [&] { run.trainer->load_checkpoint(path); });
  return 0;
}

// The replay main's --write-seed FILE: a valid checkpoint of this trainer after two epochs of
// one Adam step each on fixed data, so that it holds a history, the optimizer's moments and the
// callbacks' state.
extern "C" int weft_fuzz_write_seed(const char* path) {
  Run run;
  const weft::Tensor x = weft::Tensor::from_vector(
      std::vector<float>{0.5f, -1, 2, 0, 1, 1, -0.5f, 3, -2, 0.25f, 1, -1}, {3, 4});
  const weft::Tensor y = weft::Tensor::from_vector(std::vector<int32_t>{0, 2, 1}, {3});
  auto epoch = [&](int) -> train::Metrics {
    run.optimizer->zero_grad();
    const weft::Tensor loss = weft::cross_entropy((*run.model)(x), y);
    loss.backward();
    run.optimizer->step();
    return {{"loss", loss.item()}};
  };
  auto validate = [&](int) -> train::Metrics {
    return {{"val_loss", weft::cross_entropy((*run.model)(x), y).item()}};
  };
  run.trainer->fit(epoch, validate);
  run.trainer->save_checkpoint(path);
  return 0;
}
