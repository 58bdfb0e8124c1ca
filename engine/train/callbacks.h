// Callbacks: small objects the trainer (engine/train/trainer.h) calls at fixed points of a run
// to decide things a plain loop would hard-code - when to stop, what learning rate to use, when
// to keep a checkpoint. Each one:
//   - prints its effective settings once when the run starts (describe()), so a log shows
//     exactly what ran, defaults included;
//   - keeps its decisions in a CallbackState that goes into every checkpoint, so a resumed run
//     decides exactly as an uninterrupted one would.
//
// The decisions follow Keras where Keras has the callback (EarlyStopping, ReduceLROnPlateau,
// ModelCheckpoint; defaults included) and PyTorch for the schedules (StepLR,
// CosineAnnealingLR, OneCycleLR).
//
// When each hook runs, for epoch e (1-based) of E:
//   on_train_begin                 once, after a resumed run restored its state
//   on_epoch_begin(e)              before train_epoch(e)     per-epoch schedules set the lr
//   on_step_begin                  before each optimizer step, when train_epoch calls the
//                                  trainer's step hook       per-step schedules set the lr
//   on_step_end                    after each optimizer step weight averaging updates
//   on_validation_begin/_end       around validate(e)        weight averaging swaps weights
//   on_epoch_end(e, metrics)       after validate(e)         stop? reduce the lr? checkpoint?
//   on_train_end                   once, when the loop ends  EarlyStopping restores weights
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/train/history.h"

namespace weft::train {

// ---- what callbacks see ------------------------------------------------------------------

// The run as a callback sees it. The trainer owns it; callbacks read the model and optimizer
// and leave requests in the fields below.
struct TrainContext {
  TrainContext(nn::Module& model_, optim::Optimizer& optimizer_, int epochs_)
      : model(model_), optimizer(optimizer_), epochs(epochs_) {}

  nn::Module& model;
  optim::Optimizer& optimizer;
  int epochs;  // the last epoch the run will train, unless something stops it

  bool stop_training = false;  // set to end the run after this epoch
  std::string stop_reason;     // one line saying who stopped it and why
  // File names (inside the run folder) that should receive a checkpoint of this epoch, besides
  // last.safetensors. The trainer writes them after every callback's on_epoch_end.
  std::vector<std::string> checkpoint_requests;
  // Print one line (the trainer's progress display routes it around the live bar).
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

// A callback's saved decisions: named numbers and, for EarlyStopping's best weights, tensors.
// Numbers are stored as exact decimal text (history.h's format_double), so a resumed run
// compares against the very same best value.
struct CallbackState {
  std::map<std::string, std::string> values;
  std::map<std::string, Tensor> tensors;

  void set_double(const std::string& key, double value);
  void set_int(const std::string& key, int64_t value);
  bool has(const std::string& key) const { return values.count(key) != 0; }
  // weft::Error naming the key when it is missing or not a number.
  double get_double(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
};

class Callback {
 public:
  virtual ~Callback() = default;

  // Names this callback's entries in a checkpoint ("callback.<key>.wait"); unique in a run.
  virtual std::string key() const = 0;
  // The effective settings, e.g. "EarlyStopping(monitor=val_loss, mode=min, patience=5, ...)".
  virtual std::string describe() const = 0;

  virtual void on_train_begin(TrainContext&) {}
  virtual void on_epoch_begin(TrainContext&, int /*epoch*/) {}
  virtual void on_step_begin(TrainContext&) {}
  // After each optimizer step (weight averaging), when train_epoch calls the trainer's hooks.
  virtual void on_step_end(TrainContext&) {}
  // Around each validation pass (weight averaging evaluates its averaged weights).
  virtual void on_validation_begin(TrainContext&) {}
  virtual void on_validation_end(TrainContext&) {}
  virtual void on_epoch_end(TrainContext&, int /*epoch*/, const Metrics&) {}
  virtual void on_train_end(TrainContext&) {}

  virtual void save_state(CallbackState&) const {}
  virtual void load_state(const CallbackState&) {}
};

// ---- watching a metric ---------------------------------------------------------------------

// min: lower is better (losses); max: higher is better (accuracy). automatic picks max for
// names that contain acc, f1, precision, recall, auc or iou, and min for everything else
// (Keras picks max for "acc" only; the longer list covers this engine's report metrics).
enum class Mode { automatic, min, max };
const char* mode_name(Mode mode);
Mode resolve_mode(Mode mode, const std::string& metric);

// Whether a value of a watched metric improves on the best so far, Keras's test:
// min: current < best - min_delta; max: current > best + min_delta. NaN never improves.
struct Monitor {
  Monitor(std::string metric, Mode mode, double min_delta);
  bool improves(double current, double best) const;
  double worst() const;  // the best value before any epoch: +inf for min, -inf for max

  std::string metric;
  Mode mode;         // min or max, never automatic
  double min_delta;  // >= 0
};

// ---- EarlyStopping -----------------------------------------------------------------------

// Stop when `monitor` has not improved (by more than min_delta) for `patience` epochs in a
// row. Defaults are Keras's. With restore_best_weights the model gets back the weights of the
// best epoch when the run ends - stopped early or not, as in Keras 3.
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  Mode mode = Mode::automatic;
  int patience = 0;
  double min_delta = 0;
  bool restore_best_weights = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(const EarlyStoppingOptions& options = {});
  std::string key() const override { return "early_stopping"; }
  std::string describe() const override;
  void on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) override;
  void on_train_end(TrainContext& context) override;
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }          // 0 before any epoch
  int wait() const { return wait_; }                      // epochs since the last improvement
  int stopped_epoch() const { return stopped_epoch_; }    // 0 unless it stopped the run

 private:
  EarlyStoppingOptions options_;
  Monitor monitor_;
  double best_;
  int best_epoch_ = 0, wait_ = 0, stopped_epoch_ = 0;
  nn::NamedTensors best_weights_;  // copies, kept only with restore_best_weights
};

// ---- learning-rate schedules ---------------------------------------------------------------

// What a schedule's position t counts: epochs finished (set before each epoch) or optimizer
// steps taken (set before each step; needs train_epoch to call the trainer's step hook).
enum class ScheduleUnit { epoch, step };
const char* unit_name(ScheduleUnit unit);

// A schedule sets lr = lr_at(t). The base learning rate is the optimizer's when the run first
// starts, and is kept in the checkpoint (the optimizer's own lr is the scheduled one by then).
class LrSchedule : public Callback {
 public:
  explicit LrSchedule(ScheduleUnit unit) : unit_(unit) {}
  virtual double lr_at(int64_t t) const = 0;
  ScheduleUnit unit() const { return unit_; }
  double base_lr() const { return base_lr_.value_or(0.0); }

  void on_train_begin(TrainContext& context) override;
  void on_epoch_begin(TrainContext& context, int epoch) override;
  void on_step_begin(TrainContext& context) override;
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

 protected:
  ScheduleUnit unit_;
  std::optional<double> base_lr_;
};

// PyTorch StepLR: lr = base_lr * gamma ^ floor(t / step_size).
struct StepLROptions {
  int64_t step_size = 1;
  double gamma = 0.1;
  ScheduleUnit unit = ScheduleUnit::epoch;
};

class StepLR : public LrSchedule {
 public:
  explicit StepLR(const StepLROptions& options);
  std::string key() const override { return "step_lr"; }
  std::string describe() const override;
  double lr_at(int64_t t) const override;

 private:
  StepLROptions options_;
};

// PyTorch CosineAnnealingLR's closed form:
//   lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2,
// held at eta_min once t >= t_max (PyTorch would climb back up; a run rarely wants that).
struct CosineAnnealingOptions {
  int64_t t_max = 1;
  double eta_min = 0;
  ScheduleUnit unit = ScheduleUnit::epoch;
};

class CosineAnnealing : public LrSchedule {
 public:
  explicit CosineAnnealing(const CosineAnnealingOptions& options);
  std::string key() const override { return "cosine_annealing"; }
  std::string describe() const override;
  double lr_at(int64_t t) const override;

 private:
  CosineAnnealingOptions options_;
};

// PyTorch OneCycleLR (two phases), always per step:
//   steps 0 .. pct_start*total_steps - 1: max_lr/div_factor rising to max_lr,
//   then down to max_lr/(div_factor*final_div_factor) at step total_steps - 1, held after.
// Each phase is a half cosine (PyTorch's anneal_strategy="cos") or a straight line ("linear":
// with a small pct_start, the warm-up + linear decay of fast recipes such as airbench).
// The optimizer's own lr is ignored.
enum class Anneal { cosine, linear };

struct OneCycleOptions {
  double max_lr = 0.01;
  int64_t total_steps = 1;  // epochs * steps per epoch
  double pct_start = 0.3;
  double div_factor = 25;
  double final_div_factor = 1e4;
  Anneal anneal = Anneal::cosine;
};

class OneCycle : public LrSchedule {
 public:
  explicit OneCycle(const OneCycleOptions& options);
  std::string key() const override { return "one_cycle"; }
  std::string describe() const override;
  double lr_at(int64_t t) const override;

 private:
  OneCycleOptions options_;
};

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

// Multiply the lr by `factor` when `monitor` has not improved for `patience` epochs, then
// wait `cooldown` epochs before counting again; never below min_lr. Keras's defaults and rule.
struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  Mode mode = Mode::automatic;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0;
};

class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(const ReduceLROnPlateauOptions& options = {});
  std::string key() const override { return "reduce_lr_on_plateau"; }
  std::string describe() const override;
  void on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) override;
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  double best() const { return best_; }
  int wait() const { return wait_; }
  int cooldown_counter() const { return cooldown_counter_; }

 private:
  ReduceLROnPlateauOptions options_;
  Monitor monitor_;
  double best_;
  int wait_ = 0, cooldown_counter_ = 0;
};

// ---- ModelCheckpoint -------------------------------------------------------------------------

// Ask the trainer for a checkpoint file of the epoch: with save_best_only only when `monitor`
// improved (Keras's test, no min_delta), otherwise every epoch. "{epoch}" in the filename
// becomes the epoch, zero-padded to three digits ("epoch-{epoch}.safetensors"). The file is a
// full training checkpoint, so a run can also be resumed from it. (The trainer writes
// last.safetensors every epoch by itself; this callback is for "best" and for keeping epochs.)
struct ModelCheckpointOptions {
  std::string filename = "best.safetensors";
  std::string monitor = "val_loss";
  Mode mode = Mode::automatic;
  bool save_best_only = true;
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(const ModelCheckpointOptions& options = {});
  std::string key() const override { return "model_checkpoint"; }
  std::string describe() const override;
  void on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) override;
  void save_state(CallbackState& state) const override;
  void load_state(const CallbackState& state) override;

  double best() const { return best_; }
  std::string filename_for(int epoch) const;

 private:
  ModelCheckpointOptions options_;
  Monitor monitor_;
  double best_;
};

}  // namespace weft::train
