// The oneDNN context (context.h): engine and stream, the plan cache, running a plan with its
// layout reorders (counted in the runtime counters), the fused-activation post-op, and the
// version string.
#include "kernels/cpu_vendor/context.h"

#include <bit>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "kernels/cpu_vendor/onednn.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"

namespace weft::onednn {

Context::Context() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

Context& context() {
  static Context* instance = new Context();  // never destroyed, see context.h
  return *instance;
}

Plan& Context::plan(const PlanKey& key, const std::function<Plan()>& make) {
  auto found = plans_.find(key);
  if (found == plans_.end()) {
    // Bounded like the cuDNN plans (kernels/cuda_vendor/context.h): a process that keeps meeting
    // new shapes starts over rather than keeping every reorder buffer.
    if (plans_.size() >= kMaxPlans) plans_.clear();
    try {
      found = plans_.emplace(key, std::make_unique<Plan>(make())).first;
    } catch (const dnnl::error& e) {
      throw Error(std::string("oneDNN could not create a primitive for this shape: ") + e.what());
    }
  }
  return *found->second;
}

void Context::run(Plan& plan, const std::vector<const void*>& pointers) {
  WEFT_CHECK(pointers.size() == plan.args.size(), "oneDNN plan: ", plan.args.size(), " arguments, ",
             pointers.size(), " pointers");
  std::unordered_map<int, dnnl::memory> args;
  std::vector<std::pair<dnnl::memory, dnnl::memory>> write_back;  // (primitive's, weft's)
  for (size_t i = 0; i < plan.args.size(); ++i) {
    PlanArg& a = plan.args[i];
    if (pointers[i] == nullptr) continue;
    // oneDNN's memory takes a non-const handle; inputs are only read.
    dnnl::memory user(a.plain, engine_, const_cast<void*>(pointers[i]));
    if (!a.reordered) {
      args.emplace(a.id, user);
      continue;
    }
    // A reorder into a blocked layout writes its padding too (zeros), and a primitive writes
    // its outputs' padding, so a reused buffer needs no clearing.
    if (scratch_.size() <= i) scratch_.resize(i + 1);
    const int64_t floats = static_cast<int64_t>((a.wanted.get_size() + 3) / 4);
    dnnl::memory buffer(a.wanted, engine_, scratch_[i].floats(floats));
    if (a.output) {
      write_back.emplace_back(buffer, user);
    } else {
      dnnl::reorder(user, buffer).execute(stream_, user, buffer);
      count::reorder(a.plain.get_size());
    }
    args.emplace(a.id, buffer);
  }
  plan.primitive.execute(stream_, args);
  for (auto& [from, to] : write_back) {
    dnnl::reorder(from, to).execute(stream_, from, to);
    count::reorder(to.get_desc().get_size());
  }
  stream_.wait();
}

PlanArg plan_arg(int id, bool output, const dnnl::memory::desc& plain,
                 const dnnl::memory::desc& wanted) {
  PlanArg a;
  a.id = id;
  a.output = output;
  a.plain = plain;
  a.wanted = wanted;
  a.reordered = wanted != plain;
  return a;
}

dnnl::memory::desc plain_nchw(int64_t n, int64_t c, int64_t h, int64_t w) {
  return {{n, c, h, w}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nchw};
}
dnnl::memory::desc plain_oihw(int64_t o, int64_t i, int64_t h, int64_t w) {
  return {{o, i, h, w}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::oihw};
}
dnnl::memory::desc plain_vector(int64_t n) {
  return {{n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x};
}
dnnl::memory::desc plain_matrix(int64_t rows, int64_t cols) {
  return {{rows, cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nc};
}
dnnl::memory::desc any_layout(const dnnl::memory::dims& dims) {
  return {dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any};
}

dnnl::primitive_attr activation_attr(const FusedActivation& act) {
  dnnl::primitive_attr attr;
  if (act.active()) {
    dnnl::post_ops ops;
    const float alpha = act.kind == FusedActivation::Kind::relu ? 0.0f : act.alpha;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, alpha, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

int64_t activation_key(const FusedActivation& act) {
  return static_cast<int64_t>(act.kind) << 32 | int64_t{std::bit_cast<uint32_t>(act.alpha)};
}

std::string version() {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2:
      isa = "AVX2";
      break;
    case dnnl::cpu_isa::avx512_core:
      isa = "AVX-512";
      break;
    case dnnl::cpu_isa::avx512_core_vnni:
      isa = "AVX-512 VNNI";
      break;
    case dnnl::cpu_isa::avx512_core_bf16:
      isa = "AVX-512 BF16";
      break;
    case dnnl::cpu_isa::avx512_core_amx:
      isa = "AVX-512 AMX";
      break;
    default:
      isa = "other";
      break;
  }
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" + isa + ")";
}

}  // namespace weft::onednn
