// Helpers for the kernel-choice, dispatch and autotune tests (test_kernel_selection.cpp,
// test_dispatch.cpp, test_autotune.cpp): an environment variable set for one scope, a clean
// slate for the kernel settings with the kernel log captured, and RecordingBackend - a fake
// backend generated from the op table that records each call and advances a fake clock by its
// own cost, so that the dispatch's measurements have a known winner.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "kernels/backend.h"
#include "kernels/selection.h"

namespace weft::testing {

// Sets (or clears) an environment variable for the scope and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A clean slate for the kernel settings and the log, with the log captured; the autotune disk
// cache is off unless a test names a file.
class SelectionFixture {
 public:
  SelectionFixture()
      : kernels_("WEFT_KERNELS", nullptr), tf32_("WEFT_TF32", nullptr),
        precision_("WEFT_PRECISION", nullptr), algorithms_("WEFT_CUDNN_ALGOS", nullptr),
        tile_("WEFT_TENSOR_CORE_TILE", nullptr), layout_("WEFT_CONV_CHANNELS_LAST", nullptr),
        cache_("WEFT_AUTOTUNE_CACHE", "off") {
    reset_kernel_choices();
    reset_kernel_log();
    previous_sink_ = set_kernel_log_sink([this](const std::string& m) { log.push_back(m); });
  }
  ~SelectionFixture() {
    set_kernel_log_sink(previous_sink_);
    reset_kernel_log();
    reset_kernel_choices();
  }
  SelectionFixture(const SelectionFixture&) = delete;
  SelectionFixture& operator=(const SelectionFixture&) = delete;

  std::vector<std::string> log;

 private:
  ScopedEnv kernels_;
  ScopedEnv tf32_;
  ScopedEnv precision_;
  ScopedEnv algorithms_;
  ScopedEnv tile_;
  ScopedEnv layout_;
  ScopedEnv cache_;
  KernelLogSink previous_sink_;
};

// Records the name of every method called, and adds `cost` to `*clock` per call (or the op's own
// cost from `op_costs`, by method name). Implements the families in `families` (all when
// empty); the others throw NotImplemented. `fuses` is its answer to fuses_conv_max_pool and
// fuses_conv_max_pool_filter (whether it has the fused convolution + max pool for a layer).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
class RecordingBackend final : public PartialBackend {
 public:
  RecordingBackend(const char* name, double cost, double* clock,
                   std::set<KernelFamily> families = {})
      : name_(name), cost_(cost), clock_(clock), families_(std::move(families)) {}
  const char* name() const override { return name_; }
  bool implements(KernelFamily family) const override {
    return families_.empty() || families_.count(family) > 0;
  }
  bool fuses_conv_max_pool(const Conv2dParams&, const Pool2dParams&) override { return fuses; }
  bool fuses_conv_max_pool_filter(const Conv2dParams&, const Pool2dParams&) override {
    return fuses;
  }

#define WEFT_RECORDING_METHOD(family, name, params, args) \
  void name params override { record(KernelFamily::family, #name); }
  WEFT_BACKEND_OPS(WEFT_RECORDING_METHOD)
#undef WEFT_RECORDING_METHOD

  std::vector<std::string> calls;
  std::map<std::string, double> op_costs;
  bool fuses = false;

 private:
  // Out of line on purpose: inlined, GCC 12 sees the literal's length inside std::string's copy
  // and reports a false -Warray-bounds / -Wstringop-overread.
  [[gnu::noinline]] void record(KernelFamily family, const char* op) {
    if (!implements(family)) not_implemented(op);
    calls.emplace_back(op);
    const auto own = op_costs.find(op);
    if (clock_ != nullptr) *clock_ += own != op_costs.end() ? own->second : cost_;
  }

  const char* name_;
  double cost_;
  double* clock_;
  std::set<KernelFamily> families_;
};
#pragma GCC diagnostic pop

// The families the vendor libraries cover on a GPU.
inline std::set<KernelFamily> vendor_families() {
  return {KernelFamily::conv, KernelFamily::conv_transpose, KernelFamily::batchnorm,
          KernelFamily::gemm};
}

// A device on host memory for a Dispatch over fakes: calloc'd scratch, nothing to wait for.
inline DispatchDevice host_device() {
  DispatchDevice d;
  d.label = "fake";
  d.name = "fake device";
  d.driver = "fake driver 1";
  d.allocate = [](size_t bytes) { return std::calloc(bytes, 1); };
  d.release = [](void* p, size_t) { std::free(p); };
  d.synchronize = [] {};
  return d;
}

// A fake GPU: a hand and a vendor RecordingBackend (the vendor with the vendor families) that
// cost `hand_cost` and `vendor_cost` per call on one fake clock, behind a Dispatch that reads it.
struct FakeGpu {
  FakeGpu(double hand_cost, double vendor_cost)
      : hand("hand", hand_cost, &clock), vendor("vendor", vendor_cost, &clock, vendor_families()),
        dispatch(host_device(),
                 {{&hand, KernelPath::hand, true}, {&vendor, KernelPath::vendor, false}},
                 [this] { return clock; }) {}

  double clock = 0;
  RecordingBackend hand;
  RecordingBackend vendor;
  Dispatch dispatch;
};

}  // namespace weft::testing
