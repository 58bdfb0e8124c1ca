// What every app in apps/ shares: the common flags, the run folder, report.json, the one-line
// error and its exit code, loading --weights into a model, and --predict.
//
// An app's main() builds its CLI11 parser, adds the common flags in one call, adds its own, and
// hands the rest to run_main:
//
//   int main(int argc, char** argv) {
//     app::CommonOptions common{.out = "runs/shoes", .epochs = 30};
//     CLI::App cli{"Classify shoe types ..."};
//     app::add_common_options(cli, common, "an ImageFolder of shoes (default: the stand-in)");
//     cli.add_option("--min-count", min_count, "...");
//     return app::run_main("shoes", cli, argc, argv, common, [&] { return run(common, ...); });
//   }
//
// run_main parses, prints --help, and turns every failure - a bad flag, a missing folder, a
// corrupt image, a checkpoint that does not fit - into one line on stderr,
//   weft-shoes: error: /data/zappos: no such directory
// and exit status 1. An interrupted run returns 130 (SIGINT) or 143 (SIGTERM) from its body.
//
// report.json always says how the run ended: "status": "finished" in the app's own report
// (report_header), and when the body is interrupted or fails, run_main writes into every run
// folder the body prepared, did not finish and changed (no report yet, or a checkpoint saved by
// this process: a refused --resume leaves the finished report alone) {"app", "status":
// "interrupted" | "failed", "epochs_completed" (from last.safetensors), "error"}.
//
// A run folder holds report.json (written atomically, see write_report), model.safetensors,
// the trainer's last/best checkpoints and metrics files, the text and JSON reports and figures/.
//
// Neighbours: apps/common/classifier_run.h (the whole train-evaluate-report run of a classifier
// on top of these pieces), apps/common/reports.h (classification reports and figures),
// apps/common/standins.h (the Fashion-MNIST stand-in datasets).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/validators.h"
#include "engine/data/augment.h"
#include "engine/data/image_io.h"
#include "engine/device.h"
#include "engine/nn/module.h"

namespace weft::app {

// ---- the common flags --------------------------------------------------------------------------

// Values set before add_common_options are the app's defaults (shown by --help). Every field has
// an initialiser, so an app may set its defaults with designated initialisers:
//   app::CommonOptions common{.out = "runs/shoes", .epochs = 30};
struct CommonOptions {
  std::string data{};                // --data: dataset folder or file ("" : the app's default)
  std::string out{};                 // --out: the run folder
  std::string device = "auto";       // --device: auto, cpu, cuda, cuda:N
  int epochs = 10;                   // --epochs
  int batch_size = 64;               // --batch-size
  double lr = 1e-3;                  // --lr (double, so report.json shows 0.001, not float noise)
  uint64_t seed = 1;                 // --seed: initialisation, splits, shuffling, augmentation
  std::string resume{};              // --resume: a run folder or a checkpoint file
  std::string weights{};             // --weights: model weights to start from (strict)
  bool eval_only = false;            // --eval-only: evaluate --weights on the test split
  std::vector<std::string> predict{}; // --predict: image files to classify with --weights
  int top_k = 3;                     // --top-k: classes printed per --predict file
  int64_t limit = 0;                 // --limit: at most this many images per split (0: all)
  bool kernel_report = false;        // --kernel-report: print the kernels' autotune table at the end
  bool skip_nonfinite_steps = false;  // --skip-nonfinite-steps: skip a step whose loss is NaN/inf
  int profile_steps = 0;              // --profile-steps N: profile N steps op by op (profile.md)
  bool overwrite = false;            // --overwrite: replace the run already in --out
  std::string cuda_graphs = "auto";  // --cuda-graphs: on, off, auto (engine/graph.h)
  bool sync_batchnorm = false;       // --sync-batchnorm: batch-norm statistics over all ranks
  std::string precision{};           // --precision: fp32, tf32, bf16 ("": WEFT_PRECISION or fp32)
  int loader_workers = 0;            // --loader-workers: training-batch threads (0: auto)
};

// Register --data, --out, --device, --epochs, --batch-size, --lr, --seed, --resume,
// --weights, --eval-only, --predict, --top-k, --limit, --kernel-report, --overwrite,
// --skip-nonfinite-steps, --cuda-graphs, --precision and --sync-batchnorm on `cli`, bound to
// `options`.
void add_common_options(CLI::App& cli, CommonOptions& options, const std::string& data_help);

// --loader-workers, for the apps whose training batches come from data::Loader (the image
// classifiers and the apparel tagger).
void add_loader_options(CLI::App& cli, CommonOptions& options);

// The loader threads that build training batches (augmentation and normalisation) for a run on
// `device`: --loader-workers when given, else 1 on the CPU (the step needs its cores) and on a
// GPU the machine's cores less one, at most 8, divided among the data-parallel ranks (at least
// 1): one thread augments about 7,000 of the apparel tagger's 96 x 96 images a second
// (bench/bench_loader.cpp), where an H200 trains on 12,000-20,000. The batches are the same for
// any count (engine/data/loader.h).
int loader_workers(const CommonOptions& options, const Device& device);
// The start-up line that says how many: "  loader: 7 threads building training batches".
void print_loader_workers(int workers);

// After parsing: --resume without --out makes the checkpoint's folder the run folder;
// --cuda-graphs, --precision and --sync-batchnorm take effect (engine/graph.h,
// kernels/selection.h, engine/distributed/); the combinations that make no sense (--eval-only or
// --predict without --weights, --resume with --eval-only) are errors that say so.
void finish_common_options(CLI::App& cli, CommonOptions& options);

// Parse, then run `body` and return its exit status. --help prints the help and returns 0;
// every error prints "weft-<app>: error: <message>" on one line and returns 1.
int run_main(const std::string& app, CLI::App& cli, int argc, char** argv, CommonOptions& common,
             const std::function<int()>& body);

// "weft-<app>: error: <message>", the message folded onto one line (line breaks become "; ").
std::string error_line(const std::string& app, const std::string& message);

// --skip-bad-images, for the apps that read image folders: bound to `skip`.
void add_skip_bad_images_option(CLI::App& cli, bool& skip);
// BadImages::skip with --skip-bad-images, else BadImages::fail (the load stops, naming the files).
inline data::BadImages bad_images_policy(bool skip) {
  return skip ? data::BadImages::skip : data::BadImages::fail;
}

// Progress lines for a long image load (headless runs' logs): "weft-<app>: decoding image files:
// 12000 of 44441 (27%), 10 s" every 10 s of decoding; loads shorter than that print nothing.
data::DecodeProgress decode_progress(const std::string& app);
// After an image load: one line per skipped image on stdout ("weft-<app>: skipped <path>:
// <reason>"), then how long decoding took ("weft-<app>: decoded 140 of 142 image files in 0.4 s
// on 2 threads", unless no file was read); returns the skipped count, for report.json's notes.
size_t print_image_load(const std::string& app, const std::vector<data::SkippedImage>& skipped,
                        const data::DecodeStats& stats);

// For an image folder with a single class folder (`class_names`, listed before any image is
// decoded): "" when there are two or more, else a hint for the message that refuses it, where
// that one folder looks like the real root: "; /data/fpi/myntradataset holds styles.csv
// (Fashion Product Images' layout): give --data /data/fpi/myntradataset" or "; ... holds 4
// folders (Boots, Sandals, Shoes, Slippers): give --data ... if those are the classes".
std::string one_folder_hint(const std::string& root, const std::vector<std::string>& class_names);

// A flag that chooses something in one of an app's data modes (a folder's layout, the stand-in's
// size); `given` when its value differs from the default, so a resumed run whose restored
// settings hold the defaults still starts.
struct ModeFlag {
  std::string name;
  bool given = false;
};
// Throws Error("--a and --b apply <where>") naming the flags of `flags` that were given: a flag
// that means nothing for this run's data is refused rather than ignored. No-op when none was.
void refuse_flags(const std::vector<ModeFlag>& flags, const std::string& where);

// Before decoding the files a --limit kept (index lists into a listing of `listed` files): one
// line, "weft-<app>: --limit 500: decoding 1500 of 44441 image files"; none without a
// limit or when it keeps every file.
void print_limit_choice(const std::string& app, int64_t limit,
                        const std::vector<std::vector<int64_t>>& parts, int64_t listed);

// The memory this machine has available now (Linux: MemAvailable in /proc/meminfo), or nullopt
// where it cannot be read.
std::optional<int64_t> available_memory_bytes();
// "" when `bytes` for `what` fit in `available` (less a tenth kept for the rest of the run), else
// a message naming both in GB and what to do instead (`remedy`); "" too when available is unknown.
std::string memory_problem(const std::string& what, int64_t bytes,
                           std::optional<int64_t> available, const std::string& remedy);

// CLI11's "Could not convert: --epochs = 1.5" as "--epochs: must be a whole number, got 1.5", and
// "Could not convert: --limit = 99999999999" as "--limit: 99999999999 is beyond the whole
// numbers this flag holds"; any other message as it is.
std::string conversion_error_text(const std::string& cli11_message);

// CLI11's "--limit: At Most 1 required but received 2" (an option given twice) as "--limit is
// given 2 times; give it once"; any other message as it is.
std::string parse_error_text(const std::string& cli11_message);

// ---- run folder and report.json ---------------------------------------------------------------

// Create the run folder (common.out) and its figures/ subfolder. A folder that already holds a
// run (report.json, a checkpoint or metrics) is refused unless --resume continues that run or
// --overwrite replaces it (its files, and nothing else, are removed first), so a folder never
// mixes two runs. Temporary files left by a killed atomic write are removed. weft::Error naming
// the path otherwise.
void prepare_run_folder(const CommonOptions& common);

// Wall-clock seconds since construction.
class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The fields every report.json starts with, in this order:
//   {"app", "status", "headline_metric": "<name>", "<name>": value, "epochs", "device",
//    "cuda_graphs", "precision", "auto_picks", "seconds", "config"}
// auto_picks counts the op shapes auto gave to each implementation in this process so far (a
// sweep's later runs count the earlier ones' too): {"cpu": 27, "cpu-vendor": 50}; the picks
// themselves are in each checkpoint (engine/dispatch.h, kernel_picks).
// Apps add their own fields after these.
nlohmann::ordered_json report_header(const std::string& app, const std::string& headline_metric,
                                     double headline_value, int epochs, const Device& device,
                                     double seconds, const nlohmann::json& config);

// Write <run_dir>/report.json atomically (a reader sees the old report or the new one, never
// half of one). The report must hold the header fields above; returns the path written.
std::string write_report(const std::string& run_dir, const nlohmann::ordered_json& report);

// Mean and spread of repeated runs (--repeat-seeds): the sample standard deviation (n - 1).
struct MeanSpread {
  int64_t count = 0;
  double mean = 0, stddev = 0, min = 0, max = 0;
};
MeanSpread mean_and_spread(const std::vector<double>& values);

// ---- weights -----------------------------------------------------------------------------------

// What a weights file says about itself: its safetensors metadata (model.safetensors written by
// save_model carries "app", "model" (the model's type name), "class_names" as a JSON list, and
// the settings an app saves to rebuild the model: "size", "channels", "model_option" (its --model
// flag), ...; --predict, --eval-only, --export-onnx and --gradcam with --weights restore them into
// the flags not given).
using WeightsMetadata = std::map<std::string, std::string>;

// Load `path` into `model`, strictly: every tensor of the model must be in the file with its
// shape, and nothing else may be. The file may be a plain state dict (model.safetensors, a
// converted torchvision file) or a weft training checkpoint (last/best.safetensors: its model.*
// entries are used). A file that does not fit is a weft::Error naming the file and listing the
// first mismatches. Returns the file's metadata.
WeightsMetadata load_weights(nn::Module& model, const std::string& path);

// Transfer learning: load every tensor of `path` except those whose names start with one of
// `head_prefixes` (the classifier head the caller is replacing). The rest must match exactly,
// as in load_weights. Returns how many tensors were loaded.
int64_t load_backbone(nn::Module& model, const std::string& path,
                      const std::vector<std::string>& head_prefixes);

// Save the model's state dict with metadata: "app", "model" (its type name), "class_names"
// (JSON list) and `extra`.
void save_model(const std::string& path, const nn::Module& model, const std::string& app,
                const std::vector<std::string>& class_names,
                const std::map<std::string, std::string>& extra = {});

// The metadata of a weights file alone (to learn its class names before building the model);
// weft::Error naming the file when it is missing or not safetensors.
WeightsMetadata read_weights_metadata(const std::string& path);

// The metadata entry `key` of the weights file `file` as JSON converted to T, or nullopt when the
// file has no such entry; an entry that is not JSON or not a T (`expected` says what one is, "a
// list of strings") is a weft::Error naming the file and the entry.
template <typename T>
std::optional<T> metadata_value(const WeightsMetadata& metadata, const std::string& key,
                                const std::string& file, const char* expected) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) return std::nullopt;
  try {
    return nlohmann::json::parse(found->second).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(file + ": the metadata entry \"" + key + "\" is not " + expected);
  }
}

// The class names stored by save_model in the weights file `file`, or `fallback` when it has none;
// malformed names are an error naming the file.
std::vector<std::string> class_names_from(const WeightsMetadata& metadata,
                                          const std::vector<std::string>& fallback,
                                          const std::string& file);

// ---- --predict ----------------------------------------------------------------------------------

enum class OutputKind {
  softmax,  // one class per image: print the top_k classes and their probabilities
  sigmoid,  // independent labels: print every label at or above its threshold, and the top_k
};

struct PredictOptions {
  data::ImageOptions image;  // the size and channels the model was trained on
  data::Normalize normalize;
  std::vector<std::string> class_names;
  int top_k = 3;
  OutputKind kind = OutputKind::softmax;
  std::vector<float> thresholds;  // sigmoid: per label (empty: 0.5 for all)
  Device device;
};

// Decode each file (weft::Error naming a file that cannot be read), run the model in eval mode
// and print one line per file:
//   sneaker.png: Sneaker 0.912, Sandal 0.071, Ankle boot 0.017
//   photo.jpg: black 0.981, dress 0.904 | top: black 0.981, dress 0.904, shirt 0.120
void predict_files(nn::Module& model, const std::vector<std::string>& files,
                   const PredictOptions& options, std::FILE* out = stdout);

}  // namespace weft::app
