// The two fused ops of issue 13's "fusion where it pays" beyond the activation epilogues:
// activation_dropout (relu or leaky_relu and then dropout in one kernel each way) and
// cross_entropy_forward_backward (the loss and d loss / d logits in one pass). Checked here on
// the CPU: the reference kernels against the unfused composition of their parts bit for bit,
// and the engine ops (values, gradients, generator use, graph) with fusion on against fusion
// off, including cross_entropy's backward when its incoming gradient is not backward()'s own
// seed of one. The hand CUDA kernels are held to the CPU by the op table's activation_dropout
// and cross_entropy_forward_backward cases (tests/backend_op_table.cpp), and the emulated
// steps' launch budgets (tests/test_models_emu.cpp) count what the fused loss saves.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/loss.h"
#include "tests/kernel_test_util.h"

namespace {

using weft::Activation;
using weft::DropoutParams;
using weft::FusedActivation;
using weft::Tensor;
using weft::test::nan_floats;
using weft::test::random_floats;
namespace nn = weft::nn;

const FusedActivation kRelu{FusedActivation::Kind::relu, 0.0f};
const FusedActivation kLeaky{FusedActivation::Kind::leaky_relu, 0.2f};

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

// Equal values element by element (+0 and -0 alike, NaN where the other has NaN).
bool same_values(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]) && !(std::isnan(a[i]) && std::isnan(b[i]))) return false;
  }
  return true;
}

Activation activation_of(const FusedActivation& act) {
  return act.kind == FusedActivation::Kind::relu ? Activation::relu : Activation::leaky_relu;
}

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

Tensor uniform_tensor(const weft::Shape& shape, uint32_t seed) {
  return Tensor::from_vector(random_floats(weft::shape_numel(shape), seed), shape);
}

}  // namespace

TEST_CASE("activation_dropout: CPU kernels equal the activation and dropout bit for bit",
          "[fusion]") {
  struct Setting {
    int64_t count;
    float p;
    uint64_t offset;
  };
  // Odd counts and offsets: the partial Philox counters at both ends and the 8-lane groups;
  // p = 0 and p = 1 the special cases.
  for (const Setting& s : {Setting{1, 0.5f, 0}, Setting{7, 0.5f, 3}, Setting{1001, 0.3f, 5},
                           Setting{70001, 0.5f, 2}, Setting{100, 0.0f, 1}, Setting{100, 1.0f, 0}}) {
    for (const FusedActivation& act : {kRelu, kLeaky}) {
      INFO("n=" << s.count << " p=" << s.p << " offset=" << s.offset << " slope=" << act.alpha);
      DropoutParams p;
      p.count = s.count;
      p.p = s.p;
      p.seed = 99;
      p.offset = s.offset;
      const std::vector<float> x = random_floats(s.count, 1), dy = random_floats(s.count, 2);
      // Forward: activation_forward then dropout_forward.
      std::vector<float> a = nan_floats(s.count), want_y = nan_floats(s.count);
      weft::cpu::activation_forward(activation_of(act), act.alpha, s.count, x.data(), a.data());
      weft::cpu::dropout_forward(p, a.data(), want_y.data());
      std::vector<float> y = nan_floats(s.count);
      weft::cpu::activation_dropout_forward(p, act, x.data(), y.data());
      CHECK(same_values(y, want_y));
      // Backward: dropout_backward then activation_backward at x.
      std::vector<float> t = nan_floats(s.count), want_dx = nan_floats(s.count);
      weft::cpu::dropout_backward(p, dy.data(), t.data());
      weft::cpu::activation_backward(activation_of(act), act.alpha, s.count, x.data(), a.data(),
                                     t.data(), want_dx.data());
      std::vector<float> dx = nan_floats(s.count);
      weft::cpu::activation_dropout_backward(p, act, x.data(), dy.data(), dx.data());
      CHECK(same_values(dx, want_dx));
      if (s.count >= 1000 && s.p > 0.0f && s.p < 1.0f) {
        // Not vacuous: kept elements on both sides of 0 (t, the masked dy, is not 0 where kept),
        // and dropped ones.
        int64_t kept_negative = 0, kept_positive = 0, dropped = 0;
        for (int64_t i = 0; i < s.count; ++i) {
          dropped += t[i] == 0.0f ? 1 : 0;
          kept_negative += t[i] != 0.0f && x[i] < 0.0f ? 1 : 0;
          kept_positive += t[i] != 0.0f && x[i] > 0.0f ? 1 : 0;
        }
        CHECK(kept_negative > 0);
        CHECK(kept_positive > 0);
        CHECK(dropped > 0);
      }
    }
  }
}

TEST_CASE("activation_dropout: the op equals relu or leaky_relu then dropout", "[fusion]") {
  const Tensor x0 = uniform_tensor({4, 3, 5, 5}, 3), dy = uniform_tensor({4, 3, 5, 5}, 4);
  for (const FusedActivation& act : {kRelu, kLeaky}) {
    INFO("slope " << act.alpha);
    const auto run = [&](bool fused) {
      const FusionSetting setting(fused);
      weft::Generator generator(17);
      Tensor x = x0.detach();
      x.set_requires_grad(true);
      const Tensor y = weft::activation_dropout(x, act, 0.4f, true, &generator);
      const std::multiset<std::string> ops = graph_ops(y);
      weft::sum(y * dy).backward();
      // The generator moved on by the same count: later draws are the same.
      return std::make_tuple(y.to_vector<float>(), x.grad().to_vector<float>(), ops,
                             generator.offset());
    };
    const auto [fy, fdx, fops, foffset] = run(true);
    const auto [py, pdx, pops, poffset] = run(false);
    CHECK(fops == std::multiset<std::string>{"activation_dropout"});
    CHECK(pops == std::multiset<std::string>{"dropout", act.alpha == 0.0f ? "relu" : "leaky_relu"});
    CHECK(same_values(fy, py));
    CHECK(same_values(fdx, pdx));
    CHECK(foffset == poffset);
  }
  // Eval mode and p = 0: the activation alone.
  const Tensor y = weft::activation_dropout(x0, kLeaky, 0.5f, false);
  CHECK(same_values(y.to_vector<float>(), weft::leaky_relu(x0, 0.2f).to_vector<float>()));
  CHECK(same_values(weft::activation_dropout(x0, kRelu, 0.0f, true).to_vector<float>(),
                    weft::relu(x0).to_vector<float>()));
}

TEST_CASE("activation_dropout: Sequential runs a ReLU and the Dropout after it as one",
          "[fusion]") {
  // MaxPool -> ReLU -> Dropout: the ReLU has no layer to ride in, so it goes into the dropout.
  // Conv -> ReLU -> Dropout: the conv takes the ReLU, the dropout stays on its own.
  nn::Sequential pooled({std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::Dropout>(0.3f)});
  weft::manual_seed(5);
  nn::Sequential conv({std::make_shared<nn::Conv2d>(3, 2, 3), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Dropout>(0.3f)});
  Tensor x = uniform_tensor({2, 3, 6, 6}, 6);
  x.set_requires_grad(true);
  const auto run = [&](nn::Sequential& net, bool fused) {
    const FusionSetting setting(fused);
    weft::manual_seed(8);
    const Tensor y = net.forward(x);
    return std::make_pair(y.to_vector<float>(), graph_ops(y));
  };
  const auto [fy, fops] = run(pooled, true);
  const auto [py, pops] = run(pooled, false);
  CHECK(fops == std::multiset<std::string>{"activation_dropout", "max_pool2d"});
  CHECK(pops == std::multiset<std::string>{"dropout", "max_pool2d", "relu"});
  CHECK(same_values(fy, py));
  CHECK(run(conv, true).second == std::multiset<std::string>{"conv2d+activation", "dropout"});
  // In eval mode the dropout is the identity: the ReLU's values alone.
  pooled.eval();
  CHECK(same_values(pooled.forward(x).to_vector<float>(),
                    weft::relu(weft::max_pool2d(x, weft::Pool2dOptions{})).to_vector<float>()));
}

TEST_CASE("cross_entropy_forward_backward: CPU kernel equals the forward and the backward",
          "[fusion]") {
  for (const auto& [n, c] :
       {std::pair{1, 1}, std::pair{7, 10}, std::pair{300, 7}, std::pair{5000, 3}}) {
    for (bool weighted : {false, true}) {
      for (float smoothing : {0.0f, 0.1f}) {
        INFO("n=" << n << " c=" << c << " weighted " << weighted << " smoothing " << smoothing);
        const std::vector<float> logits = random_floats(int64_t{n} * c, 7, -4.0f, 4.0f);
        const std::vector<float> weights = random_floats(c, 8, 0.5f, 2.0f);
        std::vector<int32_t> targets;
        for (int i = 0; i < n; ++i) targets.push_back((5 * i + 2) % c);
        const float* w = weighted ? weights.data() : nullptr;
        const float want_loss =
            weft::cpu::cross_entropy_forward(n, c, logits.data(), targets.data(), w, smoothing);
        std::vector<float> want = nan_floats(int64_t{n} * c), got = nan_floats(int64_t{n} * c);
        weft::cpu::cross_entropy_backward(n, c, logits.data(), targets.data(), w, smoothing, 1.0f,
                                          want.data());
        const float loss = weft::cpu::cross_entropy_forward_backward(
            n, c, logits.data(), targets.data(), w, smoothing, got.data());
        CHECK(loss == want_loss);
        CHECK(same_values(got, want));
      }
    }
  }
}

TEST_CASE("cross_entropy: fused forward and backward train as the unfused ones", "[fusion]") {
  const Tensor logits0 = uniform_tensor({6, 5}, 9) * 3.0f;
  const Tensor targets = Tensor::from_vector(std::vector<int32_t>{0, 4, 2, 2, 1, 3}, {6});
  const Tensor weights = Tensor::from_vector(std::vector<float>{0.5f, 1.0f, 2.0f, 1.5f, 0.7f}, {5});
  // How the loss reaches backward(): directly (the seed of one), scaled (the scale_by path),
  // used twice (its gradient accumulated: 2), and with a seed passed in (not known to be 1).
  enum class Use { direct, scaled, twice, given_seed };
  for (const Use use : {Use::direct, Use::scaled, Use::twice, Use::given_seed}) {
    for (bool weighted : {false, true}) {
      INFO("use " << static_cast<int>(use) << " weighted " << weighted);
      const auto run = [&](bool fused) {
        const FusionSetting setting(fused);
        Tensor logits = logits0.detach();
        logits.set_requires_grad(true);
        const Tensor loss =
            weft::cross_entropy(logits, targets, weighted ? weights : Tensor(), 0.1f);
        switch (use) {
          case Use::direct:
            loss.backward();
            break;
          case Use::scaled:
            (loss * 0.25f).backward();
            break;
          case Use::twice:
            (loss + loss).backward();
            break;
          case Use::given_seed:
            loss.backward(Tensor::full({}, 3.0f));
            break;
        }
        return std::make_pair(loss.to_vector<float>(), logits.grad().to_vector<float>());
      };
      const auto [floss, fgrad] = run(true);
      const auto [ploss, pgrad] = run(false);
      CHECK(floss == ploss);
      if (use == Use::direct) {
        CHECK(same_values(fgrad, pgrad));  // dlogits handed on as the forward wrote it
      } else {
        // The unfused backward scales by g / W in double, the fused one by 1 / W and then g.
        weft::test::check_close("gradient", fgrad, pgrad, 1e-7, 1e-6);
      }
    }
  }
  // Without a gradient to compute (eval, no_grad), the plain forward: no gradient tensor made.
  const weft::NoGradGuard no_grad;
  const Tensor loss = weft::cross_entropy(logits0, targets);
  CHECK(loss.grad_fn() == nullptr);
}

TEST_CASE("autograd: only the root's node sees backward()'s own seed of one", "[fusion]") {
  Tensor x = Tensor::from_vector(std::vector<float>{2.0f}, {});
  x.set_requires_grad(true);
  std::vector<bool> seen;
  // A node that reports whether its incoming gradient is the seed of one, and passes it on.
  const auto probe = [&seen](const Tensor& input) {
    Tensor y = input * 1.0f;
    weft::record(y, "probe", {input}, [&seen](const Tensor& g) {
      seen.push_back(weft::is_backward_seed_of_one(g));
      return std::vector<Tensor>{g};
    });
    return y;
  };
  probe(x).backward();
  probe(probe(x)).backward();                 // the inner one is not the root
  probe(x).backward(Tensor::full({}, 1.0f));  // a seed passed in is not known to be 1
  CHECK(seen == std::vector<bool>{true, true, false, false});
  CHECK_FALSE(weft::is_backward_seed_of_one(x.grad()));  // nothing runs now
}
