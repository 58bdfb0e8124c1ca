// EarlyStopping, the learning-rate schedules, ReduceLROnPlateau and ModelCheckpoint
// (see callbacks.h for what each decides and whose rule it follows).
#include "engine/train/callbacks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>

#include "kernels/error.h"

namespace weft::train {

// ---- CallbackState -------------------------------------------------------------------------

void CallbackState::set_double(const std::string& key, double value) {
  values[key] = format_double(value);
}

void CallbackState::set_int(const std::string& key, int64_t value) {
  values[key] = std::to_string(value);
}

double CallbackState::get_double(const std::string& key) const {
  auto found = values.find(key);
  WEFT_CHECK(found != values.end(), "saved state '", key, "' is missing");
  return parse_double(found->second, "saved state '" + key + "'");
}

int64_t CallbackState::get_int(const std::string& key) const {
  const double value = get_double(key);
  WEFT_CHECK(value == std::floor(value), "saved state '", key, "' is not an integer");
  return static_cast<int64_t>(value);
}

// ---- Monitor ---------------------------------------------------------------------------------

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::min: return "min";
    case Mode::max: return "max";
    case Mode::automatic: return "auto";
  }
  return "?";
}

Mode resolve_mode(Mode mode, const std::string& metric) {
  if (mode != Mode::automatic) return mode;
  for (const char* higher_is_better : {"acc", "f1", "precision", "recall", "auc", "iou"}) {
    if (metric.find(higher_is_better) != std::string::npos) return Mode::max;
  }
  return Mode::min;
}

Monitor::Monitor(std::string metric_name, Mode requested, double delta)
    : metric(std::move(metric_name)), mode(resolve_mode(requested, metric)),
      min_delta(std::abs(delta)) {
  WEFT_CHECK(!metric.empty(), "a monitored metric needs a name");
}

bool Monitor::improves(double current, double best) const {
  return mode == Mode::min ? current < best - min_delta : current > best + min_delta;
}

double Monitor::worst() const {
  const double infinity = std::numeric_limits<double>::infinity();
  return mode == Mode::min ? infinity : -infinity;
}

namespace {

std::string yes_no(bool value) { return value ? "true" : "false"; }

// A setting as a person writes it: "0.0001", "0.1", "10000" (describe() lines).
std::string setting(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

// "0.3121" for log lines.
std::string short_number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

}  // namespace

// ---- EarlyStopping ---------------------------------------------------------------------------

EarlyStopping::EarlyStopping(const EarlyStoppingOptions& options)
    : options_(options), monitor_(options.monitor, options.mode, options.min_delta),
      best_(monitor_.worst()) {
  WEFT_CHECK(options.patience >= 0, "EarlyStopping: patience must be >= 0, got ", options.patience);
}

std::string EarlyStopping::describe() const {
  return "EarlyStopping(monitor=" + monitor_.metric + ", mode=" + mode_name(monitor_.mode) +
         ", patience=" + std::to_string(options_.patience) +
         ", min_delta=" + setting(monitor_.min_delta) +
         ", restore_best_weights=" + yes_no(options_.restore_best_weights) + ")";
}

void EarlyStopping::on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) {
  const double current = metrics.at(monitor_.metric);
  auto keep_weights = [&] {
    best_weights_.clear();
    for (const auto& [name, tensor] : context.model.state_dict()) {
      best_weights_.emplace_back(name, tensor.clone());
    }
  };
  // As Keras: the first epoch's weights are kept even when its value cannot count (NaN).
  if (options_.restore_best_weights && best_weights_.empty()) {
    keep_weights();
    best_epoch_ = epoch;
  }
  ++wait_;
  if (monitor_.improves(current, best_)) {
    best_ = current;
    best_epoch_ = epoch;
    wait_ = 0;
    if (options_.restore_best_weights) keep_weights();
    return;
  }
  if (wait_ >= options_.patience && epoch > 1) {
    stopped_epoch_ = epoch;
    context.stop_training = true;
    context.stop_reason = "EarlyStopping: " + monitor_.metric + " has not improved on " +
                          short_number(best_) + " (epoch " + std::to_string(best_epoch_) +
                          ") for " + std::to_string(wait_) + " epoch" + (wait_ == 1 ? "" : "s");
  }
}

void EarlyStopping::on_train_end(TrainContext& context) {
  if (!options_.restore_best_weights || best_weights_.empty()) return;
  std::map<std::string, Tensor> weights(best_weights_.begin(), best_weights_.end());
  context.model.load_state_dict(weights);
  context.log("EarlyStopping: restored the weights of epoch " + std::to_string(best_epoch_) +
              " (" + monitor_.metric + " " + short_number(best_) + ")");
}

void EarlyStopping::save_state(CallbackState& state) const {
  state.set_double("best", best_);
  state.set_int("best_epoch", best_epoch_);
  state.set_int("wait", wait_);
  state.set_int("stopped_epoch", stopped_epoch_);
  for (const auto& [name, tensor] : best_weights_) state.tensors["best_weights." + name] = tensor;
}

void EarlyStopping::load_state(const CallbackState& state) {
  best_ = state.get_double("best");
  best_epoch_ = static_cast<int>(state.get_int("best_epoch"));
  wait_ = static_cast<int>(state.get_int("wait"));
  stopped_epoch_ = static_cast<int>(state.get_int("stopped_epoch"));
  best_weights_.clear();
  const std::string prefix = "best_weights.";
  for (const auto& [name, tensor] : state.tensors) {
    if (name.rfind(prefix, 0) == 0) best_weights_.emplace_back(name.substr(prefix.size()), tensor.clone());
  }
  WEFT_CHECK(!options_.restore_best_weights || best_epoch_ == 0 || !best_weights_.empty(),
             "EarlyStopping(restore_best_weights=true): the checkpoint holds no best weights");
}

// ---- schedules -------------------------------------------------------------------------------

const char* unit_name(ScheduleUnit unit) { return unit == ScheduleUnit::epoch ? "epoch" : "step"; }

void LrSchedule::on_train_begin(TrainContext& context) {
  if (!base_lr_) base_lr_ = context.optimizer.lr();
  // Per-step schedules set the first step's lr now, so even a run whose epoch function never
  // reaches a step hook starts from the schedule's value rather than the optimizer's.
  if (unit_ == ScheduleUnit::step) {
    context.optimizer.set_lr(static_cast<float>(lr_at(context.optimizer.step_count())));
  }
}

void LrSchedule::on_epoch_begin(TrainContext& context, int epoch) {
  if (unit_ == ScheduleUnit::epoch) context.optimizer.set_lr(static_cast<float>(lr_at(epoch - 1)));
}

void LrSchedule::on_step_begin(TrainContext& context) {
  if (unit_ == ScheduleUnit::step) {
    context.optimizer.set_lr(static_cast<float>(lr_at(context.optimizer.step_count())));
  }
}

void LrSchedule::save_state(CallbackState& state) const {
  if (base_lr_) state.set_double("base_lr", *base_lr_);
}

void LrSchedule::load_state(const CallbackState& state) {
  if (state.has("base_lr")) base_lr_ = state.get_double("base_lr");
}

StepLR::StepLR(const StepLROptions& options) : LrSchedule(options.unit), options_(options) {
  WEFT_CHECK(options.step_size > 0, "StepLR: step_size must be positive, got ", options.step_size);
}

std::string StepLR::describe() const {
  return "StepLR(step_size=" + std::to_string(options_.step_size) +
         ", gamma=" + setting(options_.gamma) + ", per=" + unit_name(unit_) +
         ", base_lr=" + setting(base_lr()) + ")";
}

double StepLR::lr_at(int64_t t) const {
  return base_lr() * std::pow(options_.gamma, static_cast<double>(t / options_.step_size));
}

CosineAnnealing::CosineAnnealing(const CosineAnnealingOptions& options)
    : LrSchedule(options.unit), options_(options) {
  WEFT_CHECK(options.t_max > 0, "CosineAnnealing: t_max must be positive, got ", options.t_max);
}

std::string CosineAnnealing::describe() const {
  return "CosineAnnealing(t_max=" + std::to_string(options_.t_max) +
         ", eta_min=" + setting(options_.eta_min) + ", per=" + unit_name(unit_) +
         ", base_lr=" + setting(base_lr()) + ")";
}

double CosineAnnealing::lr_at(int64_t t) const {
  const double progress =
      static_cast<double>(std::min(t, options_.t_max)) / static_cast<double>(options_.t_max);
  return options_.eta_min +
         (base_lr() - options_.eta_min) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
}

OneCycle::OneCycle(const OneCycleOptions& options)
    : LrSchedule(ScheduleUnit::step), options_(options) {
  WEFT_CHECK(options.total_steps > 0, "OneCycle: total_steps must be positive, got ",
             options.total_steps);
  WEFT_CHECK(options.pct_start >= 0 && options.pct_start <= 1,
             "OneCycle: pct_start must be in [0, 1], got ", options.pct_start);
  WEFT_CHECK(options.max_lr > 0 && options.div_factor > 0 && options.final_div_factor > 0,
             "OneCycle: max_lr, div_factor and final_div_factor must be positive");
}

std::string OneCycle::describe() const {
  return "OneCycle(max_lr=" + setting(options_.max_lr) +
         ", total_steps=" + std::to_string(options_.total_steps) +
         ", pct_start=" + setting(options_.pct_start) +
         ", div_factor=" + setting(options_.div_factor) +
         ", final_div_factor=" + setting(options_.final_div_factor) +
         ", anneal=" + (options_.anneal == Anneal::cosine ? "cos" : "linear") + ", per=step)";
}

double OneCycle::lr_at(int64_t t) const {
  const double initial_lr = options_.max_lr / options_.div_factor;
  const double final_lr = initial_lr / options_.final_div_factor;
  // Phase ends as PyTorch places them: the peak at step pct_start*total - 1, the end at total - 1.
  const double peak_step = options_.pct_start * static_cast<double>(options_.total_steps) - 1.0;
  const double last_step = static_cast<double>(options_.total_steps - 1);
  const double step = std::min(static_cast<double>(t), last_step);
  // From `from` (pct 0) to `to` (pct 1) along a half cosine or a straight line.
  auto anneal = [this](double from, double to, double pct) {
    if (options_.anneal == Anneal::linear) return from + (to - from) * pct;
    return to + (from - to) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
  };
  if (step <= peak_step) {
    return anneal(initial_lr, options_.max_lr, peak_step > 0 ? step / peak_step : 1.0);
  }
  const double span = last_step - peak_step;
  return anneal(options_.max_lr, final_lr, span > 0 ? (step - peak_step) / span : 1.0);
}

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(const ReduceLROnPlateauOptions& options)
    : options_(options), monitor_(options.monitor, options.mode, options.min_delta),
      best_(monitor_.worst()) {
  WEFT_CHECK(options.factor > 0 && options.factor < 1,
             "ReduceLROnPlateau: factor must be in (0, 1), got ", options.factor);
  WEFT_CHECK(options.patience >= 0 && options.cooldown >= 0 && options.min_lr >= 0,
             "ReduceLROnPlateau: patience, cooldown and min_lr must be >= 0");
}

std::string ReduceLROnPlateau::describe() const {
  return "ReduceLROnPlateau(monitor=" + monitor_.metric + ", mode=" + mode_name(monitor_.mode) +
         ", factor=" + setting(options_.factor) +
         ", patience=" + std::to_string(options_.patience) +
         ", min_delta=" + setting(monitor_.min_delta) +
         ", cooldown=" + std::to_string(options_.cooldown) +
         ", min_lr=" + setting(options_.min_lr) + ")";
}

void ReduceLROnPlateau::on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) {
  const double current = metrics.at(monitor_.metric);
  // Keras's order: the cooldown is counted down before this epoch is judged, so cooldown=1
  // delays nothing and cooldown=c skips c-1 epochs of waiting.
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (monitor_.improves(current, best_)) {
    best_ = current;
    wait_ = 0;
    return;
  }
  if (cooldown_counter_ > 0) return;
  ++wait_;
  if (wait_ < options_.patience) return;
  const float old_lr = context.optimizer.lr();
  if (old_lr <= static_cast<float>(options_.min_lr)) return;  // already at the floor
  const double new_lr = std::max(static_cast<double>(old_lr) * options_.factor, options_.min_lr);
  context.optimizer.set_lr(static_cast<float>(new_lr));
  cooldown_counter_ = options_.cooldown;
  wait_ = 0;
  context.log("ReduceLROnPlateau: epoch " + std::to_string(epoch) + ", " + monitor_.metric +
              " flat at " + short_number(best_) + ", lr " + short_number(old_lr) + " -> " +
              short_number(context.optimizer.lr()));
}

void ReduceLROnPlateau::save_state(CallbackState& state) const {
  state.set_double("best", best_);
  state.set_int("wait", wait_);
  state.set_int("cooldown_counter", cooldown_counter_);
}

void ReduceLROnPlateau::load_state(const CallbackState& state) {
  best_ = state.get_double("best");
  wait_ = static_cast<int>(state.get_int("wait"));
  cooldown_counter_ = static_cast<int>(state.get_int("cooldown_counter"));
}

// ---- ModelCheckpoint -------------------------------------------------------------------------

ModelCheckpoint::ModelCheckpoint(const ModelCheckpointOptions& options)
    : options_(options), monitor_(options.monitor, options.mode, 0.0), best_(monitor_.worst()) {
  WEFT_CHECK(!options.filename.empty() && options.filename.find('/') == std::string::npos,
             "ModelCheckpoint: filename must be a plain file name inside the run folder, got '",
             options.filename, "'");
  WEFT_CHECK(options.filename != "last.safetensors",
             "ModelCheckpoint: last.safetensors is the trainer's own file; choose another name");
}

std::string ModelCheckpoint::describe() const {
  return "ModelCheckpoint(filename=" + options_.filename + ", monitor=" + monitor_.metric +
         ", mode=" + mode_name(monitor_.mode) +
         ", save_best_only=" + yes_no(options_.save_best_only) + ")";
}

std::string ModelCheckpoint::filename_for(int epoch) const {
  std::string name = options_.filename;
  const std::string placeholder = "{epoch}";
  const size_t at = name.find(placeholder);
  if (at != std::string::npos) {
    char padded[16];
    std::snprintf(padded, sizeof(padded), "%03d", epoch);
    name.replace(at, placeholder.size(), padded);
  }
  return name;
}

void ModelCheckpoint::on_epoch_end(TrainContext& context, int epoch, const Metrics& metrics) {
  const double current = metrics.at(monitor_.metric);
  const bool improved = monitor_.improves(current, best_);
  if (improved) best_ = current;
  if (improved || !options_.save_best_only) {
    context.checkpoint_requests.push_back(filename_for(epoch));
  }
}

void ModelCheckpoint::save_state(CallbackState& state) const { state.set_double("best", best_); }

void ModelCheckpoint::load_state(const CallbackState& state) { best_ = state.get_double("best"); }

}  // namespace weft::train
