// The op profile (engine/profile.h): a training step recorded op by op on the CPU and on the
// emulated GPU (the emu cases carry the emu label), the trainer's profile.md
// (TrainerOptions::profile_steps, the apps' --profile-steps), and the shape text of a call
// (engine/op_text.h).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/op_text.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/profile.h"
#include "kernels/runtime_counters.h"
#include "model_test_util.h"
#include "models/fashion_cnn.h"
#ifdef WEFT_HAVE_CUDA
#include "tests/gpu_test_util.h"
#endif
#include "tests/train_test_util.h"

namespace {

using weft::Device;
using weft::Tensor;
namespace profile = weft::profile;

// The seed's Fashion-MNIST CNN (16 filters) and one SGD step on a fixed batch of `batch` images.
struct FashionStep {
  std::shared_ptr<weft::models::FashionCnn> model;
  std::shared_ptr<weft::optim::SGD> optimizer;
  Tensor images, labels;

  FashionStep(Device device, int batch) {
    weft::manual_seed(3);
    model = std::make_shared<weft::models::FashionCnn>(weft::models::FashionCnnConfig{16});
    model->to(device);
    optimizer = std::make_shared<weft::optim::SGD>(model->parameters(),
                                                   weft::optim::SgdOptions{.lr = 0.01f});
    images = weft::test::random_images({batch, 1, 28, 28}, 7).to(device);
    std::vector<int32_t> classes;
    for (int i = 0; i < batch; ++i) classes.push_back(i % 10);
    labels = Tensor::from_vector(classes, {batch}).to(device);
  }
  float run() {
    optimizer->zero_grad();
    const Tensor loss = weft::cross_entropy((*model)(images), labels);
    loss.backward();
    optimizer->step();
    return loss.item();
  }
};

const profile::OpRow* find_row(const profile::Profile& p, const std::string& op) {
  for (const profile::OpRow& row : p.rows) {
    if (row.op == op) return &row;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("profile: a call's shape names its integers and describes its params structs") {
  const float data = 0.0f;
  weft::FusedActivation relu;
  relu.kind = weft::FusedActivation::Kind::relu;
  CHECK(weft::call_shape("(int n, int in_features, int out_features, const FusedActivation& act, "
                         "const float* x, float* y)",
                         42, 12544, 100, relu, &data, &data) ==
        "n=42 in_features=12544 out_features=100 +relu");
  weft::Conv2dParams conv;
  conv.batch = 2;
  conv.in_channels = 3;
  conv.in_h = conv.in_w = 8;
  conv.out_channels = 4;
  conv.kernel_h = conv.kernel_w = 3;
  CHECK(weft::call_shape("(const Conv2dParams& p, const float* x)", conv, &data) ==
        "N=2 C=3 H=8 W=8 O=4 k=3x3 s=1,1 p=0,0 d=1,1");
  CHECK(weft::call_shape("(Activation f, float alpha, int64_t count, const float* x)",
                         weft::Activation::leaky_relu, 0.2f, int64_t{9}, &data) ==
        "leaky_relu count=9");
  CHECK(weft::op_text::parameter_names("(const float* const* grads, int tensors)") ==
        std::vector<std::string>{"grads", "tensors"});
}

TEST_CASE("profile: a CPU training step, op by op") {
  FashionStep step(Device::cpu(), 8);
  step.run();  // the optimizer's state and, under auto, the kernel choices
  REQUIRE_FALSE(profile::recording());

  profile::start();
  CHECK_THROWS_WITH(profile::start(), Catch::Contains("already recording"));
  const auto began = std::chrono::steady_clock::now();
  step.run();
  step.run();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const profile::Profile p = profile::stop();
  REQUIRE_FALSE(profile::recording());

  // The model's ops, each on the CPU, twice per step's worth of calls. The first layer's
  // backward-filter is fused with its pool's backward where the direct CPU loop takes it.
  const char* filter = find_row(p, "conv2d_max_pool2d_backward_filter") != nullptr
                           ? "conv2d_max_pool2d_backward_filter"
                           : "conv2d_backward_filter";
  for (const char* op : {filter, "cross_entropy_forward_backward"}) {
    INFO(op);
    const profile::OpRow* row = find_row(p, op);
    REQUIRE(row != nullptr);
    CHECK(row->calls % 2 == 0);
    CHECK((row->implementation == "cpu" || row->implementation == "cpu-vendor"));
    CHECK(row->launches == 0);
  }
  const profile::OpRow* update = find_row(p, "sgd_update_multi");
  REQUIRE(update != nullptr);
  CHECK(update->calls == 2);
  const profile::OpRow* forward = find_row(p, "conv2d_forward");
  const profile::OpRow* fused = find_row(p, "conv2d_max_pool2d_forward");
  REQUIRE((forward != nullptr || fused != nullptr));
  const std::string conv_shape = (forward != nullptr ? forward : fused)->shape;
  CHECK_THAT(conv_shape, Catch::StartsWith("N=8 C=1 H=28 W=28 O=16"));
  CHECK(p.seconds() > 0.0);
  CHECK(p.seconds() <= wall);

  const std::string table = profile::format_table(p, 2, wall);
  CHECK_THAT(table, Catch::Contains("| " + std::string(filter) + " | "));
  CHECK_THAT(table, Catch::Contains("| all ops |"));
  CHECK_THAT(table, Catch::Contains("| outside the ops |"));
  CHECK_THAT(profile::format_summary(p, 2), Catch::Contains("| sgd_update_multi | 1 | "));
  CHECK_THROWS_WITH(profile::format_table(p, 0), Catch::Contains("steps must be positive"));
  // The same rows as JSON, per step.
  const nlohmann::json json = nlohmann::json::parse(profile::format_json(p, 2));
  CHECK(json["steps"] == 2);
  CHECK_FALSE(json.contains("wall_ms"));
  REQUIRE(json["rows"].size() == p.rows.size());
  for (size_t i = 0; i < p.rows.size(); ++i) {
    CHECK(json["rows"][i]["op"] == p.rows[i].op);
    CHECK(json["rows"][i]["family"] == p.rows[i].family);
    CHECK(json["rows"][i]["calls"].get<double>() == Approx(p.rows[i].calls / 2.0));
    CHECK(json["rows"][i]["ms"].get<double>() == Approx(p.rows[i].seconds * 1e3 / 2.0));
  }
  CHECK(json["ops_ms"].get<double>() == Approx(p.seconds() * 1e3 / 2.0));
  CHECK(nlohmann::json::parse(profile::format_json(p, 2, wall))["wall_ms"].get<double>() ==
        Approx(wall * 1e3 / 2.0));
  // Each row carries its op's family from kernels/backend.h (what profile_gap.py groups by).
  CHECK(update->family == "optimizer");
  CHECK((forward != nullptr ? forward : fused)->family == (forward != nullptr ? "conv" : "pool"));
  for (const profile::OpRow& row : p.rows) CHECK_FALSE(row.family.empty());

  // Not recording: nothing is added.
  step.run();
  profile::start();
  CHECK(profile::stop().rows.empty());
}

TEST_CASE("profile: the emulated GPU's step, its launches op by op", "[emu]") {
  FashionStep step(Device::emu(), 2);
  step.run();
  std::vector<std::string> outer;
  weft::count::trace_launches(&outer);
  const weft::RuntimeCounters before = weft::runtime_counters();
  profile::start();
  step.run();
  const profile::Profile p = profile::stop();
  const weft::RuntimeCounters counted = weft::runtime_counters() - before;
  weft::count::trace_launches(nullptr);

  // Every launch of the step went through an op of the dispatch, and is in the profile once.
  int64_t launches = 0;
  int64_t named = 0;
  for (const profile::OpRow& row : p.rows) {
    CHECK(row.implementation == "emu");
    launches += row.launches;
    for (const auto& [name, count] : row.kernels) {
      CHECK_FALSE(name.empty());
      CHECK(name.front() != '(');
      named += count;
    }
  }
  CHECK(launches == counted.launches);
  CHECK(named == launches);
  // The trace that was open before the profile still saw every kernel.
  CHECK(static_cast<int64_t>(outer.size()) == counted.launches);
  const profile::OpRow* update = find_row(p, "sgd_update_multi");
  REQUIRE(update != nullptr);
  CHECK(update->launches >= 1);
}

TEST_CASE("profile: the trainer profiles steps 3 on and writes profile.md") {
  // TinyRun: 4 steps an epoch. 2 steps: steps 3-4; 6 steps: cut at the epoch's end, steps 3-4.
  for (const int asked : {2, 6}) {
    INFO("profile_steps " << asked);
    weft::test::TempDir dir("profile");
    weft::test::TinyRun run(4);
    weft::train::TrainerOptions options;
    options.epochs = 2;
    options.run_dir = dir.path();
    options.progress = weft::train::ProgressStyle::quiet;
    options.profile_steps = asked;
    weft::train::Trainer trainer(*run.model, *run.optimizer, options);
    run.fit(trainer);
    CHECK_FALSE(profile::recording());
    std::ifstream in(std::filesystem::path(dir.path()) / "profile.md");
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    CHECK_THAT(text.str(), Catch::StartsWith("# Op profile of training steps 3-4\n"));
    // Two whole steps: each linear layer's forward and backward once per step, one update.
    CHECK_THAT(text.str(), Catch::Contains("| linear_forward | cpu"));
    CHECK_THAT(text.str(), Catch::Contains("| adam_update_multi | 1 | "));
    CHECK_THAT(text.str(), Catch::Contains("| linear_backward | 2 | "));
    CHECK_THAT(text.str(), Catch::Contains("## Per op"));
  }
}

TEST_CASE("profile: an op that throws is not recorded and leaves the launch trace as it was") {
  weft::Pool2dParams p;
  p.batch = p.channels = 1;
  p.in_h = p.in_w = 4;
  p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
  p.activation.kind = weft::FusedActivation::Kind::relu;
  std::vector<float> dy(4, 1.0f), dx(16);
  std::vector<int32_t> argmax(4, 0);
  std::vector<std::string> outer;
  weft::count::trace_launches(&outer);
  profile::start();
  // A fused activation needs the forward's y: the backend refuses before it launches anything.
  CHECK_THROWS_WITH(weft::dispatch(Device::cpu())
                        .max_pool2d_backward(p, dy.data(), nullptr, argmax.data(), dx.data()),
                    Catch::Contains("needs the forward's y"));
  const profile::Profile recorded = profile::stop();
  weft::count::trace("after");
  CHECK(weft::count::trace_launches(nullptr) == &outer);
  CHECK(recorded.rows.empty());
  CHECK(outer == std::vector<std::string>{"after"});
}

TEST_CASE("profile: a device clock's time is kept beside the host's, per row and in the outputs") {
  // A stand-in for a GPU's timing events: each op's span is 2 ms more than the last, and the
  // clock must be started before the op, stopped after it and read after the synchronisation.
  std::vector<std::string> calls;
  double next = 0.0;
  profile::DeviceClock clock;
  clock.start = [&] { calls.push_back("start"); };
  clock.stop = [&] { calls.push_back("stop"); };
  clock.seconds = [&] {
    calls.push_back("seconds");
    next += 2e-3;
    return next;
  };
  const std::function<void()> synchronize = [&] { calls.push_back("synchronize"); };
  profile::start();
  for (int i = 0; i < 2; ++i) {
    profile::Timed timed("conv", "conv2d_forward", "gpu", "N=1", synchronize, clock);
    calls.push_back("op");
    timed.finish();
  }
  {
    profile::Timed timed("pool", "max_pool2d_forward", "cpu", "N=1", synchronize);
    timed.finish();
  }
  const profile::Profile p = profile::stop();
  CHECK(calls == std::vector<std::string>{"synchronize", "start", "op", "stop", "synchronize",
                                          "seconds", "synchronize", "start", "op", "stop",
                                          "synchronize", "seconds", "synchronize", "synchronize"});
  REQUIRE(p.rows.size() == 2);
  CHECK(p.rows[0].device_clock);
  CHECK(p.rows[0].device_seconds == Approx(6e-3));  // 2 ms + 4 ms
  CHECK_FALSE(p.rows[1].device_clock);
  CHECK(p.device_clock());
  CHECK(p.device_seconds() == Approx(6e-3));

  const nlohmann::json json = nlohmann::json::parse(profile::format_json(p, 2));
  CHECK(json["device_ops_ms"].get<double>() == Approx(3.0));
  CHECK(json["rows"][0]["device_ms"].get<double>() == Approx(3.0));
  CHECK_FALSE(json["rows"][1].contains("device_ms"));
  const std::string table = profile::format_table(p, 2, 1.0);
  CHECK_THAT(table, Catch::Contains("| ms | device ms | share |"));
  CHECK_THAT(table, Catch::Contains("| conv2d_forward | gpu | N=1 | 1 | "));
  CHECK_THAT(table, Catch::Contains(" | 3.000 | "));

  // Without a clock anywhere the outputs keep their columns.
  profile::start();
  {
    profile::Timed timed("pool", "max_pool2d_forward", "cpu", "N=1", synchronize);
    timed.finish();
  }
  const profile::Profile host = profile::stop();
  CHECK_FALSE(host.device_clock());
  CHECK_FALSE(nlohmann::json::parse(profile::format_json(host, 1)).contains("device_ops_ms"));
  CHECK_THAT(profile::format_table(host, 1), !Catch::Contains("device ms"));
}

TEST_CASE("profile: a GPU step's ops carry their device time", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  FashionStep step(Device::cuda(0), 64);
  step.run();
  profile::start();
  step.run();
  const profile::Profile p = profile::stop();
  REQUIRE_FALSE(p.rows.empty());
  for (const profile::OpRow& row : p.rows) {
    INFO(row.op << " " << row.shape);
    CHECK(row.device_clock);
    CHECK(row.device_seconds >= 0.0);
    // The span between the events lies inside the synchronised host interval.
    CHECK(row.device_seconds <= row.seconds * 1.01 + 1e-5);
  }
  CHECK(p.device_seconds() > 0.0);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

TEST_CASE("profile: slice and concat copies are rows of their own") {
  // No backend op does them, but a step makes them (the pair models stack two photos): the
  // profile times each as "copy_rows", family "copy", where the dispatch's ops are timed.
  const Tensor a = Tensor::from_vector(std::vector<float>(24, 1.0f), {2, 3, 4});
  const Tensor b = Tensor::from_vector(std::vector<float>(16, 2.0f), {2, 2, 4});
  profile::start();
  const Tensor both = weft::concat({a, b}, 1);
  const Tensor part = both.slice(1, 1, 4);
  const profile::Profile p = profile::stop();
  CHECK(part.shape() == weft::Shape{2, 3, 4});
  CHECK(part.to_vector<float>()[8] == 2.0f);
  int64_t calls = 0;
  for (const profile::OpRow& row : p.rows) {
    INFO(row.op << " " << row.shape);
    CHECK(row.op == "copy_rows");
    CHECK(row.family == "copy");
    CHECK(row.implementation == "cpu");
    CHECK(row.launches == 0);
    calls += row.calls;
  }
  CHECK(calls == 3);  // a's and b's rows into the concatenation, then the slice
  CHECK_THAT(profile::format_table(p, 1),
             Catch::Contains("| copy_rows | cpu | rows=2 row_bytes=48 |"));
}
