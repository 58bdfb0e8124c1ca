// Google Benchmark of weft's kernels on a GPU: for every case of bench/kernel_shapes.h (the
// seed models' layer shapes and two sweeps, shared with bench_kernels_cpu.cpp), the hand
// CUDA kernels (weft::cuda_backend, kernels/cuda/) and, for the op families that have a vendor
// path (kernels/selection.h has_vendor_path: convolution, transposed convolution, batch norm,
// GEMM/linear), cuDNN/cuBLAS (weft::cuda_vendor_backend, kernels/cuda_vendor/). A name is the CPU
// program's name with the implementation appended:
//   conv2d_fwd/fashion_cnn.conv1/b512/hand   conv2d_fwd/fashion_cnn.conv1/b512/vendor
//
//   build/bench/bench_kernels_cuda --benchmark_out=cuda.json --benchmark_out_format=json
//   build/bench/bench_kernels_cuda --benchmark_filter='^conv2d_fwd/resnet50'
//   build/bench/bench_kernels_cuda --benchmark_filter=/vendor/
//   WEFT_PRECISION=tf32 build/bench/bench_kernels_cuda ...   tensor cores (TF32) for the hand
//                                                            GEMM and convolutions, cuBLAS and
//                                                            cuDNN; bf16 too
//   CUDA_VISIBLE_DEVICES=1 build/bench/bench_kernels_cuda ...     another GPU (device 0 is used)
// Without a CUDA device it prints one line saying so and exits 0 (so the ctest smoke test
// passes on machines without a GPU).
//
// Timing: each iteration first flushes the L2 cache (cudaMemsetAsync over a buffer of twice the
// L2 size, cudaDevAttrL2CacheSize), then records a CUDA event on the device's stream
// (weft::cuda::device_stream), makes the one call, records a second event and waits for it;
// the time between the events is the iteration's time (UseManualTime). Every kernel, library
// call and copy of weft runs on that one stream, so the events bracket exactly the call. The
// time includes the launch of the call's kernels when the GPU would otherwise wait for them,
// which for the smallest shapes is most of it. Each case's buffers are allocated and filled
// once (the same values as on the CPU), then the call runs once untimed (module loading,
// cuDNN plans, handles) before the timed iterations. Because every iteration also pays a flush
// and a host wait that the measured time leaves out, the default --benchmark_min_time here is
// 0.05 s (with Google Benchmark's 0.5 s the table would take an estimated 20 minutes or more,
// most of it in flushes and waits); pass the flag to change it.
//
// The copy ceiling: copy_d2d/SIZE/memcpy times one cudaMemcpyAsync device to device of SIZE
// (64 MiB, 256 MiB, 1 GiB: all above the L2, which is flushed before each as for every case) on
// the same stream with the same events. Its GB/s counts 2 x SIZE bytes (each byte read once and
// written once), the convention of the memory-bound kernels' bytes; the fastest size is the
// ceiling that bench/bench_tables.py divides the memory-bound kernels' GB/s by (pct_of_copy), so
// kernels and ceiling come from one run on one card. Every memory-bound case also reports the
// bytes it is credited with (bytes_moved: kernel_shapes.h's count, every input read once and
// every output written once).
//
// The conv kernel lab (kernels/cuda/conv_lab.h): with WEFT_BENCH_CONV_LAB=1 the program
// registers instead, for every conv2d_fwd case, each lab version (weft::cuda_conv_lab_backend)
// beside the dispatch's hand kernel and cuDNN, named
//   conv_lab/fashion_cnn.conv1/b512/v1 ... /v5, conv_lab/fashion_cnn.conv1/b512/hand, .../vendor
// so one run gives the lab table of docs/kernels.md (GFLOP/s, and each version over vendor):
//   WEFT_BENCH_CONV_LAB=1 build/bench/bench_kernels_cuda --benchmark_out=lab.json ...
//
// Counters: GFLOP/s and pct_peak_flops (convolutions, linear) or GB/s and pct_peak_bw (the
// memory-bound kernels), the percentages against the card's FP32 CUDA-core peak and its
// memory bandwidth, both computed at run time from cudaDeviceGetAttribute (see read_card()).
// The card's name, the peaks and how they were computed go into the JSON's "context".
// With WEFT_PRECISION=tf32 or bf16 (WEFT_TF32=1 is tf32) the GEMMs and convolutions use tensor
// cores (bench/gpu_oneshot.sh times the conv rows at both), and pct_peak_flops can pass 100. At
// bf16 a convolution's vendor row is cuDNN on BF16 tensors with FP32 accumulation, and includes
// the conversions of its operands to BF16 and of its result back to FP32 (weft keeps FP32
// tensors; kernels/cuda_vendor/bf16.h): a fair row for weft's cuDNN path, slightly unfair to
// cuDNN itself, whose BF16-in-memory time is lower by those three streaming passes.
//
// Why a .cpp compiled by g++ and not a .cu: the program launches no kernels of its own. It
// calls the backends through their plain C++ declarations (kernels/cuda/backends.h,
// kernels/cuda_runtime/runtime.h) and needs from CUDA only the runtime API's events, memset and
// device attributes (cuda_runtime_api.h, from CUDA::cudart through weft_kernels_cuda), and as C++20
// it shares kernel_shapes.h with the CPU program unchanged (nvcc compiles weft's .cu files as
// C++17). Built only when WEFT_HAVE_CUDA is on (bench/CMakeLists.txt).
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/kernel_shapes.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda_runtime/runtime.h"
#include "kernels/selection.h"

namespace {

using weft::bench::BufferPointers;
using weft::bench::KernelCase;

constexpr int kDevice = 0;

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorString(status));
  }
}

// ---- the card and its peaks ------------------------------------------------------------------

// FP32 add/multiply/multiply-add results per clock per SM by compute capability: the CUDA C++
// Programming Guide's table "Throughput of Native Arithmetic Instructions" (v12.6): 5.x 128,
// 6.0 64, 6.1/6.2 128, 7.x 64, 8.0 64, 8.6 128, 8.9 128, 9.0 128 (H100, H200: 132 SMs x 128
// x 2 x 1.98 GHz = 66.9 TFLOP/s, NVIDIA's published FP32 figure). 8.7 and 10.x/12.x are taken
// as 128 without a table entry to check against (an RTX 5060 Ti, 12.0, is published at
// 36 SMs x 128 lanes).
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 6) return minor == 0 ? 64 : 128;
  if (major == 7) return 64;
  if (major == 8) return minor == 0 ? 64 : 128;
  return 128;
}

struct Card {
  std::string name;
  int major = 0, minor = 0;
  int sms = 0;
  int clock_khz = 0;         // peak SM clock (cudaDevAttrClockRate)
  int memory_clock_khz = 0;  // peak memory clock (cudaDevAttrMemoryClockRate)
  int bus_bits = 0;          // global memory bus width
  int l2_bytes = 0;
  int fp32_lanes = 0;
  double peak_flops = 0;  // FP32 FLOP/s on the CUDA cores, 0 if the clock is not reported
  double peak_bytes = 0;  // bytes/s, 0 if the memory clock is not reported
};

// From cudaDeviceGetAttribute: CUDA 13 removed cudaDeviceProp's clockRate and memoryClockRate.
Card read_card(int device) {
  const auto attribute = [device](cudaDeviceAttr which, const char* what) {
    int value = 0;
    check(cudaDeviceGetAttribute(&value, which, device), what);
    return value;
  };
  Card c;
  c.name = weft::cuda::device_name(device);
  c.major = attribute(cudaDevAttrComputeCapabilityMajor, "cudaDevAttrComputeCapabilityMajor");
  c.minor = attribute(cudaDevAttrComputeCapabilityMinor, "cudaDevAttrComputeCapabilityMinor");
  c.sms = attribute(cudaDevAttrMultiProcessorCount, "cudaDevAttrMultiProcessorCount");
  c.clock_khz = attribute(cudaDevAttrClockRate, "cudaDevAttrClockRate");
  c.memory_clock_khz = attribute(cudaDevAttrMemoryClockRate, "cudaDevAttrMemoryClockRate");
  c.bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth, "cudaDevAttrGlobalMemoryBusWidth");
  c.l2_bytes = attribute(cudaDevAttrL2CacheSize, "cudaDevAttrL2CacheSize");
  c.fp32_lanes = fp32_lanes_per_sm(c.major, c.minor);
  // One FMA per lane per clock counts as 2 flops.
  c.peak_flops = 2.0 * c.sms * c.fp32_lanes * (c.clock_khz * 1e3);
  // Double data rate: two transfers per memory clock, bus_bits / 8 bytes each (the formula of
  // NVIDIA's bandwidthTest / "How to Implement Performance Metrics in CUDA C/C++").
  c.peak_bytes = 2.0 * (c.memory_clock_khz * 1e3) * (c.bus_bits / 8.0);
  return c;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

void add_card_context(const Card& c, size_t flush_bytes) {
  benchmark::AddCustomContext("cuda_device", std::to_string(kDevice) + ": " + c.name);
  benchmark::AddCustomContext("cuda_compute_capability",
                              std::to_string(c.major) + "." + std::to_string(c.minor));
  benchmark::AddCustomContext("cuda_sm_count", std::to_string(c.sms));
  benchmark::AddCustomContext("cuda_sm_clock_mhz", fixed(c.clock_khz / 1e3, 0));
  benchmark::AddCustomContext("cuda_memory_clock_mhz", fixed(c.memory_clock_khz / 1e3, 0));
  benchmark::AddCustomContext("cuda_memory_bus_bits", std::to_string(c.bus_bits));
  benchmark::AddCustomContext("cuda_l2_bytes", std::to_string(c.l2_bytes));
  benchmark::AddCustomContext("peak_fp32_gflops", fixed(c.peak_flops * 1e-9, 1));
  benchmark::AddCustomContext(
      "peak_fp32_how",
      std::to_string(c.sms) + " SMs x " + std::to_string(c.fp32_lanes) +
          " FP32 lanes per SM (CUDA C++ Programming Guide, arithmetic instruction throughput, "
          "compute capability " +
          std::to_string(c.major) + "." + std::to_string(c.minor) + ") x 2 flops per FMA x " +
          fixed(c.clock_khz / 1e3, 0) +
          " MHz (cudaDevAttrClockRate, the peak clock); CUDA cores only, no tensor cores");
  benchmark::AddCustomContext("peak_bw_gbs", fixed(c.peak_bytes * 1e-9, 1));
  benchmark::AddCustomContext(
      "peak_bw_how", "2 transfers per clock x " + fixed(c.memory_clock_khz / 1e3, 0) +
                         " MHz (cudaDevAttrMemoryClockRate) x " + std::to_string(c.bus_bits) +
                         " bits / 8 (cudaDevAttrGlobalMemoryBusWidth)");
  benchmark::AddCustomContext(
      "timing",
      "CUDA events on weft::cuda::device_stream around each call; before each, "
      "cudaMemsetAsync over " +
          std::to_string(flush_bytes) + " bytes (2 x L2) to flush the L2, outside the events");
  benchmark::AddCustomContext("vendor_tf32", weft::vendor_tf32() ? "on" : "off");
  benchmark::AddCustomContext("precision", weft::precision_name(weft::math_precision()));
  benchmark::AddCustomContext("cudnn_algorithms",
                              weft::vendor_algorithms_name(weft::vendor_algorithms()));
}

// ---- device buffers and timing -----------------------------------------------------------

// The buffers of the case being benchmarked, in device memory, kept while Google Benchmark
// calls the same case again to settle its iteration count and replaced when another case (or
// the same case on the other backend) starts.
class Workspace {
 public:
  ~Workspace() { release(); }

  const BufferPointers& buffers_for(const KernelCase& c, weft::Backend& backend) {
    if (current_case_ == &c && current_backend_ == &backend) return pointers_;
    release();
    const std::vector<std::vector<unsigned char>> host = weft::bench::host_contents(c);
    for (const std::vector<unsigned char>& contents : host) {
      void* device = nullptr;
      if (!contents.empty()) {
        check(cudaMalloc(&device, contents.size()), "cudaMalloc");
        pointers_.push_back(device);
        // On the device's stream, ordered before the kernels that read it.
        weft::cuda::memcpy_host_to_device(kDevice, device, contents.data(), contents.size());
      } else {
        pointers_.push_back(nullptr);
      }
    }
    c.call.run(backend, pointers_);  // untimed: module loading, library plans and handles
    weft::cuda::synchronize(kDevice);
    current_case_ = &c;
    current_backend_ = &backend;
    return pointers_;
  }

 private:
  // Waits for the device before freeing (queued work may still use the buffers). Never throws:
  // it also runs in the destructor.
  void release() {
    if (!pointers_.empty()) cudaDeviceSynchronize();
    for (void* p : pointers_) {
      if (p != nullptr) cudaFree(p);
    }
    pointers_.clear();
    current_case_ = nullptr;
    current_backend_ = nullptr;
  }

  const KernelCase* current_case_ = nullptr;
  const weft::Backend* current_backend_ = nullptr;
  BufferPointers pointers_;
};

// Flushes the L2 cache and times one call with CUDA events on the device's stream.
class Timer {
 public:
  explicit Timer(size_t flush_bytes) : flush_bytes_(flush_bytes) {
    stream_ = weft::cuda::device_stream(kDevice);
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
    if (flush_bytes_ > 0) check(cudaMalloc(&flush_, flush_bytes_), "cudaMalloc (L2 flush)");
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    if (flush_ != nullptr) cudaFree(flush_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  template <typename Call>
  double seconds(Call&& call) {
    if (flush_ != nullptr) {
      check(cudaMemsetAsync(flush_, ++flush_value_ & 0xff, flush_bytes_, stream_),
            "cudaMemsetAsync (L2 flush)");
    }
    check(cudaEventRecord(start_, stream_), "cudaEventRecord");
    call();
    check(cudaEventRecord(stop_, stream_), "cudaEventRecord");
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float milliseconds = 0;
    check(cudaEventElapsedTime(&milliseconds, start_, stop_), "cudaEventElapsedTime");
    return milliseconds * 1e-3;
  }

 private:
  size_t flush_bytes_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  void* flush_ = nullptr;
  int flush_value_ = 0;
};

struct Bench {
  Card card;
  Workspace workspace;
  Timer timer;
  explicit Bench(const Card& c) : card(c), timer(2 * static_cast<size_t>(c.l2_bytes)) {}
};

void run_case(benchmark::State& state, Bench& bench, const KernelCase& c, weft::Backend& backend) {
  double seconds = 0;
  try {
    const BufferPointers& buffers = bench.workspace.buffers_for(c, backend);
    // Untimed: a shape's first-call work (cuDNN plans and the measured algorithm search, which
    // times every algorithm once) is not the kernel's speed.
    c.call.run(backend, buffers);
    for (auto _ : state) {
      const double elapsed = bench.timer.seconds([&] { c.call.run(backend, buffers); });
      state.SetIterationTime(elapsed);
      seconds += elapsed;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  if (seconds <= 0) return;
  const double calls_per_second = static_cast<double>(state.iterations()) / seconds;
  if (c.flops > 0) {
    state.counters["GFLOP/s"] = c.flops * calls_per_second * 1e-9;
    if (bench.card.peak_flops > 0) {
      state.counters["pct_peak_flops"] = 100.0 * c.flops * calls_per_second / bench.card.peak_flops;
    }
  } else {
    state.counters["bytes_moved"] = c.bytes;
    state.counters["GB/s"] = c.bytes * calls_per_second * 1e-9;
    if (bench.card.peak_bytes > 0) {
      state.counters["pct_peak_bw"] = 100.0 * c.bytes * calls_per_second / bench.card.peak_bytes;
    }
  }
}

// Two device buffers of `bytes` each for the copy ceiling, freed (after the device is done)
// when the benchmark function returns.
class CopyBuffers {
 public:
  explicit CopyBuffers(size_t bytes) {
    check(cudaMalloc(&src_, bytes), "cudaMalloc (copy source)");
    check(cudaMalloc(&dst_, bytes), "cudaMalloc (copy destination)");
    check(cudaMemset(src_, 0x3c, bytes), "cudaMemset (copy source)");
  }
  ~CopyBuffers() {
    cudaDeviceSynchronize();
    cudaFree(src_);
    cudaFree(dst_);
  }
  CopyBuffers(const CopyBuffers&) = delete;
  CopyBuffers& operator=(const CopyBuffers&) = delete;
  void* src() const { return src_; }
  void* dst() const { return dst_; }

 private:
  void* src_ = nullptr;
  void* dst_ = nullptr;
};

// One cudaMemcpyAsync device to device of `bytes`, timed like a kernel case; 2 x bytes moved.
void run_copy(benchmark::State& state, Bench& bench, size_t bytes) {
  double seconds = 0;
  try {
    const CopyBuffers buffers(bytes);
    const cudaStream_t stream = weft::cuda::device_stream(kDevice);
    const auto copy = [&] {
      check(cudaMemcpyAsync(buffers.dst(), buffers.src(), bytes, cudaMemcpyDeviceToDevice,
                            stream),
            "cudaMemcpyAsync (device to device)");
    };
    copy();  // untimed
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    for (auto _ : state) {
      const double elapsed = bench.timer.seconds(copy);
      state.SetIterationTime(elapsed);
      seconds += elapsed;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  if (seconds <= 0) return;
  const double moved = 2.0 * static_cast<double>(bytes);
  const double calls_per_second = static_cast<double>(state.iterations()) / seconds;
  state.counters["bytes_moved"] = moved;
  state.counters["GB/s"] = moved * calls_per_second * 1e-9;
  if (bench.card.peak_bytes > 0) {
    state.counters["pct_peak_bw"] = 100.0 * moved * calls_per_second / bench.card.peak_bytes;
  }
}

// The conv kernel lab's benchmarks (see the top of this file): for each conv2d_fwd case, lab
// versions 1 to 4, the dispatch's hand kernel and cuDNN.
void register_conv_lab(Bench& bench, const std::vector<KernelCase>& cases, weft::Backend& hand,
                       weft::Backend& vendor) {
  const std::string prefix = "conv2d_fwd/";
  for (const KernelCase& c : cases) {
    if (c.call.op != weft::Op::conv2d_forward || c.name.rfind(prefix, 0) != 0) continue;
    const std::string shape = c.name.substr(prefix.size());
    const auto add = [&bench, &c](const std::string& name, weft::Backend& backend) {
      benchmark::RegisterBenchmark(
          name.c_str(),
          [&bench, &c, &backend](benchmark::State& state) { run_case(state, bench, c, backend); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    };
    for (int version = 1; version <= weft::conv_lab_versions(); ++version) {
      std::ostringstream name;
      name << "conv_lab/" << shape << "/v" << version;
      add(name.str(), weft::cuda_conv_lab_backend(kDevice, version));
    }
    for (const char* path : {"hand", "vendor"}) {
      std::ostringstream name;
      name << "conv_lab/" << shape << "/" << path;
      add(name.str(), std::string(path) == "hand" ? hand : vendor);
    }
  }
}

// Google Benchmark's arguments with --benchmark_min_time=0.05 added unless one is given.
std::vector<char*> arguments_with_default_min_time(int argc, char** argv) {
  static char default_min_time[] = "--benchmark_min_time=0.05";
  std::vector<char*> args(argv, argv + argc);
  bool given = false;
  for (int i = 1; i < argc; ++i) {
    given = given || std::strncmp(argv[i], "--benchmark_min_time", 20) == 0;
  }
  if (!given) args.push_back(default_min_time);
  args.push_back(nullptr);
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = arguments_with_default_min_time(argc, argv);
  int arg_count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&arg_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(arg_count, args.data())) return 1;

  std::string reason;
  if (weft::cuda::device_count(&reason) == 0) {
    std::printf("bench_kernels_cuda: no CUDA device (%s); nothing to benchmark\n", reason.c_str());
    return 0;
  }
  try {
    check(cudaSetDevice(kDevice), "cudaSetDevice");
    Bench bench(read_card(kDevice));
    add_card_context(bench.card, 2 * static_cast<size_t>(bench.card.l2_bytes));

    const std::vector<KernelCase> cases = weft::bench::kernel_cases();
    weft::Backend& hand = weft::cuda_hand_backend(kDevice);
    weft::Backend& vendor = weft::cuda_vendor_backend(kDevice);
    const auto add = [&bench](const KernelCase& c, const char* path, weft::Backend& backend) {
      benchmark::RegisterBenchmark(
          (c.name + "/" + path).c_str(),
          [&bench, &c, &backend](benchmark::State& state) { run_case(state, bench, c, backend); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    };
    benchmark::AddCustomContext(
        "copy_ceiling", "copy_d2d/SIZE/memcpy: cudaMemcpyAsync device to device, 2 x SIZE bytes "
                        "moved (read + written); the fastest size is the ceiling, and each "
                        "size the ceiling of kernels that move as many bytes");
    for (const int mib : {1, 4, 16, 64, 256, 1024}) {
      const size_t bytes = static_cast<size_t>(mib) << 20;
      const std::string size = mib >= 1024 ? std::to_string(mib / 1024) + "GiB"
                                            : std::to_string(mib) + "MiB";
      benchmark::RegisterBenchmark(
          ("copy_d2d/" + size + "/memcpy").c_str(),
          [&bench, bytes](benchmark::State& state) { run_copy(state, bench, bytes); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
    const char* lab = std::getenv("WEFT_BENCH_CONV_LAB");
    if (lab != nullptr && std::strcmp(lab, "1") == 0) {
      register_conv_lab(bench, cases, hand, vendor);
    } else {
      for (const KernelCase& c : cases) {
        add(c, "hand", hand);
        if (weft::has_vendor_path(c.family)) add(c, "vendor", vendor);
      }
    }
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_cuda: %s\n", e.what());
    return 1;
  }
  benchmark::Shutdown();
  return 0;
}
