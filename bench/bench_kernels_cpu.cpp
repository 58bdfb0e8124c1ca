// Google Benchmark of the CPU reference kernels on the layer shapes of the seed models.
// Counters: GFLOP/s for convolutions and GEMM (2 * multiply-adds), GB/s for memory-bound
// kernels (bytes read + written once). The same shapes are used by the GPU benchmarks, so a
// row here and a row there compare one layer on two machines.
//
//   build/bench/bench_kernels_cpu --benchmark_min_time=0.2 --benchmark_out=cpu.json
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/pool.h"

namespace {

using namespace weft;

std::vector<float> filled(int64_t count, float value = 0.5f) {
  return std::vector<float>(static_cast<size_t>(count), value);
}

// Conv layers: {batch, in_channels, size, out_channels, kernel, stride, pad}
struct ConvShape {
  const char* name;
  int batch, in_channels, size, out_channels, kernel, stride, pad;
};
const ConvShape kConvShapes[] = {
    {"fashion_cnn.conv1_b128", 128, 1, 28, 64, 3, 1, 0},   // seed 004
    {"pairs.conv1_b42", 42, 6, 224, 4, 5, 1, 2},           // seed 001, CNNChannel
    {"apparel.conv2_b64", 64, 32, 32, 64, 3, 1, 1},        // seed 003
    {"resnet.layer1_b16", 16, 64, 56, 64, 3, 1, 1},        // seed 002 (ResNet-50 3x3)
};

Conv2dParams conv_params(const ConvShape& s) {
  Conv2dParams p;
  p.batch = s.batch;
  p.in_channels = s.in_channels;
  p.in_h = p.in_w = s.size;
  p.out_channels = s.out_channels;
  p.kernel_h = p.kernel_w = s.kernel;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  return p;
}

double conv_flops(const Conv2dParams& p) {
  return 2.0 * p.batch * p.out_channels * p.out_h() * p.out_w() * p.in_channels * p.kernel_h *
         p.kernel_w;
}

enum class ConvPass { forward, backward_data, backward_filter };

void BM_conv2d(benchmark::State& state, ConvShape shape, ConvPass pass) {
  const Conv2dParams p = conv_params(shape);
  auto x = filled(int64_t{p.batch} * p.in_channels * p.in_h * p.in_w);
  auto w = filled(int64_t{p.out_channels} * p.in_channels * p.kernel_h * p.kernel_w, 0.01f);
  auto b = filled(p.out_channels);
  auto y = filled(int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w());
  for (auto _ : state) {
    switch (pass) {
      case ConvPass::forward: cpu::conv2d_forward(p, x.data(), w.data(), b.data(), y.data()); break;
      case ConvPass::backward_data: cpu::conv2d_backward_data(p, y.data(), w.data(), x.data()); break;
      case ConvPass::backward_filter:
        cpu::conv2d_backward_filter(p, x.data(), y.data(), w.data(), b.data());
        break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(conv_flops(p) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_linear_forward(benchmark::State& state, int n, int in, int out) {
  auto x = filled(int64_t{n} * in), w = filled(int64_t{out} * in, 0.01f), b = filled(out),
       y = filled(int64_t{n} * out);
  for (auto _ : state) {
    cpu::linear_forward(n, in, out, x.data(), w.data(), b.data(), y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * in * out * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_batch_norm_train(benchmark::State& state, int batch, int channels, int spatial) {
  BatchNormParams p;
  p.batch = batch;
  p.channels = channels;
  p.spatial = spatial;
  const int64_t count = int64_t{batch} * channels * spatial;
  auto x = filled(count), y = filled(count), gamma = filled(channels, 1.0f),
       beta = filled(channels, 0.0f), mean = filled(channels), invstd = filled(channels),
       running_mean = filled(channels), running_var = filled(channels);
  for (auto _ : state) {
    cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                  invstd.data(), running_mean.data(), running_var.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * count * sizeof(float) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_dropout_forward(benchmark::State& state, int64_t count) {
  auto x = filled(count), y = filled(count);
  DropoutParams p;
  p.count = count;
  p.p = 0.3f;
  p.seed = 7;
  for (auto _ : state) {
    cpu::dropout_forward(p, x.data(), y.data());
    p.offset += static_cast<uint64_t>(count);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * count * sizeof(float) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_max_pool_forward(benchmark::State& state, int batch, int channels, int size) {
  Pool2dParams p;
  p.batch = batch;
  p.channels = channels;
  p.in_h = p.in_w = size;
  p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
  const int64_t in_count = int64_t{batch} * channels * size * size;
  const int64_t out_count = int64_t{batch} * channels * p.out_h() * p.out_w();
  auto x = filled(in_count), y = filled(out_count);
  std::vector<int32_t> argmax(static_cast<size_t>(out_count));
  for (auto _ : state) {
    cpu::max_pool2d_forward(p, x.data(), y.data(), argmax.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter((in_count + 2.0 * out_count) * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_relu_forward(benchmark::State& state, int64_t count) {
  auto x = filled(count), y = filled(count);
  for (auto _ : state) {
    cpu::activation_forward(cpu::Activation::relu, 0.0f, count, x.data(), y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * count * sizeof(float) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  for (const ConvShape& s : kConvShapes) {
    benchmark::RegisterBenchmark((std::string("conv2d_forward/") + s.name).c_str(), BM_conv2d, s, ConvPass::forward)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv2d_backward_data/") + s.name).c_str(), BM_conv2d, s, ConvPass::backward_data)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv2d_backward_filter/") + s.name).c_str(), BM_conv2d, s, ConvPass::backward_filter)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  benchmark::RegisterBenchmark("linear_forward/fashion_cnn.fc1_b128", BM_linear_forward, 128, 64 * 13 * 13, 32)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("linear_forward/apparel.fc_b64", BM_linear_forward, 64, 128 * 6 * 6, 1024)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("batch_norm_train/apparel.bn2_b64", BM_batch_norm_train, 64, 64, 32 * 32)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("dropout_forward/fashion_cnn_b128", BM_dropout_forward, int64_t{128} * 64 * 13 * 13)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("max_pool2d_forward/fashion_cnn_b128", BM_max_pool_forward, 128, 64, 26)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("relu_forward/fashion_cnn_b128", BM_relu_forward, int64_t{128} * 64 * 26 * 26)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
