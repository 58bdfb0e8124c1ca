// The dispatch (dispatch.h): the choice between a device's implementations, the trials that
// `auto` measures, and the per-device instances the engine uses.
#include "engine/dispatch.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include <unistd.h>

#include "engine/op_text.h"
#include "kernels_id.h"
#include "kernels/cpu/openblas_core.h"
#include "kernels/cpu_vendor/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/error.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft {
namespace {

// Scratch buffers for one trial, released when it goes out of scope.
class Scratch {
 public:
  Scratch(const DispatchDevice& device, const std::vector<size_t>& floats) : device_(device) {
    for (size_t n : floats) {
      const size_t bytes = (n > 0 ? n : 1) * sizeof(float);
      buffers_.emplace_back(static_cast<float*>(device_.allocate(bytes)), bytes);
    }
  }
  ~Scratch() {
    for (const auto& [pointer, bytes] : buffers_) device_.release(pointer, bytes);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::vector<float*> pointers() const {
    std::vector<float*> out;
    for (const auto& b : buffers_) out.push_back(b.first);
    return out;
  }

 private:
  const DispatchDevice& device_;
  std::vector<std::pair<float*, size_t>> buffers_;
};

// Every live Dispatch (for kernel_picks and restore_kernel_picks), and the picks restored from a
// checkpoint. Function-local statics: dispatches are created on first use, possibly while other
// statics initialise. Lock order: the registry's mutex before a dispatch's picks_mutex_.
struct Registry {
  std::mutex mutex;
  std::vector<Dispatch*> dispatches;
};
Registry& registry() {
  static Registry* instance = new Registry;  // never destroyed, like the CPU's dispatch
  return *instance;
}
struct RestoredPicks {
  std::mutex mutex;
  std::map<std::string, std::string> picks;
};
RestoredPicks& restored_picks() {
  static RestoredPicks* instance = new RestoredPicks;
  return *instance;
}
std::optional<std::string> restored_pick(const std::string& key) {
  RestoredPicks& restored = restored_picks();
  std::lock_guard<std::mutex> lock(restored.mutex);
  const auto found = restored.picks.find(key);
  if (found == restored.picks.end()) return std::nullopt;
  return found->second;
}

void forget_restored_pick(const std::string& key) {
  RestoredPicks& restored = restored_picks();
  std::lock_guard<std::mutex> lock(restored.mutex);
  restored.picks.erase(key);
}

size_t floats_of(int64_t a, int64_t b = 1, int64_t c = 1, int64_t d = 1) {
  return static_cast<size_t>(a * b * c * d);
}

}  // namespace

// ---- the choice -------------------------------------------------------------------------------

Dispatch::Dispatch(DispatchDevice device, std::vector<Implementation> implementations,
                   std::function<double()> clock)
    : label_(device.label),
      device_(std::move(device)),
      implementations_(std::move(implementations)) {
  for (const Implementation& impl : implementations_) {
    WEFT_CHECK(impl.backend != nullptr, "dispatch ", label_, ": an implementation has no backend");
    const Implementation*& slot = impl.path == KernelPath::hand ? hand_ : vendor_;
    WEFT_CHECK(slot == nullptr, "dispatch ", label_, ": two ", path_name(impl.path),
               " implementations");
    slot = &impl;
  }
  WEFT_CHECK(hand_ != nullptr, "dispatch ", label_, ": no hand implementation");
  Autotuner::Options options;
  options.device = device_.name;
  options.driver = device_.driver;
  options.cache_path = default_autotune_cache_path(device_.name, device_.driver);
  options.clock = std::move(clock);
  options.synchronize = device_.synchronize;
  options.warn = [](const std::string& message) { log_kernel_message(message); };
  autotuner_ = std::make_unique<Autotuner>(std::move(options));
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().dispatches.push_back(this);
}

Dispatch::~Dispatch() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  std::vector<Dispatch*>& all = registry().dispatches;
  all.erase(std::remove(all.begin(), all.end(), this), all.end());
}

std::map<std::string, std::string> Dispatch::picks() const {
  std::lock_guard<std::mutex> lock(picks_mutex_);
  return {picks_.begin(), picks_.end()};
}

void Dispatch::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(picks_mutex_);
  picks_.erase(key);
}

Backend& Dispatch::choose_for(Op op, const KernelSupport& hand_support,
                              const std::function<std::optional<Trial>()>& make_trial) {
  Backend& hand = *hand_->backend;
  if (vendor_ == nullptr) return hand;  // one implementation: nothing to choose
  const KernelFamily family = op_family(op);
  const std::string family_text = family_name(family);
  const bool vendor_has = vendor_->backend->implements(family);
  switch (kernel_choice(family)) {
    case KernelChoice::hand:
      if (!hand_support.supported) {
        throw NotImplemented(family_text + ": the hand kernel does not support " +
                             hand_support.reason + " (choose auto or vendor for " + family_text +
                             " in WEFT_KERNELS)");
      }
      return hand;
    case KernelChoice::vendor:
      if (vendor_has) return *vendor_->backend;
      log_kernel_note_once(
          family, "no vendor path",
          family_text + " has no vendor path on " + label_ + "; " + hand.name() + " runs it");
      if (!hand_support.supported) {
        throw NotImplemented(family_text + ": the hand kernel does not support " +
                             hand_support.reason);
      }
      return hand;
    case KernelChoice::automatic:
      break;
  }

  const bool only_deterministic = deterministic();
  std::vector<const Implementation*> eligible;
  if (hand_support.supported && (!only_deterministic || hand_->deterministic)) {
    eligible.push_back(hand_);
  }
  if (vendor_has && (!only_deterministic || vendor_->deterministic)) eligible.push_back(vendor_);
  if (eligible.empty()) {
    if (!hand_support.supported && vendor_has) {
      log_kernel_note_once(family, "deterministic fallback " + hand_support.reason,
                           family_text + ": the hand kernel does not support " +
                               hand_support.reason + "; " + vendor_->backend->name() +
                               " runs it although deterministic mode is on");
      return *vendor_->backend;
    }
    throw NotImplemented(family_text + ": the hand kernel does not support " + hand_support.reason +
                         " and " + label_ + " has no other kernel for it");
  }
  if (eligible.size() == 1) {
    if (!hand_support.supported) {
      log_kernel_note_once(family, hand_support.reason,
                           family_text + ": the hand kernel does not support " +
                               hand_support.reason + "; using " + eligible[0]->backend->name() +
                               " (kernel choice auto)");
    }
    return *eligible[0]->backend;
  }
  const std::optional<Trial> trial = make_trial();
  if (!trial) return *eligible[0]->backend;  // nothing to measure for this op: the first
  return measure(family, *trial, eligible);
}

std::string Dispatch::settings_key() const {
  return " | " + device_.name + " | f32 " + precision_name(math_precision()) +
         (deterministic() ? " deterministic" : "") +
         (!deterministic() && vendor_algorithms() == VendorAlgorithms::rules ? " cudnn-rules"
                                                                               : "");
}

std::string Dispatch::remembered_pick(const std::string& key,
                                      const std::vector<std::string>& names,
                                      const std::function<std::string()>& measure_now) {
  {
    std::lock_guard<std::mutex> lock(picks_mutex_);
    const auto known = picks_.find(key);
    if (known != picks_.end()) return known->second;
  }
  const auto named = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (const std::optional<std::string> restored = restored_pick(key)) {
    if (named(*restored)) {
      autotuner_->adopt(key, *restored);
      std::lock_guard<std::mutex> lock(picks_mutex_);
      picks_[key] = *restored;
      return *restored;
    }
    forget_restored_pick(key);  // it names none of this key's candidates: measured below
  }
  const std::optional<std::string> cached = autotuner_->cached(key);
  const std::string name = cached && named(*cached) ? *cached : measure_now();
  std::lock_guard<std::mutex> lock(picks_mutex_);
  picks_.emplace(key, name);
  return name;
}

Backend& Dispatch::measure(KernelFamily family, const Trial& trial,
                           const std::vector<const Implementation*>& eligible) {
  std::string key = trial.key + settings_key() + " | among";
  std::vector<std::string> names;
  for (const Implementation* impl : eligible) {
    key += std::string(" ") + impl->backend->name();
    names.emplace_back(impl->backend->name());
  }
  const std::string name = remembered_pick(key, names, [&] {
    log_kernel_note_once(
        family, "autotune",
        std::string("kernel choice auto for ") + family_name(family) + " on " + label_ +
            ": measuring each new shape once (cache: " +
            (autotuner_->options().cache_path.empty() ? std::string("memory only")
                                                      : autotuner_->options().cache_path) +
            "; table: --kernel-report)");
    Scratch scratch(device_, trial.floats);
    const std::vector<float*> buffers = scratch.pointers();
    std::vector<AutotuneCandidate> candidates;
    for (const Implementation* impl : eligible) {
      Backend* backend = impl->backend;
      candidates.push_back(
          {backend->name(), [&trial, backend, &buffers] { trial.run(*backend, buffers); }});
    }
    return autotuner_->pick(key, candidates);
  });
  for (const Implementation* impl : eligible) {
    if (name == impl->backend->name()) return *impl->backend;
  }
  throw Error("autotune: no candidate named " + name + " for " + trial.key);
}

bool Dispatch::fuse_conv_max_pool(const Conv2dParams& c, const Pool2dParams& pool, bool filter) {
  Backend& hand = *hand_->backend;
  const KernelChoice choice = kernel_choice(KernelFamily::conv);
  if (choice == KernelChoice::vendor) return false;
  if (!(filter ? hand.fuses_conv_max_pool_filter(c, pool) : hand.fuses_conv_max_pool(c, pool))) {
    return false;
  }
  if (choice == KernelChoice::hand || vendor_ == nullptr) return true;
  Backend& conv = choose(filter ? Op::conv2d_backward_filter : Op::conv2d_forward, c);
  if (&conv == &hand) return true;

  const std::string key = std::string("conv2d+max_pool2d ") +
                          (filter ? "backward-filter " : "forward ") + describe(c) + " pool " +
                          describe(pool) + settings_key() + " | among fused composed";
  return remembered_pick(key, {"fused", "composed"}, [&] {
    // Scratch: x, w, bias, the convolution's output (or gradient), the pooled y and its gradient,
    // argmax (int32 in a float buffer), dw, dbias. argmax is set by a pool forward over the zero
    // convolution output first: each window's first cell, a valid index as the backward reads it.
    const size_t x = floats_of(c.input_count()), w = floats_of(c.weight_count());
    const size_t o = floats_of(c.out_channels), full = floats_of(c.output_count());
    const size_t pooled = floats_of(pool.batch, pool.channels, pool.out_h(), pool.out_w());
    Scratch scratch(device_, {x, w, o, full, pooled, pooled, pooled, w, o});
    const std::vector<float*> s = scratch.pointers();
    int32_t* argmax = reinterpret_cast<int32_t*>(s[6]);
    Backend& pooling = choose(Op::max_pool2d_forward, pool);
    pooling.max_pool2d_forward(pool, s[3], s[4], argmax);
    std::vector<AutotuneCandidate> candidates;
    if (filter) {
      candidates.push_back({"fused", [&] {
                              hand.conv2d_max_pool2d_backward_filter(c, pool, s[0], s[5], s[4],
                                                                     argmax, s[7], s[8]);
                            }});
      candidates.push_back({"composed", [&] {
                              pooling.max_pool2d_backward(pool, s[5], s[4], argmax, s[3]);
                              conv.conv2d_backward_filter(c, s[0], s[3], s[7], s[8]);
                            }});
    } else {
      candidates.push_back({"fused", [&] {
                              hand.conv2d_max_pool2d_forward(c, pool, s[0], s[1], s[2], s[4],
                                                             argmax);
                            }});
      candidates.push_back({"composed", [&] {
                              conv.conv2d_forward(c, s[0], s[1], s[2], s[3]);
                              pooling.max_pool2d_forward(pool, s[3], s[4], argmax);
                            }});
    }
    return autotuner_->pick(key, candidates);
  }) == "fused";
}

std::vector<AutotuneEntry> Dispatch::autotune_table() const {
  return autotuner_->table();
}

// ---- the trials: one pass (or batch norm's group) on scratch buffers ---------------------------

std::optional<Dispatch::Trial> Dispatch::conv_trial(Op op, const Conv2dParams& p) {
  const size_t x = floats_of(p.input_count()), w = floats_of(p.weight_count());
  const size_t y = floats_of(p.output_count()), o = floats_of(p.out_channels);
  switch (op) {
    case Op::conv2d_forward:
      return Trial{"conv2d forward " + describe(p), {x, w, o, y},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv2d_forward(p, s[0], s[1], s[2], s[3]);
                   }};
    case Op::conv2d_backward_data:
      return Trial{"conv2d backward-data " + describe(p), {y, w, x},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv2d_backward_data(p, s[0], s[1], s[2]);
                   }};
    case Op::conv2d_backward_filter:
      return Trial{"conv2d backward-filter " + describe(p), {x, y, w, o},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv2d_backward_filter(p, s[0], s[1], s[2], s[3]);
                   }};
    default:
      return std::nullopt;
  }
}

std::optional<Dispatch::Trial> Dispatch::conv_transpose_trial(Op op,
                                                              const ConvTranspose2dParams& p) {
  const size_t x = floats_of(p.input_count()), w = floats_of(p.weight_count());
  const size_t y = floats_of(p.output_count()), o = floats_of(p.out_channels);
  switch (op) {
    case Op::conv_transpose2d_forward:
      return Trial{"conv_transpose2d forward " + describe(p), {x, w, o, y},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv_transpose2d_forward(p, s[0], s[1], s[2], s[3]);
                   }};
    case Op::conv_transpose2d_backward_data:
      return Trial{"conv_transpose2d backward-data " + describe(p), {y, w, x},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv_transpose2d_backward_data(p, s[0], s[1], s[2]);
                   }};
    case Op::conv_transpose2d_backward_filter:
      return Trial{"conv_transpose2d backward-filter " + describe(p), {x, y, w, o},
                   [p](Backend& b, const std::vector<float*>& s) {
                     b.conv_transpose2d_backward_filter(p, s[0], s[1], s[2], s[3]);
                   }};
    default:
      return std::nullopt;
  }
}

std::optional<Dispatch::Trial> Dispatch::batch_norm_trial(const BatchNormParams& p) {
  const size_t x = floats_of(p.batch, p.channels, p.spatial);
  const size_t c = floats_of(p.channels);
  // x, y, dx; gamma, beta, save_mean, save_invstd, running_mean, running_var, dgamma, dbeta
  return Trial{"batch_norm " + describe(p),
               {x, x, x, c, c, c, c, c, c, c, c},
               [p](Backend& b, const std::vector<float*>& s) {
                 b.batch_norm_forward_train(p, s[0], s[3], s[4], s[1], s[5], s[6], s[7], s[8]);
                 b.batch_norm_backward(p, s[1], s[0], s[1], s[3], s[5], s[6], s[2], s[9], s[10]);
               }};
}

std::optional<Dispatch::Trial> Dispatch::gemm_trial(const GemmParams& p) {
  return Trial{"gemm " + describe(p),
               {floats_of(p.m, p.k), floats_of(p.k, p.n), floats_of(p.m, p.n)},
               [p](Backend& b, const std::vector<float*>& s) { b.gemm(p, s[0], s[1], s[2]); }};
}

std::optional<Dispatch::Trial> Dispatch::linear_trial(Op op, int n, int in_features,
                                                      int out_features,
                                                      const FusedActivation& act) {
  const size_t x = floats_of(n, in_features), w = floats_of(out_features, in_features);
  const size_t y = floats_of(n, out_features), o = floats_of(out_features);
  std::ostringstream shape;
  shape << "N=" << n << " in=" << in_features << " out=" << out_features
        << activation_suffix(act);
  if (op == Op::linear_forward) {
    return Trial{"linear forward " + shape.str(),
                 {x, w, o, y},
                 [n, in_features, out_features, act](Backend& b, const std::vector<float*>& s) {
                   b.linear_forward(n, in_features, out_features, act, s[0], s[1], s[2], s[3]);
                 }};
  }
  // x, w, dy, dx, dw, dbias
  return Trial{"linear backward " + shape.str(),
               {x, w, y, x, w, o},
               [n, in_features, out_features, act](Backend& b, const std::vector<float*>& s) {
                 b.linear_backward(n, in_features, out_features, act, s[0], s[1], s[2], s[3], s[4],
                                   s[5]);
               }};
}

// ---- the devices' dispatches -------------------------------------------------------------------

namespace {

// The processor's model name, so a CPU autotune cache is not read on another processor.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "cpu";
}

// weft's own kernels, as a hash of their sources (scripts/kernels_id.cmake): part of each
// device's autotune cache name, so that picks measured against older hand kernels (or older
// calls into the vendor libraries) are measured again rather than read back.
std::string kernels_identity() {
  return std::string("weft kernels ") + WEFT_KERNELS_ID;
}

// A device whose memory is host memory (the CPU, the emulated GPU): trial buffers from calloc,
// nothing to wait for.
DispatchDevice host_memory_device(std::string label, std::string name) {
  DispatchDevice device;
  device.label = std::move(label);
  device.name = std::move(name);
  device.allocate = [](size_t bytes) { return std::calloc(bytes, 1); };
  device.release = [](void* pointer, size_t) { std::free(pointer); };
  device.synchronize = [] {};
  return device;
}

// The OpenBLAS kernels the hand CPU backend runs on ("OpenBLAS SkylakeX"): they decide its
// GEMM speed (kernels/cpu/openblas_core.h).
std::string cpu_blas() {
  return "OpenBLAS " + cpu::openblas_core();
}

// The CPU: the hand kernels, and oneDNN as the vendor path where the build has it (counted as
// not deterministic: kernels/cpu_vendor/onednn.h). Timings depend on both libraries' kernels,
// so both name the autotune cache.
Dispatch& cpu_dispatch() {
  // Never destroyed: ops may run from static destructors of other objects.
  static Dispatch* instance = [] {
    DispatchDevice device = host_memory_device("cpu", cpu_model());
    device.driver = cpu_blas() + ", " + kernels_identity();
    // Said on a terminal (a person runs weft); --kernel-report says it everywhere.
    const std::string blas_note = cpu::openblas_fallback_note();
    if (!blas_note.empty() && isatty(fileno(stderr)) == 1) {
      std::fprintf(stderr, "weft: %s\n", blas_note.c_str());
    }
    std::vector<Implementation> implementations = {{&cpu_backend(), KernelPath::hand, true}};
#ifdef WEFT_HAVE_ONEDNN
    device.driver += ", " + cpu_vendor_version();
    implementations.push_back({&cpu_vendor_backend(), KernelPath::vendor, false});
#endif
    return new Dispatch(std::move(device), std::move(implementations));
  }();
  return *instance;
}

// The emulated GPU: the hand kernels under the host emulation, on host memory. One
// implementation, so nothing is measured.
Dispatch& emu_dispatch() {
  static Dispatch* instance = new Dispatch(host_memory_device("emu", "emu"),
                                           {{&emu_backend(), KernelPath::hand, true}});
  return *instance;
}
std::atomic<bool> emu_used{false};

std::mutex devices_mutex;
std::map<int, Dispatch*> cuda_dispatches;  // never destroyed, like the backends they hold

}  // namespace

Dispatch& dispatch(Device device) {
  if (device.is_cpu()) return cpu_dispatch();
  if (device.is_emu()) {
    emu_used = true;
    return emu_dispatch();
  }
#ifdef WEFT_HAVE_CUDA
  std::lock_guard<std::mutex> lock(devices_mutex);
  Dispatch*& slot = cuda_dispatches[device.index];
  if (slot == nullptr) {
    const int index = device.index;
    DispatchDevice d;
    d.label = device.str();
    d.name = cuda::device_name(index);
    d.driver = cuda::version_description() + ", " + cuda_vendor_versions() + ", " +
               kernels_identity();
    d.allocate = [index](size_t bytes) {
      void* pointer = cuda::cached_malloc(index, bytes);
      cuda::memset_zero(index, pointer, bytes);
      return pointer;
    };
    d.release = [index](void* pointer, size_t bytes) { cuda::cached_free(index, pointer, bytes); };
    d.synchronize = [index] { cuda::synchronize(index); };
    d.clock.start = [index] { cuda::op_clock_start(index); };
    d.clock.stop = [index] { cuda::op_clock_stop(index); };
    d.clock.seconds = [index] { return cuda::op_clock_seconds(index); };
    slot = new Dispatch(std::move(d), {{&cuda_hand_backend(index), KernelPath::hand, true},
                                       {&cuda_vendor_backend(index), KernelPath::vendor, false}});
  }
  return *slot;
#else
  throw Error("no backend for " + device.str() + ": this weft was built without CUDA");
#endif
}

std::map<std::string, std::string> kernel_picks() {
  std::map<std::string, std::string> out;
  std::lock_guard<std::mutex> lock(registry().mutex);
  for (const Dispatch* d : registry().dispatches) {
    const std::map<std::string, std::string> picks = d->picks();
    out.insert(picks.begin(), picks.end());
  }
  // A restored pick is the one the next call takes, used since the restore or not.
  RestoredPicks& restored = restored_picks();
  std::lock_guard<std::mutex> restored_lock(restored.mutex);
  for (const auto& [key, name] : restored.picks) out[key] = name;
  return out;
}

void restore_kernel_picks(const std::map<std::string, std::string>& picks) {
  {
    RestoredPicks& restored = restored_picks();
    std::lock_guard<std::mutex> lock(restored.mutex);
    restored.picks = picks;
  }
  std::lock_guard<std::mutex> lock(registry().mutex);
  for (Dispatch* d : registry().dispatches) {
    for (const auto& entry : picks) d->forget(entry.first);
  }
}

std::string kernel_report() {
  std::string out =
      "kernels on cpu: " + std::string(cpu_backend().name()) + " (" + cpu_blas() + ")";
#ifdef WEFT_HAVE_ONEDNN
  out += ", cpu-vendor (" + cpu_vendor_version() + ")";
#endif
  out += "\n";
  if (const std::string note = cpu::openblas_fallback_note(); !note.empty()) {
    out += "  " + note + "\n";
  }
  out += format_autotune_table(cpu_dispatch().autotune_table());
  if (emu_used) out += "kernels on emu: " + std::string(emu_backend().name()) + "\n";
  std::lock_guard<std::mutex> lock(devices_mutex);
  for (const auto& [index, d] : cuda_dispatches) {
    out += std::string("kernels on ") + d->name() + " (" + d->autotuner().options().device + "):\n";
    out += format_autotune_table(d->autotune_table());
  }
  return out;
}

}  // namespace weft
