// Fused activations (kernels/params.h FusedActivation, engine/ops.h): ReLU and LeakyReLU applied
// by the convolution's, the batch norm's and the linear layer's own kernels, and add_relu (a
// residual sum and its ReLU in one kernel). Checked here on the CPU: the kernels against
// hand-computed values and the reference definitions on every CPU convolution path, the batch
// norm's and the linear layer's fused forward (and backward) against the unfused composition
// bit for bit, add_relu against add then relu, the graphs that fusion shortens, and whole seed
// models with fusion on and off (same loss, same gradients). The other backends are held to the
// CPU by the op table's "+relu", "+leaky_relu" and add_relu cases (tests/backend_op_table.cpp),
// and the emulated steps' launch budgets (tests/test_models_emu.cpp) count what fusion saves.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/reference/conv.h"
#include "kernels/selection.h"
#include "models/apparel_cnn.h"
#include "models/dcgan.h"
#include "models/dcgan_training.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/fashion_vgg.h"
#include "models/image_classifier.h"
#include "models/pair_cnn.h"
#include "models/resnet.h"
#include "tests/kernel_test_util.h"
#include "tests/params_test_util.h"

namespace {

using weft::Conv2dParams;
using weft::FusedActivation;
using weft::Tensor;
using weft::test::check_close;
using weft::test::nan_floats;
using weft::test::random_floats;
namespace nn = weft::nn;
namespace models = weft::models;

const FusedActivation kRelu{FusedActivation::Kind::relu, 0.0f};
const FusedActivation kLeaky{FusedActivation::Kind::leaky_relu, 0.1f};

Conv2dParams conv_params(int n, int c, int h, int w, int o, int k, int stride, int pad) {
  return weft::test::square_conv(n, c, h, w, o, k, pad, stride);
}

// Fusion switched on or off for one scope, restored after.
class FusionSetting {
 public:
  explicit FusionSetting(bool on) : before_(weft::fused_activations()) {
    weft::set_fused_activations(on);
  }
  ~FusionSetting() { weft::set_fused_activations(before_); }
  FusionSetting(const FusionSetting&) = delete;
  FusionSetting& operator=(const FusionSetting&) = delete;

 private:
  bool before_;
};

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    // -0 and +0 are the same value (a masked gradient may be either).
    if (!(a[i] == b[i]) && !(std::isnan(a[i]) && std::isnan(b[i]))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("fused activation: conv2d forward with relu and leaky_relu, by hand", "[fusion]") {
  // The 3x3 image and 2x2 kernel of test_kernels_conv.cpp's first case give 37 47 67 77 before
  // the bias; a bias of -50 leaves -13 -3 17 27, which relu turns into 0 0 17 27 and
  // leaky_relu(0.1) into -1.3 -0.3 17 27.
  Conv2dParams p = conv_params(1, 1, 3, 3, 1, 2, 1, 0);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> w = {1, 2, 3, 4};
  const float bias = -50.0f;
  p.activation = kRelu;
  std::vector<float> y = nan_floats(4);
  weft::cpu::conv2d_forward(p, x.data(), w.data(), &bias, y.data());
  check_close("relu", y, std::vector<float>{0, 0, 17, 27}, 0, 0);
  p.activation = kLeaky;
  y = nan_floats(4);
  weft::cpu::conv2d_forward(p, x.data(), w.data(), &bias, y.data());
  check_close("leaky_relu", y, std::vector<float>{-1.3f, -0.3f, 17, 27}, 1e-6, 1e-6);
}

TEST_CASE("fused activation: every CPU convolution path applies it as the reference does",
          "[fusion]") {
  struct Case {
    const char* path;
    Conv2dParams p;
    weft::cpu::ConvAlgorithm algorithm;
  };
  const std::vector<Case> cases = {
      {"im2col", conv_params(2, 20, 9, 9, 12, 3, 1, 1), weft::cpu::ConvAlgorithm::im2col},
      {"winograd", conv_params(2, 17, 9, 9, 16, 3, 1, 1), weft::cpu::ConvAlgorithm::winograd},
      {"direct", conv_params(2, 1, 12, 12, 8, 3, 1, 0), weft::cpu::ConvAlgorithm::direct},
      {"full window", conv_params(3, 4, 5, 5, 6, 5, 1, 0), weft::cpu::ConvAlgorithm::full_window}};
  for (const Case& c : cases) {
    for (const FusedActivation& act : {kRelu, kLeaky}) {
      Conv2dParams p = c.p;
      p.activation = act;
      INFO(c.path << (act.kind == FusedActivation::Kind::relu ? " relu" : " leaky_relu"));
      REQUIRE(weft::cpu::conv_algorithm(p, weft::cpu::ConvPass::forward) == c.algorithm);
      const std::vector<float> x = random_floats(p.input_count(), 11);
      const std::vector<float> w = random_floats(p.weight_count(), 12);
      const std::vector<float> bias = random_floats(p.out_channels, 13);
      std::vector<double> want(static_cast<size_t>(p.output_count()));
      weft::reference::conv2d_forward(p, x.data(), w.data(), bias.data(), want.data());
      std::vector<float> got = nan_floats(p.output_count());
      weft::cpu::conv2d_forward(p, x.data(), w.data(), bias.data(), got.data());
      check_close("y", got, want, 1e-5, 1e-5);
      // The reference's activation is real: about half the outputs are negative before it.
      int64_t clipped = 0;
      for (double v : want) clipped += v <= 0.0 ? 1 : 0;
      CHECK(clipped > p.output_count() / 5);
    }
  }
}

TEST_CASE("fused activation: CPU batch norm fused equals batch norm then the activation",
          "[fusion]") {
  weft::BatchNormParams p;
  p.batch = 3;
  p.channels = 4;
  p.spatial = 10;
  const int64_t count = int64_t{p.batch} * p.channels * p.spatial;
  const std::vector<float> x = random_floats(count, 21, -2.0f, 3.0f);
  const std::vector<float> dy = random_floats(count, 22);
  const std::vector<float> gamma = random_floats(p.channels, 23, 0.5f, 1.5f);
  const std::vector<float> beta = random_floats(p.channels, 24, -0.5f, 0.5f);
  const std::vector<float> run_mean = random_floats(p.channels, 25, -0.2f, 0.2f);
  const std::vector<float> run_var = random_floats(p.channels, 26, 0.5f, 2.0f);
  for (const FusedActivation& act : {kRelu, kLeaky}) {
    const weft::Activation f = act.kind == FusedActivation::Kind::relu
                                   ? weft::Activation::relu
                                   : weft::Activation::leaky_relu;
    INFO((act.kind == FusedActivation::Kind::relu ? "relu" : "leaky_relu"));
    weft::BatchNormParams fused = p;
    fused.activation = act;
    std::vector<float> mean(p.channels), invstd(p.channels);
    // Unfused: batch norm, the activation, the activation's backward, batch norm's backward.
    std::vector<float> y(count), z(count), dz(count), dx(count), dgamma(p.channels),
        dbeta(p.channels);
    weft::cpu::batch_norm_forward_train(p, x.data(), gamma.data(), beta.data(), y.data(),
                                        mean.data(), invstd.data(), nullptr, nullptr);
    weft::cpu::activation_forward(f, act.alpha, count, y.data(), z.data());
    weft::cpu::activation_backward(f, act.alpha, count, y.data(), z.data(), dy.data(), dz.data());
    weft::cpu::batch_norm_backward(p, dz.data(), x.data(), nullptr, gamma.data(), mean.data(),
                                   invstd.data(), dx.data(), dgamma.data(), dbeta.data());
    // Fused: the same two calls with the activation in the params and y passed to backward.
    std::vector<float> fz = nan_floats(count), fdx = nan_floats(count),
                       fdgamma = nan_floats(p.channels), fdbeta = nan_floats(p.channels);
    weft::cpu::batch_norm_forward_train(fused, x.data(), gamma.data(), beta.data(), fz.data(),
                                        mean.data(), invstd.data(), nullptr, nullptr);
    weft::cpu::batch_norm_backward(fused, dy.data(), x.data(), fz.data(), gamma.data(), mean.data(),
                                   invstd.data(), fdx.data(), fdgamma.data(), fdbeta.data());
    CHECK(bitwise_equal(fz, z));
    CHECK(bitwise_equal(fdx, dx));
    CHECK(bitwise_equal(fdgamma, dgamma));
    CHECK(bitwise_equal(fdbeta, dbeta));

    // Eval: the running statistics.
    weft::cpu::batch_norm_forward_eval(p, x.data(), gamma.data(), beta.data(), run_mean.data(),
                                       run_var.data(), y.data());
    weft::cpu::activation_forward(f, act.alpha, count, y.data(), z.data());
    weft::cpu::activation_backward(f, act.alpha, count, y.data(), z.data(), dy.data(), dz.data());
    weft::cpu::batch_norm_backward_eval(p, dz.data(), x.data(), nullptr, gamma.data(),
                                        run_mean.data(), run_var.data(), dx.data(), dgamma.data(),
                                        dbeta.data());
    weft::cpu::batch_norm_forward_eval(fused, x.data(), gamma.data(), beta.data(), run_mean.data(),
                                       run_var.data(), fz.data());
    weft::cpu::batch_norm_backward_eval(fused, dy.data(), x.data(), fz.data(), gamma.data(),
                                        run_mean.data(), run_var.data(), fdx.data(), fdgamma.data(),
                                        fdbeta.data());
    CHECK(bitwise_equal(fz, z));
    CHECK(bitwise_equal(fdx, dx));
    CHECK(bitwise_equal(fdgamma, dgamma));
    CHECK(bitwise_equal(fdbeta, dbeta));
    // Not vacuous: the activation changed y and the gradient somewhere.
    CHECK_FALSE(bitwise_equal(z, y));
  }
}

namespace {

// The loss of one forward and backward of `model` on fixed data, and every parameter's
// gradient, with fusion on or off. The model is rebuilt from the same seed each time.
struct StepResult {
  float loss = 0.0f;
  std::vector<std::vector<float>> gradients;
};

StepResult step(const std::function<std::shared_ptr<nn::Module>()>& make,
                const std::function<Tensor(nn::Module&)>& loss_of, bool fused) {
  const FusionSetting setting(fused);
  // The hand CPU kernels on both sides: under `auto` a fused shape has an autotune key of its
  // own and may be measured onto oneDNN while the unfused one stays on the hand kernels.
  weft::set_kernel_choice(weft::KernelChoice::hand);
  weft::manual_seed(7);
  const std::shared_ptr<nn::Module> model = make();
  model->train();
  const Tensor loss = loss_of(*model);
  loss.backward();
  StepResult r;
  r.loss = loss.to_vector<float>()[0];
  for (const Tensor& p : model->parameters()) {
    r.gradients.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
  }
  weft::reset_kernel_choices();
  return r;
}

Tensor images(const weft::Shape& shape, uint64_t seed) {
  weft::Generator generator(seed);
  std::vector<float> values(static_cast<size_t>(weft::shape_numel(shape)));
  for (float& v : values) v = generator.uniform() * 2.0f - 1.0f;
  return Tensor::from_vector(values, shape);
}

std::function<Tensor(nn::Module&)> classify(weft::Shape shape, int classes) {
  return [shape, classes](nn::Module& model) {
    std::vector<int32_t> labels;
    for (int64_t i = 0; i < shape[0]; ++i) labels.push_back(static_cast<int32_t>(i % classes));
    return weft::cross_entropy(model(images(shape, 5)), Tensor::from_vector(labels, {shape[0]}));
  };
}

void check_same_step(const std::string& name,
                     const std::function<std::shared_ptr<nn::Module>()>& make,
                     const std::function<Tensor(nn::Module&)>& loss_of) {
  INFO(name);
  const StepResult fused = step(make, loss_of, true);
  const StepResult unfused = step(make, loss_of, false);
  CHECK(fused.loss == unfused.loss);
  REQUIRE(fused.gradients.size() == unfused.gradients.size());
  for (size_t i = 0; i < fused.gradients.size(); ++i) {
    INFO("parameter " << i);
    check_close("gradient", fused.gradients[i], unfused.gradients[i], 1e-6, 1e-5);
  }
}

}  // namespace

TEST_CASE("fused activation: seed models train the same with fusion on and off", "[fusion]") {
  check_same_step(
      "FashionVgg", [] { return std::make_shared<models::FashionVgg>(); },
      classify({4, 1, 28, 28}, 10));
  check_same_step(
      "FashionResNet", [] { return std::make_shared<models::FashionResNet>(); },
      classify({4, 1, 28, 28}, 10));
  check_same_step(
      "FashionCnn", [] { return std::make_shared<models::FashionCnn>(); },
      classify({4, 1, 28, 28}, 10));
  check_same_step(
      "SimpleCnn",
      [] {
        return models::make_image_classifier({"simple", 3, 16, 4});
      },
      classify({4, 3, 16, 16}, 4));
  check_same_step(
      "ResNet-18",
      [] {
        return models::make_image_classifier({"resnet18", 3, 16, 4});
      },
      classify({4, 3, 16, 16}, 4));
  check_same_step(
      "ApparelCnn",
      [] {
        return std::make_shared<models::ApparelCnn>(models::ApparelCnnConfig{3, 24, 5});
      },
      classify({4, 3, 24, 24}, 5));
  const models::DcganConfig dcgan = models::dcgan32_gray();
  // D(G(noise)): the generator's transposed conv -> BN -> ReLU and the discriminator's conv ->
  // [BN] -> LeakyReLU(0.2).
  check_same_step(
      "DCGAN generator + discriminator",
      [dcgan] { return std::make_shared<models::DcganPair>(dcgan); },
      [dcgan](nn::Module& module) {
        auto& pair = dynamic_cast<models::DcganPair&>(module);
        const Tensor noise = images({4, dcgan.z_dim}, 5);
        return weft::mean(pair.discriminate(pair.generate(noise, Tensor()), Tensor()));
      });
  check_same_step(
      "pair CNN (channels)",
      [] {
        return std::static_pointer_cast<nn::Module>(
            models::make_pair_model(models::channel_cnn_config(32, 32)));
      },
      [](nn::Module& module) {
        auto& model = dynamic_cast<models::PairModel&>(module);
        const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 1, 0}, {4});
        return weft::cross_entropy(
            model.forward_pair(images({4, 3, 32, 32}, 5), images({4, 3, 32, 32}, 6)), labels);
      });
}

TEST_CASE("fused activation: Sequential fuses a conv or batch norm with the ReLU after it",
          "[fusion]") {
  // With fusion on, conv -> ReLU -> BN -> LeakyReLU records two nodes (the activations ride in
  // the conv and the batch norm); off, four. Counted through the ops' names on the graph.
  weft::manual_seed(3);
  nn::Sequential net({std::make_shared<nn::Conv2d>(2, 3, 3), std::make_shared<nn::ReLU>(),
                      nn::BatchNorm2d(3), std::make_shared<nn::LeakyReLU>(0.2f)});
  const Tensor x = images({2, 2, 6, 6}, 4);
  const auto names = [&](bool fused) {
    const FusionSetting setting(fused);
    // The hand CPU kernels on both sides, as in step() above: under `auto` the fused and the
    // unfused forward have autotune keys of their own and may be measured onto different kernels.
    weft::set_kernel_choice(weft::KernelChoice::hand);
    const Tensor y = net.forward(x);
    weft::reset_kernel_choices();
    std::vector<std::string> ops;
    // Walk from the output through each node's first input (the activation's or the layer's).
    for (std::shared_ptr<weft::Node> node = y.grad_fn(); node != nullptr;
         node = node->inputs.empty() ? nullptr : node->inputs[0].producer) {
      ops.push_back(node->name);
    }
    return std::make_pair(y.to_vector<float>(), ops);
  };
  const auto [fused_y, fused_ops] = names(true);
  const auto [plain_y, plain_ops] = names(false);
  CHECK(fused_ops == std::vector<std::string>{"batch_norm", "conv2d+activation"});
  CHECK(plain_ops == std::vector<std::string>{"leaky_relu", "batch_norm", "relu", "conv2d"});
  CHECK(bitwise_equal(fused_y, plain_y));
}

TEST_CASE("fused activation: Sequential moves a ReLU before a max pool into the pool",
          "[fusion]") {
  // conv -> ReLU -> MaxPool(2) -> conv -> LeakyReLU -> MaxPool(2) -> conv -> ReLU -> MaxPool(3,
  // stride 2): with fusion on the first two activations ride in their pools (whose windows do
  // not overlap), and on the CPU, whose direct loop takes these few-channel convolutions, each
  // such block is one op (conv2d+max_pool2d, tests/test_conv_max_pool.cpp); the last pool's
  // windows overlap, so its ReLU stays in the conv. Off, every activation is its own op. Values
  // and every gradient equal.
  nn::Sequential net({std::make_shared<nn::Conv2d>(2, 4, 3), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(4, 3, 3, 1, 1),
                      std::make_shared<nn::LeakyReLU>(0.2f), std::make_shared<nn::MaxPool2d>(2),
                      std::make_shared<nn::Conv2d>(3, 3, 3, 1, 1), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::MaxPool2d>(3, 2)});
  weft::manual_seed(5);
  for (Tensor p : net.parameters()) {
    // Weights that leave about half of each map negative, so the activations matter.
    p.copy_(images(p.shape(), static_cast<uint64_t>(p.numel())));
  }
  Tensor x = images({2, 2, 14, 14}, 4);
  x.set_requires_grad(true);
  const auto run = [&](bool fused) {
    const FusionSetting setting(fused);
    weft::set_kernel_choice(weft::KernelChoice::hand);
    net.zero_grad();
    const Tensor y = net.forward(x);
    std::vector<std::string> ops;  // read before backward, which releases the graph
    for (std::shared_ptr<weft::Node> node = y.grad_fn(); node != nullptr;
         node = node->inputs.empty() ? nullptr : node->inputs[0].producer) {
      ops.push_back(node->name);
    }
    weft::sum(y * images(y.shape(), 9)).backward();
    weft::reset_kernel_choices();
    std::vector<std::vector<float>> values{y.to_vector<float>()};
    for (const Tensor& p : net.parameters()) values.push_back(p.grad().to_vector<float>());
    return std::make_pair(values, ops);
  };
  const auto [fused, fused_ops] = run(true);
  const auto [plain, plain_ops] = run(false);
  CHECK(fused_ops == std::vector<std::string>{"max_pool2d", "conv2d+activation",
                                              "conv2d+max_pool2d", "conv2d+max_pool2d"});
  CHECK(plain_ops == std::vector<std::string>{"max_pool2d", "relu", "conv2d", "max_pool2d",
                                              "leaky_relu", "conv2d", "max_pool2d", "relu",
                                              "conv2d"});
  REQUIRE(fused.size() == plain.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    INFO((i == 0 ? std::string("output") : "gradient of parameter " + std::to_string(i - 1)));
    CHECK(bitwise_equal(fused[i], plain[i]));
  }
}

TEST_CASE("fused activation: a leaky_relu slope below 0 is refused", "[fusion]") {
  const Tensor x = images({1, 1, 4, 4}, 1);
  const Tensor w = images({1, 1, 3, 3}, 2);
  CHECK_THROWS_WITH(weft::conv2d(x, w, Tensor(), {}, weft::fused_leaky_relu(-0.5f)),
                    Catch::Contains("slope >= 0") && Catch::Contains("-0.5"));
}

TEST_CASE("fused activation: CPU linear fused equals linear then the activation", "[fusion]") {
  // By hand: x [1, 2] = (1, 2), w [3, 2] = rows (1, 1), (-1, 0), (2, -3), bias (0, -1, 1) give
  // 3, -2, -3; relu 3 0 0, leaky_relu(0.1) 3 -0.2 -0.3.
  const std::vector<float> x = {1, 2}, w = {1, 1, -1, 0, 2, -3}, bias = {0, -1, 1};
  std::vector<float> y = nan_floats(3);
  weft::cpu::linear_forward(1, 2, 3, x.data(), w.data(), bias.data(), y.data(), kRelu);
  check_close("relu", y, std::vector<float>{3, 0, 0}, 0, 0);
  y = nan_floats(3);
  weft::cpu::linear_forward(1, 2, 3, x.data(), w.data(), bias.data(), y.data(), kLeaky);
  check_close("leaky_relu", y, std::vector<float>{3, -0.2f, -0.3f}, 1e-7, 1e-6);

  // Larger, with and without a bias: the fused epilogue against linear then the activation.
  const int n = 7, in = 19, out = 13;
  const std::vector<float> xs = random_floats(int64_t{n} * in, 31);
  const std::vector<float> ws = random_floats(int64_t{out} * in, 32);
  const std::vector<float> bs = random_floats(out, 33);
  for (const FusedActivation& act : {kRelu, kLeaky}) {
    for (const bool with_bias : {true, false}) {
      INFO((act.kind == FusedActivation::Kind::relu ? "relu" : "leaky_relu")
           << (with_bias ? "" : " no bias"));
      const float* b = with_bias ? bs.data() : nullptr;
      std::vector<float> plain(static_cast<size_t>(n * out)), want(plain.size());
      weft::cpu::linear_forward(n, in, out, xs.data(), ws.data(), b, plain.data());
      weft::cpu::activation_forward(act.kind == FusedActivation::Kind::relu
                                        ? weft::Activation::relu
                                        : weft::Activation::leaky_relu,
                                    act.alpha, n * out, plain.data(), want.data());
      std::vector<float> got = nan_floats(n * out);
      weft::cpu::linear_forward(n, in, out, xs.data(), ws.data(), b, got.data(), act);
      CHECK(bitwise_equal(got, want));
      CHECK_FALSE(bitwise_equal(got, plain));
    }
  }
}

namespace {

// The names of the ops recorded from `y` back to the leaves, each node once, sorted.
std::multiset<std::string> graph_ops(const Tensor& y) {
  std::multiset<std::string> names;
  std::set<const weft::Node*> seen;
  std::vector<std::shared_ptr<weft::Node>> todo = {y.grad_fn()};
  while (!todo.empty()) {
    const std::shared_ptr<weft::Node> node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node.get()).second) continue;
    names.insert(node->name);
    for (const weft::Edge& input : node->inputs) todo.push_back(input.producer);
  }
  return names;
}

}  // namespace

TEST_CASE("fused activation: linear with an activation, fused and not", "[fusion]") {
  // Sequential fuses a Linear and the ReLU after it into one node; the values and gradients are
  // those of linear then relu.
  weft::manual_seed(5);
  nn::Sequential net({std::make_shared<nn::Linear>(6, 5), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::Linear>(5, 4), std::make_shared<nn::LeakyReLU>(0.1f)});
  const Tensor x = images({3, 6}, 8);
  const auto run = [&](bool fused) {
    const FusionSetting setting(fused);
    net.zero_grad();
    const Tensor y = net.forward(x);
    const std::multiset<std::string> ops = graph_ops(y);  // before backward frees the graph
    weft::sum(y).backward();
    std::vector<std::vector<float>> values = {y.to_vector<float>()};
    for (const Tensor& p : net.parameters()) values.push_back(p.grad().to_vector<float>());
    return std::make_pair(values, ops);
  };
  const auto [fused_values, fused_ops] = run(true);
  const auto [plain_values, plain_ops] = run(false);
  CHECK(fused_ops == std::multiset<std::string>{"linear+activation", "linear+activation"});
  CHECK(plain_ops == std::multiset<std::string>{"leaky_relu", "linear", "linear", "relu"});
  REQUIRE(fused_values.size() == plain_values.size());
  for (size_t i = 0; i < fused_values.size(); ++i) {
    INFO("output, then each parameter's gradient: " << i);
    CHECK(bitwise_equal(fused_values[i], plain_values[i]));
  }
}

TEST_CASE("fused activation: add_relu is add then relu in one op", "[fusion]") {
  // The CPU kernel by hand: sums -2, -1, 1, 0 and NaN give 0 0 1 0 0 (relu's NaN is 0).
  const std::vector<float> a = {1, -2, 0.5f, 3, std::nanf("")}, b = {-3, 1, 0.5f, -3, 1};
  std::vector<float> y = nan_floats(5);
  weft::cpu::add_relu_forward(5, a.data(), b.data(), y.data());
  check_close("add_relu", y, std::vector<float>{0, 0, 1, 0, 0}, 0, 0);

  // The op: values and both gradients as relu(a + b), one node instead of two. b is also used
  // by a second branch, so its gradient accumulates from two places.
  const Tensor ta = images({2, 3, 4, 4}, 11), tb = images({2, 3, 4, 4}, 12);
  const Tensor dy = images({2, 3, 4, 4}, 13);
  const auto run = [&](bool fused) {
    const FusionSetting setting(fused);
    Tensor pa = ta.detach(), pb = tb.detach();
    pa.set_requires_grad(true);
    pb.set_requires_grad(true);
    const Tensor y = weft::add_relu(pa, pb);
    const std::multiset<std::string> ops = graph_ops(y);  // before backward frees the graph
    weft::sum(y * dy + pb).backward();
    return std::make_tuple(y.to_vector<float>(), pa.grad().to_vector<float>(),
                           pb.grad().to_vector<float>(), ops);
  };
  const auto [fy, fga, fgb, fops] = run(true);
  const auto [py, pga, pgb, pops] = run(false);
  CHECK(fops == std::multiset<std::string>{"add_relu"});
  CHECK(pops == std::multiset<std::string>{"add", "relu"});
  CHECK(bitwise_equal(fy, py));
  CHECK(bitwise_equal(fga, pga));
  CHECK(bitwise_equal(fgb, pgb));
  // Not vacuous: some sums were clipped, so some gradients are 0.
  int64_t zeros = 0;
  for (float g : fga) zeros += g == 0.0f ? 1 : 0;
  CHECK(zeros > 0);
  CHECK(zeros < static_cast<int64_t>(fga.size()));
}

TEST_CASE("fused activation: a ResNet block's graph is shorter with fusion", "[fusion]") {
  // conv -> BN+ReLU -> conv -> BN -> add+ReLU: 5 nodes fused, 7 without (two relus, one add).
  weft::manual_seed(2);
  models::BasicBlock block(4, 4, 1);
  block.train();
  const Tensor x = images({2, 4, 6, 6}, 3);
  const auto ops = [&](bool fused) {
    const FusionSetting setting(fused);
    return graph_ops(block.forward(x));
  };
  CHECK(ops(true) ==
        std::multiset<std::string>{"add_relu", "batch_norm", "batch_norm", "conv2d", "conv2d"});
  CHECK(ops(false) == std::multiset<std::string>{"add", "batch_norm", "batch_norm", "conv2d",
                                                 "conv2d", "relu", "relu"});
  // A whole ResNet-18 step: fewer nodes with fusion on.
  const auto model = models::make_image_classifier({"resnet18", 3, 16, 4});
  const Tensor images16 = images({2, 3, 16, 16}, 4);
  const auto count = [&](bool fused) {
    const FusionSetting setting(fused);
    return graph_ops((*model)(images16)).size();
  };
  const size_t fused_nodes = count(true), plain_nodes = count(false);
  INFO("ResNet-18 nodes: " << fused_nodes << " fused, " << plain_nodes << " unfused");
  // Each of the 8 blocks loses two nodes (bn1's relu; add and relu become add_relu), the stem's
  // batch norm its relu.
  CHECK(plain_nodes - fused_nodes == 8 * 2 + 1);
}
