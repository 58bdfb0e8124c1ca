// A loss that turns NaN or infinite during training (engine/train/trainer.h): the run stops
// with an error naming the epoch and the step, and last.safetensors keeps the last complete
// epoch; with skip_nonfinite_steps such steps are skipped and counted instead. TinyRun's
// poison_loss makes one batch's loss (and gradients) NaN. Label: cpu.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "engine/io/safetensors.h"
#include "engine/train/trainer.h"
#include "kernels/error.h"
#include "tests/train_test_util.h"

namespace {

using weft::test::TempDir;
using weft::test::TinyRun;

weft::train::TrainerOptions quiet_options(const std::string& run_dir, int epochs) {
  weft::train::TrainerOptions options;
  options.epochs = epochs;
  options.run_dir = run_dir;
  options.seed = 1;
  options.progress = weft::train::ProgressStyle::quiet;
  return options;
}

// The loss of batch 1 (the second step) of epoch 2 is NaN.
void poison_epoch_two(TinyRun& run) {
  run.poison_loss = [](int epoch, int batch) { return epoch == 2 && batch == 1; };
}

}  // namespace

TEST_CASE("nonfinite: a NaN loss stops the run naming epoch and step; the last good checkpoint "
          "stays", "[train]") {
  TempDir dir("nonfinite_stop");
  TinyRun run(1);
  poison_epoch_two(run);
  weft::train::Trainer trainer(*run.model, *run.optimizer, quiet_options(dir.path(), 4));
  try {
    run.fit(trainer);
    FAIL("the run went on with a NaN loss");
  } catch (const weft::Error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("epoch 2, step 2: the training loss is nan") &&
                            Catch::Contains("last.safetensors holds epoch 1"));
  }
  const weft::io::SafetensorsContents last = weft::io::load_safetensors(dir.file("last.safetensors"));
  CHECK(last.metadata.at("epoch") == "1");
  for (const auto& [name, tensor] : last.tensors) {
    if (tensor.dtype() != weft::DType::f32) continue;
    for (float v : tensor.to_vector<float>()) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("nonfinite: with skip_nonfinite_steps the steps are skipped and the run goes on",
          "[train]") {
  TempDir dir("nonfinite_skip");
  TinyRun run(1);
  poison_epoch_two(run);
  weft::train::TrainerOptions options = quiet_options(dir.path(), 3);
  options.skip_nonfinite_steps = true;
  weft::train::Trainer trainer(*run.model, *run.optimizer, options);
  const weft::train::TrainResult result = run.fit(trainer);
  CHECK(result.epochs_completed == 3);
  CHECK_FALSE(result.interrupted);
  for (const auto& record : result.history) {
    for (const auto& [name, value] : record.metrics.entries()) CHECK(std::isfinite(value));
  }
  const weft::io::SafetensorsContents last = weft::io::load_safetensors(dir.file("last.safetensors"));
  CHECK(last.metadata.at("epoch") == "3");
}

TEST_CASE("nonfinite: skip_nonfinite_step passes finite losses and throws on others", "[train]") {
  const weft::train::StepHooks none;
  CHECK_FALSE(weft::train::skip_nonfinite_step(none, 1, 0.5));
  CHECK_THROWS_AS(weft::train::skip_nonfinite_step(none, 7, std::nan("")),
                  weft::train::NonFiniteLoss);
  CHECK_THROWS_WITH(weft::train::skip_nonfinite_step(none, 7, HUGE_VAL),
                    "step 7: the training loss is inf");
  weft::train::StepHooks skipping;
  int skipped = 0;
  skipping.nonfinite_loss = [&](int64_t, double) { return ++skipped > 0; };
  CHECK(weft::train::skip_nonfinite_step(skipping, 3, -HUGE_VAL));
  CHECK(skipped == 1);
}
