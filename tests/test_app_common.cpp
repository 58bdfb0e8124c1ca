// The shared app support (apps/common/): report.json written atomically as valid JSON, the
// one-line error, the common flags and exit codes of run_main, mean and spread, the classifier
// report files, per-label thresholds, the loader passes' predictions, and --limit keeping every
// class of an imbalanced set, chosen from the labels as it was chosen from decoded images.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apps/common/app_common.h"
#include "apps/common/classifier_run.h"
#include "apps/common/reports.h"
#include "apps/common/standins.h"
#include "engine/graph.h"
#include "engine/allocator.h"
#include "engine/data/balance.h"
#include "engine/dispatch.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/train/loader_epoch.h"
#include "engine_test_util.h"
#include "kernels/error.h"
#include "kernels/selection.h"
#include "train_test_util.h"

namespace {

using weft::Tensor;

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(weft::io::read_file(path));
}

// Runs run_main on `arguments` with the common flags and a body returning `body_result`.
int run_with(std::vector<std::string> arguments, const std::function<int()>& body,
             weft::app::CommonOptions& common) {
  CLI::App cli{"test app"};
  weft::app::add_common_options(cli, common, "data");
  arguments.insert(arguments.begin(), "weft-test");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  return weft::app::run_main("test", cli, static_cast<int>(argv.size()), argv.data(), common, body);
}

// Sends this process's stderr to `path` while alive (to read an app's one-line error).
class StderrToFile {
 public:
  explicit StderrToFile(const std::string& path) : saved_(dup(STDERR_FILENO)) {
    std::fflush(stderr);
    const int file = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(file >= 0);
    dup2(file, STDERR_FILENO);
    close(file);
  }
  ~StderrToFile() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }
  StderrToFile(const StderrToFile&) = delete;
  StderrToFile& operator=(const StderrToFile&) = delete;

 private:
  int saved_;
};

}  // namespace

TEST_CASE("app report: auto_picks counts auto's picks per implementation", "[app][report]") {
  weft::restore_kernel_picks({{"conv2d forward A | among cpu cpu-vendor", "cpu-vendor"},
                              {"conv2d forward B | among cpu cpu-vendor", "cpu-vendor"},
                              {"linear forward C | among cpu cpu-vendor", "cpu"}});
  const nlohmann::ordered_json report = weft::app::report_header(
      "shoes", "test_accuracy", 0.5, 1, weft::Device::cpu(), 1.0, {});
  weft::restore_kernel_picks({});
  CHECK(report["auto_picks"]["cpu-vendor"].get<int64_t>() >= 2);
  CHECK(report["auto_picks"]["cpu"].get<int64_t>() >= 1);
}

TEST_CASE("app report: report.json is written atomically, valid JSON, with the header first",
          "[app][report]") {
  weft::test::TempDir dir("app_report");
  const std::string run_dir = dir.file("run");
  nlohmann::ordered_json report = weft::app::report_header(
      "shoes", "test_accuracy", 0.875, 3, weft::Device::cpu(), 12.5, {{"lr", 0.001}});
  report["extra"] = {1, 2, 3};
  const std::string path = weft::app::write_report(run_dir, report);
  CHECK(path == run_dir + "/report.json");
  const nlohmann::json written = read_json(path);
  CHECK(written["app"] == "shoes");
  CHECK(written["headline_metric"] == "test_accuracy");
  CHECK(written["test_accuracy"] == 0.875);
  CHECK(written["epochs"] == 3);
  CHECK(written["device"] == "cpu");
  CHECK(written["seconds"] == 12.5);
  CHECK(written["config"]["lr"] == 0.001);
  CHECK(written["auto_picks"].is_object());
  const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(weft::io::read_file(path));
  CHECK(ordered.begin().key() == "app");

  // Rewriting replaces the whole file and leaves no temporary file behind.
  report["test_accuracy"] = 0.5;
  weft::app::write_report(run_dir, report);
  CHECK(read_json(path)["test_accuracy"] == 0.5);
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir)) {
    files.push_back(entry.path().filename().string());
  }
  CHECK(files == std::vector<std::string>{"report.json"});

  // A report without its header or headline value is refused before anything is written.
  nlohmann::ordered_json bad = report;
  bad.erase("test_accuracy");
  CHECK_THAT(weft::test::error_message([&] { weft::app::write_report(run_dir, bad); }),
             Catch::Contains("headline metric 'test_accuracy' has no value"));
  CHECK_THAT(weft::test::error_message([&] { weft::app::write_report(run_dir, {{"app", "x"}}); }),
             Catch::Contains("lacks the 'headline_metric' field"));
  CHECK(read_json(path)["test_accuracy"] == 0.5);
}

TEST_CASE("app report: a failed write leaves the previous report whole", "[app][report]") {
  weft::test::TempDir dir("app_report_full");
  nlohmann::ordered_json report =
      weft::app::report_header("x", "test_accuracy", 0.25, 1, weft::Device::cpu(), 1.0, {});
  weft::app::write_report(dir.path(), report);
  report["history"] = std::string(64 * 1024, 'x');
  {
    weft::test::FileSizeLimit limit(4096);
    CHECK_THROWS_AS(weft::app::write_report(dir.path(), report), weft::Error);
  }
  CHECK(read_json(dir.file("report.json"))["test_accuracy"] == 0.25);
  CHECK(dir.entries() == std::vector<std::string>{"report.json"});
}

TEST_CASE("app main: errors become one line and exit status 1; --help is 0", "[app][main]") {
  CHECK(weft::app::error_line("shoes", "state dict does not match (2 problems):\n  missing: a\n"
                                       "  unexpected: b") ==
        "weft-shoes: error: state dict does not match (2 problems): missing: a; unexpected: b");

  weft::app::CommonOptions common;
  CHECK(run_with({"--epochs", "3"}, [] { return 0; }, common) == 0);
  CHECK(common.epochs == 3);
  CHECK(run_with({"--help"}, [] { return 7; }, common) == 0);
  CHECK(run_with({"--epochs", "0"}, [] { return 0; }, common) == 1);
  CHECK(run_with({"--no-such-flag"}, [] { return 0; }, common) == 1);
  CHECK(run_with({}, []() -> int { throw weft::Error("/data: no such directory"); }, common) == 1);
  CHECK(run_with({}, []() -> int { throw std::runtime_error("anything"); }, common) == 1);
  CHECK(run_with({}, [] { return 130; }, common) == 130);
  // Combinations that make no sense are errors before the body runs.
  int ran = 0;
  weft::app::CommonOptions eval_only, predict;
  CHECK(run_with({"--eval-only"}, [&] { return ++ran; }, eval_only) == 1);
  CHECK(run_with({"--predict", "a.png"}, [&] { return ++ran; }, predict) == 1);
  CHECK(ran == 0);
}

TEST_CASE("app flags: --loader-workers, or 1 on the CPU and the cores less one on a GPU",
          "[app][main]") {
  weft::app::CommonOptions options;
  CHECK(weft::app::loader_workers(options, weft::Device::cpu()) == 1);
  CHECK(weft::app::loader_workers(options, weft::Device::emu()) == 1);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const int expected = std::clamp(std::min(cores - 1, 8), 1, 8);
  CHECK(weft::app::loader_workers(options, weft::Device::cuda()) == expected);
  options.loader_workers = 5;
  CHECK(weft::app::loader_workers(options, weft::Device::cpu()) == 5);
  CHECK(weft::app::loader_workers(options, weft::Device::cuda()) == 5);
}

TEST_CASE("app memory: the available memory is read, and a need beyond it is named in GB",
          "[app][main]") {
  const std::optional<int64_t> available = weft::app::available_memory_bytes();
  REQUIRE(available.has_value());  // Linux: /proc/meminfo's MemAvailable
  CHECK(*available > 0);
  const std::string problem = weft::app::memory_problem(
      "--balance: the split", int64_t{12'000'000'000}, int64_t{8'000'000'000}, "use less");
  CHECK(problem == "--balance: the split would hold 12.0 GB and this machine has 8.0 GB "
                   "available; use less");
  CHECK(weft::app::memory_problem("x", int64_t{7'000'000'000}, int64_t{8'000'000'000}, "r")
            .empty());  // within 90% of what is available
  CHECK(weft::app::memory_problem("x", int64_t{7'300'000'000}, int64_t{8'000'000'000}, "r") !=
        "");
  CHECK(weft::app::memory_problem("x", int64_t{1} << 50, std::nullopt, "r").empty());
}

TEST_CASE("app flags: --precision sets the math precision and refuses other names",
          "[app][main]") {
  struct Restore {
    ~Restore() { weft::reset_kernel_choices(); }
  } restore;
  weft::app::CommonOptions tf32, bf16, wrong;
  CHECK(run_with({"--precision", "tf32"}, [] { return 0; }, tf32) == 0);
  CHECK(weft::math_precision() == weft::MathPrecision::tf32);
  CHECK(run_with({"--precision", "bf16"}, [] { return 0; }, bf16) == 0);
  CHECK(weft::math_precision() == weft::MathPrecision::bf16);
  int ran = 0;
  CHECK(run_with({"--precision", "fp16"}, [&] { return ++ran; }, wrong) == 1);
  CHECK(ran == 0);
  CHECK(weft::math_precision() == weft::MathPrecision::bf16);  // a refused value changes nothing
}

TEST_CASE("app flags: --profile-steps turns CUDA graphs off and refuses --cuda-graphs on",
          "[app][main]") {
  struct Restore {
    ~Restore() { weft::graph::set_mode(weft::graph::Mode::automatic); }
  } restore;
  weft::app::CommonOptions profiled, both, negative;
  CHECK(run_with({"--profile-steps", "3"}, [] { return 0; }, profiled) == 0);
  CHECK(profiled.profile_steps == 3);
  CHECK(weft::graph::mode() == weft::graph::Mode::off);
  int ran = 0;
  CHECK(run_with({"--profile-steps", "3", "--cuda-graphs", "on"}, [&] { return ++ran; }, both) ==
        1);
  CHECK(run_with({"--profile-steps", "-1"}, [&] { return ++ran; }, negative) == 1);
  // Numbers the validators pass but an integer flag cannot hold: an error, not a crash.
  weft::app::CommonOptions huge, fraction;
  CHECK(run_with({"--profile-steps", "99999999999"}, [&] { return ++ran; }, huge) == 1);
  CHECK(run_with({"--epochs", "1.5"}, [&] { return ++ran; }, fraction) == 1);
  CHECK(ran == 0);
}

TEST_CASE("app flags: an integer flag's conversion error says what was expected", "[app][main]") {
  using weft::app::conversion_error_text;
  CHECK(conversion_error_text("Could not convert: --epochs = 1.5") ==
        "--epochs: must be a whole number, got 1.5");
  CHECK(conversion_error_text("Could not convert: --limit = 99999999999") ==
        "--limit: 99999999999 is beyond the whole numbers this flag holds");
  CHECK(conversion_error_text("Could not convert: --limit = -1e300") ==
        "--limit: -1e300 is beyond the whole numbers this flag holds");
  CHECK(conversion_error_text("something else") == "something else");
  CHECK(weft::app::parse_error_text("--limit: At Most 1 required but received 2") ==
        "--limit is given 2 times; give it once");
  CHECK(weft::app::parse_error_text("something else") == "something else");
}

TEST_CASE("app flags: numbers are checked with plain messages; NaN and infinities are refused",
          "[app][main]") {
  double lr = 1, dropout = 0;
  int epochs = 1;
  CLI::App cli;
  cli.add_option("--lr", lr)->check(weft::app::positive_number());
  cli.add_option("--dropout", dropout)->check(weft::app::in_range(0.0, 0.95));
  cli.add_option("--epochs", epochs)->check(weft::app::in_range(1, 100000));
  const auto error = [&](std::vector<std::string> args) -> std::string {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    try {
      cli.parse(args);
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error({"--lr", "0.5", "--dropout", "0.3", "--epochs", "7"}).empty());
  CHECK(lr == 0.5);
  CHECK(dropout == Approx(0.3));
  CHECK(epochs == 7);
  CHECK(error({"--lr", "0"}) == "--lr: must be a finite number > 0, got 0");
  CHECK(error({"--lr", "-1e-3"}) == "--lr: must be a finite number > 0, got -1e-3");
  CHECK(error({"--lr", "nan"}) == "--lr: must be a finite number, got nan");
  CHECK(error({"--lr", "inf"}) == "--lr: must be a finite number, got inf");
  CHECK(error({"--lr", "1e999"}) == "--lr: must be a finite number, got 1e999");
  CHECK(error({"--lr", "fast"}) == "--lr: must be a number, got \"fast\"");
  CHECK(error({"--dropout", "nan"}) == "--dropout: must be a finite number, got nan");
  CHECK(error({"--dropout", "2"}) == "--dropout: must be from 0 to 0.95, got 2");
  CHECK(error({"--epochs", "0"}) == "--epochs: must be from 1 to 100000, got 0");
  CHECK(lr == 0.5);  // a refused value changes nothing
}

TEST_CASE("app run folder: a folder holding a run is refused unless --resume or --overwrite",
          "[app][main]") {
  weft::test::TempDir dir("app_run_folder");
  namespace fs = std::filesystem;
  const fs::path run = fs::path(dir.path()) / "run";
  const auto write = [](const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  };
  weft::app::CommonOptions common;
  common.out = run.string();
  weft::app::prepare_run_folder(common);  // a new folder
  CHECK(fs::is_directory(run / "figures"));
  weft::app::prepare_run_folder(common);  // still no run in it: fine

  write(run / "report.json", "{}");
  write(run / "last.safetensors", "x");
  write(run / "figures" / "loss_curve.png", "x");
  write(run / "seed-2" / "report.json", "{}");
  write(run / "notes" / "mine.txt", "keep");
  write(run / "my-data.bin", "keep");
  CHECK_THROWS_WITH(weft::app::prepare_run_folder(common),
                    Catch::Contains("already holds a run") && Catch::Contains("--resume") &&
                        Catch::Contains("--overwrite"));
  CHECK(fs::exists(run / "report.json"));  // nothing was touched

  weft::app::CommonOptions resume = common;
  resume.resume = run.string();
  weft::app::prepare_run_folder(resume);
  CHECK(fs::exists(run / "last.safetensors"));

  weft::app::CommonOptions overwrite = common;
  overwrite.overwrite = true;
  weft::app::prepare_run_folder(overwrite);
  CHECK_FALSE(fs::exists(run / "report.json"));
  CHECK_FALSE(fs::exists(run / "last.safetensors"));
  CHECK_FALSE(fs::exists(run / "figures" / "loss_curve.png"));
  CHECK_FALSE(fs::exists(run / "seed-2" / "report.json"));
  CHECK(fs::exists(run / "notes" / "mine.txt"));  // not the run's: kept
  CHECK(fs::exists(run / "my-data.bin"));
  CHECK(fs::is_directory(run / "figures"));
  weft::app::prepare_run_folder(common);  // no run left in it
}

TEST_CASE("app run folder: temporary files of a killed write are removed on the next start",
          "[app][main]") {
  weft::test::TempDir dir("app_run_folder_tmp");
  namespace fs = std::filesystem;
  const fs::path run = fs::path(dir.path());
  // pid 2^22 + 1 is above Linux's pid_max limit, so no live process has it.
  const fs::path stale = run / "last.safetensors.tmp.4194305";
  const fs::path ours = run / ("report.json.tmp." + std::to_string(getpid()));
  const fs::path other = run / "notes.tmp.txt";
  for (const fs::path& p : {stale, ours, other}) std::ofstream(p) << "x";
  weft::app::CommonOptions common;
  common.out = run.string();
  common.resume = run.string();
  weft::app::prepare_run_folder(common);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(ours));   // a live writer's (this process)
  CHECK(fs::exists(other));  // not a temporary of an atomic write
}

TEST_CASE("app main: report.json says finished, interrupted or failed", "[app][main]") {
  weft::test::TempDir dir("app_status");
  const std::string out = dir.file("run");
  const auto status_of = [&] { return read_json(out + "/report.json")["status"]; };

  weft::app::CommonOptions interrupted;
  CHECK(run_with({"--out", out}, [&] {
          weft::app::prepare_run_folder(interrupted);
          return 130;
        }, interrupted) == 130);
  CHECK(status_of() == "interrupted");
  CHECK(read_json(out + "/report.json")["epochs_completed"] == 0);

  weft::app::CommonOptions failed;
  CHECK(run_with({"--out", out, "--overwrite"}, [&]() -> int {
          weft::app::prepare_run_folder(failed);
          throw weft::Error("the disk is full");
        }, failed) == 1);
  CHECK(status_of() == "failed");
  CHECK_THAT(read_json(out + "/report.json")["error"].get<std::string>(),
             Catch::Contains("weft-test: error: the disk is full"));

  weft::app::CommonOptions finished;
  CHECK(run_with({"--out", out, "--overwrite"}, [&] {
          weft::app::prepare_run_folder(finished);
          weft::app::write_report(out, weft::app::report_header("test", "accuracy", 0.9, 1,
                                                                weft::Device::cpu(), 1.0, {}));
          return 0;
        }, finished) == 0);
  CHECK(status_of() == "finished");
  CHECK(read_json(out + "/report.json")["accuracy"] == 0.9);

  // A run that fails before it saves anything in a finished run's folder leaves its report.
  weft::io::save_safetensors(out + "/last.safetensors", {}, {{"config", "{}"}});
  weft::app::CommonOptions resumed;
  CHECK(run_with({"--out", out, "--resume", out}, [&]() -> int {
          weft::app::prepare_run_folder(resumed);
          throw weft::Error("checkpoint made with different settings");
        }, resumed) == 1);
  CHECK(status_of() == "finished");

  // A refused folder is left as it was: the finished report stays.
  weft::app::CommonOptions refused;
  CHECK(run_with({"--out", out}, [&] {
          weft::app::prepare_run_folder(refused);
          return 0;
        }, refused) == 1);
  CHECK(status_of() == "finished");
}

TEST_CASE("app main: out of memory names the batch size and suggests a smaller one",
          "[app][main]") {
  weft::test::TempDir dir("app_oom");
  const std::string out = dir.file("run");
  weft::app::CommonOptions common;
  CHECK(run_with({"--out", out, "--batch-size", "64"}, [&]() -> int {
          weft::app::prepare_run_folder(common);
          throw weft::OutOfMemory("cuda:0 is out of memory: 512 MiB needed");
        }, common) == 1);
  const nlohmann::json report = read_json(out + "/report.json");
  CHECK(report["status"] == "failed");
  CHECK_THAT(report["error"].get<std::string>(),
             Catch::Contains("512 MiB needed (at --batch-size 64; try --batch-size 32)"));
#if !defined(__SANITIZE_ADDRESS__)
  // The CPU allocator's own failure is an OutOfMemory that says how much was asked for.
  CHECK_THROWS_AS(weft::device_allocate(weft::Device::cpu(), size_t{1} << 60), weft::OutOfMemory);
  CHECK_THROWS_WITH(weft::device_allocate(weft::Device::cpu(), size_t{1} << 60),
                    Catch::Contains("the CPU is out of memory: 1099511627776 MiB needed"));
#endif
}

TEST_CASE("app main: --resume without --out makes the checkpoint's folder the run folder",
          "[app][main]") {
  weft::test::TempDir dir("app_resume");
  const nlohmann::json config = {{"lr", 0.005}, {"epochs", 3}, {"batch_size", 16},
                                 {"optimizer", {{"name", "SGD"}}}, {"unknown_key", 1}};
  weft::io::save_safetensors(dir.file("last.safetensors"), {},
                             {{"config", config.dump()}, {"seed", "7"}, {"epoch", "3"}});
  weft::app::CommonOptions common{.out = "runs/default"};
  CHECK(run_with({"--resume", dir.path()}, [] { return 0; }, common) == 0);
  CHECK(common.out == dir.path());
  // --resume DIR alone continues with the checkpoint's settings ...
  CHECK(common.lr == 0.005);
  CHECK(common.epochs == 3);
  CHECK(common.batch_size == 16);
  CHECK(common.seed == 7);
  // ... and what the command line gives wins.
  weft::app::CommonOptions more{.out = "runs/default"};
  CHECK(run_with({"--resume", dir.path(), "--epochs", "5"}, [] { return 0; }, more) == 0);
  CHECK(more.epochs == 5);
  CHECK(more.lr == 0.005);

  weft::io::save_safetensors(dir.file("last.safetensors"), {}, {{"config", "{not json"}});
  weft::app::CommonOptions broken;
  CHECK(run_with({"--resume", dir.path()}, [] { return 0; }, broken) == 1);

  // A stored setting the flag refuses names the checkpoint, not the command line.
  weft::io::save_safetensors(dir.file("last.safetensors"), {},
                             {{"config", nlohmann::json{{"batch_size", -5}}.dump()}});
  weft::app::CommonOptions refused;
  {
    const StderrToFile capture(dir.file("stderr.txt"));
    CHECK(run_with({"--resume", dir.path()}, [] { return 0; }, refused) == 1);
  }
  CHECK_THAT(weft::io::read_file(dir.file("stderr.txt")),
             Catch::Contains("resumed from " + dir.file("last.safetensors") +
                             ": its setting --batch-size -5 is not accepted (--batch-size: "));
}

TEST_CASE("app: mean and spread of repeated runs", "[app]") {
  const weft::app::MeanSpread s = weft::app::mean_and_spread({0.90, 0.92, 0.94});
  CHECK(s.count == 3);
  CHECK(s.mean == Approx(0.92));
  CHECK(s.stddev == Approx(0.02));  // sample standard deviation
  CHECK(s.min == 0.90);
  CHECK(s.max == 0.94);
  CHECK(weft::app::mean_and_spread({0.5}).stddev == 0.0);
}

TEST_CASE("app: time to reach a validation accuracy counts whole epochs' seconds", "[app]") {
  std::vector<weft::train::EpochRecord> history(3);
  for (int e = 0; e < 3; ++e) {
    history[static_cast<size_t>(e)].epoch = e + 1;
    history[static_cast<size_t>(e)].seconds = 10.0;
    history[static_cast<size_t>(e)].metrics.set("val_accuracy", 0.90 + 0.02 * e);
  }
  const nlohmann::ordered_json reached = weft::app::time_to_reach(history, "val_accuracy", 0.919);
  CHECK(reached["epoch"] == 2);
  CHECK(reached["seconds"] == 20.0);
  CHECK(weft::app::time_to_reach(history, "val_accuracy", 0.95).is_null());
}

TEST_CASE("app: per-label thresholds and their tuning on known inputs", "[app][metrics]") {
  // Two samples, two labels. Label 0: truth 1, 0 with probabilities 0.32, 0.1 - a threshold in
  // 0.15..0.30 finds the positive without a false one; label 1: truth 0, 1 with 0.6, 0.9.
  const std::vector<float> truth = {1, 0, 0, 1};
  const std::vector<float> probabilities = {0.32f, 0.6f, 0.1f, 0.9f};
  const std::vector<float> tuned = weft::app::tune_thresholds(truth, probabilities, 2, 2);
  CHECK(tuned[0] == Approx(0.30f));   // best F1 (1.0) for 0.15..0.30; closest to 0.5 is 0.30
  CHECK(tuned[1] == Approx(0.65f));   // best F1 (1.0) for 0.65..0.90; closest to 0.5 is 0.65

  const auto at_half =
      weft::app::multilabel_report_at(truth, probabilities, 2, {"black", "dress"}, {0.5f, 0.5f});
  CHECK(at_half.per_label[0].recall == 0.0);
  CHECK(at_half.hamming_loss == Approx(0.5));  // label 0 of sample 0, label 1 of sample 0
  CHECK(at_half.threshold == 0.5);
  const auto at_tuned = weft::app::multilabel_report_at(truth, probabilities, 2, {"black", "dress"}, tuned);
  CHECK(at_tuned.micro.f1 == 1.0);
  CHECK(at_tuned.hamming_loss == 0.0);
  CHECK(std::isnan(at_tuned.threshold));
  CHECK_THAT(at_tuned.table(), Catch::Contains("per label"));

  // A label without positives keeps 0.5.
  CHECK(weft::app::tune_thresholds({0, 0}, {0.7f, 0.2f}, 2, 1)[0] == 0.5f);
}

TEST_CASE("app: the classifier report writes its text, JSON and five figures", "[app][report]") {
  weft::test::TempDir dir("app_classifier_report");
  weft::app::CommonOptions common;
  common.out = dir.path();
  weft::app::prepare_run_folder(common);
  weft::app::ClassifierReportInput input;
  input.title = "test";
  input.class_names = {"a", "b", "c"};
  input.truth = {0, 0, 1, 2, 2, 2};
  input.predicted = {0, 1, 1, 2, 2, 0};
  input.train_counts = {5, 3, 1};
  input.sample_images = Tensor::zeros({2, 1, 4, 4}, weft::DType::u8);
  input.sample_truth = {0, 1};
  input.sample_predicted = {0, 2};
  input.history.resize(2);
  for (int e = 0; e < 2; ++e) {
    auto& row = input.history[static_cast<size_t>(e)];
    row.epoch = e + 1;
    row.metrics = {{"loss", 1.0 - 0.1 * e}, {"accuracy", 0.5 + 0.1 * e},
                   {"val_loss", 1.1}, {"val_accuracy", 0.5}};
  }
  const nlohmann::ordered_json summary = weft::app::write_classifier_report(dir.path(), input);
  CHECK(summary["accuracy"] == Approx(4.0 / 6.0));
  CHECK(summary["confusion_matrix"][2][0] == 1);
  for (const char* file : {"classification_report.txt", "classification_report.json",
                           "figures/samples.png", "figures/class_distribution.png",
                           "figures/accuracy_curve.png", "figures/loss_curve.png",
                           "figures/confusion_matrix.png"}) {
    INFO(file);
    CHECK(std::filesystem::file_size(dir.file(file)) > 0);
  }
  CHECK(read_json(dir.file("classification_report.json"))["classes"][1]["recall"] == 1.0);
  CHECK_THAT(weft::io::read_file(dir.file("classification_report.txt")),
             Catch::Contains("confusion matrix") && Catch::Contains("macro avg"));
}

TEST_CASE("app: --limit keeps every class of an imbalanced set", "[app][data]") {
  weft::data::LabeledImages data;
  std::vector<int32_t> labels(1000, 0);
  labels[10] = 1;  // one image of class 1
  labels[20] = 2;
  labels[21] = 2;
  data.labels = Tensor::from_vector(labels, {1000});
  data.images = Tensor::zeros({1000, 1, 2, 2}, weft::DType::u8);
  data.class_names = {"many", "one", "two"};
  weft::Generator generator(3);
  const weft::data::LabeledImages limited = weft::app::limit_images(data, 50, generator);
  CHECK(limited.size() <= 50);
  const std::vector<int64_t> counts = weft::data::class_counts(limited);
  CHECK(counts[1] == 1);
  CHECK(counts[2] >= 1);
  CHECK(weft::app::limit_images(data, 0, generator).size() == 1000);
}

TEST_CASE("app: the split and --limit chosen from labels keep what choosing after decoding kept",
          "[app][data]") {
  // 300 images of 3 classes (250 / 45 / 5), each image its own index in two bytes.
  weft::data::LabeledImages data;
  std::vector<int32_t> labels(300);
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 300; ++i) {
    labels[static_cast<size_t>(i)] = i % 60 < 50 ? 0 : (i % 60 < 59 ? 1 : 2);
    pixels.push_back(static_cast<uint8_t>(i % 256));
    pixels.push_back(static_cast<uint8_t>(i / 256));
  }
  data.labels = Tensor::from_vector(labels, {300});
  data.images = Tensor::from_vector(pixels, {300, 1, 1, 2});
  data.class_names = {"many", "some", "few"};
  const std::vector<double> ratios = {0.7, 0.15, 0.15};
  for (const int64_t limit : {0, 2, 7, 40, 400}) {
    for (const uint64_t seed : {uint64_t{1}, uint64_t{5}}) {
      weft::Generator split_a(seed), limit_a(seed + 1), split_b(seed), limit_b(seed + 1);
      // The apps' former path: split the decoded images, then cut each part.
      const std::vector<weft::data::IndexList> split =
          weft::data::stratified_split(labels, ratios, split_a);
      weft::app::ThreeWaySplit after = {weft::data::select(data, split[0]),
                                        weft::data::select(data, split[1]),
                                        weft::data::select(data, split[2])};
      for (weft::data::LabeledImages* part : {&after.train, &after.validation, &after.test}) {
        *part = weft::app::limit_images(*part, limit, limit_a);
      }
      const std::vector<weft::data::IndexList> parts =
          weft::app::split_then_limit(labels, ratios, limit, split_b, limit_b);
      REQUIRE(parts.size() == 3);
      const weft::data::LabeledImages* expected[] = {&after.train, &after.validation, &after.test};
      for (size_t p = 0; p < 3; ++p) {
        const weft::data::LabeledImages chosen = weft::data::select(data, parts[p]);
        CHECK(chosen.images.to_vector<uint8_t>() == expected[p]->images.to_vector<uint8_t>());
        CHECK(chosen.labels.to_vector<int32_t>() == expected[p]->labels.to_vector<int32_t>());
      }
      CHECK(limit_a.offset() == limit_b.offset());
    }
  }
  // The multi-label form: a plain random subset, the same draws as limit_images.
  weft::data::MultiLabelImages multi;
  multi.images = data.images;
  multi.targets = Tensor::zeros({300, 1});
  multi.label_set.assign(300, 0);
  weft::Generator a(3), b(3);
  const weft::data::MultiLabelImages limited = weft::app::limit_images(multi, 9, a);
  const weft::data::IndexList rows = weft::app::limit_indices(int64_t{300}, 9, b);
  CHECK(weft::data::select(multi, rows).images.to_vector<uint8_t>() ==
        limited.images.to_vector<uint8_t>());
  CHECK(weft::app::limit_indices(int64_t{5}, 9, b) == weft::data::IndexList{0, 1, 2, 3, 4});
}

TEST_CASE("app: a folder of one class folder names the folder inside that looks like the data",
          "[app][data]") {
  weft::test::TempDir dir("app_one_folder");
  namespace fs = std::filesystem;
  const fs::path root(dir.path());
  fs::create_directories(root / "kaggle/myntradataset/images");
  std::ofstream(root / "kaggle/myntradataset/styles.csv") << "id,usage\n";
  CHECK(weft::app::one_folder_hint((root / "kaggle").string(), {"myntradataset"}) ==
        "; " + (root / "kaggle/myntradataset").string() + " holds styles.csv (Fashion Product "
        "Images' layout): give --data " + (root / "kaggle/myntradataset").string());
  for (const char* name : {"Shoes", "Boots", ".cache", "Sandals"}) {
    fs::create_directories(root / "zappos/ut-zap50k-images" / name);
  }
  std::ofstream(root / "zappos/ut-zap50k-images/notes.txt") << "not a folder";
  CHECK_THAT(weft::app::one_folder_hint((root / "zappos").string(), {"ut-zap50k-images"}),
             Catch::EndsWith("ut-zap50k-images holds 3 folders (Boots, Sandals, Shoes): give "
                             "--data " + (root / "zappos/ut-zap50k-images").string() +
                             " if those are the classes"));
  // Two classes, or one folder of images only: nothing to add.
  CHECK(weft::app::one_folder_hint((root / "zappos").string(), {"a", "b"}).empty());
  fs::create_directories(root / "flat/Sandal");
  CHECK(weft::app::one_folder_hint((root / "flat").string(), {"Sandal"}).empty());
}

TEST_CASE("app: flags of the other data mode are refused by name", "[app]") {
  using weft::app::refuse_flags;
  CHECK_NOTHROW(refuse_flags({{"--a", false}, {"--b", false}}, "to folders"));
  CHECK_THROWS_WITH(refuse_flags({{"--a", false}, {"--b", true}}, "to folders; not here"),
                    "--b applies to folders; not here");
  CHECK_THROWS_WITH(refuse_flags({{"--a", true}, {"--b", true}}, "to folders"),
                    "--a and --b apply to folders");
  CHECK_THROWS_WITH(refuse_flags({{"--a", true}, {"--b", true}, {"--c", true}}, "to folders"),
                    "--a, --b and --c apply to folders");
}

TEST_CASE("app: predictions of a loader pass, single- and multi-label", "[app][train]") {
  weft::train::Predictions single;
  single.rows = 2;
  single.cols = 3;
  single.logits = {0, 2, 1, 5, 0, 0};
  single.labels = {1, 2};
  CHECK(single.predicted_classes() == std::vector<int32_t>{1, 0});
  CHECK(single.accuracy() == 0.5);
  const std::vector<float> p = single.probabilities();
  CHECK(p[0] + p[1] + p[2] == Approx(1.0f));

  weft::train::Predictions multi;
  multi.objective = weft::train::Objective::multi_label;
  multi.rows = 1;
  multi.cols = 4;
  multi.logits = {2, -2, 0.5f, -0.5f};
  multi.targets = {1, 0, 0, 0};
  CHECK(multi.accuracy() == 0.75);  // the third decision (sigmoid 0.62 >= 0.5) is wrong
  CHECK(multi.probabilities()[1] == Approx(1.0f / (1.0f + std::exp(2.0f))));
}
