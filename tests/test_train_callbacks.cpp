// The callbacks' decisions (engine/train/callbacks.h) on scripted metric sequences, worked out
// by hand from Keras's and PyTorch's rules: EarlyStopping stops at the right epoch in min and
// max modes with min_delta and patience and restores the best weights; ReduceLROnPlateau cuts
// the rate at the right epochs with cooldown and min_lr; StepLR, CosineAnnealing and OneCycle
// give known values at known steps; ModelCheckpoint asks for the right files; each prints its
// effective settings; and a callback rebuilt from saved state decides as the original would.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "engine/train/callbacks.h"
#include "tests/engine_test_util.h"

namespace {

namespace train = weft::train;
using Catch::Matchers::Contains;

// A one-weight model with a plain SGD optimizer, and a context to drive callbacks by hand.
struct Harness {
  Harness() { context.log = [this](const std::string& line) { log.push_back(line); }; }

  weft::nn::Linear model{1, 1, false};
  weft::optim::SGD optimizer{model.parameters(), {.lr = 1.0f}};
  train::TrainContext context{model, optimizer, 100};
  std::vector<std::string> log;
};

// Feed `values` of `metric` as epochs 1, 2, ...; the epoch at which the callback asked to stop
// (0 when it never did).
int stop_epoch(train::Callback& callback, Harness& h, const std::string& metric,
               const std::vector<double>& values) {
  callback.on_train_begin(h.context);
  for (size_t i = 0; i < values.size(); ++i) {
    const int epoch = static_cast<int>(i) + 1;
    callback.on_epoch_begin(h.context, epoch);
    callback.on_epoch_end(h.context, epoch, {{metric, values[i]}});
    if (h.context.stop_training) return epoch;
  }
  return 0;
}

// The optimizer's learning rate after each epoch's on_epoch_end.
std::vector<float> lr_after_each_epoch(train::Callback& callback, Harness& h,
                                       const std::vector<double>& values) {
  std::vector<float> rates;
  callback.on_train_begin(h.context);
  for (size_t i = 0; i < values.size(); ++i) {
    callback.on_epoch_end(h.context, static_cast<int>(i) + 1, {{"val_loss", values[i]}});
    rates.push_back(h.optimizer.lr());
  }
  return rates;
}

}  // namespace

TEST_CASE("callbacks: each prints its effective settings, Keras defaults included",
          "[train][callbacks]") {
  CHECK(train::EarlyStopping().describe() ==
        "EarlyStopping(monitor=val_loss, mode=min, patience=0, min_delta=0, "
        "restore_best_weights=false)");
  CHECK(train::EarlyStopping({.patience = 5, .restore_best_weights = true}).describe() ==
        "EarlyStopping(monitor=val_loss, mode=min, patience=5, min_delta=0, "
        "restore_best_weights=true)");
  CHECK(train::EarlyStopping({.monitor = "val_accuracy"}).describe() ==
        "EarlyStopping(monitor=val_accuracy, mode=max, patience=0, min_delta=0, "
        "restore_best_weights=false)");
  CHECK(train::ReduceLROnPlateau().describe() ==
        "ReduceLROnPlateau(monitor=val_loss, mode=min, factor=0.1, patience=10, min_delta=0.0001, "
        "cooldown=0, min_lr=0)");
  CHECK(train::ModelCheckpoint().describe() ==
        "ModelCheckpoint(filename=best.safetensors, monitor=val_loss, mode=min, save_best_only=true)");
  CHECK(train::OneCycle({.max_lr = 0.01, .total_steps = 100}).describe() ==
        "OneCycle(max_lr=0.01, total_steps=100, pct_start=0.3, div_factor=25, "
        "final_div_factor=10000, anneal=cos, per=step)");

  Harness h;
  train::StepLR step({.step_size = 10, .gamma = 0.5});
  step.on_train_begin(h.context);  // takes the optimizer's lr as the base
  CHECK(step.describe() == "StepLR(step_size=10, gamma=0.5, per=epoch, base_lr=1)");
}

TEST_CASE("callbacks: automatic mode is max for accuracy-like names, min otherwise",
          "[train][callbacks]") {
  CHECK(train::resolve_mode(train::Mode::automatic, "val_loss") == train::Mode::min);
  CHECK(train::resolve_mode(train::Mode::automatic, "val_accuracy") == train::Mode::max);
  CHECK(train::resolve_mode(train::Mode::automatic, "macro_f1") == train::Mode::max);
  CHECK(train::resolve_mode(train::Mode::automatic, "hamming_loss") == train::Mode::min);
  CHECK(train::resolve_mode(train::Mode::min, "val_accuracy") == train::Mode::min);
}

TEST_CASE("EarlyStopping: min mode with min_delta and patience", "[train][callbacks]") {
  // 0.79 is below the best 0.8 but not by min_delta 0.05, so it does not reset the wait.
  const std::vector<double> losses = {1.0, 0.8, 0.79, 0.795, 0.81, 0.5};
  {
    Harness h;
    train::EarlyStopping stopping({.patience = 2, .min_delta = 0.05});
    CHECK(stop_epoch(stopping, h, "val_loss", losses) == 4);
    CHECK(stopping.best() == 0.8);
    CHECK(stopping.best_epoch() == 2);
    CHECK(stopping.stopped_epoch() == 4);
    CHECK_THAT(h.context.stop_reason, Contains("val_loss has not improved on 0.8 (epoch 2)"));
  }
  {
    // Without min_delta 0.79 counts as an improvement and the stop comes one epoch later.
    Harness h;
    train::EarlyStopping stopping({.patience = 2});
    CHECK(stop_epoch(stopping, h, "val_loss", losses) == 5);
    CHECK(stopping.best() == 0.79);
  }
  {
    // Keras's default patience 0: the first epoch that does not improve stops the run, but
    // never the first epoch.
    Harness h;
    train::EarlyStopping stopping;
    CHECK(stop_epoch(stopping, h, "val_loss", {1.0, 0.9, 0.9}) == 3);
  }
  {
    Harness h;
    train::EarlyStopping stopping({.patience = 3});
    CHECK(stop_epoch(stopping, h, "val_loss", {1.0, 0.9, 0.8, 0.7, 0.6}) == 0);
    CHECK(stopping.wait() == 0);
  }
}

TEST_CASE("EarlyStopping: max mode with min_delta and patience", "[train][callbacks]") {
  // best .5 -> .6 (epoch 2); .6 no; .65 > .62 yes (epoch 4); .64, .66 (< .67) no; .70 yes
  // (epoch 7); then three epochs of .69 reach patience 3 at epoch 10.
  const std::vector<double> accuracy = {0.5, 0.6, 0.6, 0.65, 0.64, 0.66, 0.70, 0.69, 0.69, 0.69};
  Harness h;
  train::EarlyStopping stopping({.monitor = "val_accuracy", .patience = 3, .min_delta = 0.02});
  CHECK(stop_epoch(stopping, h, "val_accuracy", accuracy) == 10);
  CHECK(stopping.best() == 0.70);
  CHECK(stopping.best_epoch() == 7);

  Harness forced_min;
  train::EarlyStopping wrong_way(
      {.monitor = "val_accuracy", .mode = train::Mode::min, .patience = 3, .min_delta = 0.02});
  CHECK(stop_epoch(wrong_way, forced_min, "val_accuracy", accuracy) == 4);
}

TEST_CASE("EarlyStopping: restore_best_weights puts back the best epoch's weights",
          "[train][callbacks]") {
  for (const bool restore : {true, false}) {
    Harness h;
    train::EarlyStopping stopping({.patience = 1, .restore_best_weights = restore});
    const std::vector<double> losses = {3.0, 1.0, 2.0, 4.0};
    stopping.on_train_begin(h.context);
    int stopped = 0;
    for (int epoch = 1; epoch <= 4 && stopped == 0; ++epoch) {
      h.model.weight.fill_(static_cast<float>(epoch));  // "training" leaves the epoch's number
      stopping.on_epoch_end(h.context, epoch, {{"val_loss", losses[static_cast<size_t>(epoch - 1)]}});
      if (h.context.stop_training) stopped = epoch;
    }
    CHECK(stopped == 3);
    stopping.on_train_end(h.context);
    INFO("restore_best_weights " << restore);
    CHECK(h.model.weight.item() == (restore ? 2.0f : 3.0f));
    CHECK(h.log.size() == (restore ? 1u : 0u));
  }
}

TEST_CASE("EarlyStopping: a copy rebuilt from saved state stops at the same epoch",
          "[train][callbacks]") {
  const std::vector<double> losses = {1.0, 0.5, 0.6, 0.7, 0.8};
  Harness h;
  train::EarlyStopping original({.patience = 2, .restore_best_weights = true});
  original.on_train_begin(h.context);
  original.on_epoch_end(h.context, 1, {{"val_loss", losses[0]}});
  h.model.weight.fill_(7.0f);
  original.on_epoch_end(h.context, 2, {{"val_loss", losses[1]}});  // best, weights 7 kept
  original.on_epoch_end(h.context, 3, {{"val_loss", losses[2]}});  // wait 1
  train::CallbackState state;
  original.save_state(state);
  CHECK(state.values.at("wait") == "1");
  CHECK(state.values.at("best") == "0.5");
  REQUIRE(state.tensors.count("best_weights.weight") == 1);

  Harness resumed;
  train::EarlyStopping copy({.patience = 2, .restore_best_weights = true});
  copy.load_state(state);
  copy.on_train_begin(resumed.context);
  copy.on_epoch_end(resumed.context, 4, {{"val_loss", losses[3]}});
  CHECK(resumed.context.stop_training);
  CHECK(copy.stopped_epoch() == 4);
  copy.on_train_end(resumed.context);
  CHECK(resumed.model.weight.item() == 7.0f);
}

TEST_CASE("EarlyStopping: a monitored metric that is not there is an error naming the others",
          "[train][callbacks]") {
  Harness h;
  train::EarlyStopping stopping;
  const std::string message = weft::test::error_message(
      [&] { stopping.on_epoch_end(h.context, 1, {{"loss", 1.0}, {"accuracy", 0.5}}); });
  CHECK_THAT(message, Contains("val_loss") && Contains("loss, accuracy"));
}

TEST_CASE("ReduceLROnPlateau: cuts at the right epochs with cooldown and min_lr",
          "[train][callbacks]") {
  {
    // A flat metric, patience 2, cooldown 2 (Keras counts the cooldown down before judging an
    // epoch, so cooldown c costs c-1 epochs): cuts at 3, 6 and 9; the third is held at min_lr
    // 0.2 instead of 0.125, and at 12 the rate is already at min_lr so nothing happens.
    Harness h;
    train::ReduceLROnPlateau plateau(
        {.factor = 0.5, .patience = 2, .cooldown = 2, .min_lr = 0.2});
    const std::vector<float> rates = lr_after_each_epoch(plateau, h, std::vector<double>(12, 1.0));
    CHECK(rates == std::vector<float>{1, 1, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f, 0.25f, 0.2f, 0.2f,
                                      0.2f, 0.2f});
    CHECK(h.log.size() == 3);
    CHECK_THAT(h.log.front(), Contains("epoch 3") && Contains("lr 1 -> 0.5"));
  }
  {
    // Improvements reset the wait: 0.9 (epoch 2) and 0.8 (epoch 4); the cut comes at 6.
    Harness h;
    train::ReduceLROnPlateau plateau({.factor = 0.5, .patience = 2});
    const std::vector<float> rates =
        lr_after_each_epoch(plateau, h, {1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87});
    CHECK(rates == std::vector<float>{1, 1, 1, 1, 1, 0.5f, 0.5f});
    CHECK(plateau.best() == 0.8);
    CHECK(plateau.wait() == 1);
  }
  {
    // The default min_delta 1e-4: a gain of 5e-5 is no improvement.
    Harness h;
    train::ReduceLROnPlateau plateau({.patience = 1});
    const std::vector<float> rates = lr_after_each_epoch(plateau, h, {1.0, 0.99995});
    CHECK(rates == std::vector<float>{1.0f, 0.1f});
  }
  {
    // State round trip: a copy made after epoch 4 of the first scenario cuts at 6 as well.
    Harness h;
    train::ReduceLROnPlateau plateau(
        {.factor = 0.5, .patience = 2, .cooldown = 2, .min_lr = 0.2});
    lr_after_each_epoch(plateau, h, std::vector<double>(4, 1.0));
    train::CallbackState state;
    plateau.save_state(state);
    train::ReduceLROnPlateau copy({.factor = 0.5, .patience = 2, .cooldown = 2, .min_lr = 0.2});
    copy.load_state(state);
    CHECK(copy.cooldown_counter() == plateau.cooldown_counter());
    copy.on_epoch_end(h.context, 5, {{"val_loss", 1.0}});
    CHECK(h.optimizer.lr() == 0.5f);
    copy.on_epoch_end(h.context, 6, {{"val_loss", 1.0}});
    CHECK(h.optimizer.lr() == 0.25f);
  }
  CHECK_THAT(weft::test::error_message([] { train::ReduceLROnPlateau({.factor = 1.0}); }),
             Contains("factor"));
}

TEST_CASE("LR schedules: StepLR, CosineAnnealing and OneCycle at known positions",
          "[train][callbacks]") {
  Harness h;
  h.optimizer.set_lr(0.5f);
  train::StepLR step({.step_size = 3, .gamma = 0.1});
  step.on_train_begin(h.context);
  CHECK(step.lr_at(0) == 0.5);
  CHECK(step.lr_at(2) == 0.5);
  CHECK(step.lr_at(3) == Approx(0.05).epsilon(1e-12));
  CHECK(step.lr_at(6) == Approx(0.005).epsilon(1e-12));
  step.on_epoch_begin(h.context, 4);  // epoch 4 starts after 3 epochs
  CHECK(h.optimizer.lr() == Approx(0.05f));

  Harness c;
  c.optimizer.set_lr(1.1f);
  train::CosineAnnealing cosine({.t_max = 10, .eta_min = 0.1});
  cosine.on_train_begin(c.context);
  CHECK(cosine.lr_at(0) == Approx(1.1).epsilon(1e-6));
  CHECK(cosine.lr_at(5) == Approx(0.6).epsilon(1e-6));
  CHECK(cosine.lr_at(10) == Approx(0.1).epsilon(1e-6));
  CHECK(cosine.lr_at(25) == Approx(0.1).epsilon(1e-6));  // held at eta_min after t_max

  // OneCycle(max 1, 10 steps, pct 0.3): peak at step 2, start 1/25, end 1/25/1e4.
  train::OneCycle cycle({.max_lr = 1.0, .total_steps = 10});
  CHECK(cycle.lr_at(0) == Approx(0.04).epsilon(1e-12));
  CHECK(cycle.lr_at(1) == Approx(0.52).epsilon(1e-12));
  CHECK(cycle.lr_at(2) == Approx(1.0).epsilon(1e-12));
  // Step 4: 2/7 of the way down, 4e-6 + (1 - 4e-6) / 2 * (cos(2 pi / 7) + 1).
  CHECK(cycle.lr_at(4) == Approx(0.8117457).epsilon(1e-6));
  CHECK(cycle.lr_at(9) == Approx(4e-6).epsilon(1e-9));
  CHECK(cycle.lr_at(50) == Approx(4e-6).epsilon(1e-9));

  // Per step: the lr before each optimizer step follows the optimizer's step count.
  Harness s;
  cycle.on_train_begin(s.context);
  CHECK(s.optimizer.lr() == Approx(0.04f));
  s.optimizer.step();  // no gradients: only the step count moves
  cycle.on_step_begin(s.context);
  CHECK(s.optimizer.lr() == Approx(0.52f));
  cycle.on_epoch_begin(s.context, 2);  // a per-step schedule ignores epochs
  CHECK(s.optimizer.lr() == Approx(0.52f));
}

TEST_CASE("ModelCheckpoint: best-only requests follow improvements, otherwise every epoch",
          "[train][callbacks]") {
  const std::vector<double> losses = {1.0, 0.5, 0.7, 0.4};
  Harness h;
  train::ModelCheckpoint best;
  std::vector<std::string> requested;
  for (int epoch = 1; epoch <= 4; ++epoch) {
    h.context.checkpoint_requests.clear();
    best.on_epoch_end(h.context, epoch, {{"val_loss", losses[static_cast<size_t>(epoch - 1)]}});
    for (const std::string& name : h.context.checkpoint_requests) {
      requested.push_back(std::to_string(epoch) + ":" + name);
    }
  }
  CHECK(requested == std::vector<std::string>{"1:best.safetensors", "2:best.safetensors",
                                              "4:best.safetensors"});

  train::ModelCheckpoint every({.filename = "epoch-{epoch}.safetensors", .save_best_only = false});
  h.context.checkpoint_requests.clear();
  every.on_epoch_end(h.context, 7, {{"val_loss", 9.0}});
  CHECK(h.context.checkpoint_requests == std::vector<std::string>{"epoch-007.safetensors"});
  CHECK_THAT(weft::test::error_message([] { train::ModelCheckpoint({.filename = "last.safetensors"}); }),
             Contains("last.safetensors"));
}
