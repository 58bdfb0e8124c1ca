// conv2d_max_pool2d (engine/ops.h): a convolution and the max pool of its output as one op. On the
// emulated GPU (`emu`, the hand CUDA kernels under host emulation) a narrow layer and a 2 x 2 pool
// of stride 2 run as one kernel (conv_forward_narrow.cu) that never stores the convolution's
// output; on the CPU, see below; elsewhere the op is the composition. Checked here: which pairs the
// hand backend fuses, that a fused forward is one launch where the composition is two, that the
// fused op gives the composition's values, argmax-routed gradients and parameter gradients bit for
// bit on random data (ReLU, LeakyReLU, none; bias or not; tf32), that a first layer's dw and dbias
// come straight from the pool's gradient (one launch fewer, bit for bit), and that Sequential takes
// it for a plain Conv2d -> ReLU -> MaxPool2d(2). On the CPU a layer that the direct convolution
// takes (at most 8 output channels, or 64 with at most 16 input channels) and a pool of windows
// that do not overlap run as one loop, one image at a time (kernels/cpu/conv_direct.h): checked bit
// for bit against the CPU's composition here too. The op table (tests/backend_op_table.cpp,
// "conv2d_max_pool2d_forward") holds every backend to the CPU's composition on exact data.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/runtime_counters.h"
#include "kernels/selection.h"
#include "tests/params_test_util.h"

namespace {

using weft::Device;
using weft::FusedActivation;
using weft::Tensor;
namespace nn = weft::nn;

const FusedActivation kRelu{FusedActivation::Kind::relu, 0.0f};
const FusedActivation kLeaky{FusedActivation::Kind::leaky_relu, 0.2f};

weft::Conv2dParams conv_params(int n, int c, int h, int w, int o, int k, int pad) {
  return weft::test::square_conv(n, c, h, w, o, k, pad);
}
using weft::test::pool_over;

// Uniform values in [-1, 1) on `device`, from a generator seeded with `seed`.
Tensor uniform(const weft::Shape& shape, Device device, uint64_t seed) {
  weft::Generator generator(seed);
  std::vector<float> values(static_cast<size_t>(weft::shape_numel(shape)));
  for (float& v : values) v = generator.uniform() * 2.0f - 1.0f;
  return Tensor::from_vector(values, shape).to(device);
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]) && !(std::isnan(a[i]) && std::isnan(b[i]))) return false;
  }
  return true;
}

struct Layer {
  const char* label;
  int batch, in_channels, size_h, size_w, out_channels, kernel, pad;
  bool bias;
  FusedActivation act;
  bool nan = false;  // NaN in every 37th input: the pool's rule (a NaN wins, then stays)
};

// The layer's input, weight and bias (undefined without one) on `device` (emu unless said),
// drawn from seeds seed .. seed + 2, and its convolution options.
struct LayerInputs {
  Tensor x, w, b;
  weft::Conv2dOptions conv;
};
LayerInputs inputs_of(const Layer& l, uint64_t seed, Device emu = Device::emu()) {
  LayerInputs in;
  in.x = uniform({l.batch, l.in_channels, l.size_h, l.size_w}, emu, seed);
  if (l.nan) {
    std::vector<float> values = in.x.to_vector<float>();
    for (size_t i = 5; i < values.size(); i += 37) values[i] = std::nanf("");
    in.x = Tensor::from_vector(values, in.x.shape()).to(emu);
  }
  in.w = uniform({l.out_channels, l.in_channels, l.kernel, l.kernel}, emu, seed + 1);
  if (l.bias) in.b = uniform({l.out_channels}, emu, seed + 2);
  in.conv.pad_h = in.conv.pad_w = l.pad;
  return in;
}

}  // namespace

TEST_CASE("conv2d_max_pool2d: the hand kernels fuse a narrow layer with a 2 x 2 pool", "[emu]") {
  weft::Backend& emu = weft::dispatch(Device::emu());
  weft::Backend& cpu = weft::dispatch(Device::cpu());
  const weft::Conv2dParams fashion = conv_params(4, 1, 28, 28, 64, 3, 0);
  CHECK(emu.fuses_conv_max_pool(fashion, pool_over(fashion, 2)));
  // The direct CPU loop too, on the hand kernels (under auto where it measured faster than the
  // composition: tests/test_dispatch.cpp).
  weft::set_kernel_choice(weft::KernelFamily::conv, weft::KernelChoice::hand);
  CHECK(cpu.fuses_conv_max_pool(fashion, pool_over(fashion, 2)));
  CHECK_FALSE(emu.fuses_conv_max_pool(fashion, pool_over(fashion, 3)));  // 2 x 2 windows only
  // 32 -> 64 channels, 288 taps: not a layer the narrow forward takes.
  const weft::Conv2dParams wide = conv_params(2, 32, 12, 12, 64, 3, 0);
  CHECK_FALSE(emu.fuses_conv_max_pool(wide, pool_over(wide, 2)));
  // Backward-filter from the pool's gradient: where the SIMT product runs on ThinTile with dbias
  // in its spare column (fp32, more than 16 channels, at most 15 taps).
  CHECK(emu.fuses_conv_max_pool_filter(fashion, pool_over(fashion, 2)));
  CHECK(cpu.fuses_conv_max_pool_filter(fashion, pool_over(fashion, 2)));
  weft::reset_kernel_choices();
  const weft::Conv2dParams sixteen = conv_params(4, 1, 28, 28, 16, 3, 0);  // narrow filter
  CHECK_FALSE(emu.fuses_conv_max_pool_filter(sixteen, pool_over(sixteen, 2)));
  const weft::Conv2dParams rgb = conv_params(4, 3, 28, 28, 32, 3, 0);  // 27 taps
  CHECK_FALSE(emu.fuses_conv_max_pool_filter(rgb, pool_over(rgb, 2)));
  weft::set_math_precision(weft::MathPrecision::tf32);
  const bool filter_fused_at_tf32 = emu.fuses_conv_max_pool_filter(fashion, pool_over(fashion, 2));
  weft::set_math_precision(weft::MathPrecision::fp32);
  CHECK_FALSE(filter_fused_at_tf32);

  weft::Conv2dParams activated = fashion;
  activated.activation = kRelu;  // the activation belongs to the pool
  CHECK_FALSE(emu.fuses_conv_max_pool(activated, pool_over(activated, 2)));

  // Forced to the vendor's convolutions, the dispatch does not fuse (the op would bypass them).
  weft::set_kernel_choice(weft::KernelFamily::conv, weft::KernelChoice::vendor);
  const bool fused_under_vendor = emu.fuses_conv_max_pool(fashion, pool_over(fashion, 2));
  weft::reset_kernel_choices();
  CHECK_FALSE(fused_under_vendor);

  // One launch fused, where the composition takes the convolution's and the pool's.
  const Tensor x = uniform({4, 1, 28, 28}, Device::emu(), 1);
  const Tensor w = uniform({64, 1, 3, 3}, Device::emu(), 2);
  const Tensor b = uniform({64}, Device::emu(), 3);
  const weft::Pool2dOptions pool{};
  const weft::RuntimeCounters before = weft::runtime_counters();
  const Tensor fused = weft::conv2d_max_pool2d(x, w, b, {}, pool, kRelu);
  const weft::RuntimeCounters middle = weft::runtime_counters();
  const Tensor composed = weft::max_pool2d(weft::conv2d(x, w, b, {}), pool, kRelu);
  const weft::RuntimeCounters after = weft::runtime_counters();
  CHECK((middle - before).launches == 1);
  CHECK((after - middle).launches == 2);
  CHECK(bitwise_equal(fused.to_vector<float>(), composed.to_vector<float>()));
}

TEST_CASE("conv2d_max_pool2d: fused on emu, bit for bit the composition, gradients included",
          "[emu]") {
  const FusedActivation none{};
  for (const Layer& l : {
           Layer{"fashion cnn conv1", 3, 1, 12, 12, 64, 3, 0, true, kRelu},
           Layer{"shoe cnn conv1 (27 taps), odd pooled width", 2, 3, 10, 13, 32, 3, 0, true,
                 kRelu},
           Layer{"5 x 5, 6 channels, leaky", 2, 2, 11, 9, 6, 5, 2, false, kLeaky},
           Layer{"7 x 7, no activation", 1, 1, 14, 14, 4, 7, 3, true, none},
           Layer{"NaN inputs, no activation", 2, 1, 12, 10, 8, 3, 1, true, none, true},
           Layer{"NaN inputs, leaky", 2, 1, 12, 10, 8, 3, 1, false, kLeaky, true},
       }) {
    for (const weft::MathPrecision precision :
         {weft::MathPrecision::fp32, weft::MathPrecision::tf32}) {
      INFO(l.label << " at " << weft::precision_name(precision));
      weft::set_math_precision(precision);
      const Device emu = Device::emu();
      auto [x, w, b, conv] = inputs_of(l, 11);
      const weft::Pool2dOptions pool{};
      const auto run = [&](bool fused) {
        for (Tensor* t : {&x, &w, &b}) {
          if (!t->defined()) continue;
          *t = t->detach();
          t->set_requires_grad(true);
        }
        const Tensor y = fused ? weft::conv2d_max_pool2d(x, w, b, conv, pool, l.act)
                               : weft::max_pool2d(weft::conv2d(x, w, b, conv), pool, l.act);
        const std::string node = y.grad_fn()->name;
        weft::sum(y * uniform(y.shape(), emu, 14)).backward();
        std::vector<std::vector<float>> values{y.to_vector<float>(), x.grad().to_vector<float>(),
                                               w.grad().to_vector<float>()};
        if (b.defined()) values.push_back(b.grad().to_vector<float>());
        return std::make_pair(values, node);
      };
      const auto [fused, fused_node] = run(true);
      const auto [plain, plain_node] = run(false);
      CHECK(fused_node == "conv2d+max_pool2d");
      CHECK(plain_node != fused_node);
      REQUIRE(fused.size() == plain.size());
      const char* names[] = {"y", "dx", "dw", "dbias"};
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO(names[i]);
        CHECK(bitwise_equal(fused[i], plain[i]));
      }
    }
  }
  weft::set_math_precision(weft::MathPrecision::fp32);
}

TEST_CASE("conv2d_max_pool2d: a first layer's dw and dbias straight from the pool's gradient",
          "[emu]") {
  // No dx wanted (the input images): the fused op's backward forms the convolution's gradient as
  // the backward-filter product reads it, where the composition's max_pool2d_backward stores it
  // first. Same dw and dbias bit for bit, one launch fewer (split-K at 3 x 26 x 26 positions).
  const FusedActivation none{};
  for (const Layer& l : {
           Layer{"fashion cnn conv1", 3, 1, 28, 28, 64, 3, 0, true, kRelu},
           Layer{"odd conv output, leaky", 2, 1, 11, 9, 20, 3, 1, true, kLeaky},
           Layer{"no bias, no activation", 2, 1, 13, 12, 24, 3, 0, false, none},
           Layer{"NaN inputs", 2, 1, 12, 10, 32, 3, 1, true, kRelu, true},
       }) {
    INFO(l.label);
    const Device emu = Device::emu();
    auto [x, w, b, conv] = inputs_of(l, 31);
    const auto run = [&](bool fused) {
      for (Tensor* t : {&w, &b}) {
        if (!t->defined()) continue;
        *t = t->detach();
        t->set_requires_grad(true);
      }
      const Tensor y = fused ? weft::conv2d_max_pool2d(x, w, b, conv, {}, l.act)
                             : weft::max_pool2d(weft::conv2d(x, w, b, conv), {}, l.act);
      const Tensor loss = weft::sum(y * uniform(y.shape(), emu, 34));
      const weft::RuntimeCounters before = weft::runtime_counters();
      loss.backward();
      const int64_t launches = (weft::runtime_counters() - before).launches;
      std::vector<std::vector<float>> values{w.grad().to_vector<float>()};
      if (b.defined()) values.push_back(b.grad().to_vector<float>());
      return std::make_pair(values, launches);
    };
    const auto [fused, fused_launches] = run(true);
    const auto [plain, plain_launches] = run(false);
    CHECK(fused_launches == plain_launches - 1);
    REQUIRE(fused.size() == plain.size());
    for (size_t i = 0; i < fused.size(); ++i) {
      INFO((i == 0 ? "dw" : "dbias"));
      CHECK(bitwise_equal(fused[i], plain[i]));
    }
  }
}

TEST_CASE("conv2d_max_pool2d: Sequential takes it for Conv2d -> ReLU -> MaxPool2d(2) on emu",
          "[emu]") {
  nn::Sequential net({std::make_shared<nn::Conv2d>(1, 16, 3), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(16, 40, 3),
                      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2)});
  net.to(Device::emu());
  const Tensor x = uniform({2, 1, 16, 16}, Device::emu(), 21);
  const Tensor y = net.forward(x);
  // The first pair fuses (9 taps); the second (144 taps, 40 channels) is not narrow, so it
  // composes: the convolution, then the pool carrying the ReLU.
  std::vector<std::string> ops;
  for (std::shared_ptr<weft::Node> node = y.grad_fn(); node != nullptr;
       node = node->inputs.empty() ? nullptr : node->inputs[0].producer) {
    ops.push_back(node->name);
  }
  CHECK(ops == std::vector<std::string>{"max_pool2d+activation", "conv2d", "conv2d+max_pool2d"});
}

TEST_CASE("conv2d_max_pool2d: fused on the CPU where the direct loop takes the layer, bit for "
          "bit the composition", "[cpu][conv]") {
  weft::Backend& cpu = weft::dispatch(Device::cpu());
  const weft::Conv2dParams fashion = conv_params(4, 1, 28, 28, 64, 3, 0);
  const weft::Conv2dParams deep = conv_params(2, 32, 12, 12, 64, 3, 1);  // im2col or Winograd
  // On the hand kernels: the fused op and a composition on the same kernels, so that the two
  // must agree bit for bit (auto may time oneDNN faster for the convolution alone, and then
  // takes the fusion only where it measured faster: tests/test_dispatch.cpp).
  weft::set_kernel_choice(weft::KernelFamily::conv, weft::KernelChoice::hand);
  CHECK(cpu.fuses_conv_max_pool(fashion, pool_over(fashion, 2)));
  CHECK(cpu.fuses_conv_max_pool(fashion, pool_over(fashion, 3)));  // any windows apart
  CHECK_FALSE(cpu.fuses_conv_max_pool(deep, pool_over(deep, 2)));
  CHECK_FALSE(cpu.fuses_conv_max_pool_filter(deep, pool_over(deep, 2)));
  weft::Pool2dParams overlapping = pool_over(fashion, 3);
  overlapping.stride_h = overlapping.stride_w = 2;
  CHECK_FALSE(cpu.fuses_conv_max_pool(fashion, overlapping));
  weft::set_math_precision(weft::MathPrecision::bf16);
  const bool forward_at_bf16 = cpu.fuses_conv_max_pool(fashion, pool_over(fashion, 2));
  const bool filter_at_bf16 = cpu.fuses_conv_max_pool_filter(fashion, pool_over(fashion, 2));
  weft::set_math_precision(weft::MathPrecision::fp32);
  CHECK(forward_at_bf16);       // the operands are rounded first, as the composition's
  CHECK_FALSE(filter_at_bf16);  // the composition rounds the whole gradient: not fused

  const FusedActivation none{};
  const Device device = Device::cpu();
  for (const Layer& l : {
           Layer{"fashion cnn conv1", 3, 1, 28, 28, 64, 3, 0, true, kRelu},
           Layer{"shoe cnn conv1, odd pooled width", 2, 3, 10, 13, 32, 3, 0, true, kRelu},
           Layer{"pair cnn conv1, 5 x 5 'same', 6 channels, leaky", 2, 6, 22, 18, 4, 5, 2, false,
                 kLeaky},
           Layer{"NaN inputs, no activation", 2, 1, 12, 10, 8, 3, 1, true, none, true},
       }) {
    for (const bool first_layer : {true, false}) {
      INFO(l.label << (first_layer ? ", first layer (no dx)" : ", dx wanted"));
      auto [x, w, b, conv] = inputs_of(l, 41, device);
      const auto run = [&](bool fused) {
        for (Tensor* t : {&x, &w, &b}) {
          if (!t->defined() || (t == &x && first_layer)) continue;
          *t = t->detach();
          t->set_requires_grad(true);
        }
        const Tensor y = fused ? weft::conv2d_max_pool2d(x, w, b, conv, {}, l.act)
                               : weft::max_pool2d(weft::conv2d(x, w, b, conv), {}, l.act);
        const std::string node = y.grad_fn()->name;
        weft::sum(y * uniform(y.shape(), device, 44)).backward();
        std::vector<std::vector<float>> values{y.to_vector<float>(), w.grad().to_vector<float>()};
        if (b.defined()) values.push_back(b.grad().to_vector<float>());
        if (!first_layer) values.push_back(x.grad().to_vector<float>());
        return std::make_pair(values, node);
      };
      const auto [fused, fused_node] = run(true);
      const auto [plain, plain_node] = run(false);
      CHECK(fused_node == "conv2d+max_pool2d");
      REQUIRE(fused.size() == plain.size());
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO("output " << i << " (y, dw, [dbias], [dx])");
        CHECK(bitwise_equal(fused[i], plain[i]));
      }
    }
  }
  weft::reset_kernel_choices();
}
