// The flags, run folder, report.json, error line, weights and --predict shared by every app
// (see app_common.h).
#include "apps/common/app_common.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/distributed/communicator.h"
#include "engine/distributed/replicate.h"
#include "engine/distributed/sync_batchnorm.h"
#include "engine/graph.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/train/trainer.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::app {

namespace fs = std::filesystem;

// ---- flags ---------------------------------------------------------------------------------------

void add_common_options(CLI::App& cli, CommonOptions& o, const std::string& data_help) {
  cli.add_option("--data", o.data, data_help)->capture_default_str();
  cli.add_option("--out", o.out,
                 "run folder: report.json, model.safetensors, checkpoints, metrics, figures")
      ->capture_default_str();
  cli.add_option("--device", o.device,
                 "auto, cpu, cuda, cuda:N, or emu (the hand CUDA kernels under the host "
                 "emulation, on the CPU: very slow, for tests and launch counts)")->capture_default_str();
  cli.add_option("--epochs", o.epochs, "training epochs")
      ->capture_default_str()
      ->check(app::in_range(1, 100000));
  cli.add_option("--batch-size", o.batch_size, "images per step")
      ->capture_default_str()
      ->check(app::in_range(1, 65536));
  cli.add_option("--lr", o.lr, "learning rate")->capture_default_str()->check(app::positive_number());
  cli.add_option("--seed", o.seed,
                 "seed for initialisation, splits, shuffling, augmentation and dropout")
      ->capture_default_str();
  cli.add_option("--resume", o.resume,
                 "continue a run from its folder (its last.safetensors) or a checkpoint file; "
                 "--out defaults to that folder");
  cli.add_option("--weights", o.weights,
                 "start from these model weights (.safetensors: a model.safetensors, a "
                 "training checkpoint, or converted weights with the same names); strict");
  cli.add_flag("--eval-only", o.eval_only,
               "no training: evaluate --weights on the test split and write the report");
  cli.add_option("--predict", o.predict,
                 "no training: print the top classes of these image files (needs --weights)");
  cli.add_option("--top-k", o.top_k, "classes printed per --predict file")
      ->capture_default_str()
      ->check(app::in_range(1, 1000));
  cli.add_option("--limit", o.limit,
                 "quick checks: use at most N images of each split (0: all)")
      ->capture_default_str()
      ->check(app::non_negative_number());
  cli.add_flag("--overwrite", o.overwrite,
               "replace the run already in --out (without it such a folder is refused unless "
               "--resume continues it)");
  cli.add_flag("--skip-nonfinite-steps", o.skip_nonfinite_steps,
               "skip a training step whose loss is NaN or infinite (counted in the log) instead "
               "of stopping the run");
  cli.add_option("--profile-steps", o.profile_steps,
                 "profile N training steps op by op, the run's steps 3 to N + 2, and write "
                 "profile.md into the run folder: each op's time on an idle device, where it "
                 "ran, its shape, kernels and library calls (engine/profile.h). Those steps run "
                 "slower, and the run trains without CUDA graphs")
      ->capture_default_str()
      ->check(app::non_negative_number());
  cli.add_option("--cuda-graphs", o.cuda_graphs,
                 "capture the training step once and replay it per batch: on, off, or auto (on "
                 "for CUDA devices; emu captures only with on). Steps that read their loss every "
                 "step (--skip-nonfinite-steps) and a short last batch run uncaptured")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off", "auto"}));
  cli.add_option("--precision", o.precision,
                 "what matrix products (GEMM, linear layers, convolutions) round their operands "
                 "to: fp32 (none, the default), tf32 or bf16 (tensor cores on a GPU, FP32 "
                 "accumulation; at bf16 cuDNN's convolutions run on BF16 copies of their "
                 "operands; the CPU rounds as the hand kernels do). Without the flag "
                 "WEFT_PRECISION decides "
                 "(kernels/selection.h)");
  cli.add_flag("--sync-batchnorm", o.sync_batchnorm,
               "data-parallel runs: batch norm normalises with the statistics of the whole global "
               "batch (exchanged across the ranks in forward and backward) instead of each "
               "rank's shard; no effect with one process (docs/distributed.md)");
  cli.add_flag("--kernel-report", o.kernel_report,
               "at the end, print which kernels ran: per shape, the implementations auto timed "
               "and the one it picked (engine/dispatch.h). WEFT_KERNELS=hand|vendor|auto (per "
               "family: conv=vendor,...) chooses them: on a GPU vendor is cuDNN/cuBLAS, on the "
               "CPU oneDNN where the build has it");
}

void add_loader_options(CLI::App& cli, CommonOptions& o) {
  cli.add_option("--loader-workers", o.loader_workers,
                 "threads that augment and normalise training batches on the host beside the "
                 "step; 0 (auto): 1 on the CPU, on a GPU the cores less one (at most 8, shared "
                 "by the ranks of a data-parallel run). Any count gives the same batches")
      ->capture_default_str()
      ->check(app::in_range(0, 256));
}

int loader_workers(const CommonOptions& options, const Device& device) {
  if (options.loader_workers > 0) return options.loader_workers;
  if (!device.is_cuda()) return 1;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const int ranks = std::max(dist::world().world_size(), 1);
  return std::clamp(std::min(cores - 1, 8) / ranks, 1, 8);
}

void print_loader_workers(int workers) {
  std::printf("  loader: %d thread%s building training batches (--loader-workers)\n", workers,
              workers == 1 ? "" : "s");
}

namespace {

// The flags a resumed run takes from its checkpoint's settings: every option of `cli` whose name
// (dashes as underscores) is a key of the stored config and that the command line did not give.
// Prints what it set, naming `source`. Run folders, weights and one-off actions are never taken.
void restore_flags(CLI::App& cli, const nlohmann::json& config, const std::string& source) {
  static const std::set<std::string> never = {"out",  "resume",        "weights",  "eval_only",
                                              "help", "kernel_report", "overwrite", "predict",
                                              "profile_steps"};
  if (!config.is_object()) return;
  std::string restored;
  for (CLI::Option* option : cli.get_options()) {
    std::string key = option->get_single_name();
    if (key.empty() || option->count() > 0) continue;
    std::replace(key.begin(), key.end(), '-', '_');
    if (never.count(key) > 0 || !config.contains(key)) continue;
    const nlohmann::json& value = config[key];
    std::vector<std::string> texts;
    if (value.is_string()) {
      texts.push_back(value.get<std::string>());
    } else if (value.is_number() || value.is_boolean()) {
      texts.push_back(value.dump());
    } else if (value.is_array()) {
      for (const nlohmann::json& item : value) {
        texts.push_back(item.is_string() ? item.get<std::string>() : item.dump());
      }
    } else {
      continue;  // objects (an optimizer's settings) are not flags
    }
    if (texts.empty() && value.is_array()) continue;
    const std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
    try {
      for (const std::string& text : texts) option->add_result(text);
      option->run_callback();
    } catch (const std::exception& e) {  // CLI11's conversion and validation errors
      throw Error(source + ": its setting --" + option->get_single_name() + " " + shown +
                  " is not accepted (" + e.what() + ")");
    }
    restored += (restored.empty() ? "--" : ", --") + option->get_single_name() + " " + shown;
  }
  if (!restored.empty()) std::printf("settings %s: %s\n", source.c_str(), restored.c_str());
}

}  // namespace

namespace {

// The checks of finish_common_options and, with --resume, the checkpoint's settings restored
// into the flags the command line did not give.
void check_and_restore(CLI::App& cli, CommonOptions& o) {
  graph::Mode graphs = graph::Mode::automatic;
  WEFT_CHECK(graph::parse_mode(o.cuda_graphs, &graphs), "--cuda-graphs must be on, off or auto, got '",
             o.cuda_graphs, "'");
  if (o.profile_steps > 0) {
    WEFT_CHECK(graphs != graph::Mode::on, "--profile-steps times eager steps: it cannot be "
               "combined with --cuda-graphs on (a replayed graph runs no op it could time)");
    graphs = graph::Mode::off;
  }
  graph::set_mode(graphs);
  WEFT_CHECK(!(o.eval_only && !o.predict.empty()), "--eval-only and --predict cannot be combined");
  WEFT_CHECK(!o.eval_only || !o.weights.empty(),
             "--eval-only needs --weights FILE (the model to evaluate)");
  WEFT_CHECK(o.predict.empty() || !o.weights.empty(),
             "--predict needs --weights FILE (the model that classifies)");
  WEFT_CHECK(o.resume.empty() || (!o.eval_only && o.predict.empty()),
             "--resume continues training; it cannot be combined with --eval-only or --predict");
  WEFT_CHECK(o.resume.empty() || o.weights.empty(),
             "--resume restores the weights from its checkpoint; drop --weights");
  const auto given = [&](const char* name) {
    const CLI::Option* option = cli.get_option_no_throw(name);
    return option != nullptr && option->count() > 0;
  };
  if (!o.weights.empty() &&
      (o.eval_only || !o.predict.empty() || given("--export-onnx") || given("--gradcam"))) {
    // --predict, --eval-only, --export-onnx and --gradcam build the model the weights were
    // trained as: the model settings saved with them (--size, --channels, --setup, ...) fill the
    // flags not given. "model" is the model's type name; an app's --model flag is saved as
    // "model_option".
    nlohmann::json settings = nlohmann::json::object();
    for (const auto& [key, value] : read_weights_metadata(o.weights)) {
      if (key == "model_option") {
        settings["model"] = value;
      } else if (key != "app" && key != "model" && key != "class_names") {
        settings[key] = value;
      }
    }
    restore_flags(cli, settings, "saved with " + o.weights);
  }
  if (o.resume.empty()) return;
  const std::string checkpoint = train::resolve_checkpoint(o.resume);
  if (cli.count("--out") == 0) {
    const fs::path folder = fs::path(checkpoint).parent_path();
    o.out = folder.empty() ? "." : folder.string();
  }
  // --resume DIR alone continues the run as it was started: every flag not given now is taken
  // from the checkpoint's settings, so only what the command line changes can differ (and the
  // trainer accepts only the safe changes, listing the others).
  const std::map<std::string, std::string> metadata = io::load_safetensors_metadata(checkpoint);
  const auto config = metadata.find("config");
  if (config == metadata.end()) return;
  nlohmann::json settings;
  try {
    settings = nlohmann::json::parse(config->second);
  } catch (const std::exception&) {
    throw Error("checkpoint " + checkpoint + ": its \"config\" entry is not JSON");
  }
  const auto seed = metadata.find("seed");
  if (seed != metadata.end() && !settings.contains("seed")) {
    settings["seed"] = nlohmann::json::parse(seed->second, nullptr, false);
  }
  restore_flags(cli, settings, "resumed from " + checkpoint);
}

}  // namespace

void finish_common_options(CLI::App& cli, CommonOptions& o) {
  check_and_restore(cli, o);
  // After the checkpoint's settings: a resumed run keeps its precision (the trainer's config
  // records it where it is not fp32) and its batch-norm mode unless told.
  if (!o.precision.empty()) {
    const std::optional<MathPrecision> precision = parse_precision(o.precision);
    WEFT_CHECK(precision.has_value(), "--precision must be fp32, tf32 or bf16, got '",
               o.precision, "'");
    set_math_precision(*precision);
  }
  dist::set_sync_batchnorm(o.sync_batchnorm);
}

std::string error_line(const std::string& app, const std::string& raw_message) {
  // In a multi-rank run every rank may print the error: say which one did.
  const std::string who = dist::world().who();
  const std::string message = !dist::distributed() || raw_message.rfind(who, 0) == 0
                                  ? raw_message
                                  : who + ": " + raw_message;
  // Fold a multi-line message ("... (2 problems):\n  missing: a\n  unexpected: b") into one.
  std::string folded;
  bool pending_break = false;
  for (char c : message) {
    if (c == '\n' || c == '\r') {
      pending_break = true;
      continue;
    }
    if (pending_break) {
      if (c == ' ' || c == '\t') continue;
      if (!folded.empty() && folded.back() != ':') folded += ";";
      folded += " ";
      pending_break = false;
    }
    folded += c;
  }
  return "weft-" + app + ": error: " + folded;
}

void add_skip_bad_images_option(CLI::App& cli, bool& skip) {
  cli.add_flag("--skip-bad-images", skip,
               "leave out unreadable images (each listed, and counted in report.json) instead of "
               "stopping with their names");
}

std::optional<int64_t> available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

std::string memory_problem(const std::string& what, int64_t bytes,
                           std::optional<int64_t> available, const std::string& remedy) {
  if (!available || static_cast<double>(bytes) <= 0.9 * static_cast<double>(*available)) {
    return "";
  }
  char text[160];
  std::snprintf(text, sizeof text, " would hold %.1f GB and this machine has %.1f GB available",
                static_cast<double>(bytes) / 1e9, static_cast<double>(*available) / 1e9);
  return what + text + "; " + remedy;
}

data::DecodeProgress decode_progress(const std::string& app) {
  data::DecodeProgress progress;
  const auto start = std::chrono::steady_clock::now();
  progress.report = [app, start](int64_t done, int64_t total) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("weft-%s: decoding image files: %lld of %lld (%.0f%%), %.0f s\n", app.c_str(),
                static_cast<long long>(done), static_cast<long long>(total),
                total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0,
                seconds);
    std::fflush(stdout);
  };
  return progress;
}

size_t print_image_load(const std::string& app, const std::vector<data::SkippedImage>& skipped,
                        const data::DecodeStats& stats) {
  for (const data::SkippedImage& image : skipped) {
    std::printf("weft-%s: skipped %s: %s\n", app.c_str(), image.path.c_str(),
                image.reason.c_str());
  }
  if (stats.files == 0) return skipped.size();  // a stand-in: nothing was decoded
  std::printf("weft-%s: decoded %lld of %lld image files in %.1f s on %d thread%s\n", app.c_str(),
              static_cast<long long>(stats.files - static_cast<int64_t>(skipped.size())),
              static_cast<long long>(stats.files), stats.seconds, stats.threads,
              stats.threads == 1 ? "" : "s");
  return skipped.size();
}

std::string one_folder_hint(const std::string& root, const std::vector<std::string>& class_names) {
  if (class_names.size() != 1) return "";
  const std::filesystem::path inner = std::filesystem::path(root) / class_names[0];
  std::error_code error;
  if (std::filesystem::is_regular_file(inner / "styles.csv", error)) {
    return "; " + inner.string() + " holds styles.csv (Fashion Product Images' layout): give " +
           "--data " + inner.string();
  }
  std::vector<std::string> folders;
  for (std::filesystem::directory_iterator it(inner, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(error) && !name.empty() && name[0] != '.') folders.push_back(name);
  }
  if (folders.size() < 2) return "";
  std::sort(folders.begin(), folders.end());
  std::string named;
  for (size_t i = 0; i < folders.size() && i < 5; ++i) named += (i ? ", " : "") + folders[i];
  if (folders.size() > 5) named += ", ...";
  return "; " + inner.string() + " holds " + std::to_string(folders.size()) + " folders (" +
         named + "): give --data " + inner.string() + " if those are the classes";
}

void refuse_flags(const std::vector<ModeFlag>& flags, const std::string& where) {
  std::vector<std::string> given;
  for (const ModeFlag& flag : flags) {
    if (flag.given) given.push_back(flag.name);
  }
  if (given.empty()) return;
  std::string names = given[0];
  for (size_t i = 1; i < given.size(); ++i) {
    names += (i + 1 == given.size() ? " and " : ", ") + given[i];
  }
  throw Error(names + (given.size() == 1 ? " applies " : " apply ") + where);
}

void print_limit_choice(const std::string& app, int64_t limit,
                        const std::vector<std::vector<int64_t>>& parts, int64_t listed) {
  int64_t chosen = 0;
  for (const std::vector<int64_t>& part : parts) chosen += static_cast<int64_t>(part.size());
  if (limit <= 0 || chosen == listed) return;
  std::printf("weft-%s: --limit %lld: decoding %lld of %lld image files\n", app.c_str(),
              static_cast<long long>(limit), static_cast<long long>(chosen),
              static_cast<long long>(listed));
}

// The numeric validators (validators.h) have let the value through as a number by the time
// CLI11 converts it, so a failed conversion is an integer flag's value that is fractional, or
// whole but beyond what the flag's type holds.
std::string conversion_error_text(const std::string& what) {
  const std::string prefix = "Could not convert: ";
  const size_t equals = what.find(" = ");
  if (what.rfind(prefix, 0) != 0 || equals == std::string::npos) return what;
  const std::string flag = what.substr(prefix.size(), equals - prefix.size());
  const std::string value = what.substr(equals + 3);
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  const bool whole = end != value.c_str() && *end == '\0' && std::isfinite(number) &&
                     number == std::floor(number);
  return flag + (whole ? ": " + value + " is beyond the whole numbers this flag holds"
                       : ": must be a whole number, got " + value);
}

std::string parse_error_text(const std::string& what) {
  const std::string marker = ": At Most 1 required but received ";
  const size_t at = what.find(marker);
  if (at == std::string::npos || at == 0) return what;
  return what.substr(0, at) + " is given " + what.substr(at + marker.size()) +
         " times; give it once";
}

namespace {

// The run folders this process prepared, and those it wrote a finished report.json to: at an
// interruption or a failure, each prepared folder without a finished report gets one that says
// so (write_status_reports).
std::mutex runs_mutex;
std::vector<std::string> prepared_runs;
std::set<std::string> finished_runs;
fs::file_time_type run_started;  // when run_main began its body

// Whether this process changed the run in `run_dir`: there is no report yet, or it saved a
// checkpoint there. A refused --resume, say, leaves a finished run's report alone.
bool touched_by_this_run(const fs::path& run_dir) {
  std::error_code error;
  if (!fs::exists(run_dir / "report.json", error)) return true;
  const fs::file_time_type saved = fs::last_write_time(run_dir / "last.safetensors", error);
  return !error && saved >= run_started;
}

// The epochs completed according to a run folder's last.safetensors (0 when there is none).
int epochs_completed(const fs::path& run_dir) {
  const fs::path last = run_dir / "last.safetensors";
  std::error_code error;
  if (!fs::exists(last, error)) return 0;
  try {
    const std::map<std::string, std::string> metadata = io::load_safetensors_metadata(last);
    const auto epoch = metadata.find("epoch");
    return epoch == metadata.end() ? 0 : std::stoi(epoch->second);
  } catch (const std::exception&) {
    return 0;
  }
}

// report.json with status "interrupted" or "failed" in every prepared run folder that has no
// finished report from this process. Never throws: the run's own error is what matters.
void write_status_reports(const std::string& app, const std::string& status,
                          const std::string& error_text) {
  std::lock_guard<std::mutex> lock(runs_mutex);
  for (const std::string& run_dir : prepared_runs) {
    if (finished_runs.count(run_dir) > 0 || !touched_by_this_run(run_dir)) continue;
    try {
      nlohmann::ordered_json report;
      report["app"] = app;
      report["status"] = status;
      report["epochs_completed"] = epochs_completed(run_dir);
      if (!error_text.empty()) report["error"] = error_text;
      io::write_file_atomic((fs::path(run_dir) / "report.json").string(), report.dump(2) + "\n");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft-%s: could not write the %s report in %s: %s\n", app.c_str(),
                   status.c_str(), run_dir.c_str(), e.what());
    }
  }
}

}  // namespace

namespace {

int run_app(const std::string& app, CLI::App& cli, int argc, char** argv, CommonOptions& common,
            const std::function<int()>& body) {
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ConversionError& e) {
    std::fprintf(stderr, "%s (see --help)\n",
                 error_line(app, conversion_error_text(e.what())).c_str());
    return 1;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s (see --help)\n",
                 error_line(app, parse_error_text(e.what())).c_str());
    return 1;
  }
  {
    std::lock_guard<std::mutex> lock(runs_mutex);
    prepared_runs.clear();
    finished_runs.clear();
    run_started = fs::file_time_type::clock::now();
  }
  // Every failure: one line on stderr, a "failed" report, exit status 1.
  const auto fail = [&](const std::string& message) {
    std::fflush(stdout);
    const std::string line = error_line(app, message);
    std::fprintf(stderr, "%s\n", line.c_str());
    write_status_reports(app, "failed", line);
    return 1;
  };
  // Read at the failure: --resume may have restored the batch size.
  const auto batch_hint = [&] {
    return "at --batch-size " + std::to_string(common.batch_size) + "; try --batch-size " +
           std::to_string(std::max(1, common.batch_size / 2));
  };
  try {
    finish_common_options(cli, common);
    const int status = body();
    if (common.kernel_report) std::printf("%s", kernel_report().c_str());
    if (status == 128 + SIGINT || status == 128 + SIGTERM) {
      write_status_reports(app, "interrupted", "");
    } else if (status != 0) {
      write_status_reports(app, "failed", "exit status " + std::to_string(status));
    }
    return status;
  } catch (const OutOfMemory& e) {
    return fail(std::string(e.what()) + " (" + batch_hint() + ")");
  } catch (const std::bad_alloc&) {
    return fail("out of memory " + batch_hint());
  } catch (const data::BadImage& e) {
    return fail(std::string(e.what()) +
                " (--skip-bad-images leaves unreadable images out and lists them)");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

}  // namespace

int run_main(const std::string& app, CLI::App& cli, int argc, char** argv, CommonOptions& common,
             const std::function<int()>& body) {
  // Under mpirun each process is one rank of a data-parallel run (docs/distributed.md).
  try {
    dist::init(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", error_line(app, e.what()).c_str());
    return 1;
  }
  const int status = run_app(app, cli, argc, argv, common, body);
  // A failed rank ends every rank (MPI_Abort); a finished or interrupted one waits for the rest.
  dist::shutdown(status != 0 && status != 128 + SIGINT && status != 128 + SIGTERM);
  return status;
}

// ---- run folder and report.json ------------------------------------------------------------------

namespace {

// Files that make a folder a run folder: any one of them means a run has started there.
constexpr const char* kRunMarkers[] = {"report.json", "last.safetensors", "model.safetensors",
                                       "metrics.jsonl", "metrics.csv"};

bool holds_run(const fs::path& folder) {
  std::error_code error;
  for (const char* marker : kRunMarkers) {
    if (fs::exists(folder / marker, error)) return true;
  }
  return false;
}

// What the apps write in a run folder (and in the run folders nested in it: seed-N/,
// balance-on/, pretrain/): removed by --overwrite. Nothing else is touched.
void remove_run(const fs::path& folder) {
  static const std::set<std::string> extensions = {".safetensors", ".json", ".jsonl", ".csv",
                                                   ".txt",         ".md",   ".png"};
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const fs::path& path = entry.path();
    if (entry.is_directory(error)) {
      if (path.filename() == "figures") {
        fs::remove_all(path, error);
      } else if (holds_run(path)) {
        remove_run(path);
      }
    } else if (extensions.count(path.extension().string()) > 0 ||
               path.filename().string().find(".tmp.") != std::string::npos) {
      fs::remove(path, error);
    }
    WEFT_CHECK(!error, "--overwrite: cannot remove ", path.string(), ": ", error.message());
  }
}

// Temporary files of atomic writes ("<name>.tmp.<pid>") whose writer is gone: what a kill
// during a write leaves behind.
void remove_stale_temporaries(const fs::path& folder) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    const size_t tmp = name.rfind(".tmp.");
    if (tmp == std::string::npos || !entry.is_regular_file(error)) continue;
    const std::string pid_text = name.substr(tmp + 5);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid == static_cast<long>(getpid()) || ::kill(static_cast<pid_t>(pid), 0) == 0) continue;
    fs::remove(entry.path(), error);
    std::printf("removed %s, left by an interrupted write\n", entry.path().c_str());
  }
}

}  // namespace

void prepare_run_folder(const CommonOptions& common) {
  // Rank 0 alone prepares and writes the folder; another rank checking it could see rank 0's
  // first checkpoint and take the folder for an older run.
  if (!dist::is_main()) return;
  const std::string& run_dir = common.out;
  WEFT_CHECK(!run_dir.empty(), "the run folder (--out) is empty");
  std::error_code error;
  WEFT_CHECK(!fs::exists(run_dir, error) || fs::is_directory(run_dir, error), "--out ", run_dir,
             ": exists and is not a folder");
  if (common.resume.empty() && holds_run(run_dir)) {
    WEFT_CHECK(common.overwrite, "--out ", run_dir,
               " already holds a run; continue it with --resume ", run_dir,
               ", replace it with --overwrite, or choose another --out");
    remove_run(run_dir);
  }
  if (fs::is_directory(run_dir, error)) remove_stale_temporaries(run_dir);
  fs::create_directories(fs::path(run_dir) / "figures", error);
  WEFT_CHECK(!error, "cannot create the run folder ", run_dir, ": ", error.message());
  std::lock_guard<std::mutex> lock(runs_mutex);
  if (std::find(prepared_runs.begin(), prepared_runs.end(), run_dir) == prepared_runs.end()) {
    prepared_runs.push_back(run_dir);
  }
}

nlohmann::ordered_json report_header(const std::string& app, const std::string& headline_metric,
                                     double headline_value, int epochs, const Device& device,
                                     double seconds, const nlohmann::json& config) {
  nlohmann::ordered_json report;
  report["app"] = app;
  report["status"] = "finished";
  report["headline_metric"] = headline_metric;
  report[headline_metric] = headline_value;
  report["epochs"] = epochs;
  report["device"] = device.str();
  report["cuda_graphs"] = graph::mode_name(graph::mode());
  report["precision"] = precision_name(math_precision());
  // How many op shapes auto gave to each implementation (the picks themselves are in each
  // checkpoint's kernel_picks): {"cpu": 27, "cpu-vendor": 50}; {} where nothing was chosen.
  std::map<std::string, int64_t> picked;
  for (const auto& [key, name] : kernel_picks()) ++picked[name];
  report["auto_picks"] = picked;
  report["seconds"] = seconds;
  nlohmann::json described = config;
  dist::describe_ranks(described);  // world_size and global_batch_size of a multi-rank run
  report["config"] = described;
  return report;
}

std::string write_report(const std::string& run_dir, const nlohmann::ordered_json& report) {
  for (const char* key : {"app", "headline_metric", "epochs", "device", "seconds", "config"}) {
    WEFT_CHECK(report.contains(key), "report.json for ", run_dir, " lacks the '", key,
               "' field (start it with app::report_header)");
  }
  const std::string headline = report["headline_metric"].get<std::string>();
  WEFT_CHECK(report.contains(headline), "report.json for ", run_dir, ": the headline metric '",
             headline, "' has no value");
  std::error_code error;
  fs::create_directories(run_dir, error);
  const std::string path = (fs::path(run_dir) / "report.json").string();
  // NaN is not JSON; nlohmann writes it as null, which a reader then sees as "no value".
  io::write_file_atomic(path, report.dump(2) + "\n");
  std::lock_guard<std::mutex> lock(runs_mutex);
  finished_runs.insert(run_dir);
  return path;
}

MeanSpread mean_and_spread(const std::vector<double>& values) {
  MeanSpread s;
  s.count = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(s.count);
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.stddev = s.count > 1 ? std::sqrt(squares / static_cast<double>(s.count - 1)) : 0.0;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  return s;
}

// ---- weights -------------------------------------------------------------------------------------

namespace {

// The model's tensors in a file: a training checkpoint's model.* entries, or the whole file.
std::map<std::string, Tensor> model_tensors(const io::SafetensorsContents& contents) {
  const auto format = contents.metadata.find("format");
  if (format == contents.metadata.end() || format->second != train::Trainer::kCheckpointFormat) {
    return contents.tensors;
  }
  std::map<std::string, Tensor> state;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = tensor;
  }
  return state;
}

bool under_any(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.rfind(p, 0) == 0; });
}

// Up to three entries of a list, then how many more: "a, b, c and 46 more".
std::string first_few(const std::vector<std::string>& entries) {
  constexpr size_t kShown = 3;
  std::string text;
  for (size_t i = 0; i < std::min(entries.size(), kShown); ++i) text += (i ? ", " : "") + entries[i];
  if (entries.size() > kShown) text += " and " + std::to_string(entries.size() - kShown) + " more";
  return text;
}

// Compare the file's tensors with the model's (both without the skipped names) and throw one
// error that names the file and sums up what is missing, unexpected or of another shape:
//   f.safetensors does not fit this ResNet: 49 missing (conv1.weight [64, 3, 7, 7], ...);
//   8 unexpected (features.0.weight [32, 1, 3, 3], ...); 1 of another shape (...)
void check_fit(const nn::Module& model, const std::map<std::string, Tensor>& state,
               const std::string& path, const std::vector<std::string>& skipped) {
  std::vector<std::string> missing, unexpected, reshaped;
  std::map<std::string, bool> seen;
  for (const auto& [name, tensor] : model.state_dict()) {
    if (under_any(name, skipped)) continue;
    const auto found = state.find(name);
    if (found == state.end()) {
      missing.push_back(name + " " + shape_str(tensor.shape()));
      continue;
    }
    seen[name] = true;
    if (found->second.shape() != tensor.shape() || found->second.dtype() != tensor.dtype()) {
      reshaped.push_back(name + " is " + shape_str(found->second.shape()) + " " +
                         dtype_name(found->second.dtype()) + ", the model's " +
                         shape_str(tensor.shape()) + " " + dtype_name(tensor.dtype()));
    }
  }
  for (const auto& [name, tensor] : state) {
    if (!seen.count(name) && !under_any(name, skipped)) {
      unexpected.push_back(name + " " + shape_str(tensor.shape()));
    }
  }
  std::string problems;
  auto add = [&](const std::vector<std::string>& entries, const char* what) {
    if (entries.empty()) return;
    problems += (problems.empty() ? "" : "; ") + std::to_string(entries.size()) + " " + what +
                " (" + first_few(entries) + ")";
  };
  add(missing, "missing");
  add(unexpected, "unexpected");
  add(reshaped, "of another shape");
  WEFT_CHECK(problems.empty(), path, " does not fit this ", model.type_name(), ": ", problems);
}

}  // namespace

WeightsMetadata load_weights(nn::Module& model, const std::string& path) {
  WEFT_CHECK(!fs::is_directory(path), "--weights ", path,
             ": is a folder; expected a .safetensors file");
  WEFT_CHECK(fs::is_regular_file(path), "--weights ", path, ": no such file");
  const io::SafetensorsContents contents = io::load_safetensors(path);
  const std::map<std::string, Tensor> state = model_tensors(contents);
  check_fit(model, state, path, {});
  model.load_state_dict(state, true);
  return contents.metadata;
}

int64_t load_backbone(nn::Module& model, const std::string& path,
                      const std::vector<std::string>& head_prefixes) {
  WEFT_CHECK(!fs::is_directory(path), "--backbone ", path,
             ": is a folder; expected a .safetensors file");
  WEFT_CHECK(fs::is_regular_file(path), "--backbone ", path, ": no such file");
  const io::SafetensorsContents contents = io::load_safetensors(path);
  std::map<std::string, Tensor> state;
  for (const auto& [name, tensor] : model_tensors(contents)) {
    if (!under_any(name, head_prefixes)) state[name] = tensor;
  }
  check_fit(model, state, path, head_prefixes);
  model.load_state_dict(state, false);
  return static_cast<int64_t>(state.size());
}

void save_model(const std::string& path, const nn::Module& model, const std::string& app,
                const std::vector<std::string>& class_names,
                const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> metadata = extra;
  metadata["app"] = app;
  metadata["model"] = model.type_name();
  metadata["class_names"] = nlohmann::json(class_names).dump();
  io::save_safetensors(path, model.state_dict(), metadata);
}

WeightsMetadata read_weights_metadata(const std::string& path) {
  WEFT_CHECK(!fs::is_directory(path), "--weights ", path,
             ": is a folder; expected a .safetensors file");
  WEFT_CHECK(fs::is_regular_file(path), "--weights ", path, ": no such file");
  return io::load_safetensors_metadata(path);
}

std::vector<std::string> class_names_from(const WeightsMetadata& metadata,
                                          const std::vector<std::string>& fallback,
                                          const std::string& file) {
  return metadata_value<std::vector<std::string>>(metadata, "class_names", file,
                                                  "a JSON list of strings")
      .value_or(fallback);
}

// ---- --predict ------------------------------------------------------------------------------------

void predict_files(nn::Module& model, const std::vector<std::string>& files,
                   const PredictOptions& options, std::FILE* out) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  for (const std::string& file : files) {
    std::vector<uint8_t> pixels;
    int height = 0, width = 0;
    data::decode_image_file(file, options.image, pixels, height, width);
    const int channels = options.image.channels;
    std::vector<float> input(pixels.begin(), pixels.end());
    data::normalize_in_place(options.normalize, input.data(), channels,
                             int64_t{height} * width);
    const Tensor images = Tensor::from_vector(input, {1, channels, height, width});
    const Tensor logits = model(images.to(options.device));
    const int64_t classes = logits.dim(1);
    WEFT_CHECK(static_cast<size_t>(classes) == options.class_names.size(), "the model has ",
               classes, " outputs but ", options.class_names.size(), " class names are known");
    const Tensor probabilities =
        options.kind == OutputKind::softmax ? softmax(logits) : sigmoid(logits);
    const std::vector<float> p = probabilities.to_vector<float>();
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)];
    });
    auto entry = [&](int64_t c) {
      char text[32];
      std::snprintf(text, sizeof(text), " %.3f", static_cast<double>(p[static_cast<size_t>(c)]));
      return options.class_names[static_cast<size_t>(c)] + text;
    };
    std::string top;
    for (int k = 0; k < std::min<int64_t>(options.top_k, classes); ++k) {
      top += (k ? ", " : "") + entry(order[static_cast<size_t>(k)]);
    }
    if (options.kind == OutputKind::softmax) {
      std::fprintf(out, "%s: %s\n", file.c_str(), top.c_str());
      continue;
    }
    std::string predicted;
    for (int64_t c : order) {
      const float threshold =
          options.thresholds.empty() ? 0.5f : options.thresholds.at(static_cast<size_t>(c));
      if (p[static_cast<size_t>(c)] >= threshold) {
        predicted += (predicted.empty() ? "" : ", ") + entry(c);
      }
    }
    std::fprintf(out, "%s: %s | top: %s\n", file.c_str(),
                 predicted.empty() ? "(no label)" : predicted.c_str(), top.c_str());
  }
  model.train(was_training);
}

}  // namespace weft::app
