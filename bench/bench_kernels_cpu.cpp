// Google Benchmark of weft's CPU kernels (weft::cpu_backend(), kernels/cpu/) and, in a build
// with oneDNN, the CPU vendor path (weft::cpu_vendor_backend(), kernels/cpu_vendor/) on the
// layer shapes of the seed models: every op family (convolution and transposed convolution,
// forward, backward-data and backward-filter; batch norm in training and eval, forward and
// backward; dropout; linear forward and backward; max-pool; ReLU and the residual addition;
// softmax cross-entropy; the Adam update) over the table of bench/kernel_shapes.h, which
// bench_kernels_cuda.cpp shares, so a name here and a name there are the same call on the
// same shapes and inputs. The name scheme is explained at the top of kernel_shapes.h; Google
// Benchmark appends "/manual_time" to every name (bench/bench_tables.py strips it). The hand
// kernels' names are the table's; oneDNN's, for the families that have a vendor path
// (kernels/selection.h), are the same with "/vendor" appended, as in the CUDA program:
//   conv2d_fwd/fashion_cnn.conv1/b512   conv2d_fwd/fashion_cnn.conv1/b512/vendor
//
//   build/bench/bench_kernels_cpu --benchmark_min_time=0.1             everything
//   build/bench/bench_kernels_cpu --benchmark_filter=fashion_cnn       one model
//   build/bench/bench_kernels_cpu --benchmark_filter='^conv2d_fwd/'    one op
//   build/bench/bench_kernels_cpu --benchmark_filter=/vendor            oneDNN only
//   build/bench/bench_kernels_cpu --benchmark_min_time=0.1 --benchmark_out=cpu.json
//       --benchmark_out_format=json                                   JSON for the tables
//   build/bench/bench_kernels_cpu --benchmark_list_tests               the names only
//
// A whole run with --benchmark_min_time=0.1 took 120 s on the 2-core Xeon weft is developed on
// (while other jobs shared it): the heaviest calls (ResNet-50's and the shoe-pair CNN's first
// convolutions, the 256-channel sweep point) take 0.2 to 1.2 s each and run once, so the CPU
// runs the whole table, sweeps included, with nothing dropped.
//
// Time: wall-clock time of each call (steady_clock, reported as manual time), since the kernels
// run on every core through OpenMP and OpenBLAS. Counters: GFLOP/s (2 x multiply-adds per
// second) for convolutions and linear layers, GB/s (bytes each kernel must read and write once,
// per second) for the memory-bound kernels. A case's buffers are allocated and filled and the
// call made once untimed before the timed iterations; they are kept
// while Google Benchmark calls the same case again to settle its iteration count. The ctest
// smoke test (bench/CMakeLists.txt) runs one iteration of the Fashion-MNIST models' cases and
// the DCGAN's first layer, which call every op family.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bench/kernel_shapes.h"
#include "kernels/backend.h"
#include "kernels/cpu/openblas_core.h"
#include "kernels/cpu_vendor/backend.h"
#include "kernels/selection.h"

namespace {

using weft::bench::KernelCase;

// Host memory for one buffer, 64-byte aligned, holding `contents` (null when it is empty).
struct HostBlock {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data;

  explicit HostBlock(const std::vector<unsigned char>& contents) {
    if (contents.empty()) return;
    const size_t bytes = (contents.size() + 63) / 64 * 64;
    data.reset(std::aligned_alloc(64, bytes));
    if (!data) throw std::bad_alloc();
    std::memcpy(data.get(), contents.data(), contents.size());
  }
};

// The buffers of the case being benchmarked, kept while Google Benchmark calls the same case
// again to settle its iteration count, and replaced when the next case starts.
class Workspace {
 public:
  const weft::bench::BufferPointers& buffers_for(const KernelCase& c, weft::Backend& backend) {
    if (current_ == &c && backend_ == &backend) return pointers_;
    blocks_.clear();
    pointers_.clear();
    current_ = nullptr;
    for (const std::vector<unsigned char>& contents : weft::bench::host_contents(c)) {
      blocks_.emplace_back(contents);
      pointers_.push_back(blocks_.back().data.get());
    }
    c.call.run(backend, pointers_);  // untimed: scratch buffers, thread pools, oneDNN plans
    current_ = &c;
    backend_ = &backend;
    return pointers_;
  }

 private:
  const KernelCase* current_ = nullptr;
  const weft::Backend* backend_ = nullptr;
  std::vector<HostBlock> blocks_;
  weft::bench::BufferPointers pointers_;
};

Workspace workspace;

void run_case(benchmark::State& state, const KernelCase& c, weft::Backend& backend) {
  const weft::bench::BufferPointers* buffers = nullptr;
  try {
    buffers = &workspace.buffers_for(c, backend);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    c.call.run(backend, *buffers);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(elapsed.count());
    seconds += elapsed.count();
  }
  if (seconds <= 0) return;
  const double calls_per_second = static_cast<double>(state.iterations()) / seconds;
  if (c.flops > 0) {
    state.counters["GFLOP/s"] = c.flops * calls_per_second * 1e-9;
  } else {
    state.counters["GB/s"] = c.bytes * calls_per_second * 1e-9;
  }
}

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<KernelCase> cases = weft::bench::kernel_cases();
  const auto add = [](const KernelCase& c, const std::string& name, weft::Backend& backend) {
    benchmark::RegisterBenchmark(
        name.c_str(), [&c, &backend](benchmark::State& state) { run_case(state, c, backend); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };
  for (const KernelCase& c : cases) {
    add(c, c.name, weft::cpu_backend());
#ifdef WEFT_HAVE_ONEDNN
    if (weft::has_vendor_path(c.family)) add(c, c.name + "/vendor", weft::cpu_vendor_backend());
#endif
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("weft_backend", weft::cpu_backend().name());
  benchmark::AddCustomContext("openblas_core", weft::cpu::openblas_core());
#ifdef WEFT_HAVE_ONEDNN
  benchmark::AddCustomContext("weft_vendor", weft::cpu_vendor_version());
#endif
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
