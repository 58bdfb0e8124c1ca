// Tests of the bias kernels (kernels/cuda/bias.h) under the host emulation: the forward's bias
// with the fused activation in one pass (bias_activation), and the bias gradients channel_sums
// and column_sums. The hand path reaches channel_sums and column_sums through its op-table cases;
// bias_activation serves the vendor path only (cuDNN/cuBLAS products have no epilogue), which
// runs on a GPU alone, so these tests are where CI checks it. bias_activation is held bit for
// bit to act(y + bias[c]) on each of its paths: float4 with one channel per quad (NCHW planes of
// a multiple of 4), float4 with four channels per quad (a linear layer's rows), one element per
// step (other shapes, and a y that is not 16-byte aligned); the launch trace says which kernel
// ran, so a shape that silently fell back to the scalar path would fail too.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/bias.h"
#include "kernels/runtime_counters.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::FusedActivation;

struct BiasShape {
  int outer, channels;
  int64_t inner;
  bool vectorised;  // whether the float4 kernel should run (y aligned)
};

FusedActivation activation(FusedActivation::Kind kind, float alpha) {
  FusedActivation a;
  a.kind = kind;
  a.alpha = alpha;
  return a;
}

// Runs bias_activation on a copy of `y` starting `offset` floats into its buffer and returns the
// result and the names of the kernels it launched.
std::vector<float> run_bias_activation(const BiasShape& s, const std::vector<float>& y,
                                       const float* bias, const FusedActivation& act, int offset,
                                       std::vector<std::string>& kernels) {
  std::vector<float> buffer(y.size() + 4);
  std::memcpy(buffer.data() + offset, y.data(), y.size() * sizeof(float));
  weft::count::trace_launches(&kernels);
  weft::cuda::bias_activation(static_cast<int64_t>(y.size()), s.channels, s.inner, bias, act,
                              buffer.data() + offset, nullptr);
  weft::count::trace_launches(nullptr);
  return std::vector<float>(buffer.begin() + offset,
                            buffer.begin() + offset + static_cast<int64_t>(y.size()));
}

bool ran_quads(const std::vector<std::string>& kernels) {
  return kernels.size() == 1 && kernels[0].find("quad") != std::string::npos;
}

}  // namespace

TEST_CASE("bias_activation (emu): act(y + bias[channel]) bit for bit on each path", "[emu]") {
  const BiasShape shapes[] = {
      {3, 5, 7, false},  // NCHW, plane 7: one element per step
      {2, 3, 6, false},  // NCHW, plane 6: a quad may span two channels
      {2, 3, 8, true},   // NCHW, plane 8: one channel per quad
      {2, 6, 12, true},  // NCHW, plane 12
      {6, 8, 1, true},   // linear rows, 8 features: four channels per quad
      {5, 12, 1, true},  // linear rows, 12 features
      {5, 10, 1, false},  // linear rows, 10 features: one element per step
      {4, 1, 9, false},  // one channel
  };
  const FusedActivation acts[] = {activation(FusedActivation::Kind::none, 0.0f),
                                  activation(FusedActivation::Kind::relu, 0.0f),
                                  activation(FusedActivation::Kind::leaky_relu, 0.2f)};
  uint32_t seed = 40;
  for (const BiasShape& s : shapes) {
    const int64_t count = int64_t{s.outer} * s.channels * s.inner;
    const std::vector<float> y = weft::test::random_floats(count, ++seed);
    const std::vector<float> bias = weft::test::random_floats(s.channels, ++seed);
    for (const FusedActivation& act : acts) {
      for (bool with_bias : {true, false}) {
        if (!with_bias && !act.active()) continue;  // nothing to do: checked below
        for (int offset : {0, 1}) {
          INFO("outer " << s.outer << ", channels " << s.channels << ", inner " << s.inner
                        << ", activation " << static_cast<int>(act.kind) << ", bias "
                        << with_bias << ", y offset " << offset);
          std::vector<std::string> kernels;
          const std::vector<float> got = run_bias_activation(
              s, y, with_bias ? bias.data() : nullptr, act, offset, kernels);
          std::vector<float> want(y.size());
          for (int64_t i = 0; i < count; ++i) {
            const int c = static_cast<int>(i / s.inner % s.channels);
            want[static_cast<size_t>(i)] =
                act.apply(y[static_cast<size_t>(i)] + (with_bias ? bias[static_cast<size_t>(c)]
                                                                 : 0.0f));
          }
          REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
          CHECK(ran_quads(kernels) == (s.vectorised && offset == 0));
        }
      }
    }
  }
  // No bias and no activation: nothing launched, nothing written.
  std::vector<float> untouched(8, 3.0f);
  std::vector<std::string> kernels;
  weft::count::trace_launches(&kernels);
  weft::cuda::bias_activation(8, 2, 4, nullptr, FusedActivation{}, untouched.data(), nullptr);
  weft::count::trace_launches(nullptr);
  CHECK(kernels.empty());
  CHECK(untouched == std::vector<float>(8, 3.0f));
}

TEST_CASE("channel_sums and column_sums (emu): per-channel and per-column sums", "[emu]") {
  uint32_t seed = 70;
  // Channel sums: one pass (few values per channel) and split (more than 8192 per channel).
  struct ChannelShape {
    int batch, channels, plane;
  };
  for (const ChannelShape& s : {ChannelShape{2, 3, 5}, ChannelShape{4, 2, 3000},
                                ChannelShape{3, 5, 7000}, ChannelShape{1, 1, 20000}}) {
    INFO("batch " << s.batch << ", channels " << s.channels << ", plane " << s.plane);
    const int64_t count = int64_t{s.batch} * s.channels * s.plane;
    const std::vector<float> t = weft::test::random_floats(count, ++seed);
    std::vector<double> want(static_cast<size_t>(s.channels), 0.0);
    for (int64_t i = 0; i < count; ++i) {
      want[static_cast<size_t>(i / s.plane % s.channels)] += t[static_cast<size_t>(i)];
    }
    std::vector<float> workspace(static_cast<size_t>(
        weft::cuda::channel_sums_workspace_floats(s.batch, s.channels, s.plane)));
    std::vector<float> got = weft::test::nan_floats(s.channels);
    weft::cuda::channel_sums(s.batch, s.channels, s.plane, t.data(), got.data(),
                             workspace.empty() ? nullptr : workspace.data(), nullptr);
    weft::test::check_close("channel sums", got, want, 1e-4, 1e-5);
  }
  // Column sums, and no rows at all (zeros).
  for (int rows : {0, 1, 37, 300}) {
    for (int cols : {1, 10, 70}) {
      INFO(rows << " rows, " << cols << " columns");
      const std::vector<float> m = weft::test::random_floats(int64_t{rows} * cols, ++seed);
      std::vector<double> want(static_cast<size_t>(cols), 0.0);
      for (int64_t i = 0; i < int64_t{rows} * cols; ++i) {
        want[static_cast<size_t>(i % cols)] += m[static_cast<size_t>(i)];
      }
      std::vector<float> got = weft::test::nan_floats(cols);
      weft::cuda::column_sums(rows, cols, m.empty() ? nullptr : m.data(), got.data(), nullptr);
      weft::test::check_close("column sums", got, want, 1e-4, 1e-5);
    }
  }
}
