// The hand/vendor choice and the math precision (selection.h): names, the WEFT_KERNELS parser,
// the process-wide settings and the kernel log.
//
// The settings are one small table behind a mutex. It is filled on first use from the defaults
// (auto everywhere, fp32) and the environment (WEFT_KERNELS, WEFT_PRECISION, WEFT_TF32); API
// calls change it afterwards, so an API call always wins over the environment.
#include "kernels/selection.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <utility>

#include "kernels/error.h"

namespace weft {
namespace {

constexpr std::array<KernelFamily, kKernelFamilyCount> kFamilies = {
    KernelFamily::conv,        KernelFamily::conv_transpose, KernelFamily::batchnorm,
    KernelFamily::dropout,     KernelFamily::gemm,           KernelFamily::pool,
    KernelFamily::elementwise, KernelFamily::softmax,        KernelFamily::loss,
    KernelFamily::optimizer,
};

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string family_list() {
  std::string names;
  for (KernelFamily f : kFamilies) names += std::string(names.empty() ? "" : ", ") + family_name(f);
  return names;
}

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] == '1';
}

// ---- the settings table ----

struct Settings {
  std::array<KernelChoice, kKernelFamilyCount> choices{};
  MathPrecision precision = MathPrecision::fp32;
  VendorAlgorithms algorithms = VendorAlgorithms::measured;
  TensorCoreTileSetting tile = TensorCoreTileSetting::automatic;
  bool channels_last = true;
};

std::mutex settings_mutex;
std::optional<Settings> settings;  // empty until first use

void apply(Settings& s, const KernelChoices& parsed) {
  for (KernelFamily f : kFamilies) {
    if (const std::optional<KernelChoice> c = parsed[f]) s.choices[static_cast<size_t>(f)] = *c;
  }
}

Settings from_environment() {
  Settings s;
  s.choices.fill(KernelChoice::automatic);
  if (const char* spec = std::getenv("WEFT_KERNELS")) {
    try {
      apply(s, parse_kernel_choices(spec));
    } catch (const Error& e) {
      throw Error(std::string("WEFT_KERNELS=\"") + spec + "\": " + e.what());
    }
  }
  if (const char* precision = std::getenv("WEFT_PRECISION")) {
    const std::optional<MathPrecision> parsed = parse_precision(precision);
    if (!parsed) {
      throw Error(std::string("WEFT_PRECISION=\"") + precision +
                  "\": expected fp32, tf32 or bf16");
    }
    s.precision = *parsed;
  } else if (env_flag("WEFT_TF32")) {
    s.precision = MathPrecision::tf32;
  }
  if (const char* algorithms = std::getenv("WEFT_CUDNN_ALGOS")) {
    const std::optional<VendorAlgorithms> parsed = parse_vendor_algorithms(algorithms);
    if (!parsed) {
      throw Error(std::string("WEFT_CUDNN_ALGOS=\"") + algorithms +
                  "\": expected measured or rules");
    }
    s.algorithms = *parsed;
  }
  if (const char* tile = std::getenv("WEFT_TENSOR_CORE_TILE")) {
    const std::optional<TensorCoreTileSetting> parsed = parse_tensor_core_tile(tile);
    if (!parsed) {
      throw Error(std::string("WEFT_TENSOR_CORE_TILE=\"") + tile +
                  "\": expected automatic, square, tall or wide");
    }
    s.tile = *parsed;
  }
  if (const char* layout = std::getenv("WEFT_CONV_CHANNELS_LAST")) {
    const std::string_view value = trim(layout);
    if (value != "0" && value != "1") {
      throw Error(std::string("WEFT_CONV_CHANNELS_LAST=\"") + layout + "\": expected 1 or 0");
    }
    s.channels_last = value == "1";
  }
  return s;
}

// The table, filled on first use; the caller holds settings_mutex.
Settings& current() {
  if (!settings) settings = from_environment();
  return *settings;
}

// ---- the log ----

std::mutex log_mutex;
std::set<std::pair<KernelFamily, std::string>> logged;
KernelLogSink log_sink;

}  // namespace

// ---- names ------------------------------------------------------------------------------------

const char* family_name(KernelFamily family) {
  switch (family) {
    case KernelFamily::conv:
      return "conv";
    case KernelFamily::conv_transpose:
      return "conv_transpose";
    case KernelFamily::batchnorm:
      return "batchnorm";
    case KernelFamily::dropout:
      return "dropout";
    case KernelFamily::gemm:
      return "gemm";
    case KernelFamily::pool:
      return "pool";
    case KernelFamily::elementwise:
      return "elementwise";
    case KernelFamily::softmax:
      return "softmax";
    case KernelFamily::loss:
      return "loss";
    case KernelFamily::optimizer:
      return "optimizer";
  }
  return "?";
}

const char* choice_name(KernelChoice choice) {
  switch (choice) {
    case KernelChoice::hand:
      return "hand";
    case KernelChoice::vendor:
      return "vendor";
    case KernelChoice::automatic:
      return "auto";
  }
  return "?";
}

const char* path_name(KernelPath path) {
  return path == KernelPath::hand ? "hand" : "vendor";
}

std::optional<KernelFamily> parse_family(std::string_view text) {
  for (KernelFamily f : kFamilies) {
    if (text == family_name(f)) return f;
  }
  return std::nullopt;
}

std::optional<KernelChoice> parse_choice(std::string_view text) {
  for (KernelChoice c : {KernelChoice::hand, KernelChoice::vendor, KernelChoice::automatic}) {
    if (text == choice_name(c)) return c;
  }
  return std::nullopt;
}

bool has_vendor_path(KernelFamily family) {
  switch (family) {
    case KernelFamily::conv:
    case KernelFamily::conv_transpose:
    case KernelFamily::batchnorm:
    case KernelFamily::gemm:
      return true;
    default:
      return false;
  }
}

// ---- parsing ----------------------------------------------------------------------------------

KernelChoices parse_kernel_choices(std::string_view spec) {
  KernelChoices result;
  while (true) {
    const size_t comma = spec.find(',');
    const std::string_view item = trim(spec.substr(0, comma));
    if (!item.empty()) {
      const size_t equals = item.find('=');
      const std::string_view target =
          equals == std::string_view::npos ? std::string_view("all") : trim(item.substr(0, equals));
      const std::string_view choice_text =
          equals == std::string_view::npos ? item : trim(item.substr(equals + 1));
      const std::optional<KernelChoice> choice = parse_choice(choice_text);
      if (!choice) {
        throw Error("kernel choice \"" + std::string(item) + "\": \"" + std::string(choice_text) +
                    "\" is not hand, vendor or auto");
      }
      if (target == "all") {
        for (KernelFamily f : kFamilies) result.per_family[static_cast<size_t>(f)] = *choice;
      } else if (const std::optional<KernelFamily> family = parse_family(target)) {
        result.per_family[static_cast<size_t>(*family)] = *choice;
      } else {
        throw Error("kernel choice \"" + std::string(item) + "\": unknown family \"" +
                    std::string(target) + "\" (families: all, " + family_list() + ")");
      }
    }
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  return result;
}

// ---- settings ---------------------------------------------------------------------------------

void set_kernel_choice(KernelFamily family, KernelChoice choice) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().choices[static_cast<size_t>(family)] = choice;
}

void set_kernel_choice(KernelChoice choice) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().choices.fill(choice);
}

void set_kernel_choices(std::string_view spec) {
  const KernelChoices parsed = parse_kernel_choices(spec);  // throws before changing anything
  std::lock_guard<std::mutex> lock(settings_mutex);
  apply(current(), parsed);
}

KernelChoice kernel_choice(KernelFamily family) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return current().choices[static_cast<size_t>(family)];
}

void reset_kernel_choices() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  settings.reset();
  current();
}

const char* precision_name(MathPrecision precision) {
  switch (precision) {
    case MathPrecision::fp32: return "fp32";
    case MathPrecision::tf32: return "tf32";
    case MathPrecision::bf16: return "bf16";
  }
  return "?";
}

std::optional<MathPrecision> parse_precision(std::string_view text) {
  text = trim(text);
  for (MathPrecision p : {MathPrecision::fp32, MathPrecision::tf32, MathPrecision::bf16}) {
    if (text == precision_name(p)) return p;
  }
  return std::nullopt;
}

void set_math_precision(MathPrecision precision) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().precision = precision;
}

MathPrecision math_precision() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return current().precision;
}

void set_vendor_tf32(bool enabled) {
  set_math_precision(enabled ? MathPrecision::tf32 : MathPrecision::fp32);
}

bool vendor_tf32() { return math_precision() == MathPrecision::tf32; }

// ---- deterministic mode and cuDNN's algorithms -----------------------------------------------

namespace {
std::mutex deterministic_mutex;
int deterministic_setting = -1;  // -1: not read yet
}  // namespace

void set_deterministic(bool enabled) {
  std::lock_guard<std::mutex> lock(deterministic_mutex);
  deterministic_setting = enabled ? 1 : 0;
}

bool deterministic() {
  std::lock_guard<std::mutex> lock(deterministic_mutex);
  if (deterministic_setting < 0) {
    const char* value = std::getenv("WEFT_DETERMINISTIC");
    deterministic_setting = value != nullptr && value[0] == '1' ? 1 : 0;
  }
  return deterministic_setting == 1;
}

const char* vendor_algorithms_name(VendorAlgorithms algorithms) {
  return algorithms == VendorAlgorithms::measured ? "measured" : "rules";
}

std::optional<VendorAlgorithms> parse_vendor_algorithms(std::string_view text) {
  text = trim(text);
  for (VendorAlgorithms a : {VendorAlgorithms::measured, VendorAlgorithms::rules}) {
    if (text == vendor_algorithms_name(a)) return a;
  }
  return std::nullopt;
}

void set_vendor_algorithms(VendorAlgorithms algorithms) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().algorithms = algorithms;
}

VendorAlgorithms vendor_algorithms() {
  if (deterministic()) return VendorAlgorithms::rules;
  std::lock_guard<std::mutex> lock(settings_mutex);
  return current().algorithms;
}

const char* tensor_core_tile_name(TensorCoreTileSetting tile) {
  switch (tile) {
    case TensorCoreTileSetting::square:
      return "square";
    case TensorCoreTileSetting::tall:
      return "tall";
    case TensorCoreTileSetting::wide:
      return "wide";
    default:
      return "automatic";
  }
}

std::optional<TensorCoreTileSetting> parse_tensor_core_tile(std::string_view text) {
  text = trim(text);
  for (TensorCoreTileSetting tile :
       {TensorCoreTileSetting::automatic, TensorCoreTileSetting::square,
        TensorCoreTileSetting::tall, TensorCoreTileSetting::wide}) {
    if (text == tensor_core_tile_name(tile)) return tile;
  }
  return std::nullopt;
}

void set_tensor_core_tile(TensorCoreTileSetting tile) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().tile = tile;
}

TensorCoreTileSetting tensor_core_tile() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return current().tile;
}

void set_conv_channels_last(bool enabled) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  current().channels_last = enabled;
}

bool conv_channels_last() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return current().channels_last;
}

// ---- the log ----------------------------------------------------------------------------------

void log_kernel_message(const std::string& message) {
  KernelLogSink sink;
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    sink = log_sink;
  }
  if (sink) {
    sink(message);
  } else {
    std::fprintf(stderr, "weft: %s\n", message.c_str());
  }
}

bool log_kernel_note_once(KernelFamily family, const std::string& reason,
                          const std::string& message) {
  KernelLogSink sink;
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    if (!logged.emplace(family, reason).second) return false;
    sink = log_sink;
  }
  if (sink) {
    sink(message);
  } else {
    std::fprintf(stderr, "weft: %s\n", message.c_str());
  }
  return true;
}

KernelLogSink set_kernel_log_sink(KernelLogSink sink) {
  std::lock_guard<std::mutex> lock(log_mutex);
  std::swap(log_sink, sink);
  return sink;
}

void reset_kernel_log() {
  std::lock_guard<std::mutex> lock(log_mutex);
  logged.clear();
}

}  // namespace weft
