// Graph capture and replay (engine/graph.h, engine/train/captured_steps.h) on the emulated
// device: a captured training step replays exactly the launch sequence of an eager step and gives
// the same weights, optimizer state, batch-norm counters and random stream as eager steps; the
// values that change per step (learning rate, Adam's bias corrections, dropout's offset) reach
// the kernels through staged device memory; a capture refuses host copies; the graph's private
// pool keeps its blocks from other work. Label: emu.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/dispatch.h"
#include "engine/graph.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/runtime.h"
#include "engine/train/captured_steps.h"
#include "engine/train/classification.h"
#include "engine_test_util.h"
#include "kernels/runtime_counters.h"
#include "tests/gpu_test_util.h"

namespace {

using weft::Device;
using weft::DType;
using weft::Tensor;
namespace graph = weft::graph;
namespace nn = weft::nn;
namespace optim = weft::optim;
namespace train = weft::train;

using weft::test::GraphModeGuard;

std::vector<float> host_floats(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

// A small net with every kind of per-step state: batch norm's counter, dropout's random offset.
std::shared_ptr<nn::Sequential> small_net() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1), nn::BatchNorm2d(4),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Dropout>(0.3f),
      std::make_shared<nn::Linear>(4 * 4 * 4, 5)});
}

// Batch `i` of fixed uint8 images [4, 1, 8, 8] and labels.
train::HostBatch batch(int i, int64_t rows = 4) {
  weft::Generator g(100 + static_cast<uint64_t>(i));
  std::vector<uint8_t> pixels(static_cast<size_t>(rows * 64));
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(g.randint(256));
  std::vector<int32_t> labels;
  for (int64_t r = 0; r < rows; ++r) labels.push_back(static_cast<int32_t>((r + i) % 5));
  return {Tensor::from_vector(pixels, {rows, 1, 8, 8}), Tensor::from_vector(labels, {rows})};
}

// A model and its optimizer on emu, from a fixed seed, and the step that trains both.
struct Run {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Optimizer> optimizer;

  explicit Run(bool adam, Device device = Device::emu()) {
    weft::manual_seed(7);
    model = small_net();
    model->to(device);
    if (adam) {
      optimizer = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{});
    } else {
      optimizer = std::make_unique<optim::SGD>(
          model->parameters(), optim::SgdOptions{.lr = 0.05f, .momentum = 0.9f});
    }
  }

  void step(const std::vector<Tensor>& in) {
    const train::Batch b = train::device_batch(in[0], in[1], {});
    optimizer->zero_grad();
    Tensor loss = weft::cross_entropy((*model)(b.images), b.labels);
    loss.backward();
    optimizer->step();
  }
};

void require_same_state(const Run& a, const Run& b) {
  const auto sa = a.model->state_dict(), sb = b.model->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    if (sa[i].second.dtype() == DType::f32) {
      CHECK(host_floats(sa[i].second) == host_floats(sb[i].second));
    } else {
      CHECK(sa[i].second.to_vector<int64_t>() == sb[i].second.to_vector<int64_t>());
    }
  }
  CHECK(a.optimizer->step_count() == b.optimizer->step_count());
  const auto oa = a.optimizer->state_tensors(), ob = b.optimizer->state_tensors();
  REQUIRE(oa.size() == ob.size());
  for (size_t i = 0; i < oa.size(); ++i) {
    INFO(oa[i].first);
    CHECK(host_floats(oa[i].second) == host_floats(ob[i].second));
  }
}

#ifdef WEFT_HAVE_CUDA
// Largest |a - b| over every float of the two runs' models, relative to the largest |a| (for the
// GPU test below; a CPU-only build has no use for it, and warnings are errors).
double relative_difference(const Run& a, const Run& b) {
  const auto sa = a.model->state_dict(), sb = b.model->state_dict();
  double worst = 0, size = 1e-30;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].second.dtype() != DType::f32) continue;
    const auto x = host_floats(sa[i].second), y = host_floats(sb[i].second);
    for (size_t j = 0; j < x.size(); ++j) {
      worst = std::max(worst, static_cast<double>(std::abs(x[j] - y[j])));
      size = std::max(size, static_cast<double>(std::abs(x[j])));
    }
  }
  return worst / size;
}
#endif

std::vector<std::string> kernels_only(std::vector<std::string> names) {
  std::vector<std::string> out;
  for (std::string& n : names) {
    if (n != "memset" && n != "copy") out.push_back(std::move(n));
  }
  return out;
}

}  // namespace

TEST_CASE("graph: dropout with an offset shift draws the numbers of the shifted offset", "[emu]") {
  for (const Device device : {Device::cpu(), Device::emu()}) {
    for (const auto& [offset, shift] : std::vector<std::pair<uint64_t, uint64_t>>{
             {0, 0}, {0, 5}, {3, 1}, {7, 1000}, {2, 4096}}) {
      INFO(device.str() << " offset " << offset << " shift " << shift);
      const int64_t n = 1001;
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = 1.0f + static_cast<float>(i);
      const Tensor in = Tensor::from_vector(x, {n}).to(device);
      Tensor shifted = Tensor::empty({n}, DType::f32, device);
      Tensor direct = Tensor::empty({n}, DType::f32, device);
      Tensor shift_word = Tensor::empty({1}, DType::i64, device);
      weft::copy_bytes(device, shift_word.raw_data(), Device::cpu(), &shift, sizeof shift);
      weft::DropoutParams p;
      p.count = n;
      p.p = 0.4f;
      p.seed = 99;
      p.offset = offset;
      p.offset_shift = static_cast<const uint64_t*>(shift_word.raw_data());
      weft::dispatch(device).dropout_forward(p, in.data<float>(), shifted.data<float>());
      p.offset = offset + shift;
      p.offset_shift = nullptr;
      weft::dispatch(device).dropout_forward(p, in.data<float>(), direct.data<float>());
      CHECK(host_floats(shifted) == host_floats(direct));
    }
  }
}

TEST_CASE("graph: optimizer updates read staged scalars as they read passed ones", "[emu]") {
  for (const Device device : {Device::cpu(), Device::emu()}) {
    INFO(device.str());
    const int64_t n = 300;
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = 0.01f * static_cast<float>(i % 17) - 0.07f;
    const auto fresh = [&] { return Tensor::from_vector(values, {n}).to(device); };
    // SGD: [lr].
    {
      Tensor p1 = fresh(), p2 = fresh(), g = fresh(), m1 = fresh(), m2 = fresh();
      weft::SgdStep s;
      s.lr = 0.125f;
      s.momentum = 0.9f;
      const int64_t counts[] = {n};
      float* params1[] = {p1.data<float>()};
      float* params2[] = {p2.data<float>()};
      const float* grads[] = {g.data<float>()};
      float* mom1[] = {m1.data<float>()};
      float* mom2[] = {m2.data<float>()};
      weft::dispatch(device).sgd_update_multi(s, 1, counts, params1, grads, mom1);
      Tensor staged = Tensor::from_vector(std::vector<float>{0.125f}, {1}).to(device);
      s.lr = 99.0f;  // ignored: the staged value wins
      s.device_scalars = staged.data<float>();
      weft::dispatch(device).sgd_update_multi(s, 1, counts, params2, grads, mom2);
      CHECK(host_floats(p1) == host_floats(p2));
      CHECK(host_floats(m1) == host_floats(m2));
    }
    // Adam: step_size, bias2_sqrt, decay (AdamW) of step 3.
    {
      Tensor p1 = fresh(), p2 = fresh(), g = fresh(), a1 = fresh(), a2 = fresh();
      Tensor v1 = Tensor::zeros({n}, DType::f32, device), v2 = Tensor::zeros({n}, DType::f32, device);
      weft::AdamStep s;
      s.lr = 0.01f;
      s.weight_decay = 0.1f;
      s.decoupled_weight_decay = true;
      s.step = 3;
      const weft::AdamScalars a = weft::adam_scalars(s);
      const int64_t counts[] = {n};
      float* params1[] = {p1.data<float>()};
      float* params2[] = {p2.data<float>()};
      const float* grads[] = {g.data<float>()};
      float* m1[] = {a1.data<float>()};
      float* m2[] = {a2.data<float>()};
      float* s1[] = {v1.data<float>()};
      float* s2[] = {v2.data<float>()};
      weft::dispatch(device).adam_update_multi(s, 1, counts, params1, grads, m1, s1);
      Tensor staged =
          Tensor::from_vector(std::vector<float>{a.step_size, a.bias2_sqrt, a.decay}, {3}).to(device);
      s.lr = 5.0f;  // ignored, like the step
      s.step = 1;
      s.device_scalars = staged.data<float>();
      weft::dispatch(device).adam_update_multi(s, 1, counts, params2, grads, m2, s2);
      CHECK(host_floats(p1) == host_floats(p2));
      CHECK(host_floats(v1) == host_floats(v2));
    }
  }
}

TEST_CASE("graph: a captured training step replays the eager launch sequence and its results",
          "[emu]") {
  GraphModeGuard on(graph::Mode::on);
  for (const bool adam : {false, true}) {
    INFO((adam ? "Adam" : "SGD with momentum"));
    constexpr int kSteps = 5;
    std::vector<std::string> eager_trace;
    Run eager(adam);
    for (int i = 0; i < kSteps; ++i) {
      eager.optimizer->set_lr(0.05f / static_cast<float>(i + 1));  // a schedule
      const train::HostBatch b = batch(i);
      if (i == 2) weft::count::trace_launches(&eager_trace);
      eager.step({b.images.to(Device::emu()), b.labels.to(Device::emu())});
      weft::count::trace_launches(nullptr);
    }
    const uint64_t eager_offset = weft::default_generator().offset();

    Run replayed(adam);
    train::CapturedSteps steps(Device::emu());
    REQUIRE(steps.graphs_enabled());
    std::vector<std::string> replay_trace;
    for (int i = 0; i < kSteps; ++i) {
      replayed.optimizer->set_lr(0.05f / static_cast<float>(i + 1));
      const train::HostBatch b = batch(i);
      const weft::RuntimeCounters before = weft::runtime_counters();
      if (i == 2) weft::count::trace_launches(&replay_trace);
      steps.run({b.images, b.labels}, [&](const std::vector<Tensor>& in) { replayed.step(in); });
      weft::count::trace_launches(nullptr);
      const weft::RuntimeCounters used = weft::runtime_counters() - before;
      if (i >= 2) {
        INFO("replayed step " << i << ": " << used.str());
        CHECK(used.launches == 0);
        CHECK(used.graph_launches == 1);
        CHECK(used.host_syncs == 0);
        CHECK(used.d2h_copies == 0);
        // The batch's two tensors, the optimizer's scalars and dropout's offset shift.
        CHECK(used.h2d_copies == 4);
      }
    }
    REQUIRE(steps.graph() != nullptr);
    CHECK(steps.eager_steps() == 1);
    CHECK(steps.replays() == kSteps - 1);
    const std::vector<std::string> nodes = steps.graph()->node_names();
    CHECK(kernels_only(nodes) == eager_trace);
    CHECK(replay_trace == nodes);
    CHECK(weft::default_generator().offset() == eager_offset);
    require_same_state(eager, replayed);
  }
}

TEST_CASE("graph: train_epoch with graphs on matches graphs off, short last batch included",
          "[emu]") {
  weft::data::LabeledImages data;
  {
    std::vector<uint8_t> pixels;
    std::vector<int32_t> labels;
    for (int i = 0; i < 4; ++i) {
      const train::HostBatch b = batch(i);
      const auto p = b.images.to_vector<uint8_t>();
      const auto l = b.labels.to_vector<int32_t>();
      pixels.insert(pixels.end(), p.begin(), p.end());
      labels.insert(labels.end(), l.begin(), l.end());
    }
    pixels.resize(14 * 64);  // 14 images: batches of 4, 4, 4 and a short one of 2
    labels.resize(14);
    data.images = Tensor::from_vector(pixels, {14, 1, 8, 8});
    data.labels = Tensor::from_vector(labels, {14});
  }
  std::vector<train::EpochResult> results;
  std::vector<std::unique_ptr<Run>> runs;
  for (const graph::Mode mode : {graph::Mode::off, graph::Mode::on}) {
    GraphModeGuard guard(mode);
    runs.push_back(std::make_unique<Run>(true));
    weft::Generator shuffle(3);
    for (int epoch = 0; epoch < 2; ++epoch) {
      results.push_back(train::train_epoch(*runs.back()->model, *runs.back()->optimizer, data, 4,
                                           Device::emu(), shuffle));
    }
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    CHECK(results[static_cast<size_t>(epoch)].loss == results[static_cast<size_t>(epoch + 2)].loss);
    CHECK(results[static_cast<size_t>(epoch)].accuracy ==
          results[static_cast<size_t>(epoch + 2)].accuracy);
    CHECK(results[static_cast<size_t>(epoch + 2)].samples == 14);
  }
  require_same_state(*runs[0], *runs[1]);
}

TEST_CASE("graph: a capture refuses copies to and from the host", "[emu]") {
  const Tensor on_host = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3});
  const Tensor on_emu = on_host.to(Device::emu());
  for (const bool upload : {true, false}) {
    graph::Graph g(Device::emu());
    try {
      g.capture([&] {
        if (upload) {
          (void)on_host.to(Device::emu());
        } else {
          (void)on_emu.to(Device::cpu());
        }
      });
      FAIL("the capture accepted a host copy");
    } catch (const weft::Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("inside a graph capture"));
    }
    CHECK_FALSE(g.captured());
    CHECK_FALSE(graph::capturing());
  }
}

TEST_CASE("graph: the private pool keeps a graph's blocks from other work while it lives",
          "[emu]") {
  const int64_t n = 3000;  // a size class of its own in this test
  void* captured_block = nullptr;
  auto g = std::make_unique<graph::Graph>(Device::emu());
  g->capture([&] {
    Tensor scratch = Tensor::zeros({n}, DType::f32, Device::emu());
    captured_block = scratch.raw_data();
  });
  // Freed at the end of the capture, the block went back to the graph's pool, not the shared one.
  for (int i = 0; i < 3; ++i) {
    const Tensor other = Tensor::empty({n}, DType::f32, Device::emu());
    CHECK(other.raw_data() != captured_block);
  }
  g.reset();
  bool reused = false;
  std::vector<Tensor> held;
  for (int i = 0; i < 8 && !reused; ++i) {
    held.push_back(Tensor::empty({n}, DType::f32, Device::emu()));
    reused = held.back().raw_data() == captured_block;
  }
  CHECK(reused);
}

TEST_CASE("graph: a failed capture takes back the step's host changes", "[emu]") {
  Run run(true);
  const train::HostBatch b = batch(0);
  const std::vector<Tensor> in = {b.images.to(Device::emu()), b.labels.to(Device::emu())};
  run.step(in);  // the warm-up: Adam's buffers exist
  const auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(run.model->at(1));
  const int64_t steps_before = run.optimizer->step_count();
  const int64_t batches_before = bn->num_batches_tracked.to_vector<int64_t>()[0];
  const uint64_t offset_before = weft::default_generator().offset();
  graph::Graph g(Device::emu());
  CHECK_THROWS_WITH(g.capture([&] {
    run.step(in);  // changes the step count, the batch counter, the dropout stream
    (void)run.model->parameters()[0].to(Device::cpu());  // then something no graph can hold
  }), Catch::Contains("device-to-host copy inside a graph capture"));
  CHECK(run.optimizer->step_count() == steps_before);
  CHECK(bn->num_batches_tracked.to_vector<int64_t>()[0] == batches_before);
  CHECK(weft::default_generator().offset() == offset_before);
  // The step then runs eagerly from where it was, as if the capture had not been tried.
  run.step(in);
  CHECK(run.optimizer->step_count() == steps_before + 1);
}

TEST_CASE("graph: a CUDA graph of a training step matches eager steps on a GPU", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!weft::test::gpu_present()) return;
  GraphModeGuard on(graph::Mode::on);
  weft::set_deterministic(true);
  const Device gpu = Device::cuda(0);
  Run eager(true, gpu);
  for (int i = 0; i < 6; ++i) {
    const train::HostBatch b = batch(i);
    eager.step({b.images.to(gpu), b.labels.to(gpu)});
  }
  Run replayed(true, gpu);
  train::CapturedSteps steps(gpu);
  for (int i = 0; i < 6; ++i) {
    const train::HostBatch b = batch(i);
    steps.run({b.images, b.labels}, [&](const std::vector<Tensor>& in) { replayed.step(in); });
  }
  weft::set_deterministic(false);
  CHECK(steps.replays() == 5);
  CHECK(replayed.optimizer->step_count() == eager.optimizer->step_count());
  CHECK(relative_difference(eager, replayed) < 1e-5);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

TEST_CASE("data on the device: gather_u8_to_f32 gathers the rows the host would", "[emu]") {
  std::vector<uint8_t> pixels(5 * 6);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 9);
  const Tensor data = Tensor::from_vector(pixels, {5, 2, 3});
  const Tensor rows = Tensor::from_vector(std::vector<int32_t>{4, 0, 4}, {3});
  std::vector<float> expected;
  for (const int r : {4, 0, 4}) {
    for (int e = 0; e < 6; ++e) expected.push_back(static_cast<float>(pixels[static_cast<size_t>(r * 6 + e)]) * 0.5f - 1.0f);
  }
  const Tensor on_cpu = weft::gather_u8_to_f32(data, rows, 0.5f, -1.0f);
  CHECK(on_cpu.shape() == weft::Shape{3, 2, 3});
  CHECK(on_cpu.to_vector<float>() == expected);
  const Tensor on_emu =
      weft::gather_u8_to_f32(data.to(Device::emu()), rows.to(Device::emu()), 0.5f, -1.0f);
  CHECK(host_floats(on_emu) == expected);
  CHECK_THROWS_WITH(weft::gather_u8_to_f32(data, Tensor::from_vector(std::vector<int32_t>{5}, {1}),
                                           1.0f, 0.0f),
                    Catch::Contains("index 5 outside the 5 rows"));
}

TEST_CASE("data on the device: an epoch uploads only row numbers and labels after the first",
          "[emu]") {
  GraphModeGuard off(graph::Mode::off);
  weft::data::LabeledImages data;
  std::vector<uint8_t> pixels(14 * 64);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 13);
  std::vector<int32_t> labels;
  for (int i = 0; i < 14; ++i) labels.push_back(i % 5);
  data.images = Tensor::from_vector(pixels, {14, 1, 8, 8});
  data.labels = Tensor::from_vector(labels, {14});
  // The same epochs with the images resident on emu and on the CPU path, one after the other
  // (dropout draws from the default generator, which each Run reseeds): equal results.
  std::vector<double> losses_emu, losses_cpu;
  for (const Device device : {Device::emu(), Device::cpu()}) {
    Run run(true, device);
    weft::Generator shuffle(3);
    for (int epoch = 0; epoch < 2; ++epoch) {
      const weft::RuntimeCounters before = weft::runtime_counters();
      const double loss =
          train::train_epoch(*run.model, *run.optimizer, data, 4, device, shuffle).loss;
      const weft::RuntimeCounters used = weft::runtime_counters() - before;
      if (device.is_emu() && epoch == 1) {
        // 4 steps (4, 4, 4, 2 rows), each uploading its row numbers and labels as int32.
        CHECK(used.h2d_copies == 8);
        CHECK(used.h2d_bytes == 14 * 4 * 2);
      }
      (device.is_emu() ? losses_emu : losses_cpu).push_back(loss);
    }
  }
  CHECK(losses_emu[0] == Approx(losses_cpu[0]).epsilon(1e-5));
  CHECK(losses_emu[1] == Approx(losses_cpu[1]).epsilon(1e-5));
}

namespace {

// Nine 3-channel 6 x 5 images with every byte distinct enough to tell pixels apart.
weft::data::LabeledImages moving_images() {
  weft::data::LabeledImages data;
  std::vector<uint8_t> pixels(9 * 3 * 6 * 5);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 29 % 256);
  std::vector<int32_t> labels;
  for (int i = 0; i < 9; ++i) labels.push_back(i % 4);
  data.images = Tensor::from_vector(pixels, {9, 3, 6, 5});
  data.labels = Tensor::from_vector(labels, {9});
  return data;
}

}  // namespace

TEST_CASE("data on the device: flips and whole-pixel shifts give the host's augmented batch",
          "[emu]") {
  const weft::data::LabeledImages data = moving_images();
  const std::vector<int64_t> order = {8, 0, 3, 3, 5, 1, 7, 2, 6};
  const train::Normalization norm{1.0f / 255.0f, -0.25f};
  using weft::data::FillMode;
  for (FillMode fill : {FillMode::constant, FillMode::nearest, FillMode::reflect, FillMode::wrap}) {
    INFO("fill mode " << static_cast<int>(fill));
    weft::data::AugmentOptions options;
    options.horizontal_flip = options.vertical_flip = true;
    options.crop_padding = 4;  // shifts up to 4 pixels: most of the 5-pixel width
    options.fill_mode = fill;
    options.fill_value = 40.0f;
    REQUIRE(weft::data::whole_pixel_moves(options));
    weft::Generator host_draws(11), device_draws(11);
    const train::HostBatch host = train::gather_batch(
        data, order, 0, 9, norm, train::BatchAugmentation{options, &host_draws});
    // The moves as train_epoch draws them: one draw_params per image, in batch order.
    std::vector<int32_t> moves;
    int moved = 0;
    for (int64_t j : order) {
      const weft::data::AugmentParams a = weft::data::draw_params(options, 6, 5, device_draws);
      moves.insert(moves.end(),
                   {static_cast<int32_t>(j), a.flip_horizontal ? 1 : 0, a.flip_vertical ? 1 : 0,
                    static_cast<int32_t>(a.shift_x), static_cast<int32_t>(a.shift_y)});
      moved += a.shift_x != 0 || a.flip_horizontal ? 1 : 0;
    }
    CHECK(moved >= 5);  // the draws did move most images
    const weft::EdgeFill edge = static_cast<weft::EdgeFill>(static_cast<int>(fill));
    const Tensor move_tensor = Tensor::from_vector(moves, {9, 5});
    const Tensor on_cpu = weft::gather_augment_u8_to_f32(
        data.images, move_tensor, edge, options.fill_value, norm.scale, norm.shift);
    CHECK(on_cpu.to_vector<float>() == host.images.to_vector<float>());
    const Tensor on_emu =
        weft::gather_augment_u8_to_f32(data.images.to(Device::emu()), move_tensor.to(Device::emu()),
                                       edge, options.fill_value, norm.scale, norm.shift);
    CHECK(host_floats(on_emu) == host.images.to_vector<float>());
  }
  const Tensor bad = Tensor::from_vector(std::vector<int32_t>{9, 0, 0, 0, 0}, {1, 5});
  CHECK_THROWS_WITH(
      weft::gather_augment_u8_to_f32(data.images, bad, weft::EdgeFill::constant, 0.0f, 1.0f, 0.0f),
      Catch::Contains("reads image 9 outside the 9 images"));
  const Tensor flip2 = Tensor::from_vector(std::vector<int32_t>{0, 2, 0, 0, 0}, {1, 5});
  CHECK_THROWS_WITH(weft::gather_augment_u8_to_f32(data.images, flip2, weft::EdgeFill::constant,
                                                   0.0f, 1.0f, 0.0f),
                    Catch::Contains("expected 0 or 1"));
}

TEST_CASE("data on the device: an augmented epoch uploads only moves and labels", "[emu]") {
  GraphModeGuard off(graph::Mode::off);
  weft::data::LabeledImages data;
  std::vector<uint8_t> pixels(14 * 64);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 13);
  std::vector<int32_t> labels;
  for (int i = 0; i < 14; ++i) labels.push_back(i % 5);
  data.images = Tensor::from_vector(pixels, {14, 1, 8, 8});
  data.labels = Tensor::from_vector(labels, {14});
  weft::data::AugmentOptions options;
  options.horizontal_flip = true;
  options.crop_padding = 2;
  options.fill_mode = weft::data::FillMode::constant;
  // The same augmented epochs on emu (moves applied on the device) and on the CPU (the host's
  // augment()): equal results.
  std::vector<double> losses_emu, losses_cpu;
  for (const Device device : {Device::emu(), Device::cpu()}) {
    Run run(true, device);
    weft::Generator shuffle(3), draws(9);
    const train::BatchAugmentation augmentation{options, &draws};
    for (int epoch = 0; epoch < 2; ++epoch) {
      const weft::RuntimeCounters before = weft::runtime_counters();
      const double loss = train::train_epoch(*run.model, *run.optimizer, data, 4, device, shuffle,
                                             {}, {}, augmentation)
                              .loss;
      const weft::RuntimeCounters used = weft::runtime_counters() - before;
      if (device.is_emu() && epoch == 1) {
        // 4 steps (4, 4, 4, 2 rows), each uploading its moves (5 int32 per image) and labels.
        CHECK(used.h2d_copies == 8);
        CHECK(used.h2d_bytes == 14 * 4 * (5 + 1));
      }
      (device.is_emu() ? losses_emu : losses_cpu).push_back(loss);
    }
  }
  CHECK(losses_emu[0] == Approx(losses_cpu[0]).epsilon(1e-5));
  CHECK(losses_emu[1] == Approx(losses_cpu[1]).epsilon(1e-5));
  CHECK(losses_emu[0] != losses_emu[1]);
}
