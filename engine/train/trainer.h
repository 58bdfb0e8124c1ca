// Trainer: the training loop every app shares - epochs, callbacks, progress, metrics files,
// checkpoints, resume and clean stops on Ctrl-C - independent of where the data comes from.
//
// The app supplies what one epoch means, as two callables, and the trainer does the rest:
//
//   train::Trainer trainer(model, optimizer, {.epochs = 20, .run_dir = "runs/x", .seed = 1,
//                                             .config = config_json, .resume = resume_arg});
//   trainer.register_generator("shuffle", shuffle_rng);
//   trainer.add_callback(std::make_shared<train::EarlyStopping>(...));
//   train::TrainResult result = trainer.fit(
//       [&](int epoch) { ... one pass, polling train::stop_requested() between batches ...
//                        return train::Metrics{{"loss", l}, {"accuracy", a}}; },
//       [&](int epoch) { return train::Metrics{{"val_loss", vl}, {"val_accuracy", va}}; });
//   if (result.interrupted) return result.exit_code();   // 130 after Ctrl-C
//
// Each epoch e: callbacks' on_epoch_begin, train_epoch(e), validate(e), callbacks'
// on_epoch_end, one row to metrics.csv/metrics.jsonl and one log line, last.safetensors (and
// whatever ModelCheckpoint asked for). A fresh run also writes last.safetensors before epoch 1
// (epoch 0: the initial weights and generator states), so every run can be resumed.
//
// Checkpoint layout (safetensors, written atomically; see engine/io/safetensors.h):
//   tensors   model.<state_dict name>        the model's parameters and buffers
//             optimizer.<index>.<buffer>     the optimizer's buffers ("optimizer.0.exp_avg")
//             callback.<key>.<name>          callbacks' tensors (EarlyStopping's best weights)
//   metadata  format = weft.training_checkpoint.v1, model (its type name),
//             epoch (epochs completed), epochs (requested), seed, config (JSON; with
//             "precision" added where the math precision is not fp32),
//             stopped_early (true/false), stop_reason, metrics (JSON of the epoch's row),
//             optimizer, optimizer.step, optimizer.lr,
//             rng.default.seed, rng.default.offset, rng.<name>.seed, rng.<name>.offset,
//             callbacks (their keys, comma-separated), callback.<key>.<field> (best, wait, ...),
//             kernel_picks (JSON: auto's pick per op shape so far, engine/dispatch.h)
//
// Resume: fit() with options.resume set to a run folder (its last.safetensors) or a checkpoint
// file restores the model, the optimizer, the default generator and every registered one,
// each callback's state, the kernel picks and the metrics files, then continues with the next
// epoch - so on the CPU the result equals an uninterrupted run of the same seed bit for bit
// (tests/test_train_resume.cpp checks it). What makes that hold: an epoch's randomness comes only
// from generators whose state is in the checkpoint, each op runs on the implementation it ran
// on before (auto's picks, restored by restore_kernel_picks; a new process would otherwise time
// the candidates again and might pick another, which rounds differently), and
// train_epoch/validate depend on nothing else that changes between epochs.
//
// Data-parallel runs (mpirun -np N, engine/distributed/communicator.h): every rank runs fit()
// with the same options. Rank 0 alone writes files (engine/io/atomic_file.h); every rank reads
// the --resume checkpoint; after loading, rank 0's weights are broadcast; each epoch's train and
// validation metrics are averaged over the ranks, so logs, files and callbacks' decisions are
// the same on all of them. The config gets "world_size" and, when it has an integer
// "batch_size" (per rank), "global_batch_size", so --resume with another number of ranks is
// refused. skip_nonfinite_steps is refused (a step skipped on one rank would stall the rest).
// After each epoch rank 0's kernel picks go to every rank (engine/dispatch.h,
// restore_kernel_picks), so all ranks run the same implementations and the checkpoint's picks
// are every rank's.
//
// Interruption (SIGINT/SIGTERM, or request_stop()): train_epoch should return early after the
// step in progress when stop_requested() turns true. An interrupted epoch does not count: the
// trainer discards it, leaves last.safetensors at the end of the previous complete epoch (it
// is already on disk; nothing half-trained is saved), prints one line and returns with
// `interrupted` set. Resuming repeats the interrupted epoch from its start, exactly.
#pragma once

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/callbacks.h"
#include "engine/train/history.h"
#include "engine/train/interrupt.h"
#include "engine/train/progress.h"
#include "kernels/error.h"

namespace weft::train {

// One epoch of training or validation; returns that epoch's metrics (train: "loss",
// "accuracy", ...; validation: "val_loss", "val_accuracy", ...). Epochs count from 1.
using EpochFunction = std::function<Metrics(int epoch)>;

// What an epoch function may call between batches: before_step right before each optimizer
// step (per-step learning-rate schedules), after_step after it (the live progress bar),
// nonfinite_loss before that step when its loss is NaN or infinite (through skip_nonfinite_step).
struct StepHooks {
  std::function<void()> before_step;
  std::function<void(int64_t done, int64_t total)> after_step;
  // Returns true to skip the step (no optimizer update) when the trainer skips such steps.
  std::function<bool(int64_t step, double loss)> nonfinite_loss;
  // The trainer skips such steps: each step's loss must be read before its update (StepMeter).
  bool skip_nonfinite = false;
};

// A step's training loss was NaN or infinite and the run does not skip such steps. The trainer
// turns it into an error naming the epoch and the last good checkpoint. Losses summed on the
// device (StepMeter) are read every few steps, so the step is known only to lie in
// [first_step, step].
class NonFiniteLoss : public Error {
 public:
  NonFiniteLoss(int64_t step, double loss);
  NonFiniteLoss(int64_t first_step, int64_t step, double loss);
  int64_t first_step;
  int64_t step;
  double loss;
};

// For epoch functions, right after backward and before the optimizer step: false when `loss`
// is finite; otherwise true if the hooks skip the step, else throws NonFiniteLoss.
bool skip_nonfinite_step(const StepHooks& hooks, int64_t step, double loss);

struct TrainerOptions {
  int epochs = 1;       // train epochs 1..epochs (a resumed run continues to this number)
  std::string run_dir;  // checkpoints and metrics files; empty: no files at all
  uint64_t seed = 0;    // recorded and checked on resume; the caller seeds the generators
  // The run's settings, stored in every checkpoint. On resume a difference in any key not
  // listed in config_may_change is an error (it would make the run a different experiment);
  // a difference in a listed key is reported and accepted.
  nlohmann::json config = nlohmann::json::object();
  std::vector<std::string> config_may_change = {"epochs"};
  std::string resume;  // a run folder or a checkpoint file; empty for a fresh run
  ProgressStyle progress = ProgressStyle::automatic;
  std::FILE* log = stdout;
  bool handle_signals = true;  // SIGINT/SIGTERM request a stop while fit() runs
  // A step whose loss is NaN or infinite is skipped (and counted in the log) instead of ending
  // the run. Without it such a step, or a non-finite loss in an epoch's metrics, ends the run
  // with an error naming the epoch; last.safetensors keeps the last complete epoch.
  bool skip_nonfinite_steps = false;
  // Profile this many training steps op by op (engine/profile.h), the run's steps 3, 4, ...
  // (the first two fill the caches and let `auto` measure its shapes; an epoch's end cuts the
  // profile short), and write the table to profile.md in run_dir (printed when there is none).
  // Each op then runs on an idle device, so the profiled steps are slower; 0: no profile. The
  // epoch function must call step_hooks()'s after_step once per step.
  int profile_steps = 0;
};

struct TrainResult {
  std::vector<EpochRecord> history;  // every completed epoch, those before a resume included
  int first_epoch = 1;               // the first epoch this call trained
  int epochs_completed = 0;
  bool stopped_early = false;  // a callback ended the run
  std::string stop_reason;
  bool interrupted = false;  // a stop was requested (signal or request_stop())
  // A resumed run that had already trained all its epochs: fit() trained nothing and said so
  // (the callbacks' on_train_end still ran, so the model holds what the finished run ended with).
  bool already_finished = false;
  int signal = 0;            // which signal, 0 for request_stop()
  // 0, or 128 + the signal for an interrupted run (130 for SIGINT and request_stop()).
  int exit_code() const { return interrupted ? 128 + (signal > 0 ? signal : SIGINT) : 0; }
};

// The checkpoint a --resume argument means: `path` itself if it is a file, its
// last.safetensors if it is a folder; weft::Error when neither exists.
std::string resolve_checkpoint(const std::string& path);

class Trainer {
 public:
  static constexpr const char* kCheckpointFormat = "weft.training_checkpoint.v1";
  static constexpr const char* kLastCheckpoint = "last.safetensors";

  Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options);

  // Callbacks run in the order added. Keys must be unique.
  void add_callback(std::shared_ptr<Callback> callback);
  // A generator besides default_generator() whose state belongs in checkpoints (the data
  // shuffling generator). It must outlive the trainer.
  void register_generator(const std::string& name, Generator& generator);
  // Hooks for the epoch function to call around each optimizer step (see StepHooks).
  StepHooks step_hooks();

  // Run the epochs (after restoring options.resume, when set). `validate` may be empty.
  TrainResult fit(const EpochFunction& train_epoch, const EpochFunction& validate = {});

  // Write the current state as a checkpoint (the layout above).
  void save_checkpoint(const std::string& path) const;
  // Restore everything from a checkpoint; returns the number of epochs it had completed.
  // Errors name the file: another model (every mismatching tensor listed), settings that
  // differ, a truncated or malformed file, missing generator state.
  int load_checkpoint(const std::string& path);

  const std::string& run_dir() const { return options_.run_dir; }

 private:
  std::string config_differences(const nlohmann::json& saved, uint64_t saved_seed,
                                 std::vector<std::string>& accepted) const;
  void log(const std::string& line);
  // "epoch 3, step 17: the training loss is nan. The run stopped; ... holds epoch 2 ...".
  std::string diverged_message(int epoch, const std::string& what) const;

  nn::Module& model_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<std::pair<std::string, Generator*>> generators_;
  TrainContext context_;
  std::unique_ptr<Progress> progress_;

  int completed_epochs_ = 0;
  bool stopped_early_ = false;
  std::string stop_reason_;
  Metrics last_metrics_;
  int64_t hooked_steps_ = 0;  // before_step calls in the current epoch
  int64_t run_steps_ = 0;     // before_step calls in this fit()
  // TrainerOptions::profile_steps: whether the profile records, since when and which step.
  bool profiling_ = false;
  bool profile_done_ = false;
  int64_t profile_first_step_ = 0;
  std::chrono::steady_clock::time_point profile_start_;
  void finish_profile();
  int64_t skipped_steps_ = 0;  // steps skipped for a non-finite loss in the current epoch
};

}  // namespace weft::train
