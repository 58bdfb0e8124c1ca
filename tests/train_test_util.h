// Helpers for the training-run tests (test_train_*.cpp): the temporary folder (temp_dir.h), a
// file-size limit that makes writes fail the way a full disk does, and TinyRun - a tiny
// classifier with dropout on 24 synthetic samples, trained by a scripted epoch function that
// draws from both the default generator (dropout) and a shuffling generator, so that a resumed
// run only matches an uninterrupted one when every piece of state is restored.
#pragma once

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/train/trainer.h"
#include "temp_dir.h"

namespace weft::test {

// Lowers the largest file this process may write (RLIMIT_FSIZE) while alive and ignores
// SIGXFSZ, so a write past the limit fails with EFBIG as on a full disk. (A read-only folder
// would not do: the tests may run as root, who writes anywhere.)
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_limit_) == 0);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_limit_;
    lowered.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_limit_);
    std::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_limit_{};
  void (*saved_handler_)(int) = SIG_DFL;
};

// Linear(4, 8) -> ReLU -> Dropout(0.5) -> Linear(8, 3) trained with Adam in batches of 6 on
// 24 samples whose class shows in one feature. `init_seed` seeds the default generator before
// the weights are drawn and the shuffling generator, so two TinyRuns of different seeds start
// from different states.
class TinyRun {
 public:
  static constexpr int kSamples = 24, kFeatures = 4, kClasses = 3, kBatch = 6;

  explicit TinyRun(uint64_t init_seed, int hidden = 8) : shuffle(init_seed + 1000) {
    manual_seed(init_seed);
    model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(kFeatures, hidden), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Dropout>(0.5f), std::make_shared<nn::Linear>(hidden, kClasses)});
    optimizer = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.05f});
    Generator data_rng(99);  // the same data for every TinyRun
    features = data_rng.uniform(kSamples * kFeatures, -1.0f, 1.0f);
    for (int i = 0; i < kSamples; ++i) {
      labels.push_back(i % kClasses);
      features[static_cast<size_t>(i * kFeatures + i % kClasses)] += 1.5f;
    }
  }

  // One shuffled pass; `on_batch(epoch, batch)` runs before each batch (tests raise signals
  // or lower file limits there). Stops after the step in progress when a stop is requested.
  train::Metrics train_epoch(int epoch, const train::StepHooks& hooks = {}) {
    model->train();
    std::vector<int64_t> order(kSamples);
    std::iota(order.begin(), order.end(), 0);
    shuffle.shuffle(order);
    double loss_sum = 0;
    int seen = 0, correct = 0;
    for (int batch = 0; batch < kSamples / kBatch; ++batch) {
      if (train::stop_requested()) break;
      if (on_batch) on_batch(epoch, batch);
      std::vector<int64_t> rows(order.begin() + batch * kBatch, order.begin() + (batch + 1) * kBatch);
      const auto [x, y] = gather(rows);
      optimizer->zero_grad();
      const Tensor logits = (*model)(x);
      const bool poisoned = poison_loss && poison_loss(epoch, batch);
      const Tensor loss = poisoned ? cross_entropy(logits, y) * std::nanf("")
                                   : cross_entropy(logits, y);
      loss.backward();
      if (train::skip_nonfinite_step(hooks, batch + 1, loss.item())) continue;
      if (hooks.before_step) hooks.before_step();
      optimizer->step();
      if (hooks.after_step) hooks.after_step(batch + 1, kSamples / kBatch);
      loss_sum += static_cast<double>(loss.item()) * kBatch;
      seen += kBatch;
      correct += count_correct(logits, rows);
    }
    return {{"loss", loss_sum / seen}, {"accuracy", static_cast<double>(correct) / seen}};
  }

  train::Metrics validate(int) {
    model->eval();
    NoGradGuard no_grad;
    std::vector<int64_t> rows(kSamples);
    std::iota(rows.begin(), rows.end(), 0);
    const auto [x, y] = gather(rows);
    const Tensor logits = (*model)(x);
    const double loss = cross_entropy(logits, y).item();
    model->train();
    return {{"val_loss", loss},
            {"val_accuracy", static_cast<double>(count_correct(logits, rows)) / kSamples}};
  }

  // fit() with this run's epoch functions, wired to the trainer's step hooks.
  train::TrainResult fit(train::Trainer& trainer) {
    trainer.register_generator("shuffle", shuffle);
    const train::StepHooks hooks = trainer.step_hooks();
    return trainer.fit([&](int epoch) { return train_epoch(epoch, hooks); },
                       [&](int epoch) { return validate(epoch); });
  }

  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Adam> optimizer;
  Generator shuffle;
  std::function<void(int epoch, int batch)> on_batch;
  // When it returns true for (epoch, batch), that batch's loss (and so its gradients) is NaN.
  std::function<bool(int epoch, int batch)> poison_loss;

 private:
  std::pair<Tensor, Tensor> gather(const std::vector<int64_t>& rows) const {
    std::vector<float> x;
    std::vector<int32_t> y;
    for (int64_t row : rows) {
      x.insert(x.end(), features.begin() + row * kFeatures, features.begin() + (row + 1) * kFeatures);
      y.push_back(labels[static_cast<size_t>(row)]);
    }
    const auto n = static_cast<int64_t>(rows.size());
    return {Tensor::from_vector(x, {n, kFeatures}), Tensor::from_vector(y, {n})};
  }
  int count_correct(const Tensor& logits, const std::vector<int64_t>& rows) const {
    const std::vector<float> values = logits.to_vector<float>();
    int correct = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const float* row = values.data() + i * kClasses;
      const int predicted = static_cast<int>(std::max_element(row, row + kClasses) - row);
      correct += predicted == labels[static_cast<size_t>(rows[i])];
    }
    return correct;
  }

  std::vector<float> features;
  std::vector<int32_t> labels;
};

// Exact equality of two tensors' bytes (shape and dtype included).
inline bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.cpu(), y = b.cpu();
  return std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
}

// The lines of a text file (none if it cannot be read).
inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace weft::test
