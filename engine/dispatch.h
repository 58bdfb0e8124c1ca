// The dispatch: where an op's call meets the backend that runs it. An op reaches its kernel in
// three hops, each named:
//
//   engine/ops/*.cpp      the op: shape rule, params struct, backward closure
//     dispatch(device)    this file: picks one implementation of the device per call
//       Backend           the implementation (cpu, cpu-vendor, cuda-hand, cuda-vendor;
//                         kernels/backend.h)
//         launcher        the kernel (kernels/cpu/*.cpp, kernels/cuda/*.cu, kernels/cuda_vendor/)
//
// A device has one implementation per kernel library it can run: the CPU has `cpu` and, in a
// build with oneDNN, `cpu-vendor`; a GPU has `cuda-hand` and `cuda-vendor`. Both vendor paths
// cover conv, conv_transpose, batchnorm and gemm. For each
// call the dispatch reads the op family's kernel choice (kernels/selection.h: WEFT_KERNELS or
// set_kernel_choice, hand | vendor | auto) and
//   hand    runs the hand implementation (NotImplemented if its supports() predicate says no);
//   vendor  runs the vendor implementation, or the hand one where the family has none (said once);
//   auto    runs the only eligible implementation, or, when several are eligible, the fastest
//           one for this call's shapes, measured on the first call with those shapes
//           (engine/autotune.h) and cached in memory and on disk.
// What is measured together is what must run together. Batch norm's forward and backward share
// state (the backward reads the statistics its forward saved), so its training forward and
// backward are one trial and one key and always run on one implementation. The passes of a
// convolution, a transposed convolution or a linear layer share nothing but their tensors (the
// same layouts on both paths, no saved state), so each pass is its own trial and key and runs on
// whichever implementation is fastest for it: cuDNN's forward beside the hand backward-filter,
// say. A pass that never runs (the backward-data of a first layer, whose input needs no
// gradient) is then never measured either. One GEMM is one trial. In deterministic mode (WEFT_DETERMINISTIC=1 or
// set_deterministic(true)) auto considers only implementations that give bit-identical results
// run to run (the hand kernels; not cuDNN, whose algorithm choice may fall back to a
// non-deterministic one, nor oneDNN 2.6, which promises it for most primitives only).
//
// Dispatch is itself a Backend, generated from the op table (WEFT_BACKEND_OPS), so the op-case
// table can run exactly what the engine runs. Each method makes one choice and one call; nothing
// else wraps the implementations. While an op profile records (engine/profile.h) the call is
// also timed and counted there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/autotune.h"
#include "engine/device.h"
#include "engine/op_text.h"
#include "engine/profile.h"
#include "kernels/backend.h"
#include "kernels/hand_support.h"
#include "kernels/selection.h"

namespace weft {

// Deterministic mode (set_deterministic, deterministic: kernels/selection.h): auto keeps only
// deterministic implementations.

// What `auto` may measure with: scratch memory on the device and a way to wait for it.
struct DispatchDevice {
  std::string label;   // "cpu", "cuda:0"; in messages
  std::string name;    // "cpu", "NVIDIA H200"; in the autotune cache
  std::string driver;  // versions that make timings comparable; in the autotune cache
  // Zero-filled device memory for trial runs, and its release.
  std::function<void*(size_t bytes)> allocate;
  std::function<void(void* pointer, size_t bytes)> release;
  std::function<void()> synchronize;
  // The device's own clock for the op profile (timing events on a GPU's stream); empty on the
  // CPU and the emulation, whose ops the host clock times.
  profile::DeviceClock clock;
};

// One implementation of a device's ops.
struct Implementation {
  Backend* backend = nullptr;
  KernelPath path = KernelPath::hand;  // hand: weft's kernels; vendor: a vendor library
  bool deterministic = true;
};

class Dispatch final : public Backend {
 public:
  // `implementations` holds at most one of each path; the hand one implements every family.
  // `clock` (seconds) is for tests; empty means a steady clock.
  Dispatch(DispatchDevice device, std::vector<Implementation> implementations,
           std::function<double()> clock = {});
  ~Dispatch() override;

  const char* name() const override { return label_.c_str(); }

  // Whether the hand kernels' convolution + max pool in one op is taken for this layer (see
  // fuse_conv_max_pool below).
  bool fuses_conv_max_pool(const Conv2dParams& c, const Pool2dParams& pool) override {
    return fuse_conv_max_pool(c, pool, false);
  }
  bool fuses_conv_max_pool_filter(const Conv2dParams& c, const Pool2dParams& pool) override {
    return fuse_conv_max_pool(c, pool, true);
  }

#define WEFT_DISPATCH_ARGS(...) __VA_ARGS__
#define WEFT_DISPATCH_METHOD(family, name, params, args)                                \
  void name params override {                                                           \
    Backend& backend = choose(Op::name, WEFT_DISPATCH_ARGS args);                       \
    if (!profile::recording()) {                                                        \
      backend.name args;                                                                \
      return;                                                                           \
    }                                                                                   \
    profile::Timed timed(#family, #name, backend_label(backend),                        \
                         call_shape(#params, WEFT_DISPATCH_ARGS args),                  \
                         device_.synchronize, device_.clock);                           \
    backend.name args;                                                                  \
    timed.finish();                                                                     \
  }
  WEFT_BACKEND_OPS(WEFT_DISPATCH_METHOD)
#undef WEFT_DISPATCH_METHOD
#undef WEFT_DISPATCH_ARGS

  // The device this dispatch runs on: its scratch memory, synchronisation and clock (the op
  // profile times copies, which are no backend op, with them: engine/tensor.cpp).
  const DispatchDevice& dispatch_device() const { return device_; }

  // What auto measured or read, for the report (format_autotune_table).
  std::vector<AutotuneEntry> autotune_table() const;
  const Autotuner& autotuner() const {
    return *autotuner_;
  }

  // The picks auto made on this device so far (key -> candidate name), for kernel_picks().
  std::map<std::string, std::string> picks() const;
  // Forgets the remembered pick of `key`, so that its next call looks it up again
  // (restore_kernel_picks).
  void forget(const std::string& key);

 private:
  // The backend's name (a method the op macros cannot spell: `name` is their parameter).
  static const char* backend_label(Backend& backend) { return backend.name(); }

  // A measurable call: its key and the trial of its op group on scratch buffers.
  struct Trial {
    std::string key;
    std::vector<size_t> floats;  // scratch buffers, in floats
    std::function<void(Backend&, const std::vector<float*>&)> run;
  };

  template <class... Args>
  Backend& choose(Op op, const Args&... args) {
    if (needs_hand(args...)) return *hand_->backend;
    return choose_for(op, hand_supports_call(args...), [&] { return trial_for(op, args...); });
  }

  // A synchronised batch norm (BatchNormParams::sync) runs on the hand kernels whatever the
  // choice: cuDNN and oneDNN have no step between their partial sums and their statistics where
  // the ranks' sums could be exchanged.
  template <class... Rest>
  static bool needs_hand(const BatchNormParams& p, const Rest&...) {
    return p.sync != nullptr;
  }
  template <class... Args>
  static bool needs_hand(const Args&...) {
    return false;
  }
  Backend& choose_for(Op op, const KernelSupport& hand_support,
                      const std::function<std::optional<Trial>()>& make_trial);
  Backend& measure(KernelFamily family, const Trial& trial,
                   const std::vector<const Implementation*>& eligible);
  // What every autotune key ends with: the device, the precision and the settings that change
  // the measured code (deterministic mode, cuDNN's algorithms by rules).
  std::string settings_key() const;
  // The pick for `key` among `names`: remembered, else read from the autotune cache (when it
  // names one of them), else measure_now()'s; remembered from then on.
  std::string remembered_pick(const std::string& key, const std::vector<std::string>& names,
                              const std::function<std::string()>& measure_now);

  // The hand kernels' supports() predicate for the call's params struct (yes for the rest).
  template <class... Rest>
  static KernelSupport hand_supports_call(const Conv2dParams& p, const Rest&...) {
    return hand_supports(p);
  }
  template <class... Rest>
  static KernelSupport hand_supports_call(const ConvTranspose2dParams& p, const Rest&...) {
    return hand_supports(p);
  }
  template <class... Rest>
  static KernelSupport hand_supports_call(const BatchNormParams& p, const Rest&...) {
    return hand_supports(p);
  }
  template <class... Rest>
  static KernelSupport hand_supports_call(const GemmParams& p, const Rest&...) {
    return hand_supports(p);
  }
  template <class... Args>
  static KernelSupport hand_supports_call(const Args&...) {
    return KernelSupport::yes();
  }

  // The fused op (its forward, or with `filter` its backward-filter from the pool's gradient)
  // runs on the pool family's implementation, the hand one, so it is taken: never under the
  // vendor's convolutions (it would bypass that choice); always under the hand ones, or where
  // the hand kernels are the only ones; under auto where the composition's convolution pass
  // would run on the hand kernels too (the same work without the full-size intermediate), and
  // otherwise where it measured faster than the composition it replaces (auto's convolution and
  // the pool), once per layer, the pick kept like any other (autotune table and cache, key
  // "conv2d+max_pool2d ..."). The 6-channel pair CNN's third and fourth layers on the CPU ran
  // slower fused (the direct loop, 5.7 ms) than oneDNN's convolution and the pool (4.2-4.5 ms).
  bool fuse_conv_max_pool(const Conv2dParams& c, const Pool2dParams& pool, bool filter);

  // The trial of the call (its pass, or for batch norm its group), for the ops auto can measure.
  static std::optional<Trial> conv_trial(Op op, const Conv2dParams& p);
  static std::optional<Trial> conv_transpose_trial(Op op, const ConvTranspose2dParams& p);
  static std::optional<Trial> batch_norm_trial(const BatchNormParams& p);
  static std::optional<Trial> gemm_trial(const GemmParams& p);
  static std::optional<Trial> linear_trial(Op op, int n, int in_features, int out_features,
                                           const FusedActivation& act);
  template <class... Rest>
  static std::optional<Trial> trial_for(Op op, const Conv2dParams& p, const Rest&...) {
    return conv_trial(op, p);
  }
  template <class... Rest>
  static std::optional<Trial> trial_for(Op op, const ConvTranspose2dParams& p, const Rest&...) {
    return conv_transpose_trial(op, p);
  }
  template <class... Rest>
  static std::optional<Trial> trial_for(Op, const BatchNormParams& p, const Rest&...) {
    return batch_norm_trial(p);
  }
  template <class... Rest>
  static std::optional<Trial> trial_for(Op, const GemmParams& p, const Rest&...) {
    return gemm_trial(p);
  }
  template <class... Rest>
  static std::optional<Trial> trial_for(Op op, int n, int in_features, int out_features,
                                        const FusedActivation& act, const Rest&...) {
    if (op != Op::linear_forward && op != Op::linear_backward) return std::nullopt;
    return linear_trial(op, n, in_features, out_features, act);
  }
  template <class... Args>
  static std::optional<Trial> trial_for(Op, const Args&...) {
    return std::nullopt;
  }

  std::string label_;
  DispatchDevice device_;
  std::vector<Implementation> implementations_;
  const Implementation* hand_ = nullptr;
  const Implementation* vendor_ = nullptr;
  std::unique_ptr<Autotuner> autotuner_;
  // key -> the candidate picked for it (an implementation's name, or fuse_conv_max_pool's
  // "fused" / "composed"): every call after a shape's first comes here, without the autotuner's
  // lock and search.
  mutable std::mutex picks_mutex_;
  std::unordered_map<std::string, std::string> picks_;  // key -> the candidate's name
};

// The dispatch of `device`, created on first use: engine/ops/ calls dispatch(x.device()).
Dispatch& dispatch(Device device);

// The autotune tables of every device used so far, as text (for --kernel-report).
std::string kernel_report();

// Kernel picks carried from one process to another. Auto's picks follow timings, and two
// implementations of an op round differently (oneDNN's and weft's convolutions add in other
// orders), so a run that measured afresh (a new machine, a new build, WEFT_AUTOTUNE_CACHE=off,
// a busy moment that flipped a close race) computes slightly different numbers from the same
// seed. A training checkpoint therefore stores kernel_picks() (engine/train/trainer.h), and a
// resume hands them to restore_kernel_picks() before its first step: the continued run runs
// each pass on the implementation the interrupted run used and reproduces it bit for bit on the
// CPU. A shape first met after the checkpoint is measured as usual.
//
// kernel_picks: every pick auto has made in this process on every live Dispatch, and the picks
// restored (which the next call with their key takes) over them: key -> the candidate's name;
// keys name the device, the precision and the candidates.
std::map<std::string, std::string> kernel_picks();
// From now on a choice whose key is in `picks` takes that pick, where it names one of the
// choice's candidates, before the memory, the cache file or a measurement; the tables mark it
// "restored". Replaces the picks restored before (an empty map: none). Data-parallel training
// also hands rank 0's picks to the other ranks after every epoch (engine/train/trainer.h).
void restore_kernel_picks(const std::map<std::string, std::string>& picks);

}  // namespace weft
