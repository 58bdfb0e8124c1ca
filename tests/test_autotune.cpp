// The measuring `auto` (engine/autotune.h, engine/dispatch.h), tested without a GPU: an
// injected clock and fake candidates for the Autotuner (the pick, ties, failures, the cache in
// memory and on disk, corrupt, stale and concurrently written cache files, the table), and a
// Dispatch over two recording fake backends whose calls advance the fake clock by a known cost
// (what is measured, which runs, batch norm's group on one path and the other ops pass by pass,
// deterministic mode).
// `ctest -R autotune` runs them. Label: cpu.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/autotune.h"
#include "engine/dispatch.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"
#include "tests/data_test_util.h"
#include "tests/dispatch_test_util.h"

namespace {

using weft::AutotuneCandidate;
using weft::Autotuner;
using weft::KernelPath;
using weft::testing::FakeGpu;
using weft::testing::RecordingBackend;
using weft::testing::host_device;
using weft::testing::ScopedEnv;
using weft::testing::SelectionFixture;
using weft::testing::TempDir;

// "c0", "c1", ...: out of line, because inlined GCC 12 reports a false -Wstringop-overflow on
// the concatenation.
[[gnu::noinline]] std::string candidate_name(size_t i) {
  std::string name = "c";
  name += std::to_string(i);
  return name;
}

// A fake clock and candidates that advance it by their cost, counting their runs.
struct FakeBench {
  double now = 0;
  std::vector<std::string> warnings;
  std::vector<int> runs;

  Autotuner::Options options(const std::string& cache_path = "") {
    Autotuner::Options o;
    o.device = "fake device";
    o.driver = "fake driver 1";
    o.cache_path = cache_path;
    o.clock = [this] { return now; };
    o.warn = [this](const std::string& m) { warnings.push_back(m); };
    return o;
  }
  std::vector<AutotuneCandidate> candidates(const std::vector<double>& costs) {
    runs.assign(costs.size(), 0);
    std::vector<AutotuneCandidate> out;
    for (size_t i = 0; i < costs.size(); ++i) {
      const double cost = costs[i];
      out.push_back({candidate_name(i), [this, i, cost] {
                       ++runs[i];
                       now += cost;
                     }});
    }
    return out;
  }
};

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(weft::io::read_file(path));
}


weft::Conv2dParams conv_shape(int channels) {
  weft::Conv2dParams p;
  p.batch = 2;
  p.in_channels = channels;
  p.in_h = p.in_w = 5;
  p.out_channels = 4;
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 1;
  return p;
}

}  // namespace

// ---- the Autotuner ------------------------------------------------------------------------------

TEST_CASE("autotune: the fastest candidate wins, after one warm-up and three timed runs each") {
  FakeBench bench;
  Autotuner tuner(bench.options());
  CHECK(tuner.pick("k", bench.candidates({3.0, 1.0, 2.0})) == "c1");
  CHECK(bench.runs == std::vector<int>{4, 4, 4});
  const std::vector<weft::AutotuneEntry> table = tuner.table();
  REQUIRE(table.size() == 1);
  CHECK(table[0].key == "k");
  CHECK(table[0].pick == "c1");
  REQUIRE(table[0].seconds.size() == 3);
  CHECK(table[0].seconds[0].second == Approx(3.0));
  CHECK(table[0].seconds[1].second == Approx(1.0));
  CHECK_FALSE(table[0].from_disk);
}

TEST_CASE("autotune: a tie goes to the earlier candidate") {
  FakeBench bench;
  Autotuner tuner(bench.options());
  CHECK(tuner.pick("k", bench.candidates({2.0, 2.0})) == "c0");
}

TEST_CASE("autotune: a key is measured once; a pick that is no longer a candidate is measured anew") {
  FakeBench bench;
  Autotuner tuner(bench.options());
  CHECK(tuner.pick("k", bench.candidates({1.0, 2.0})) == "c0");
  CHECK(tuner.pick("k", bench.candidates({1.0, 2.0})) == "c0");
  CHECK(bench.runs == std::vector<int>{0, 0});  // the second pick ran nothing
  CHECK(tuner.cached("k") == std::optional<std::string>("c0"));
  CHECK_FALSE(tuner.cached("other").has_value());

  std::vector<AutotuneCandidate> renamed = bench.candidates({5.0, 1.0});
  renamed[0].name = "d0";
  renamed[1].name = "d1";
  CHECK(tuner.pick("k", renamed) == "d1");
  CHECK(bench.runs == std::vector<int>{4, 4});
  CHECK(tuner.table().size() == 1);
}

TEST_CASE("autotune: a failing candidate is left out; if all fail, the first error is rethrown") {
  FakeBench bench;
  Autotuner tuner(bench.options());
  std::vector<AutotuneCandidate> candidates = bench.candidates({1.0, 2.0});
  candidates[0].run = [] { throw weft::NotImplemented("no kernel for this shape"); };
  CHECK(tuner.pick("k", candidates) == "c1");
  CHECK_THAT(weft::format_autotune_table(tuner.table()),
             Catch::Contains("c0 failed") && Catch::Contains("-> c1"));

  candidates[1].run = [] { throw std::runtime_error("second"); };
  CHECK_THROWS_WITH(tuner.pick("k2", candidates), "no kernel for this shape");
  CHECK_THROWS_AS(tuner.pick("k3", {}), weft::Error);
}

TEST_CASE("autotune: the cache file round-trips between processes' tuners") {
  TempDir dir;
  const std::string path = dir.file("cache/autotune.json");
  FakeBench first;
  {
    Autotuner tuner(first.options(path));
    CHECK(tuner.pick("conv a", first.candidates({2.0, 1.0})) == "c1");
    CHECK(tuner.pick("conv b", first.candidates({1.0, 2.0})) == "c0");
  }
  const nlohmann::json j = read_json(path);
  CHECK(j["format"] == "weft-autotune");
  CHECK(j["version"] == 1);
  CHECK(j["device"] == "fake device");
  CHECK(j["entries"]["conv a"]["pick"] == "c1");
  CHECK(j["entries"]["conv a"]["seconds"]["c0"].get<double>() == Approx(2.0));

  FakeBench second;
  Autotuner tuner(second.options(path));
  CHECK(tuner.pick("conv a", second.candidates({1.0, 9.0})) == "c1");  // read, not measured
  CHECK(second.runs == std::vector<int>{0, 0});
  REQUIRE(tuner.table().size() == 1);
  CHECK(tuner.table()[0].from_disk);
  CHECK_THAT(weft::format_autotune_table(tuner.table()), Catch::Contains("from the cache file"));
  CHECK(second.warnings.empty());
}

TEST_CASE("autotune: a corrupt cache file gives one warning, is measured anew and replaced") {
  TempDir dir;
  const std::string path = dir.file("autotune.json");
  const std::vector<std::string> bad_files = {
      "{\"format\": \"weft-autotune\", \"version\": 1, \"entr",  // torn
      "[1, 2, 3]",                                               // not this format
      "{\"format\": \"weft-autotune\", \"version\": 1, \"device\": \"fake device\", "
      "\"driver\": \"fake driver 1\", \"entries\": {\"k\": {\"pick\": 3}}}",  // bad entry
      "{\"format\": 3}",  // a field of another type (found by fuzzing: it threw)
      "{\"format\": \"weft-autotune\", \"version\": 1, \"device\": [], \"driver\": 1}",
      "{\"format\": \"weft-autotune\", \"version\": 1e999}",  // a number too large
  };
  for (const std::string& text : bad_files) {
    INFO(text);
    std::ofstream(path) << text;
    FakeBench bench;
    Autotuner tuner(bench.options(path));
    CHECK(tuner.pick("k", bench.candidates({2.0, 1.0})) == "c1");
    CHECK(tuner.pick("k2", bench.candidates({1.0, 2.0})) == "c0");
    CHECK(bench.runs == std::vector<int>{4, 4});
    REQUIRE(bench.warnings.size() == 1);
    CHECK_THAT(bench.warnings[0], Catch::Contains(path) && Catch::Contains("measuring anew"));
    const nlohmann::json j = read_json(path);  // replaced by a valid file
    CHECK(j["entries"]["k"]["pick"] == "c1");
    CHECK(j["entries"]["k2"]["pick"] == "c0");
  }
}

TEST_CASE("autotune: a cache file of another version, device or driver is not used") {
  TempDir dir;
  const std::string path = dir.file("autotune.json");
  const std::vector<std::pair<std::string, std::string>> stale = {
      {"version", "2"}, {"device", "\"another card\""}, {"driver", "\"fake driver 2\""}};
  for (const auto& [field, value] : stale) {
    INFO(field);
    nlohmann::json j = {{"format", "weft-autotune"},  {"version", 1},
                        {"device", "fake device"},    {"driver", "fake driver 1"},
                        {"entries", {{"k", {{"pick", "c0"}, {"seconds", {{"c0", 1.0}}}}}}}};
    j[field] = nlohmann::json::parse(value);
    std::ofstream(path) << j.dump();
    FakeBench bench;
    Autotuner tuner(bench.options(path));
    CHECK(tuner.pick("k", bench.candidates({2.0, 1.0})) == "c1");
    CHECK(bench.runs == std::vector<int>{4, 4});
    REQUIRE(bench.warnings.size() == 1);
    CHECK_THAT(bench.warnings[0], Catch::Contains("not usable"));
  }
}

TEST_CASE("autotune: tuners writing one cache file at once keep every entry") {
  TempDir dir;
  const std::string path = dir.file("autotune.json");
  constexpr int kWriters = 4, kKeys = 6;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([w, &path] {
      FakeBench bench;
      Autotuner tuner(bench.options(path));
      for (int k = 0; k < kKeys; ++k) {
        tuner.pick("writer " + std::to_string(w) + " key " + std::to_string(k),
                   bench.candidates({1.0, 2.0}));
      }
    });
  }
  for (std::thread& t : writers) t.join();
  const nlohmann::json j = read_json(path);
  CHECK(j["entries"].size() == static_cast<size_t>(kWriters * kKeys));
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kKeys; ++k) {
      CHECK(j["entries"].contains("writer " + std::to_string(w) + " key " + std::to_string(k)));
    }
  }
}

// A save parses the file again only if another tuner replaced it since this one wrote it; taking
// turns, and twice in a row, every entry is kept.
TEST_CASE("autotune: tuners taking turns on one cache file keep every entry") {
  TempDir dir;
  const std::string path = dir.file("autotune.json");
  FakeBench a_bench, b_bench;
  Autotuner a(a_bench.options(path)), b(b_bench.options(path));
  a.pick("a1", a_bench.candidates({1.0, 2.0}));
  a.pick("a2", a_bench.candidates({1.0, 2.0}));  // the file is still a's own
  b.pick("b1", b_bench.candidates({2.0, 1.0}));
  a.pick("a3", a_bench.candidates({1.0, 2.0}));  // b replaced it: read again
  b.pick("b2", b_bench.candidates({2.0, 1.0}));
  b.pick("b3", b_bench.candidates({2.0, 1.0}));
  const nlohmann::json j = read_json(path);
  CHECK(j["entries"].size() == 6);
  for (const char* key : {"a1", "a2", "a3", "b1", "b2", "b3"}) CHECK(j["entries"].contains(key));
  CHECK(j["entries"]["b3"]["pick"] == "c1");
  CHECK(a_bench.warnings.empty());
  CHECK(b_bench.warnings.empty());
}

// WEFT_AUTOTUNE_CACHE=picks.json: a file name without a folder, in the working directory.
TEST_CASE("autotune: a cache file named without a folder is saved in the working directory") {
  TempDir dir;
  struct WorkingDirectory {
    std::filesystem::path before = std::filesystem::current_path();
    explicit WorkingDirectory(const std::string& to) { std::filesystem::current_path(to); }
    ~WorkingDirectory() { std::filesystem::current_path(before); }
  } in_dir(dir.path());
  FakeBench bench;
  Autotuner tuner(bench.options("picks.json"));
  CHECK(tuner.pick("k", bench.candidates({2.0, 1.0})) == "c1");
  CHECK(bench.warnings.empty());
  CHECK(read_json(dir.path_of("picks.json"))["entries"]["k"]["pick"] == "c1");
}

TEST_CASE("autotune: where the cache file lives, and WEFT_AUTOTUNE_CACHE") {
  {
    ScopedEnv cache("WEFT_AUTOTUNE_CACHE", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
    CHECK(weft::default_autotune_cache_path("NVIDIA H200", "CUDA 13.0, cuDNN 9.1") ==
          "/tmp/xdg/weft/autotune/NVIDIA_H200-CUDA_13.0__cuDNN_9.1.json");
  }
  {
    ScopedEnv cache("WEFT_AUTOTUNE_CACHE", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/home/u");
    CHECK(weft::default_autotune_cache_path("cpu", "") == "/home/u/.cache/weft/autotune/cpu.json");
  }
  {
    ScopedEnv cache("WEFT_AUTOTUNE_CACHE", "off");
    CHECK(weft::default_autotune_cache_path("cpu", "").empty());
  }
  {
    ScopedEnv cache("WEFT_AUTOTUNE_CACHE", "/somewhere/mine.json");
    CHECK(weft::default_autotune_cache_path("cpu", "") == "/somewhere/mine.json");
  }
}

TEST_CASE("autotune: an unwritable cache file warns once and the run goes on in memory") {
  TempDir dir;
  const std::string blocker = dir.file("not-a-folder");
  std::ofstream(blocker) << "x";
  FakeBench bench;
  Autotuner tuner(bench.options(blocker + "/autotune.json"));
  CHECK(tuner.pick("k", bench.candidates({2.0, 1.0})) == "c1");
  CHECK(tuner.pick("k2", bench.candidates({2.0, 1.0})) == "c1");
  REQUIRE(bench.warnings.size() == 1);
  CHECK_THAT(bench.warnings[0], Catch::Contains("not saved"));
}

// ---- auto in the dispatch -----------------------------------------------------------------------

TEST_CASE("autotune: auto measures each conv pass of each new shape once, and each pass takes "
          "its own winner") {
  SelectionFixture fixture;
  FakeGpu gpu(2.0, 1.0);
  RecordingBackend& hand = gpu.hand;
  RecordingBackend& vendor = gpu.vendor;
  hand.op_costs["conv2d_backward_filter"] = 0.5;  // the hand backward-filter is the faster one
  weft::Dispatch& dispatch = gpu.dispatch;
  const weft::Conv2dParams p = conv_shape(3);
  dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  // The trial is the forward alone: once untimed and three times timed on each candidate.
  const std::vector<std::string> forward_trial(4, "conv2d_forward");
  CHECK(hand.calls == forward_trial);
  std::vector<std::string> vendor_expected = forward_trial;
  vendor_expected.push_back("conv2d_forward");  // the call itself, on the faster one
  CHECK(vendor.calls == vendor_expected);

  hand.calls.clear();
  vendor.calls.clear();
  dispatch.conv2d_backward_filter(p, nullptr, nullptr, nullptr, nullptr);
  std::vector<std::string> filter_expected(4, "conv2d_backward_filter");
  CHECK(vendor.calls == filter_expected);
  filter_expected.push_back("conv2d_backward_filter");  // the call, on the hand kernel
  CHECK(hand.calls == filter_expected);

  // Measured once: later calls of both passes go straight to their winners.
  hand.calls.clear();
  vendor.calls.clear();
  dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  dispatch.conv2d_backward_filter(p, nullptr, nullptr, nullptr, nullptr);
  CHECK(vendor.calls == std::vector<std::string>{"conv2d_forward"});
  CHECK(hand.calls == std::vector<std::string>{"conv2d_backward_filter"});

  // A new shape is a new key, measured again; the table has all three.
  dispatch.conv2d_forward(conv_shape(5), nullptr, nullptr, nullptr, nullptr);
  CHECK(hand.calls.size() == 1 + 4);
  const std::vector<weft::AutotuneEntry> table = dispatch.autotune_table();
  REQUIRE(table.size() == 3);
  CHECK_THAT(table[0].key, Catch::StartsWith("conv2d forward N=2 C=3 H=5 W=5 O=4 k=3x3") &&
                               Catch::Contains("fake device | f32 fp32 | among hand vendor"));
  CHECK(table[0].pick == "vendor");
  CHECK(table[0].seconds[0].second == Approx(2.0));  // per run: one hand call of cost 2
  CHECK(table[0].seconds[1].second == Approx(1.0));
  CHECK_THAT(table[1].key, Catch::StartsWith("conv2d backward-filter N=2 C=3"));
  CHECK(table[1].pick == "hand");
  CHECK_THAT(table[2].key, Catch::StartsWith("conv2d forward N=2 C=5"));
  REQUIRE(fixture.log.size() == 1);  // one line when auto first measures the family
  CHECK_THAT(fixture.log[0], Catch::Contains("measuring each new shape once"));
}

TEST_CASE("autotune: the hand kernel wins where it is faster; batch norm is measured as one "
          "group, the other ops pass by pass") {
  SelectionFixture fixture;
  FakeGpu gpu(1.0, 3.0);
  RecordingBackend& hand = gpu.hand;
  RecordingBackend& vendor = gpu.vendor;
  weft::Dispatch& dispatch = gpu.dispatch;
  weft::BatchNormParams bn;
  bn.batch = 4;
  bn.channels = 3;
  dispatch.batch_norm_forward_eval(bn, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  dispatch.linear_backward(4, 5, 6, {}, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  weft::GemmParams g;
  g.m = g.n = g.k = 8;
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  weft::ConvTranspose2dParams t;
  t.in_channels = 2;
  t.out_channels = 3;
  t.in_h = t.in_w = 4;
  t.kernel_h = t.kernel_w = 2;
  t.stride_h = t.stride_w = 2;
  dispatch.conv_transpose2d_backward_filter(t, nullptr, nullptr, nullptr, nullptr);
  const std::vector<weft::AutotuneEntry> table = dispatch.autotune_table();
  REQUIRE(table.size() == 4);
  CHECK_THAT(table[0].key, Catch::StartsWith("batch_norm N=4 C=3 S=1"));
  CHECK_THAT(table[1].key, Catch::StartsWith("linear backward N=4 in=5 out=6"));
  CHECK_THAT(table[2].key, Catch::StartsWith("gemm m=8 n=8 k=8 NN"));
  CHECK_THAT(table[3].key,
             Catch::StartsWith("conv_transpose2d backward-filter N=1 C=2 H=4 W=4 O=3 k=2x2"));
  for (const weft::AutotuneEntry& e : table) CHECK(e.pick == "hand");
  // batch norm's trial is its training forward and backward; linear backward's, itself
  CHECK(hand.calls[0] == "batch_norm_forward_train");
  CHECK(hand.calls[1] == "batch_norm_backward");
  CHECK(hand.calls[8] == "batch_norm_forward_eval");
  for (size_t i = 9; i < 14; ++i) CHECK(hand.calls[i] == "linear_backward");
  CHECK(vendor.calls.size() == 8 + 4 + 4 + 4);
  CHECK_THAT(weft::format_autotune_table(table),
             Catch::Contains("hand 2000.000 ms *") && Catch::Contains("vendor 6000.000 ms"));
}

TEST_CASE("autotune: the precision and deterministic mode are part of the key; deterministic "
          "skips vendor") {
  SelectionFixture fixture;
  FakeGpu gpu(2.0, 1.0);
  RecordingBackend& hand = gpu.hand;
  RecordingBackend& vendor = gpu.vendor;
  weft::Dispatch& dispatch = gpu.dispatch;
  weft::GemmParams g;
  g.m = g.n = g.k = 4;
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  weft::set_vendor_tf32(true);
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  REQUIRE(dispatch.autotune_table().size() == 2);
  CHECK_THAT(dispatch.autotune_table()[1].key, Catch::Contains("f32 tf32"));
  weft::set_math_precision(weft::MathPrecision::bf16);
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  REQUIRE(dispatch.autotune_table().size() == 3);
  CHECK_THAT(dispatch.autotune_table()[2].key, Catch::Contains("f32 bf16"));
  weft::set_vendor_tf32(true);

  weft::set_vendor_algorithms(weft::VendorAlgorithms::rules);  // cuDNN's own choice: a new key
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  REQUIRE(dispatch.autotune_table().size() == 4);
  CHECK_THAT(dispatch.autotune_table()[3].key, Catch::Contains("f32 tf32 cudnn-rules |"));
  weft::set_vendor_algorithms(weft::VendorAlgorithms::measured);

  weft::set_deterministic(true);
  hand.calls.clear();
  vendor.calls.clear();
  dispatch.gemm(g, nullptr, nullptr, nullptr);
  weft::set_deterministic(false);
  CHECK(hand.calls == std::vector<std::string>{"gemm"});  // the only deterministic one
  CHECK(vendor.calls.empty());
  CHECK(dispatch.autotune_table().size() == 4);
}

TEST_CASE("autotune: a second dispatch on the same device reads the picks from the cache file") {
  SelectionFixture fixture;
  TempDir dir;
  ScopedEnv cache("WEFT_AUTOTUNE_CACHE", dir.file("autotune.json").c_str());
  double clock = 0;
  RecordingBackend hand("hand", 2.0, &clock);
  RecordingBackend vendor("vendor", 1.0, &clock, weft::testing::vendor_families());
  const std::vector<weft::Implementation> both = {{&hand, KernelPath::hand, true},
                                                  {&vendor, KernelPath::vendor, false}};
  const weft::Conv2dParams p = conv_shape(3);
  {
    weft::Dispatch first(host_device(), both, [&clock] { return clock; });
    first.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  }
  hand.calls.clear();
  vendor.calls.clear();
  weft::Dispatch second(host_device(), both, [&clock] { return clock; });
  second.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  CHECK(hand.calls.empty());
  CHECK(vendor.calls == std::vector<std::string>{"conv2d_forward"});
  REQUIRE(second.autotune_table().size() == 1);
  CHECK(second.autotune_table()[0].from_disk);
}

TEST_CASE("autotune: picks restored from a checkpoint are taken before measuring; kernel_picks "
          "lists what ran") {
  SelectionFixture fixture;
  const weft::Conv2dParams p = conv_shape(3);
  std::string forward_key;
  {
    FakeGpu measured(2.0, 1.0);  // the vendor wins a measurement
    measured.dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
    REQUIRE(measured.dispatch.autotune_table().size() == 1);
    forward_key = measured.dispatch.autotune_table()[0].key;
    CHECK(weft::kernel_picks().at(forward_key) == "vendor");
  }
  CHECK(weft::kernel_picks().count(forward_key) == 0);  // that dispatch is gone

  // A new process would measure again; with the checkpoint's picks restored it takes them.
  FakeGpu gpu(2.0, 1.0);
  gpu.dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);  // measured: vendor
  gpu.hand.calls.clear();
  gpu.vendor.calls.clear();
  weft::restore_kernel_picks({{forward_key, "hand"},
                              {"conv2d backward-data no such shape", "hand"}});
  // Restored picks count as made before their key's next call (a checkpoint written now holds
  // them).
  CHECK(weft::kernel_picks().at(forward_key) == "hand");
  CHECK(weft::kernel_picks().at("conv2d backward-data no such shape") == "hand");
  gpu.dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  gpu.dispatch.conv2d_forward(p, nullptr, nullptr, nullptr, nullptr);
  CHECK(gpu.hand.calls == std::vector<std::string>(2, "conv2d_forward"));  // no trial runs
  CHECK(gpu.vendor.calls.empty());
  CHECK(weft::kernel_picks().at(forward_key) == "hand");
  const std::vector<weft::AutotuneEntry> table = gpu.dispatch.autotune_table();
  REQUIRE(table.size() == 1);
  CHECK(table[0].from_checkpoint);
  CHECK_THAT(weft::format_autotune_table(table),
             Catch::Contains("-> hand (restored: a checkpoint's or rank 0's pick)"));

  // A restored pick that names none of the call's candidates is measured as usual.
  const weft::Conv2dParams q = conv_shape(5);
  std::string other_key;
  {
    FakeGpu probe(2.0, 1.0);
    probe.dispatch.conv2d_forward(q, nullptr, nullptr, nullptr, nullptr);
    other_key = probe.dispatch.autotune_table()[0].key;
  }
  weft::restore_kernel_picks({{other_key, "cpu-vendor"}});  // replaces the picks above
  gpu.hand.calls.clear();
  gpu.dispatch.conv2d_forward(q, nullptr, nullptr, nullptr, nullptr);
  CHECK(gpu.hand.calls == std::vector<std::string>(4, "conv2d_forward"));  // the trial runs
  CHECK(weft::kernel_picks().at(other_key) == "vendor");
  weft::restore_kernel_picks({});
}
