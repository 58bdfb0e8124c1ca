// The rules of weft's tape (engine/autograd.h), checked at the engine level: gradients from
// several uses of one tensor are summed (the shared-weights, siamese case), `.grad` accumulates
// across backward calls until zero_grad (in place only where no other handle sees it),
// NoGradGuard records nothing, detach cuts history, retain_grad keeps a non-leaf's gradient,
// frozen weights still pass gradients to the input, misuse throws weft::Error with a message
// that says what went wrong, a very deep graph neither overflows the stack in backward nor when
// it is dropped without backward, and the tape keeps no activation that no backward formula
// reads.
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "kernels/error.h"
#include "tests/engine_test_util.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::Tensor;
using weft::test::check_close;
using weft::test::error_message;

Tensor leaf(const std::vector<float>& values, const weft::Shape& shape) {
  Tensor t = Tensor::from_vector(values, shape);
  t.set_requires_grad(true);
  return t;
}

std::vector<float> grad_of(const Tensor& t) {
  REQUIRE(t.grad().defined());
  return t.grad().to_vector<float>();
}

// Gradients here are sums of a few float products of numbers near 1; 1e-6 absolute plus 1e-6
// relative covers their rounding while any missing or doubled term is off by order 1.
constexpr double kGradAbs = 1e-6, kGradRel = 1e-6;

}  // namespace

TEST_CASE("autograd: a tensor used twice receives the sum of both gradients", "[autograd]") {
  // y = w*x + w*x, L = sum(y): dL/dw = 2x and dL/dx = 2w.
  const Tensor w = leaf({1.0f, -2.0f, 0.5f}, {3});
  const Tensor x = leaf({3.0f, 4.0f, -5.0f}, {3});
  weft::sum(w * x + w * x).backward();
  check_close("dL/dw", grad_of(w), std::vector<float>{6.0f, 8.0f, -10.0f}, kGradAbs, kGradRel);
  check_close("dL/dx", grad_of(x), std::vector<float>{2.0f, -4.0f, 1.0f}, kGradAbs, kGradRel);
}

TEST_CASE("autograd: a shared Linear applied to two inputs sums the two gradients (siamese)",
          "[autograd]") {
  weft::manual_seed(5);
  weft::nn::Linear tower(4, 3);
  weft::Generator rng(6);
  const Tensor left = Tensor::from_vector(rng.uniform(8, -1.0f, 1.0f), {2, 4});
  const Tensor right = Tensor::from_vector(rng.uniform(8, -1.0f, 1.0f), {2, 4});
  // Different projections per branch, so the two gradients differ and a lost one shows.
  const Tensor left_proj = Tensor::from_vector(rng.uniform(6, -1.0f, 1.0f), {2, 3});
  const Tensor right_proj = Tensor::from_vector(rng.uniform(6, -1.0f, 1.0f), {2, 3});
  auto branch_loss = [&](const Tensor& input, const Tensor& proj) {
    return weft::sum(tower(input) * proj);
  };

  branch_loss(left, left_proj).backward();
  const std::vector<float> w_left = grad_of(tower.weight), b_left = grad_of(tower.bias);
  tower.zero_grad();
  branch_loss(right, right_proj).backward();
  const std::vector<float> w_right = grad_of(tower.weight), b_right = grad_of(tower.bias);
  tower.zero_grad();

  (branch_loss(left, left_proj) + branch_loss(right, right_proj)).backward();
  std::vector<float> w_sum(w_left.size()), b_sum(b_left.size());
  for (size_t i = 0; i < w_sum.size(); ++i) w_sum[i] = w_left[i] + w_right[i];
  for (size_t i = 0; i < b_sum.size(); ++i) b_sum[i] = b_left[i] + b_right[i];
  check_close("weight gradient of the siamese loss", grad_of(tower.weight), w_sum, kGradAbs,
              kGradRel);
  check_close("bias gradient of the siamese loss", grad_of(tower.bias), b_sum, kGradAbs, kGradRel);
}

TEST_CASE("autograd: .grad accumulates across backward calls until zero_grad", "[autograd]") {
  Tensor w = leaf({1.0f, 2.0f}, {2});
  const Tensor x = Tensor::from_vector(std::vector<float>{3.0f, -1.0f}, {2});
  weft::sum(w * x).backward();
  check_close("after one backward", grad_of(w), std::vector<float>{3.0f, -1.0f}, kGradAbs,
              kGradRel);
  const Tensor first = w.grad();  // a handle on the first gradient: the next one must not write it
  weft::sum(w * x).backward();
  check_close("after two backwards", grad_of(w), std::vector<float>{6.0f, -2.0f}, kGradAbs,
              kGradRel);
  check_close("the first gradient's handle", first.to_vector<float>(),
              std::vector<float>{3.0f, -1.0f}, kGradAbs, kGradRel);
  weft::sum(w * x).backward();  // no other handle now: added in place
  check_close("after three backwards", grad_of(w), std::vector<float>{9.0f, -3.0f}, kGradAbs,
              kGradRel);
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  weft::sum(w * x).backward();
  check_close("after zero_grad and one backward", grad_of(w), std::vector<float>{3.0f, -1.0f},
              kGradAbs, kGradRel);
}

TEST_CASE("autograd: NoGradGuard records no tape, and recording resumes after it", "[autograd]") {
  const Tensor w = leaf({1.0f, 2.0f}, {2});
  {
    weft::NoGradGuard no_grad;
    CHECK_FALSE(weft::grad_mode_enabled());
    const Tensor y = weft::relu(w * 2.0f);
    CHECK(y.grad_fn() == nullptr);
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(weft::grad_mode_enabled());
  const Tensor y = weft::relu(w * 2.0f);
  CHECK(y.grad_fn() != nullptr);
}

TEST_CASE("autograd: detach cuts the history but shares the data", "[autograd]") {
  // z = detach(w * x); L = sum(z * w). Through the detached path w gets nothing, so
  // dL/dw = z = w * x; without the detach it would be 2 * w * x.
  const Tensor w = leaf({1.0f, -2.0f}, {2});
  const Tensor x = Tensor::from_vector(std::vector<float>{3.0f, 0.5f}, {2});
  const Tensor product = w * x;
  const Tensor z = product.detach();
  CHECK(z.grad_fn() == nullptr);
  CHECK_FALSE(z.requires_grad());
  CHECK(z.raw_data() == product.raw_data());
  weft::sum(z * w).backward();
  check_close("dL/dw", grad_of(w), std::vector<float>{3.0f, -1.0f}, kGradAbs, kGradRel);
}

TEST_CASE("autograd: retain_grad keeps the gradient of a non-leaf tensor", "[autograd]") {
  // h = w * x, L = sum(h * h): dL/dh = 2h. A non-leaf without retain_grad keeps nothing.
  const Tensor w = leaf({1.0f, 2.0f, -1.0f}, {3});
  const Tensor x = Tensor::from_vector(std::vector<float>{2.0f, 0.5f, 3.0f}, {3});
  Tensor h = w * x;
  h.retain_grad();
  const Tensor h_squared = h * h;
  weft::sum(h_squared).backward();
  check_close("dL/dh", grad_of(h), std::vector<float>{4.0f, 2.0f, -6.0f}, kGradAbs, kGradRel);
  CHECK_FALSE(h_squared.grad().defined());
}

TEST_CASE("autograd: a frozen Linear still passes the gradient to its input", "[autograd]") {
  // y = x W^T + b with W and b frozen, L = sum(y): dL/dx[n, i] = sum_o W[o, i].
  weft::nn::Linear layer(2, 3);
  layer.set_requires_grad(false);
  layer.weight.copy_(Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}));
  const Tensor x = leaf({0.5f, -1.0f, 2.0f, 1.0f}, {2, 2});
  weft::sum(layer(x)).backward();
  check_close("dL/dx", grad_of(x), std::vector<float>{9.0f, 12.0f, 9.0f, 12.0f}, kGradAbs,
              kGradRel);
  CHECK_FALSE(layer.weight.grad().defined());
  CHECK_FALSE(layer.bias.grad().defined());
}

TEST_CASE("autograd: misuse throws weft::Error that says what is wrong", "[autograd]") {
  using Catch::Matchers::Contains;
  SECTION("backward twice through one graph") {
    const Tensor w = leaf({1.0f, 2.0f}, {2});
    const Tensor loss = weft::sum(w * w);
    loss.backward();
    CHECK_THAT(error_message([&] { loss.backward(); }), Contains("second time"));
  }
  SECTION("backward of a non-scalar without a gradient") {
    const Tensor w = leaf({1.0f, 2.0f}, {2});
    CHECK_THAT(error_message([&] { (w * 2.0f).backward(); }), Contains("one-element"));
  }
  SECTION("requires_grad on an int tensor") {
    Tensor labels = Tensor::zeros({3}, weft::DType::i32);
    CHECK_THAT(error_message([&] { labels.set_requires_grad(true); }),
               Contains("only float tensors"));
  }
}

TEST_CASE("autograd: a chain of 100000 ops neither overflows the stack nor leaks", "[autograd]") {
  // 100000 is five times what overflows an 8 MiB stack when each node frees the next by
  // recursion; both backward (iterative topological order) and dropping the graph
  // (Node::~Node releases the chain in a loop) must cope.
  constexpr int kDepth = 100000;
  SECTION("backward") {
    const Tensor x = leaf({1.0f}, {});
    Tensor h = x;
    for (int i = 0; i < kDepth; ++i) h = h + 1.0f;
    CHECK(h.item() == static_cast<float>(1 + kDepth));
    h.backward();
    CHECK(x.grad().item() == 1.0f);
  }
  SECTION("dropped without backward") {
    const Tensor x = leaf({1.0f}, {});
    std::weak_ptr<weft::Node> first_node;
    {
      Tensor h = x + 1.0f;
      first_node = h.grad_fn();
      for (int i = 1; i < kDepth; ++i) h = h + 1.0f;
      CHECK_FALSE(first_node.expired());
    }
    CHECK(first_node.expired());
  }
}

TEST_CASE("autograd: the tape keeps no input that no backward formula reads", "[autograd]") {
  // 1 Mi floats: 4 MiB per activation, far above anything else the test allocates.
  constexpr int64_t kCount = int64_t{1} << 20;
  constexpr size_t kBytes = kCount * sizeof(float);
  const Tensor w = leaf(std::vector<float>(kCount, 1.0f), {kCount});
  const weft::Device cpu = weft::Device::cpu();
  const size_t start = weft::memory_stats(cpu).current_bytes;
  Tensor total;
  std::vector<float> expected;
  SECTION("a product by a constant, then a sum: the sum keeps the product's edge, not its data") {
    {
      const Tensor scaled = w * 3.0f;  // its backward reads only the factor
      total = weft::sum(scaled);       // its backward reads only the shape
      CHECK(weft::memory_stats(cpu).current_bytes >= start + kBytes);
    }
    CHECK(weft::memory_stats(cpu).current_bytes < start + 1024);
    expected.assign(static_cast<size_t>(kCount), 3.0f);
  }
  SECTION("the sum of two tensors reads neither") {
    {
      const Tensor scaled = w * 3.0f;
      total = weft::sum(scaled + w);
    }
    CHECK(weft::memory_stats(cpu).current_bytes < start + 1024);
    expected.assign(static_cast<size_t>(kCount), 4.0f);
  }
  SECTION("sigmoid keeps its output for backward, not its input") {
    Tensor out;
    {
      const Tensor scaled = w * 0.0f;
      out = weft::sigmoid(scaled);
    }
    total = weft::sum(out);
    CHECK(weft::memory_stats(cpu).current_bytes < start + kBytes + 1024);  // out alone
    expected.assign(static_cast<size_t>(kCount), 0.0f);  // d/dw sigmoid(0 * w) = 0.25 * 0
  }
  total.backward();
  CHECK(grad_of(w) == expected);
}
