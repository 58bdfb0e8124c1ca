// The trainer's checkpoints, resume and stops (engine/train/trainer.h), on the CPU with a tiny
// dropout model whose epochs draw from the default generator and a shuffling generator:
//   - 4 epochs straight vs 2 epochs + resume + 2 epochs: identical parameters, optimizer
//     state, generator states and metrics rows, and no duplicate rows in the files;
//   - the checkpoint's kernel picks come back on resume, over whatever this process would
//     have picked (engine/dispatch.h, restore_kernel_picks), and bad ones are refused by name;
//   - raise(SIGINT) inside an epoch: the trainer stops after the step, keeps last.safetensors
//     at the previous epoch, says so, and a resume then matches the straight run;
//   - a checkpoint of another model, with other settings, truncated, or holding weights only,
//     is rejected with a message naming the file;
//   - a save that fails half-way leaves the previous last.safetensors intact;
//   - ModelCheckpoint's best.safetensors holds the best epoch; EarlyStopping ends the run.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/train/trainer.h"
#include "tests/dispatch_test_util.h"
#include "tests/engine_test_util.h"
#include "tests/kernel_test_util.h"
#include "tests/train_test_util.h"

namespace {

namespace train = weft::train;
using Catch::Matchers::Contains;
using weft::test::read_lines;
using weft::test::TempDir;
using weft::test::TinyRun;

const nlohmann::json kConfig = {{"model", "tiny"}, {"lr", 0.05}, {"epochs", 4}};

train::TrainerOptions options_for(const std::string& run_dir, int epochs,
                                  const std::string& resume = "") {
  train::TrainerOptions options;
  options.epochs = epochs;
  options.run_dir = run_dir;
  options.seed = 1;
  options.config = kConfig;
  options.config["epochs"] = epochs;
  options.resume = resume;
  options.progress = train::ProgressStyle::quiet;
  return options;
}

// The callbacks whose state matters for resume: the plateau rule cuts the lr every epoch
// (nothing counts as an improvement by 10), the checkpoint rule tracks the best loss.
void add_callbacks(train::Trainer& trainer) {
  trainer.add_callback(std::make_shared<train::ReduceLROnPlateau>(
      train::ReduceLROnPlateauOptions{.monitor = "loss", .factor = 0.5, .patience = 1, .min_delta = 10}));
  trainer.add_callback(std::make_shared<train::ModelCheckpoint>());
}

// metrics.csv without the two timing columns (which differ from run to run).
std::vector<std::string> csv_without_times(const std::string& path) {
  std::vector<std::string> rows;
  for (const std::string& line : read_lines(path)) {
    std::vector<std::string> cells;
    std::stringstream in(line);
    for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
    REQUIRE(cells.size() >= 3);
    cells.resize(cells.size() - 2);
    std::string joined;
    for (const std::string& cell : cells) joined += cell + ",";
    rows.push_back(joined);
  }
  return rows;
}

void check_same_state(TinyRun& a, TinyRun& b) {
  const weft::nn::NamedTensors pa = a.model->state_dict(), pb = b.model->state_dict();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO("parameter " << pa[i].first);
    CHECK(weft::test::same_bytes(pa[i].second, pb[i].second));
  }
  const weft::nn::NamedTensors oa = a.optimizer->state_tensors(), ob = b.optimizer->state_tensors();
  REQUIRE(oa.size() == ob.size());
  for (size_t i = 0; i < oa.size(); ++i) {
    INFO("optimizer state " << oa[i].first);
    CHECK(weft::test::same_bytes(oa[i].second, ob[i].second));
  }
  CHECK(a.optimizer->step_count() == b.optimizer->step_count());
  CHECK(a.optimizer->lr() == b.optimizer->lr());
  CHECK(a.shuffle.offset() == b.shuffle.offset());
  CHECK(a.shuffle.seed() == b.shuffle.seed());
}

void check_same_history(const train::TrainResult& a, const train::TrainResult& b) {
  REQUIRE(a.history.size() == b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    INFO("epoch " << a.history[i].epoch);
    CHECK(a.history[i].epoch == b.history[i].epoch);
    CHECK(a.history[i].metrics == b.history[i].metrics);
    CHECK(a.history[i].lr == b.history[i].lr);
  }
}

// The straight 4-epoch reference run, and the default generator's state after it.
struct Reference {
  TempDir dir{"train_reference"};
  TinyRun run{1};
  train::TrainResult result;
  uint64_t default_offset = 0;
  Reference() {
    train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 4));
    add_callbacks(trainer);
    result = run.fit(trainer);
    default_offset = weft::default_generator().offset();
  }
};

std::string metadata_of(const std::string& path, const std::string& key) {
  return weft::io::load_safetensors(path).metadata.at(key);
}

}  // namespace

TEST_CASE("resume: 2 epochs + resume + 2 epochs equals 4 epochs straight, bit for bit",
          "[train][resume]") {
  Reference reference;
  REQUIRE(reference.result.history.size() == 4);
  // The plateau rule really changes the lr each epoch, so its state has to come back too.
  CHECK(reference.result.history[3].lr == 0.05f / 8);

  TempDir dir("train_resume");
  {
    TinyRun first(1);
    train::Trainer trainer(*first.model, *first.optimizer, options_for(dir.path(), 2));
    add_callbacks(trainer);
    const train::TrainResult half = first.fit(trainer);
    CHECK(half.epochs_completed == 2);
  }
  CHECK(metadata_of(dir.file("last.safetensors"), "epoch") == "2");
  CHECK(read_lines(dir.file("metrics.jsonl")).size() == 2);

  // A different seed: different initial weights and shuffling, until the checkpoint loads.
  TinyRun resumed(77);
  REQUIRE_FALSE(weft::test::same_bytes(resumed.model->state_dict()[0].second,
                                       reference.run.model->state_dict()[0].second));
  train::Trainer trainer(*resumed.model, *resumed.optimizer, options_for("", 4, dir.path()));
  add_callbacks(trainer);
  const train::TrainResult rest = resumed.fit(trainer);
  CHECK(rest.first_epoch == 3);
  CHECK(rest.epochs_completed == 4);
  CHECK(trainer.run_dir() == dir.path());  // the run folder came from --resume

  check_same_state(reference.run, resumed);
  CHECK(weft::default_generator().offset() == reference.default_offset);
  check_same_history(reference.result, rest);

  // The files continue the first half's rows: 4 rows, epochs 1..4 once each, the same values.
  const std::vector<std::string> csv = read_lines(dir.file("metrics.csv"));
  REQUIRE(csv.size() == 5);
  CHECK(csv[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr,train_seconds,seconds");
  std::set<std::string> epochs;
  for (size_t i = 1; i < csv.size(); ++i) epochs.insert(csv[i].substr(0, csv[i].find(',')));
  CHECK(epochs == std::set<std::string>{"1", "2", "3", "4"});
  CHECK(csv_without_times(dir.file("metrics.csv")) ==
        csv_without_times(reference.dir.file("metrics.csv")));
  CHECK(read_lines(dir.file("metrics.jsonl")).size() == 4);
  CHECK(metadata_of(dir.file("last.safetensors"), "epoch") == "4");
}

TEST_CASE("resume: SIGINT inside an epoch stops after the step, keeps the last whole epoch, and "
          "resuming repeats it exactly",
          "[train][resume][signal]") {
  Reference reference;
  TempDir dir("train_interrupt");
  std::FILE* log = std::tmpfile();
  REQUIRE(log != nullptr);
  int batches_after_signal = 0;
  {
    TinyRun run(1);
    run.on_batch = [&](int epoch, int batch) {
      if (epoch == 3 && batch == 1) std::raise(SIGINT);
      if (epoch == 3 && batch > 1) ++batches_after_signal;
    };
    train::TrainerOptions options = options_for(dir.path(), 4);
    options.progress = train::ProgressStyle::lines;
    options.log = log;
    train::Trainer trainer(*run.model, *run.optimizer, options);
    add_callbacks(trainer);
    const train::TrainResult result = run.fit(trainer);
    CHECK(result.interrupted);
    CHECK(result.signal == SIGINT);
    CHECK(result.exit_code() == 130);
    CHECK(result.epochs_completed == 2);
    CHECK(result.history.size() == 2);
  }
  CHECK(batches_after_signal == 0);  // the step in progress finished, no further batch began
  CHECK(train::stop_requested());  // the request stays visible to the caller
  train::clear_stop_request();

  std::rewind(log);
  std::string printed;
  for (int c; (c = std::fgetc(log)) != EOF;) printed += static_cast<char>(c);
  std::fclose(log);
  CHECK_THAT(printed, Contains("interrupted by SIGINT during epoch 3") &&
                          Contains("last.safetensors holds epoch 2"));
  CHECK_THAT(printed, Contains("epoch 2/4") && !Contains("epoch 3/4"));
  CHECK(metadata_of(dir.file("last.safetensors"), "epoch") == "2");
  CHECK(read_lines(dir.file("metrics.csv")).size() == 3);  // header + epochs 1, 2

  TinyRun resumed(5);
  train::Trainer trainer(*resumed.model, *resumed.optimizer, options_for(dir.path(), 4, dir.path()));
  add_callbacks(trainer);
  const train::TrainResult rest = resumed.fit(trainer);
  CHECK_FALSE(rest.interrupted);
  check_same_state(reference.run, resumed);
  check_same_history(reference.result, rest);
  CHECK(read_lines(dir.file("metrics.csv")).size() == 5);
}

TEST_CASE("resume: SIGTERM gives exit status 143", "[train][signal]") {
  TinyRun run(1);
  run.on_batch = [](int epoch, int batch) {
    if (epoch == 1 && batch == 0) std::raise(SIGTERM);
  };
  train::Trainer trainer(*run.model, *run.optimizer, options_for("", 3));
  const train::TrainResult result = run.fit(trainer);
  train::clear_stop_request();
  CHECK(result.interrupted);
  CHECK(result.epochs_completed == 0);
  CHECK(result.exit_code() == 128 + SIGTERM);
}

TEST_CASE("resume: a checkpoint of another model is rejected, naming the file and every mismatch",
          "[train][resume]") {
  TempDir dir("train_other_model");
  {
    TinyRun run(1, 8);
    train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 1));
    run.fit(trainer);
  }
  TinyRun wider(1, 16);
  train::Trainer trainer(*wider.model, *wider.optimizer, options_for("", 2, dir.path()));
  const std::string message = weft::test::error_message([&] { wider.fit(trainer); });
  CHECK_THAT(message, Contains(dir.file("last.safetensors")) && Contains("does not fit"));
  CHECK_THAT(message, Contains("0.weight: expected [16, 4] F32, found [8, 4] F32") &&
                          Contains("3.weight: expected [3, 16] F32, found [3, 8] F32") &&
                          Contains("3 problems"));
}

TEST_CASE("resume: a checkpoint made with other settings says which ones differ",
          "[train][resume]") {
  TempDir dir("train_settings");
  {
    TinyRun run(1);
    train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 1));
    run.fit(trainer);
  }
  TinyRun run(1);
  train::TrainerOptions options = options_for("", 2, dir.path());
  options.config["lr"] = 0.01;
  train::Trainer trainer(*run.model, *run.optimizer, options);
  const std::string message = weft::test::error_message([&] { run.fit(trainer); });
  CHECK_THAT(message, Contains(dir.file("last.safetensors")) && Contains("different settings") &&
                          Contains("lr: checkpoint 0.05, now 0.01"));
  // "epochs" differs too (1 then 2) but is allowed to: it is not listed.
  CHECK_THAT(message, !Contains("epochs:"));
}

TEST_CASE("resume: the checkpoint's kernel picks are restored over the picks this process made",
          "[train][resume]") {
  weft::testing::ScopedEnv cache("WEFT_AUTOTUNE_CACHE", "off");
  Reference reference;
  TempDir dir("train_kernel_picks");
  {
    TinyRun first(1);
    train::Trainer trainer(*first.model, *first.optimizer, options_for(dir.path(), 2));
    add_callbacks(trainer);
    first.fit(trainer);
  }
  const std::string path = dir.file("last.safetensors");
  const nlohmann::json saved = nlohmann::json::parse(metadata_of(path, "kernel_picks"));
  REQUIRE(saved.is_object());
#ifdef WEFT_HAVE_ONEDNN
  // The linear layers' passes have two candidates on this CPU (cpu and cpu-vendor).
  REQUIRE_FALSE(saved.empty());
#endif
  const std::map<std::string, std::string> picks = weft::kernel_picks();
  std::map<std::string, std::string> flipped;
  for (const auto& [key, pick] : saved.items()) {
    INFO("key " << key);
    CHECK(picks.at(key) == pick.get<std::string>());
    flipped[key] = pick == "cpu" ? "cpu-vendor" : "cpu";
  }
  // What a new process might have measured: every pick the other way.
  weft::restore_kernel_picks(flipped);

  TinyRun resumed(77);
  train::Trainer trainer(*resumed.model, *resumed.optimizer, options_for("", 4, path));
  add_callbacks(trainer);
  const train::TrainResult rest = resumed.fit(trainer);
  const std::map<std::string, std::string> after = weft::kernel_picks();
  for (const auto& [key, pick] : saved.items()) {
    INFO("key " << key);
    CHECK(after.at(key) == pick.get<std::string>());
  }
  check_same_state(reference.run, resumed);
  check_same_history(reference.result, rest);

  // A kernel_picks entry that is not an object of strings is refused, naming the file.
  for (const char* bad : {"not json", "[1, 2]", R"({"conv2d forward": 3})"}) {
    weft::io::SafetensorsContents contents = weft::io::load_safetensors(path);
    contents.metadata["kernel_picks"] = bad;
    const std::string broken = dir.file("broken.safetensors");
    const weft::nn::NamedTensors tensors(contents.tensors.begin(), contents.tensors.end());
    weft::io::save_safetensors(broken, tensors, contents.metadata);
    TinyRun run(1);
    train::Trainer again(*run.model, *run.optimizer, options_for("", 4, broken));
    CHECK_THAT(weft::test::error_message([&] { run.fit(again); }),
               Contains(broken) && Contains("kernel_picks"));
  }
  weft::restore_kernel_picks({});
}

TEST_CASE("resume: a checkpoint records a precision other than fp32, and resuming at another "
          "is refused",
          "[train][resume]") {
  TempDir dir("train_precision");
  {
    const weft::test::PrecisionScope bf16(weft::MathPrecision::bf16);
    TinyRun first(1);
    train::Trainer trainer(*first.model, *first.optimizer, options_for(dir.path(), 1));
    first.fit(trainer);
  }
  const std::string path = dir.file("last.safetensors");
  CHECK(nlohmann::json::parse(metadata_of(path, "config"))["precision"] == "bf16");
  {
    // fp32 now: the config lacks "precision", the checkpoint's says bf16.
    TinyRun run(1);
    train::Trainer trainer(*run.model, *run.optimizer, options_for("", 2, path));
    CHECK_THAT(weft::test::error_message([&] { run.fit(trainer); }),
               Contains("precision: checkpoint \"bf16\", now (absent)"));
  }
  const weft::test::PrecisionScope bf16(weft::MathPrecision::bf16);
  TinyRun run(1);
  train::Trainer trainer(*run.model, *run.optimizer, options_for("", 2, path));
  CHECK(run.fit(trainer).epochs_completed == 2);
  // An fp32 run's config is as it always was: no "precision".
  TempDir plain("train_precision_fp32");
  const weft::test::PrecisionScope fp32(weft::MathPrecision::fp32);
  TinyRun other(1);
  train::Trainer fp32_trainer(*other.model, *other.optimizer, options_for(plain.path(), 1));
  other.fit(fp32_trainer);
  CHECK_FALSE(nlohmann::json::parse(metadata_of(plain.file("last.safetensors"), "config"))
                  .contains("precision"));
}

TEST_CASE("resume: truncated checkpoints and files of weights alone are rejected by name",
          "[train][resume]") {
  TempDir dir("train_truncated");
  {
    TinyRun run(1);
    train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 1));
    run.fit(trainer);
  }
  const std::string path = dir.file("last.safetensors");
  const std::string bytes = weft::io::read_file(path);
  weft::io::write_file_atomic(path, bytes.substr(0, bytes.size() - 40));
  {
    TinyRun run(1);
    train::Trainer trainer(*run.model, *run.optimizer, options_for("", 2, path));
    CHECK_THAT(weft::test::error_message([&] { run.fit(trainer); }), Contains(path));
  }

  const std::string weights = dir.file("weights.safetensors");
  TinyRun run(1);
  weft::io::save_safetensors(weights, run.model->state_dict());
  train::Trainer trainer(*run.model, *run.optimizer, options_for("", 2, weights));
  CHECK_THAT(weft::test::error_message([&] { run.fit(trainer); }),
             Contains(weights) && Contains("not a weft training checkpoint"));

  train::Trainer nowhere(*run.model, *run.optimizer, options_for("", 2, dir.file("absent")));
  CHECK_THAT(weft::test::error_message([&] { run.fit(nowhere); }), Contains(dir.file("absent")));
}

TEST_CASE("resume: a save that fails half-way leaves the previous last.safetensors intact",
          "[train][resume]") {
  TempDir dir("train_failed_save");
  const std::string last = dir.file("last.safetensors");
  std::string epoch_one_bytes;
  std::optional<weft::test::FileSizeLimit> limit;
  constexpr rlim_t kLimit = 1024;
  TinyRun run(1);
  run.on_batch = [&](int epoch, int batch) {
    if (epoch == 2 && batch == 0) {
      epoch_one_bytes = weft::io::read_file(last);
      limit.emplace(kLimit);  // from here on, no file may grow past 1 KiB
    }
  };
  train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 3));
  const std::string message = weft::test::error_message([&] { run.fit(trainer); });
  limit.reset();
  CHECK_THAT(message, Contains(last));
  REQUIRE(epoch_one_bytes.size() > kLimit);  // so the epoch-2 write really had to fail
  CHECK(weft::io::read_file(last) == epoch_one_bytes);
  CHECK(metadata_of(last, "epoch") == "1");
  CHECK(dir.entries() == std::vector<std::string>{"last.safetensors", "metrics.csv", "metrics.jsonl"});
}

TEST_CASE("trainer: best.safetensors holds the best epoch and EarlyStopping ends the run",
          "[train][resume]") {
  TempDir dir("train_best");
  TinyRun run(1);
  // A scripted validation: the loss is best at epoch 2, then rises; patience 2 stops at 4.
  const std::vector<double> val_losses = {0.9, 0.5, 0.6, 0.7, 0.8, 0.9};
  train::Trainer trainer(*run.model, *run.optimizer, options_for(dir.path(), 6));
  trainer.add_callback(std::make_shared<train::EarlyStopping>(
      train::EarlyStoppingOptions{.patience = 2, .restore_best_weights = true}));
  trainer.add_callback(std::make_shared<train::ModelCheckpoint>());
  weft::nn::NamedTensors weights_after_epoch_2;
  const train::TrainResult result = trainer.fit(
      [&](int epoch) { return run.train_epoch(epoch); },
      [&](int epoch) {
        if (epoch == 2) {
          for (const auto& [name, tensor] : run.model->state_dict()) {
            weights_after_epoch_2.emplace_back(name, tensor.clone());
          }
        }
        return train::Metrics{{"val_loss", val_losses[static_cast<size_t>(epoch - 1)]}};
      });
  CHECK(result.stopped_early);
  CHECK(result.epochs_completed == 4);
  CHECK_THAT(result.stop_reason, Contains("EarlyStopping"));
  CHECK(metadata_of(dir.file("best.safetensors"), "epoch") == "2");
  CHECK(metadata_of(dir.file("last.safetensors"), "epoch") == "4");
  CHECK(metadata_of(dir.file("last.safetensors"), "stopped_early") == "true");
  // restore_best_weights: the model ends with epoch 2's weights.
  const weft::nn::NamedTensors now = run.model->state_dict();
  REQUIRE(now.size() == weights_after_epoch_2.size());
  for (size_t i = 0; i < now.size(); ++i) {
    CHECK(weft::test::same_bytes(now[i].second, weights_after_epoch_2[i].second));
  }
}

TEST_CASE("trainer: a per-step schedule without the step hooks is an error",
          "[train][resume]") {
  TinyRun run(1);
  train::Trainer trainer(*run.model, *run.optimizer, options_for("", 1));
  trainer.add_callback(std::make_shared<train::OneCycle>(
      train::OneCycleOptions{.max_lr = 0.1, .total_steps = 8}));
  CHECK_THAT(weft::test::error_message([&] {
               trainer.fit([&](int epoch) { return run.train_epoch(epoch); });
             }),
             Contains("step hooks"));

  // With the hooks, the lr after epoch 1 is the one set before its last (4th) step.
  TinyRun hooked(1);
  train::Trainer good(*hooked.model, *hooked.optimizer, options_for("", 2));
  auto cycle = std::make_shared<train::OneCycle>(train::OneCycleOptions{.max_lr = 0.1, .total_steps = 8});
  good.add_callback(cycle);
  const train::TrainResult result = hooked.fit(good);
  REQUIRE(result.history.size() == 2);
  CHECK(result.history[0].lr == static_cast<float>(cycle->lr_at(3)));
  CHECK(result.history[1].lr == static_cast<float>(cycle->lr_at(7)));
}
