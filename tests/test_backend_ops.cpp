// One table of op cases, run on every backend this machine has, each compared with the CPU
// reference (after ggml's tests/test-backend-ops.cpp):
//   cpu          the reference against itself: checks the harness and that the CPU kernels
//                neither write past their outputs nor touch their inputs (label cpu);
//   emu          the hand-written CUDA kernels under host emulation (label emu);
//   cpu-vendor   oneDNN, the CPU vendor path, where the build has it (label cpu), and the CPU's
//                dispatch (label dispatch) under each kernel choice;
//   cuda-hand, cuda-vendor, dispatch
//                the CUDA backends and the GPU's dispatch on a real GPU (label gpu; skipped with
//                a message without one).
//
// A case is an op call from kernels/reference/op_cases.h (the buffers with their roles and the
// call on the Backend interface, written once there and shared with the kernel benchmarks) plus
// a name and a tolerance. Inputs get seeded random data, outputs start as NaN so an element the
// kernel forgets to write fails, in-out buffers get data. Each buffer is allocated with a guard
// of sentinel bytes after it; after the call the guards must be intact and the inputs
// unchanged. Outputs are compared with the reference element by element,
// |got - want| <= abs + rel * |want| with the case's own tolerance, and the first few
// mismatches are printed with their indices. A backend that throws weft::NotImplemented for a
// case has it skipped and counted; the summary names the skipped ops.
//
// WEFT_OP_FILTER runs part of the table, so a slow build (a sanitizer run, say) can take one
// family at a time:
//   WEFT_OP_FILTER="family=conv"                     the convolution cases on every backend
//   WEFT_OP_FILTER="family=conv,backend=emu"         ... under host emulation only
//   WEFT_OP_FILTER="family=pool,family=batchnorm"    two families
// Items are key=value, separated by commas. family takes the names of kernels/selection.h
// (conv, conv_transpose, batchnorm, dropout, gemm, pool, elementwise, softmax, loss,
// optimizer), backend the labels above; several values of one key are alternatives, and a key
// left out selects everything. A table whose backend is filtered out is not run (and passes);
// an unknown key, family or backend, or a filter that leaves a run table with no case, fails.
// Every run prints one line to stdout: "op table on emu: 126 cases (0 skipped), filter: ...".
//
// A case at another math precision (OpCase::precision, tf32 or bf16: the tensor-core GEMM) sets
// it for the reference and the backend alike and runs only on the backends that follow it
// (follows_precision: cpu, cpu-vendor, emu, cuda-hand: oneDNN gets operands rounded by
// weft); elsewhere (cuBLAS, cuDNN, which round their own way) it is counted as skipped.
//
// To cover a new kernel family: add its factories to op_cases.h and its cases to
// tests/backend_op_table.cpp (odd sizes, batch 1, sizes that are not a multiple of the block or
// tile size); nothing else changes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <sanitizer/asan_interface.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/dispatch.h"
#include "engine/runtime.h"
#include "kernels/backend.h"
#include "kernels/cpu_vendor/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/error.h"
#include "kernels/guarded_memory.h"
#include "kernels/reference/op_cases.h"
#include "kernels/selection.h"
#include "tests/backend_op_table.h"
#include "tests/emu_order_test_util.h"
#include "tests/gpu_test_util.h"
#include "tests/kernel_test_util.h"
#include "tests/op_filter_test_util.h"

namespace {

namespace cases = weft::reference::cases;
using cases::CaseBuffer;
using cases::ElementType;
using cases::Role;
using weft::Backend;
using weft::test::backend_labels;
using weft::test::op_filter_from_environment;
using weft::test::OpFilter;
using weft::test::parse_op_filter;

using weft::test::op_cases;
using weft::test::OpCase;
using weft::test::PrecisionScope;

// ---- memory of a backend ------------------------------------------------------------------------

// Where a backend's buffers live: host memory for the CPU and emulated backends, device memory
// for the CUDA backend.
class Memory {
 public:
  virtual ~Memory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* pointer, size_t bytes) = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
  // Marks `bytes` at `at` (a buffer's guard) as out of bounds for AddressSanitizer (`on`), or
  // back in bounds: host memory only, and nothing without ASan.
  virtual void guard(void* at, size_t bytes, bool on) {
    (void)at;
    (void)bytes;
    (void)on;
  }
};

// Host buffers (CPU and emulated backends) end within 256 bytes of a page with no access
// (kernels/guarded_memory.h), at cudaMalloc's alignment: a kernel that writes far past a buffer
// faults at once and Catch2 names the test, where in the host's heap it had hung the table in
// malloc's lock; the guard bytes after each buffer still catch the near misses.
class HostMemory final : public Memory {
 public:
  static constexpr size_t kAlignment = 256;
  void* allocate(size_t bytes) override {
    void* pointer = weft::guarded_memory::map(bytes, kAlignment);
    if (pointer == nullptr) throw std::bad_alloc();
    return pointer;
  }
  void release(void* pointer, size_t bytes) override {
    weft::guarded_memory::unmap(pointer, bytes, kAlignment);
  }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void guard(void* at, size_t bytes, bool on) override {
    if (on) {
      ASAN_POISON_MEMORY_REGION(at, bytes);
    } else {
      ASAN_UNPOISON_MEMORY_REGION(at, bytes);
    }
  }
};

#ifdef WEFT_HAVE_CUDA
class DeviceMemory final : public Memory {
 public:
  explicit DeviceMemory(weft::Device device) : device_(device) {}
  void* allocate(size_t bytes) override { return weft::device_allocate(device_, bytes); }
  void release(void* pointer, size_t bytes) override {
    weft::device_free(device_, pointer, bytes);
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    weft::copy_bytes(device_, dst, weft::Device::cpu(), src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    weft::copy_bytes(weft::Device::cpu(), dst, device_, src, bytes);
  }

 private:
  weft::Device device_;
};
#endif

// ---- running a case -----------------------------------------------------------------------------

constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;

// What a case left in its buffers (data part only), or that the backend skipped it.
struct Outcome {
  bool skipped = false;
  std::string skip_reason;
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<std::string> damage;  // guards overwritten, inputs modified
};

Outcome run_case(const OpCase& c, Backend& backend, Memory& memory) {
  struct Allocation {
    void* pointer;
    size_t bytes;
  };
  std::vector<Allocation> allocations;
  std::vector<void*> pointers;
  Outcome outcome;
  for (const std::vector<unsigned char>& contents : c.contents) {
    std::vector<unsigned char> staged(contents);
    staged.resize(contents.size() + kGuardBytes, kGuardByte);
    void* pointer = memory.allocate(staged.size());
    memory.upload(pointer, staged.data(), staged.size());
    // Under ASan a kernel that reads the guard, not only one that writes it, is reported.
    memory.guard(static_cast<unsigned char*>(pointer) + contents.size(), kGuardBytes, true);
    allocations.push_back({pointer, staged.size()});
    pointers.push_back(pointer);
  }
  try {
    c.call.run(backend, pointers);
  } catch (const weft::NotImplemented& e) {
    outcome.skipped = true;
    outcome.skip_reason = e.what();
  } catch (...) {
    for (size_t i = 0; i < allocations.size(); ++i) {
      memory.guard(static_cast<unsigned char*>(allocations[i].pointer) + c.contents[i].size(),
                   kGuardBytes, false);
      memory.release(allocations[i].pointer, allocations[i].bytes);
    }
    throw;
  }
  for (size_t i = 0; i < c.call.buffers.size(); ++i) {
    const CaseBuffer& b = c.call.buffers[i];
    const std::vector<unsigned char>& contents = c.contents[i];
    memory.guard(static_cast<unsigned char*>(allocations[i].pointer) + contents.size(),
                 kGuardBytes, false);
    std::vector<unsigned char> back(allocations[i].bytes);
    memory.download(back.data(), allocations[i].pointer, back.size());
    memory.release(allocations[i].pointer, allocations[i].bytes);
    for (size_t g = contents.size(); g < back.size(); ++g) {
      if (back[g] != kGuardByte) {
        outcome.damage.push_back("wrote past the end of " + b.name + " (guard byte " +
                                 std::to_string(g - contents.size()) + ")");
        break;
      }
    }
    back.resize(contents.size());
    if (!outcome.skipped && b.role == Role::input && back != contents) {
      outcome.damage.push_back("modified its input " + b.name);
    }
    outcome.buffers.push_back(std::move(back));
  }
  return outcome;
}

template <class T>
std::vector<T> as(const std::vector<unsigned char>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// Element comparison with the case's tolerance; NaN matches only NaN. Returns the number of
// mismatches and writes the first ten, with their indices, to `report`.
int64_t count_mismatches(const OpCase& c, const CaseBuffer& b,
                         const std::vector<unsigned char>& got_bytes,
                         const std::vector<unsigned char>& want_bytes, std::ostream& report) {
  int64_t mismatches = 0;
  if (b.type == ElementType::f32) {
    const std::vector<float> got = as<float>(got_bytes), want = as<float>(want_bytes);
    for (size_t i = 0; i < got.size(); ++i) {
      const double g = got[i], w = want[i];
      const bool both_nan = std::isnan(g) && std::isnan(w);
      if (both_nan || std::fabs(g - w) <= c.abs_tol + c.rel_tol * std::fabs(w)) continue;
      if (++mismatches <= 10) report << "  [" << i << "] got " << g << ", want " << w << "\n";
    }
  } else {
    for (size_t i = 0; i < got_bytes.size(); ++i) {
      if (got_bytes[i] != want_bytes[i] && ++mismatches <= 10) {
        report << "  byte " << i << " differs\n";
      }
    }
  }
  return mismatches;
}

// count_mismatches() as a Catch2 check; returns whether everything matched.
bool compare(const OpCase& c, const CaseBuffer& b, const std::vector<unsigned char>& got_bytes,
             const std::vector<unsigned char>& want_bytes, const std::string& backend_name) {
  std::ostringstream report;
  const int64_t mismatches = count_mismatches(c, b, got_bytes, want_bytes, report);
  INFO(backend_name << ": " << c.name << ", output " << b.name << " (tolerance " << c.abs_tol
                    << " + " << c.rel_tol << " * |want|): " << mismatches << " of "
                    << b.count << " elements differ\n"
                    << report.str());
  CHECK(mismatches == 0);
  return mismatches == 0;
}

// Whether a backend rounds as the CPU reference does at tf32 and bf16: the reference itself, the
// hand kernels, and oneDNN (which multiplies operands that weft has rounded:
// kernels/cpu/rounded_operand.h). cuBLAS's TF32 conversion is its own (not documented as
// cvt.rna) and cuDNN's TF32 convolutions round their own way, so the CUDA vendor cases at those
// precisions are counted as skipped, as are the dispatch tables' (which may pick a vendor) -
// except cuDNN's BF16 convolutions, below.
bool follows_precision(const std::string& label) {
  return label == "cpu" || label == "cpu-vendor" || label == "emu" || label == "cuda-hand";
}

// cuDNN's convolutions at bf16 (kernels/cuda_vendor/conv.cu) take operands that weft rounded to
// BF16 to nearest even, as the reference does, and sum in FP32; their result is rounded to BF16
// once more (the BF16 output tensor), which the reference does not do. Those cases run with the
// tolerance widened by that rounding: 2^-8 of |want|, and 2^-6 absolute for a bias that cancels.
bool vendor_bf16_convolution(const std::string& label, const OpCase& c) {
  const weft::KernelFamily family = weft::op_family(c.call.op);
  return label == "cuda-vendor" && c.precision == weft::MathPrecision::bf16 &&
         (family == weft::KernelFamily::conv || family == weft::KernelFamily::conv_transpose);
}

// cuDNN's measured algorithms (kernels/selection.h VendorAlgorithms::measured) may be FFT or
// Winograd transforms, whose rounding is not a direct sum's: their convolution cases run with
// the tolerance widened by 1e-3 relative and 2e-3 absolute (the error of a transform scales with
// the size of the whole output, not of each element), at fp32 only (cuDNN's TF32 and BF16
// rounding is its own). The other tables run with the rules.
bool measured_convolution(const std::string& label, const OpCase& c) {
  const weft::KernelFamily family = weft::op_family(c.call.op);
  return label == "cuda-vendor-measured" &&
         (family == weft::KernelFamily::conv || family == weft::KernelFamily::conv_transpose);
}

// A process-wide kernel setting (kernels/selection.h) held at `value` for a scope: Get reads
// it, Set writes it.
template <class T, T (*Get)(), void (*Set)(T)>
class SettingScope {
 public:
  explicit SettingScope(T value) : previous_(Get()) { Set(value); }
  ~SettingScope() { Set(previous_); }
  SettingScope(const SettingScope&) = delete;
  SettingScope& operator=(const SettingScope&) = delete;

 private:
  T previous_;
};

// cuDNN's algorithm setting, and the tensor-core convolutions' tile, for a scope.
using VendorAlgorithmsScope = SettingScope<weft::VendorAlgorithms, weft::vendor_algorithms,
                                           weft::set_vendor_algorithms>;
using TensorCoreTileScope = SettingScope<weft::TensorCoreTileSetting, weft::tensor_core_tile,
                                         weft::set_tensor_core_tile>;

// The convolution cases at tf32 and bf16: those the tensor-core convolutions run.
bool tensor_core_convolution(const OpCase& c) {
  const weft::KernelFamily family = weft::op_family(c.call.op);
  return c.precision != weft::MathPrecision::fp32 &&
         (family == weft::KernelFamily::conv || family == weft::KernelFamily::conv_transpose);
}

// Runs the table on `backend`, as far as WEFT_OP_FILTER selects it, and compares with the CPU
// reference. `label` names the backend in the filter and the summary (backend_labels()).
// `only_op`: run only the cases of that op, at FP32 (the kernel lab's backends: they implement
// nothing else, and their versions are FP32 kernels that the precision switch does not reach).
// `tensor_cores_only`: run only the tensor_core_convolution cases.
void run_table(const std::string& label, Backend& backend, Memory& memory,
               std::optional<weft::Op> only_op = std::nullopt, bool tensor_cores_only = false) {
  OpFilter filter;
  try {
    filter = op_filter_from_environment();
  } catch (const weft::Error& e) {
    FAIL(e.what());
  }
  const bool convolutions = filter.selects(weft::KernelFamily::conv) ||
                            filter.selects(weft::KernelFamily::conv_transpose);
  if (!filter.selects(label) || (only_op && !filter.selects(weft::op_family(*only_op))) ||
      (tensor_cores_only && !convolutions)) {
    std::cout << "op table on " << label << ": not run, filter: " << filter.text << std::endl;
    return;
  }
  HostMemory host;
  int selected = 0, passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> skipped_ops;
  for (const OpCase& c : op_cases()) {
    if (!filter.selects(weft::op_family(c.call.op))) continue;
    if (only_op && c.call.op != *only_op) continue;
    if (tensor_cores_only && !tensor_core_convolution(c)) continue;
    ++selected;
    // Named in the report of anything that stops the table (SIGSEGV from a guard page, above).
    INFO("case running: " << label << ": " << c.name);
    const bool widened = vendor_bf16_convolution(label, c);
    const bool measured = measured_convolution(label, c);
    if (c.precision != weft::MathPrecision::fp32 &&
        (only_op || !(follows_precision(label) || widened))) {
      ++skipped;
      ++skipped_ops[std::string(weft::op_name(c.call.op)) + " at " +
                    weft::precision_name(c.precision)];
      continue;
    }
    const PrecisionScope precision(c.precision);
    const Outcome want = run_case(c, weft::cpu_backend(), host);
    REQUIRE_FALSE(want.skipped);
    Outcome got;
    try {
      got = run_case(c, backend, memory);
    } catch (const std::exception& e) {
      FAIL_CHECK(backend.name() << ": " << c.name << " threw: " << e.what());
      ++failed;
      continue;
    }
    if (got.skipped) {
      ++skipped;
      ++skipped_ops[weft::op_name(c.call.op)];
      continue;
    }
    bool ok = true;
    for (const std::string& d : got.damage) {
      FAIL_CHECK(backend.name() << ": " << c.name << " " << d);
      ok = false;
    }
    OpCase checked = c;
    if (widened) {
      checked.rel_tol += 1.0 / 256;
      checked.abs_tol += 1.0 / 64;
    }
    if (measured) {
      checked.rel_tol += 1e-3;
      checked.abs_tol += 2e-3;
    }
    for (size_t i = 0; i < c.call.buffers.size(); ++i) {
      if (c.call.buffers[i].role == Role::input) continue;
      if (!compare(checked, c.call.buffers[i], got.buffers[i], want.buffers[i],
                   backend.name())) {
        ok = false;
      }
    }
    ok ? ++passed : ++failed;
  }
  std::cout << "op table on " << label << ": " << selected << " cases (" << skipped
            << " skipped), filter: " << filter.text << std::endl;
  if (selected == 0) {
    FAIL("WEFT_OP_FILTER=\"" << filter.text << "\" selects no case of the op table");
  }
  std::ostringstream summary;
  summary << "backend " << backend.name() << ": " << selected << " cases, " << passed
          << " passed, " << failed << " failed, " << skipped << " skipped";
  if (!skipped_ops.empty()) {
    summary << " (not implemented:";
    for (const auto& [op, count] : skipped_ops) summary << " " << op << " x" << count;
    summary << ")";
  }
  WARN(summary.str());
  CHECK(failed == 0);
}

}  // namespace

TEST_CASE("backend ops: the CPU reference against itself (harness, guards, inputs)") {
  HostMemory host;
  run_table("cpu", weft::cpu_backend(), host);
}

TEST_CASE("backend ops: hand CUDA kernels under host emulation match the CPU reference",
          "[emu]") {
  HostMemory host;
  run_table("emu", weft::emu_backend(), host);
}

// The same table with the emulated threads in the orders that let one warp run ahead of the
// others (kernels/cuda/emulation_order.h): a kernel that relies on the default order's near
// lockstep (a missing barrier, a warp reading what another has not written yet) fails in one of
// them. Three cases, so that ctest -j can run them side by side.
namespace {

void run_emu_table_in(weft::emu::ThreadOrder order, uint64_t seed = 0) {
  weft::test::ScopedThreadOrder scope(order, seed);
  HostMemory host;
  run_table("emu", weft::emu_backend(), host);
}

}  // namespace

// The tensor-core convolutions on each block tile in turn, whatever tile a case's shape would
// choose (the op table's cases are small: automatic takes the tall and wide tiles only for the
// few cases built for them, and on a GPU's 132 SMs for none).
namespace {

constexpr weft::TensorCoreTileSetting kEveryTile[] = {weft::TensorCoreTileSetting::square,
                                                      weft::TensorCoreTileSetting::tall,
                                                      weft::TensorCoreTileSetting::wide};

}  // namespace

TEST_CASE("backend ops: hand tensor-core convolutions under host emulation on every block tile",
          "[emu]") {
  HostMemory host;
  for (weft::TensorCoreTileSetting tile : kEveryTile) {
    INFO("WEFT_TENSOR_CORE_TILE=" << weft::tensor_core_tile_name(tile));
    const TensorCoreTileScope scope(tile);
    run_table("emu", weft::emu_backend(), host, std::nullopt, true);
  }
}

TEST_CASE("backend ops: hand CUDA kernels under host emulation, warp 0 running ahead",
          "[emu][order]") {
  run_emu_table_in(weft::emu::ThreadOrder::low_first);
}

TEST_CASE("backend ops: hand CUDA kernels under host emulation, the last warp running ahead",
          "[emu][order]") {
  run_emu_table_in(weft::emu::ThreadOrder::high_first);
}

TEST_CASE("backend ops: hand CUDA kernels under host emulation, threads in a seeded shuffle",
          "[emu][order]") {
  run_emu_table_in(weft::emu::ThreadOrder::shuffled, 2026);
}

// The conv forward kernel lab (kernels/cuda/conv_lab.h): each version's conv2d_forward on every
// convolution forward case under emulation (label emu; the lab backends implement nothing
// else).
TEST_CASE("backend ops: each conv kernel lab version under host emulation matches the reference",
          "[emu][lab]") {
  HostMemory host;
  for (int version = 1; version <= weft::conv_lab_versions(); ++version) {
    INFO("conv lab version " << version);
    run_table("emu", weft::emu_conv_lab_backend(version), host, weft::Op::conv2d_forward);
  }
}

TEST_CASE("backend ops: the CUDA backend on a GPU matches the CPU reference", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  DeviceMemory device(weft::Device::cuda(0));
  run_table("cuda-hand", weft::cuda_hand_backend(0), device);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

TEST_CASE("backend ops: hand tensor-core convolutions on a GPU on every block tile", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  DeviceMemory device(weft::Device::cuda(0));
  for (weft::TensorCoreTileSetting tile : kEveryTile) {
    INFO("WEFT_TENSOR_CORE_TILE=" << weft::tensor_core_tile_name(tile));
    const TensorCoreTileScope scope(tile);
    run_table("cuda-hand", weft::cuda_hand_backend(0), device, std::nullopt, true);
  }
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

// The vendor libraries alone: cuDNN and cuBLAS on the convolution, transposed convolution,
// batch-norm, GEMM and linear cases; every other case is counted as skipped, since the vendor
// backend does not implement it (kernels/cuda_vendor/vendor_backend.cu).
TEST_CASE("backend ops: cuDNN/cuBLAS on a GPU match the CPU reference", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  DeviceMemory device(weft::Device::cuda(0));
  {
    const VendorAlgorithmsScope rules(weft::VendorAlgorithms::rules);
    run_table("cuda-vendor", weft::cuda_vendor_backend(0), device);
  }
  // The default: cuDNN's algorithms timed per shape (cudnnFind*Ex), any rounding.
  const VendorAlgorithmsScope measured(weft::VendorAlgorithms::measured);
  run_table("cuda-vendor-measured", weft::cuda_vendor_backend(0), device);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

// What the engine runs on a GPU: the device's dispatch (engine/dispatch.h), under each kernel
// choice for every family in turn (kernels/selection.h); under auto it measures every shape.
TEST_CASE("backend ops: the GPU dispatch matches the CPU reference under each choice",
          "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  struct ResetChoices {
    ~ResetChoices() { weft::reset_kernel_choices(); }
  } reset;
  const VendorAlgorithmsScope rules(weft::VendorAlgorithms::rules);
  DeviceMemory device(weft::Device::cuda(0));
  for (weft::KernelChoice choice :
       {weft::KernelChoice::hand, weft::KernelChoice::vendor, weft::KernelChoice::automatic}) {
    INFO("kernel choice " << weft::choice_name(choice) << " for every family");
    weft::set_kernel_choice(choice);
    run_table("dispatch", weft::dispatch(weft::Device::cuda(0)), device);
  }
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

// The CPU vendor path alone: oneDNN on the convolution, transposed convolution, batch-norm, GEMM
// and linear cases; every other case is counted as skipped (kernels/cpu_vendor/backend.cpp).
TEST_CASE("backend ops: oneDNN (cpu-vendor) matches the CPU reference") {
#ifdef WEFT_HAVE_ONEDNN
  HostMemory host;
  run_table("cpu-vendor", weft::cpu_vendor_backend(), host);
#else
  WARN("not run: this weft was built without oneDNN");
#endif
}

// What the engine runs on the CPU: its dispatch under each kernel choice for every family;
// with oneDNN, vendor runs cpu-vendor where it has the family and auto measures each shape.
TEST_CASE("backend ops: the CPU dispatch matches the CPU reference under each choice") {
  struct ResetChoices {
    ~ResetChoices() { weft::reset_kernel_choices(); }
  } reset;
  HostMemory host;
  for (weft::KernelChoice choice :
       {weft::KernelChoice::hand, weft::KernelChoice::vendor, weft::KernelChoice::automatic}) {
    INFO("kernel choice " << weft::choice_name(choice) << " for every family");
    weft::set_kernel_choice(choice);
    run_table("dispatch", weft::dispatch(weft::Device::cpu()), host);
  }
}

#ifdef WEFT_HAVE_ONEDNN
// The table catches a broken vendor path: cpu-vendor with one mistake per family a wrapper of
// it can make without changing a buffer's size (a dropped bias, a bias gradient left unwritten,
// gamma and beta exchanged, GEMM's beta ignored) must fail the cases of that op, compared
// exactly as run_table() compares.
namespace {
class BrokenVendor final : public weft::PartialBackend {
 public:
  const char* name() const override { return "cpu-vendor (broken)"; }
  void conv2d_forward(const weft::Conv2dParams& p, const float* x, const float* w, const float*,
                      float* y) override {
    vendor().conv2d_forward(p, x, w, nullptr, y);
  }
  void conv_transpose2d_backward_filter(const weft::ConvTranspose2dParams& p, const float* x,
                                        const float* dy, float* dw, float* dbias) override {
    static_cast<void>(dbias);
    vendor().conv_transpose2d_backward_filter(p, x, dy, dw, nullptr);
  }
  void batch_norm_forward_eval(const weft::BatchNormParams& p, const float* x, const float* gamma,
                               const float* beta, const float* running_mean,
                               const float* running_var, float* y) override {
    vendor().batch_norm_forward_eval(p, x, beta, gamma, running_mean, running_var, y);
  }
  void gemm(const weft::GemmParams& p, const float* a, const float* b, float* c) override {
    weft::GemmParams wrong = p;
    wrong.beta = 0;  // C's old value dropped
    vendor().gemm(wrong, a, b, c);
  }

 private:
  static Backend& vendor() { return weft::cpu_vendor_backend(); }
};
}  // namespace

TEST_CASE("backend ops: the op table fails a broken cpu-vendor") {
  BrokenVendor broken;
  HostMemory host;
  std::map<weft::Op, int> failing, run;
  for (const OpCase& c : op_cases()) {
    const weft::Op op = c.call.op;
    const bool mutated = op == weft::Op::conv2d_forward ||
                         op == weft::Op::conv_transpose2d_backward_filter ||
                         op == weft::Op::batch_norm_forward_eval || op == weft::Op::gemm;
    if (!mutated || c.precision != weft::MathPrecision::fp32) continue;
    const Outcome want = run_case(c, weft::cpu_backend(), host);
    const Outcome got = run_case(c, broken, host);
    REQUIRE_FALSE(got.skipped);
    int64_t mismatches = 0;
    for (size_t i = 0; i < c.call.buffers.size(); ++i) {
      if (c.call.buffers[i].role == Role::input) continue;
      std::ostringstream ignored;
      mismatches += count_mismatches(c, c.call.buffers[i], got.buffers[i], want.buffers[i],
                                     ignored);
    }
    ++run[op];
    if (mismatches > 0) ++failing[op];
  }
  // Every mutated op has cases, and cases of it fail: all of them where the mistake shows in
  // every call (the forward's bias where a bias is passed, gamma/beta always).
  for (weft::Op op : {weft::Op::conv2d_forward, weft::Op::conv_transpose2d_backward_filter,
                      weft::Op::batch_norm_forward_eval, weft::Op::gemm}) {
    INFO(weft::op_name(op) << ": " << failing[op] << " of " << run[op] << " cases fail");
    CHECK(run[op] > 0);
    CHECK(failing[op] > 0);
  }
  CHECK(failing[weft::Op::batch_norm_forward_eval] == run[weft::Op::batch_norm_forward_eval]);
}
#endif

TEST_CASE("backend ops: WEFT_OP_FILTER selects families and backends") {
  const OpFilter none = parse_op_filter("");
  CHECK(none.text == "none");
  CHECK(none.selects(weft::KernelFamily::conv));
  CHECK(none.selects(std::string("emu")));

  const OpFilter conv = parse_op_filter("family=conv");
  CHECK(conv.text == "family=conv");
  CHECK(conv.selects(weft::KernelFamily::conv));
  CHECK_FALSE(conv.selects(weft::KernelFamily::conv_transpose));
  CHECK(conv.selects(std::string("cpu")));

  const OpFilter two = parse_op_filter(" family = pool ,, family=batchnorm, backend=emu ");
  CHECK(two.text == "family = pool,family=batchnorm,backend=emu");
  CHECK(two.selects(weft::KernelFamily::pool));
  CHECK(two.selects(weft::KernelFamily::batchnorm));
  CHECK_FALSE(two.selects(weft::KernelFamily::gemm));
  CHECK(two.selects(std::string("emu")));
  CHECK_FALSE(two.selects(std::string("cpu")));

  // Every family of kernels/selection.h and every backend label is accepted.
  for (int f = 0; f < weft::kKernelFamilyCount; ++f) {
    const std::string name = weft::family_name(static_cast<weft::KernelFamily>(f));
    CHECK(parse_op_filter("family=" + name).selects(static_cast<weft::KernelFamily>(f)));
  }
  for (const std::string& label : backend_labels()) {
    CHECK(parse_op_filter("backend=" + label).selects(label));
  }

  CHECK_THROWS_WITH(parse_op_filter("family=convolution"),
                    Catch::Contains("unknown family \"convolution\"") &&
                        Catch::Contains("conv_transpose"));
  CHECK_THROWS_WITH(parse_op_filter("family=conv,backend=gpu"),
                    Catch::Contains("unknown backend \"gpu\""));
  CHECK_THROWS_WITH(parse_op_filter("op=conv2d_forward"), Catch::Contains("unknown key \"op\""));
  CHECK_THROWS_WITH(parse_op_filter("conv"), Catch::Contains("\"conv\" is not key=value"));
}
