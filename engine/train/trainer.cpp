// The shared training loop, its checkpoints and resume (see trainer.h for the contract and the
// checkpoint layout).
#include "engine/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "engine/dispatch.h"
#include "engine/distributed/communicator.h"
#include "engine/distributed/replicate.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/profile.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// TrainerOptions::profile_steps: the steps before the profiled ones (caches filled, `auto`'s
// shapes measured).
constexpr int64_t kProfileWarmupSteps = 2;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The value of metadata entry `key`, or an error saying the file is not a checkpoint of ours.
const std::string& metadata_entry(const std::map<std::string, std::string>& metadata,
                                  const std::string& key, const std::string& path) {
  auto found = metadata.find(key);
  WEFT_CHECK(found != metadata.end(), path, " is not a weft training checkpoint: its metadata has no '",
             key, "' entry (a file of model weights alone cannot be resumed)");
  return found->second;
}

uint64_t parse_u64(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const unsigned long long value = std::stoull(text, &used);
    if (used == text.size()) return value;
  } catch (const std::logic_error&) {
  }
  throw Error(what + ": '" + text + "' is not an unsigned integer");
}

// The checkpoint's "kernel_picks" entry: a JSON object of strings (key -> implementation).
std::map<std::string, std::string> parse_kernel_picks(const std::string& text,
                                                      const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": the 'kernel_picks' metadata entry is not JSON");
  }
  WEFT_CHECK(j.is_object(), path,
             ": the 'kernel_picks' metadata entry is not a JSON object (key -> implementation)");
  std::map<std::string, std::string> picks;
  for (const auto& [key, value] : j.items()) {
    WEFT_CHECK(value.is_string(), path, ": 'kernel_picks' entry \"", key,
               "\" is not a string (an implementation's name)");
    picks[key] = value.get<std::string>();
  }
  return picks;
}

// Data-parallel runs: rank 0's kernel picks given to every other rank (restore_kernel_picks), so
// that from the end of the first epoch every rank runs each pass on the implementation rank 0
// picked, whatever its own timings said; a resume, which restores the checkpoint's (rank 0's)
// picks on every rank, then continues with the kernels that ran. Called where every rank is.
void share_kernel_picks() {
  if (!dist::distributed()) return;
  std::string text = dist::is_main() ? nlohmann::json(kernel_picks()).dump() : std::string();
  int64_t bytes = static_cast<int64_t>(text.size());
  dist::world().broadcast(&bytes, sizeof bytes, 0, "kernel picks (length)");
  text.resize(static_cast<size_t>(bytes));
  dist::world().broadcast(text.data(), bytes, 0, "kernel picks");
  if (!dist::is_main()) restore_kernel_picks(parse_kernel_picks(text, "rank 0's kernel picks"));
}

// Every rank's metrics replaced by their mean over the ranks (equal shards, so the mean of
// the ranks' means is the mean over all samples), so every rank logs and decides the same.
Metrics mean_over_ranks(const Metrics& metrics, const char* what) {
  if (!dist::distributed()) return metrics;
  std::vector<double> values;
  for (const auto& [name, value] : metrics.entries()) values.push_back(value);
  values = dist::mean_over_ranks(values, what);
  Metrics mean;
  for (size_t i = 0; i < values.size(); ++i) mean.set(metrics.entries()[i].first, values[i]);
  return mean;
}

const char* signal_name(int signal_number) {
  switch (signal_number) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a stop request";
  }
}

}  // namespace

std::string resolve_checkpoint(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    const std::string file = (fs::path(path) / Trainer::kLastCheckpoint).string();
    WEFT_CHECK(fs::is_regular_file(file, error), "cannot resume from ", path,
               ": the folder has no ", Trainer::kLastCheckpoint);
    return file;
  }
  WEFT_CHECK(fs::is_regular_file(path, error), "cannot resume from ", path,
             ": no such checkpoint file or run folder");
  return path;
}

Trainer::Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options)
    : model_(model), optimizer_(optimizer), options_(std::move(options)),
      context_(model, optimizer, options_.epochs) {
  WEFT_CHECK(options_.epochs >= 0, "epochs must be >= 0, got ", options_.epochs);
  if (dist::distributed()) {
    // A step skipped on one rank alone would leave the others waiting in its exchange.
    WEFT_CHECK(!options_.skip_nonfinite_steps, "--skip-nonfinite-steps is not available with ",
               dist::world().world_size(), " ranks: every rank must take every step");
    // The number of ranks changes the experiment (the global batch), so --resume checks it.
    dist::describe_ranks(options_.config);
  }
  // The matrix products' precision changes the numbers, so --resume compares it like any setting
  // (and the apps restore --precision from it); recorded where it is not fp32, so configs of fp32
  // runs, and checkpoints from before it was recorded, stay as they were.
  if (options_.config.is_object() && math_precision() != MathPrecision::fp32) {
    options_.config["precision"] = precision_name(math_precision());
  }
  context_.log = [this](const std::string& line) { log(line); };
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  WEFT_CHECK(callback != nullptr, "add_callback: the callback is null");
  for (const auto& existing : callbacks_) {
    WEFT_CHECK(existing->key() != callback->key(), "a callback with key '", callback->key(),
               "' was already added; each kind may be added once");
  }
  callbacks_.push_back(std::move(callback));
}

void Trainer::register_generator(const std::string& name, Generator& generator) {
  WEFT_CHECK(!name.empty() && name != "default" && name.find('.') == std::string::npos,
             "generator name '", name, "' must be non-empty, not 'default', and without dots");
  for (const auto& [existing, pointer] : generators_) {
    WEFT_CHECK(existing != name, "a generator named '", name, "' is already registered");
  }
  generators_.emplace_back(name, &generator);
}

NonFiniteLoss::NonFiniteLoss(int64_t step_number, double loss_value)
    : NonFiniteLoss(step_number, step_number, loss_value) {}

NonFiniteLoss::NonFiniteLoss(int64_t first, int64_t last, double loss_value)
    : Error((first == last ? "step " + std::to_string(last)
                           : "steps " + std::to_string(first) + "-" + std::to_string(last)) +
            ": the training loss is " + std::to_string(loss_value)),
      first_step(first), step(last), loss(loss_value) {}

bool skip_nonfinite_step(const StepHooks& hooks, int64_t step, double loss) {
  if (std::isfinite(loss)) return false;
  if (hooks.nonfinite_loss && hooks.nonfinite_loss(step, loss)) return true;
  throw NonFiniteLoss(step, loss);
}

StepHooks Trainer::step_hooks() {
  StepHooks hooks;
  hooks.skip_nonfinite = options_.skip_nonfinite_steps;
  hooks.nonfinite_loss = [this](int64_t, double) {
    if (!options_.skip_nonfinite_steps) return false;
    ++skipped_steps_;
    return true;
  };
  hooks.before_step = [this] {
    ++hooked_steps_;
    ++run_steps_;
    for (const auto& callback : callbacks_) callback->on_step_begin(context_);
  };
  hooks.after_step = [this](int64_t done, int64_t total) {
    for (const auto& callback : callbacks_) callback->on_step_end(context_);
    // The profile runs from one step's end to a later one's: the epoch functions call the hooks
    // around the optimizer's update (after the forward and backward), so the steps between two
    // ends are whole steps, their batches' loading included.
    if (profiling_ && run_steps_ - profile_first_step_ + 1 >= options_.profile_steps) {
      finish_profile();
    }
    if (options_.profile_steps > 0 && !profiling_ && !profile_done_ &&
        run_steps_ == kProfileWarmupSteps) {
      profile::start();
      profiling_ = true;
      profile_first_step_ = run_steps_ + 1;
      profile_start_ = Clock::now();
    }
    if (progress_) progress_->step(done, total);
  };
  return hooks;
}

void Trainer::finish_profile() {
  const double wall = seconds_since(profile_start_);
  const profile::Profile recorded = profile::stop();
  profiling_ = false;
  profile_done_ = true;
  const int steps = static_cast<int>(run_steps_ - profile_first_step_ + 1);
  const std::string last = std::to_string(run_steps_);
  const std::string which =
      steps == 1 ? "step " + last : "steps " + std::to_string(profile_first_step_) + "-" + last;
  char heading[256];
  std::snprintf(heading, sizeof heading,
                "# Op profile of training %s\n\n"
                "%.3f ms per step with the profile's synchronisations (each op on an idle "
                "device), %.3f ms of it in the ops; per step below (engine/profile.h).\n\n",
                which.c_str(), wall * 1e3 / steps, recorded.seconds() * 1e3 / steps);
  const std::string text = heading + profile::format_table(recorded, steps, wall) +
                           "\n## Per op\n\n" + profile::format_summary(recorded, steps);
  if (options_.run_dir.empty()) {
    log(text);
    return;
  }
  const std::string path = (fs::path(options_.run_dir) / "profile.md").string();
  io::write_file_atomic(path, text);
  log("op profile of " + which + " written to " + path);
}

std::string Trainer::diverged_message(int epoch, const std::string& what) const {
  std::string saved =
      options_.run_dir.empty()
          ? "nothing was saved (no run folder)"
          : (fs::path(options_.run_dir) / kLastCheckpoint).string() + " holds epoch " +
                std::to_string(completed_epochs_) + ", the last complete one";
  return "epoch " + std::to_string(epoch) + ", " + what + ". The run stopped; " + saved +
         " (a lower learning rate may help; --skip-nonfinite-steps skips such steps)";
}

void Trainer::log(const std::string& line) {
  if (progress_) {
    progress_->note(line);
  } else if (options_.progress != ProgressStyle::quiet) {
    std::fprintf(options_.log, "%s\n", line.c_str());
  }
}

// ---- checkpoints -----------------------------------------------------------------------------

void Trainer::save_checkpoint(const std::string& path) const {
  nn::NamedTensors tensors;
  std::map<std::string, std::string> metadata;
  for (const auto& [name, tensor] : model_.state_dict()) tensors.emplace_back("model." + name, tensor);
  for (const auto& [name, tensor] : optimizer_.state_tensors()) {
    tensors.emplace_back("optimizer." + name, tensor);
  }
  metadata = optimizer_.state_metadata();  // optimizer, optimizer.step, optimizer.lr

  metadata["format"] = kCheckpointFormat;
  metadata["model"] = model_.type_name();
  metadata["epoch"] = std::to_string(completed_epochs_);
  metadata["epochs"] = std::to_string(options_.epochs);
  metadata["seed"] = std::to_string(options_.seed);
  metadata["config"] = options_.config.dump();
  metadata["stopped_early"] = stopped_early_ ? "true" : "false";
  metadata["stop_reason"] = stop_reason_;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const auto& [name, value] : last_metrics_.entries()) metrics[name] = value;
  metadata["metrics"] = metrics.dump();

  auto save_generator = [&](const std::string& name, const Generator& generator) {
    metadata["rng." + name + ".seed"] = std::to_string(generator.seed());
    metadata["rng." + name + ".offset"] = std::to_string(generator.offset());
  };
  save_generator("default", default_generator());
  for (const auto& [name, generator] : generators_) save_generator(name, *generator);

  std::string keys;
  for (const auto& callback : callbacks_) {
    CallbackState state;
    callback->save_state(state);
    const std::string prefix = "callback." + callback->key() + ".";
    for (const auto& [field, value] : state.values) metadata[prefix + field] = value;
    for (const auto& [name, tensor] : state.tensors) tensors.emplace_back(prefix + name, tensor);
    keys += (keys.empty() ? "" : ",") + callback->key();
  }
  metadata["callbacks"] = keys;
  metadata["kernel_picks"] = nlohmann::json(kernel_picks()).dump();
  io::save_safetensors(path, tensors, metadata);
}

std::string Trainer::config_differences(const nlohmann::json& saved, uint64_t saved_seed,
                                        std::vector<std::string>& accepted) const {
  std::string problems;
  auto describe = [](const std::string& key, const nlohmann::json& before,
                     const nlohmann::json& now) {
    return key + ": checkpoint " + (before.is_null() ? "(absent)" : before.dump()) + ", now " +
           (now.is_null() ? "(absent)" : now.dump());
  };
  if (saved_seed != options_.seed) {
    problems += "\n  " + describe("seed", saved_seed, options_.seed);
  }
  if (!saved.is_object() || !options_.config.is_object()) {
    if (saved != options_.config) problems += "\n  " + describe("config", saved, options_.config);
    return problems;
  }
  std::set<std::string> keys;
  for (const auto& [key, value] : saved.items()) keys.insert(key);
  for (const auto& [key, value] : options_.config.items()) keys.insert(key);
  for (const std::string& key : keys) {
    const nlohmann::json before = saved.contains(key) ? saved[key] : nlohmann::json();
    const nlohmann::json now = options_.config.contains(key) ? options_.config[key] : nlohmann::json();
    if (before == now) continue;
    const bool may_change = std::find(options_.config_may_change.begin(),
                                      options_.config_may_change.end(),
                                      key) != options_.config_may_change.end();
    if (may_change) {
      accepted.push_back(describe(key, before, now));
    } else {
      problems += "\n  " + describe(key, before, now);
    }
  }
  return problems;
}

int Trainer::load_checkpoint(const std::string& path) {
  const io::SafetensorsContents contents = io::load_safetensors(path);
  const std::map<std::string, std::string>& metadata = contents.metadata;
  auto entry = [&](const std::string& key) -> const std::string& {
    return metadata_entry(metadata, key, path);
  };
  WEFT_CHECK(entry("format") == kCheckpointFormat, path, ": checkpoint format '", entry("format"),
             "', this build reads '", kCheckpointFormat, "'");

  // Sort the tensors by owner.
  std::map<std::string, Tensor> model_state, optimizer_state;
  std::map<std::string, CallbackState> callback_states;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name.rfind("model.", 0) == 0) {
      model_state[name.substr(6)] = tensor;
    } else if (name.rfind("optimizer.", 0) == 0) {
      optimizer_state[name.substr(10)] = tensor;
    } else if (name.rfind("callback.", 0) == 0) {
      const size_t dot = name.find('.', 9);
      WEFT_CHECK(dot != std::string::npos, path, ": malformed callback tensor name '", name, "'");
      callback_states[name.substr(9, dot - 9)].tensors[name.substr(dot + 1)] = tensor;
    } else {
      throw Error(path + ": unexpected tensor '" + name +
                  "' (a training checkpoint holds model.*, optimizer.* and callback.* only)");
    }
  }
  for (const auto& [key, value] : metadata) {
    if (key.rfind("callback.", 0) != 0) continue;
    const size_t dot = key.find('.', 9);
    if (dot != std::string::npos) callback_states[key.substr(9, dot - 9)].values[key.substr(dot + 1)] = value;
  }

  // Settings first: a different configuration usually explains a model mismatch too.
  nlohmann::json saved_config;
  try {
    saved_config = nlohmann::json::parse(entry("config"));
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": the 'config' metadata entry is not JSON");
  }
  // Checkpoints before kernel_picks have none: their resume measures as a fresh run does.
  std::map<std::string, std::string> kernel_picks_of_checkpoint;
  if (auto picks = metadata.find("kernel_picks"); picks != metadata.end()) {
    kernel_picks_of_checkpoint = parse_kernel_picks(picks->second, path);
  }
  std::vector<std::string> accepted;
  const std::string differences =
      config_differences(saved_config, parse_u64(entry("seed"), path + ": seed"), accepted);

  try {
    model_.load_state_dict(model_state);
  } catch (const Error& e) {
    const std::string saved_type = entry("model");
    const std::string other_type =
        saved_type == model_.type_name() ? "" : " (it holds a " + saved_type + ")";
    throw Error("checkpoint " + path + other_type + " does not fit this model: " + e.what() +
                (differences.empty() ? "" : "\nsettings that differ:" + differences));
  }
  WEFT_CHECK(differences.empty(), "checkpoint ", path,
             " was made with different settings; resuming would mix two experiments:",
             differences, "\nrun with the checkpoint's settings, or start a new run folder");
  for (const std::string& change : accepted) log("resume: accepted change of " + change);

  try {
    optimizer_.load_state(optimizer_state, metadata);
  } catch (const Error& e) {
    throw Error("checkpoint " + path + ": " + e.what());
  }

  auto load_generator = [&](const std::string& name, Generator& generator) {
    const std::string prefix = "rng." + name + ".";
    auto seed = metadata.find(prefix + "seed");
    auto offset = metadata.find(prefix + "offset");
    WEFT_CHECK(seed != metadata.end() && offset != metadata.end(), "checkpoint ", path,
               " has no state for generator '", name, "'");
    generator.set_state(parse_u64(seed->second, path + ": " + prefix + "seed"),
                        parse_u64(offset->second, path + ": " + prefix + "offset"));
  };
  load_generator("default", default_generator());
  for (const auto& [name, generator] : generators_) load_generator(name, *generator);

  for (const auto& callback : callbacks_) {
    auto found = callback_states.find(callback->key());
    if (found == callback_states.end()) {
      log("resume: " + path + " has no state for " + callback->key() + "; it starts fresh");
      continue;
    }
    try {
      callback->load_state(found->second);
    } catch (const Error& e) {
      throw Error("checkpoint " + path + ", callback " + callback->key() + ": " + e.what());
    }
    callback_states.erase(found);
  }
  for (const auto& [key, state] : callback_states) {
    log("resume: " + path + " holds state for callback " + key + ", which this run does not use");
  }

  restore_kernel_picks(kernel_picks_of_checkpoint);

  const uint64_t epoch = parse_u64(entry("epoch"), path + ": epoch");
  completed_epochs_ = static_cast<int>(epoch);
  stopped_early_ = entry("stopped_early") == "true";
  stop_reason_ = entry("stop_reason");
  return completed_epochs_;
}

// ---- the loop --------------------------------------------------------------------------------

TrainResult Trainer::fit(const EpochFunction& train_epoch, const EpochFunction& validate) {
  WEFT_CHECK(static_cast<bool>(train_epoch), "fit: train_epoch is empty");
  progress_ = std::make_unique<Progress>(options_.progress, options_.epochs, options_.log);
  clear_stop_request();
  std::optional<StopOnSignals> signals;
  if (options_.handle_signals) signals.emplace();

  TrainResult result;
  run_steps_ = 0;
  profile_done_ = false;
  // A profile still recording when fit() ends (an interrupted or failed epoch) is dropped.
  struct ProfileEnd {
    Trainer& trainer;
    ~ProfileEnd() {
      if (!trainer.profiling_) return;
      trainer.profiling_ = false;
      profile::stop();
    }
  } profile_end{*this};
  completed_epochs_ = 0;
  stopped_early_ = false;
  stop_reason_.clear();
  std::optional<MetricsFiles> files;
  if (!options_.resume.empty()) {
    const std::string path = resolve_checkpoint(options_.resume);
    if (options_.run_dir.empty()) {
      const fs::path folder = fs::path(path).parent_path();
      options_.run_dir = folder.empty() ? "." : folder.string();
    }
    load_checkpoint(path);
    log("resuming from " + path + ": " + std::to_string(completed_epochs_) + " of " +
        std::to_string(options_.epochs) + " epochs done");
    if (!options_.run_dir.empty()) {
      fs::create_directories(options_.run_dir);
      files.emplace(options_.run_dir);
      result.history = files->resume(completed_epochs_);
      for (const std::string& note : files->resume_notes()) log("resume: " + note);
    }
    if (completed_epochs_ >= options_.epochs && !stopped_early_) {
      log("the run in " + options_.run_dir + " has finished all " +
          std::to_string(completed_epochs_) + " of its epochs; nothing to train (ask for more "
          "with --epochs N)");
      result.already_finished = true;  // the loop below trains nothing; on_train_end still
                                       // runs (EarlyStopping puts its best weights back)
    }
  } else if (!options_.run_dir.empty()) {
    fs::create_directories(options_.run_dir);
    files.emplace(options_.run_dir);
    files->start_fresh();
    save_checkpoint((fs::path(options_.run_dir) / kLastCheckpoint).string());
  }
  result.first_epoch = completed_epochs_ + 1;
  // Every rank starts from rank 0's weights (the same seed gives the same ones; this makes
  // sure, and costs one broadcast).
  dist::broadcast_state(model_);

  for (const auto& callback : callbacks_) callback->on_train_begin(context_);
  for (const auto& callback : callbacks_) log(callback->describe());
  bool per_step_schedule = false;
  for (const auto& callback : callbacks_) {
    const auto* schedule = dynamic_cast<const LrSchedule*>(callback.get());
    per_step_schedule = per_step_schedule || (schedule && schedule->unit() == ScheduleUnit::step);
  }
  if (stopped_early_) log("the checkpoint's run had already stopped: " + stop_reason_);

  int interrupted_epoch = 0;
  for (int epoch = completed_epochs_ + 1; epoch <= options_.epochs && !stopped_early_; ++epoch) {
    if (stop_requested()) {
      interrupted_epoch = epoch;
      break;
    }
    const auto epoch_start = Clock::now();
    progress_->epoch_begin(epoch);
    context_.checkpoint_requests.clear();
    for (const auto& callback : callbacks_) callback->on_epoch_begin(context_, epoch);

    hooked_steps_ = 0;
    skipped_steps_ = 0;
    const int64_t steps_before = optimizer_.step_count();
    Metrics metrics;
    try {
      metrics = mean_over_ranks(train_epoch(epoch), "training metrics");
    } catch (const NonFiniteLoss& e) {
      throw Error(diverged_message(epoch, e.what()));
    }
    const double train_seconds = seconds_since(epoch_start);
    // An epoch of fewer steps than the profile asked for: the profile has what it had.
    if (profiling_) {
      if (run_steps_ >= profile_first_step_) {
        finish_profile();
      } else {
        profile::stop();
        profiling_ = false;
      }
    }
    if (!stop_requested() && validate) {
      for (const auto& callback : callbacks_) callback->on_validation_begin(context_);
      metrics.merge(mean_over_ranks(validate(epoch), "validation metrics"));
      for (const auto& callback : callbacks_) callback->on_validation_end(context_);
    }
    if (!stop_requested()) {
      for (const auto& [name, value] : metrics.entries()) {
        if (name.find("loss") != std::string::npos && !std::isfinite(value)) {
          throw Error(diverged_message(epoch, "the epoch's " + name + " is " +
                                                  std::to_string(value)));
        }
      }
    }
    if (skipped_steps_ > 0) {
      log("epoch " + std::to_string(epoch) + ": skipped " + std::to_string(skipped_steps_) +
          " step(s) whose loss was not finite");
    }
    if (stop_requested()) {
      interrupted_epoch = epoch;
      break;
    }
    WEFT_CHECK(!per_step_schedule || hooked_steps_ > 0 || optimizer_.step_count() == steps_before,
               "a per-step learning-rate schedule is set, but train_epoch never called the "
               "trainer's step hooks (Trainer::step_hooks().before_step)");

    for (const auto& callback : callbacks_) callback->on_epoch_end(context_, epoch, metrics);
    completed_epochs_ = epoch;
    share_kernel_picks();
    last_metrics_ = metrics;
    if (context_.stop_training) {
      stopped_early_ = true;
      stop_reason_ = context_.stop_reason;
    }
    const EpochRecord record{epoch, metrics, optimizer_.lr(), train_seconds,
                             seconds_since(epoch_start)};
    result.history.push_back(record);
    if (files) files->append(record);
    progress_->epoch_end(record);

    if (!options_.run_dir.empty()) {
      save_checkpoint((fs::path(options_.run_dir) / kLastCheckpoint).string());
      for (const std::string& name : context_.checkpoint_requests) {
        save_checkpoint((fs::path(options_.run_dir) / name).string());
      }
    }
    if (stopped_early_) log(stop_reason_);
  }

  result.epochs_completed = completed_epochs_;
  result.stopped_early = stopped_early_;
  result.stop_reason = stop_reason_;
  if (interrupted_epoch > 0) {
    // The run is not over: no on_train_end (EarlyStopping would swap in its best weights).
    result.interrupted = true;
    result.signal = stop_signal();
    const std::string saved =
        options_.run_dir.empty()
            ? "no run folder, nothing saved"
            : (fs::path(options_.run_dir) / kLastCheckpoint).string() + " holds epoch " +
                  std::to_string(completed_epochs_) + "; resuming repeats epoch " +
                  std::to_string(interrupted_epoch);
    log(std::string("interrupted by ") + signal_name(result.signal) + " during epoch " +
        std::to_string(interrupted_epoch) + ": " + saved);
  } else {
    for (const auto& callback : callbacks_) callback->on_train_end(context_);
  }
  progress_.reset();
  return result;
}

}  // namespace weft::train
