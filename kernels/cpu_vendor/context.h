// The oneDNN context of the CPU vendor path (onednn.h): the process's one engine and stream,
// and plans: a primitive with, for each of its memory arguments, weft's plain layout and the
// layout the primitive wants; where they differ, the run reorders through a scratch buffer.
// The scratch buffers belong to the context, one per argument position, grown to the largest
// argument seen there and shared by every plan (runs hold the mutex, so one plan uses them at a
// time): a model's memory then holds one reordered copy of its largest tensor per position, not
// one per plan (ResNet-50 at batch 32 on oneDNN had 8.9 GB resident with a buffer per plan, against
// 5.3 GB with weft's own kernels and 3.7 GB of live tensors).
// Used by conv.cpp, batchnorm.cpp and gemm.cpp only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "kernels/cpu/cpu_support.h"
#include "kernels/params.h"

namespace weft::onednn {

// One memory argument of a plan's primitive.
struct PlanArg {
  int id = 0;                 // DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, ...
  bool output = false;        // written by the primitive (reordered back after it runs)
  dnnl::memory::desc plain;   // weft's layout of the argument
  dnnl::memory::desc wanted;  // the primitive's layout
  bool reordered = false;     // wanted differs from plain: the run goes through a scratch buffer
};

// A primitive and its arguments, created once per (pass, shape).
struct Plan {
  dnnl::primitive primitive;
  std::vector<PlanArg> args;
};

// The key of a plan: the pass and every number of its shape.
using PlanKey = std::vector<int64_t>;

// Passes, the first element of a PlanKey.
enum class Pass : int64_t {
  conv_forward,
  conv_backward_data,
  conv_backward_filter,
  batch_norm_forward_train,
  batch_norm_forward_eval,
  batch_norm_backward,
  batch_norm_backward_eval,
  linear_forward,
  linear_backward_data,
  linear_backward_weights,
};

class Context {
 public:
  const dnnl::engine& engine() const { return engine_; }

  // The plan for `key`, made by `make` on first use (the cache is cleared when it holds
  // kMaxPlans plans, so a reference is good until the next call). The caller holds mutex().
  Plan& plan(const PlanKey& key, const std::function<Plan()>& make);

  // Runs `plan` on weft's buffers (`pointers[i]` for plan.args[i]; null for an argument the
  // plan does not take), reordering at the edges where layouts differ. The caller holds
  // mutex().
  void run(Plan& plan, const std::vector<const void*>& pointers);

  std::mutex& mutex() { return mutex_; }

 private:
  static constexpr size_t kMaxPlans = 256;
  friend Context& context();
  Context();

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::mutex mutex_;
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
  std::vector<cpu::Scratch> scratch_;  // by argument position (the mutex serialises their use)
};

// The process's context, created on first use and never destroyed (ops may run from static
// destructors).
Context& context();

// An argument of a plan: its plain layout and the one the primitive descriptor wants.
PlanArg plan_arg(int id, bool output, const dnnl::memory::desc& plain,
                 const dnnl::memory::desc& wanted);

// Plain layouts.
dnnl::memory::desc plain_nchw(int64_t n, int64_t c, int64_t h, int64_t w);
dnnl::memory::desc plain_oihw(int64_t o, int64_t i, int64_t h, int64_t w);
dnnl::memory::desc plain_vector(int64_t n);
dnnl::memory::desc plain_matrix(int64_t rows, int64_t cols);
// A layout oneDNN chooses.
dnnl::memory::desc any_layout(const dnnl::memory::dims& dims);

// A forward's fused activation (kernels/params.h) as a oneDNN eltwise post-op: eltwise_relu with
// alpha is x > 0 ? x : alpha * x, i.e. relu (alpha 0) and leaky_relu alike. No post-op for none.
dnnl::primitive_attr activation_attr(const FusedActivation& act);
// The activation as one element of a PlanKey: its kind and its slope's bits.
int64_t activation_key(const FusedActivation& act);

}  // namespace weft::onednn
