// Tests of the host emulation's thread orders (kernels/cuda/emulation.h, ThreadOrder): each order
// runs a block's threads in the sequence it promises, a seeded shuffle can be replayed, and the
// two kinds of race that the default order hides are shown by the order meant for each (a warp
// that overwrites shared memory the next warp still reads: low_first; a warp that reads what an
// earlier warp has not yet written: high_first). The op table runs under these orders in
// test_backend_ops.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"
#include "tests/emu_order_test_util.h"

using Catch::Matchers::Contains;
using weft::emu::ThreadOrder;
using weft::test::ScopedThreadOrder;

namespace {

// Thread t of block b writes the order in which it started, counted per block, to
// first_run[b * blockDim.x + t]. (No warp operation or barrier: each thread runs to its end once
// started, so the tickets are the order the scheduler resumed them.)
__global__ void start_order_kernel(int* counters, int* first_run) {
  const int ticket = atomicAdd(&counters[blockIdx.x], 1);
  first_run[blockIdx.x * blockDim.x + threadIdx.x] = ticket;
}

// Two rounds through one shared tile of 64 floats, two warps. Round r: thread t stores
// in[64 r + t] in tile[t]; after the barrier it reads tile[63 - t] (the other warp's value),
// then takes part in two warp operations, standing for a warp's tensor-core work, and goes on to
// the next round WITHOUT a barrier: the race of a pipelined loop that refills a buffer another
// warp still reads. In the default order the warps move almost in step and the race stays
// hidden; when warp 0 runs ahead (low_first) it refills the tile before warp 1 has read it.
__global__ void refill_without_barrier_kernel(const float* in, float* out) {
  __shared__ float tile[64];
  const unsigned t = threadIdx.x;
  for (unsigned round = 0; round < 2; ++round) {
    tile[t] = in[64 * round + t];
    __syncthreads();
    out[64 * round + t] = tile[63 - t];
    __syncwarp();
    __syncwarp();
  }
}

// Warp 0 stores in[t] in tile[t]; warp 1 reads tile[t - 32] after a __syncwarp, where a
// __syncthreads is needed: correct only if warp 0 happens to run first.
__global__ void read_before_barrier_kernel(const float* in, float* out) {
  __shared__ float tile[32];
  const unsigned t = threadIdx.x;
  if (t < 32) tile[t] = in[t];
  __syncwarp();
  if (t >= 32) out[t - 32] = tile[t - 32];
}

std::vector<int> start_order(int blocks, int threads) {
  std::vector<int> counters(static_cast<size_t>(blocks), 0);
  std::vector<int> first_run(static_cast<size_t>(blocks * threads), -1);
  WEFT_LAUNCH(start_order_kernel, blocks, threads, 0, nullptr, counters.data(),
              first_run.data());
  return first_run;
}

// Runs refill_without_barrier_kernel on 0 .. 127 and says whether every output is right.
bool refill_is_right() {
  std::vector<float> in(128), out(128, -1.0f);
  std::iota(in.begin(), in.end(), 0.0f);
  WEFT_LAUNCH(refill_without_barrier_kernel, 1, 64, 0, nullptr, in.data(), out.data());
  for (unsigned i = 0; i < 128; ++i) {
    if (out[i] != in[(i / 64) * 64 + 63 - i % 64]) return false;
  }
  return true;
}

// Runs read_before_barrier_kernel twice, on different values (so a stale tile from the first run
// differs from the second's), and says whether the second run's outputs are right.
bool read_is_right() {
  std::vector<float> first(32, -7.0f), second(32), out(32, 0.0f);
  std::iota(second.begin(), second.end(), 1.0f);
  WEFT_LAUNCH(read_before_barrier_kernel, 1, 64, 0, nullptr, first.data(), out.data());
  WEFT_LAUNCH(read_before_barrier_kernel, 1, 64, 0, nullptr, second.data(), out.data());
  return out == second;
}

}  // namespace

TEST_CASE("emulation order: each order resumes a block's threads as it promises", "[emu]") {
  constexpr int kThreads = 64;
  std::vector<int> forward(kThreads), reverse(kThreads);
  std::iota(forward.begin(), forward.end(), 0);
  std::iota(reverse.rbegin(), reverse.rend(), 0);
  {
    ScopedThreadOrder order(ThreadOrder::forward);
    CHECK(start_order(1, kThreads) == forward);
  }
  {
    ScopedThreadOrder order(ThreadOrder::reverse);
    CHECK(start_order(1, kThreads) == reverse);
  }
  {
    ScopedThreadOrder order(ThreadOrder::low_first);
    CHECK(start_order(1, kThreads) == forward);
  }
  {
    ScopedThreadOrder order(ThreadOrder::high_first);
    CHECK(start_order(1, kThreads) == reverse);
  }
}

TEST_CASE("emulation order: a shuffle is a permutation that its seed replays", "[emu]") {
  constexpr int kBlocks = 3, kThreads = 96;
  const auto shuffled = [&](uint64_t seed) {
    ScopedThreadOrder order(ThreadOrder::shuffled, seed);
    return start_order(kBlocks, kThreads);
  };
  const std::vector<int> a = shuffled(11), again = shuffled(11), b = shuffled(12);
  CHECK(a == again);
  CHECK(a != b);
  for (int block = 0; block < kBlocks; ++block) {
    INFO("block " << block);
    std::vector<int> tickets(a.begin() + block * kThreads, a.begin() + (block + 1) * kThreads);
    std::vector<int> identity(kThreads);
    std::iota(identity.begin(), identity.end(), 0);
    CHECK(tickets != identity);
    std::sort(tickets.begin(), tickets.end());
    CHECK(tickets == identity);  // every thread ran exactly once
  }
  // Each block draws its own sequence.
  CHECK(!std::equal(a.begin(), a.begin() + kThreads, a.begin() + kThreads));
}

TEST_CASE("emulation order: a warp running ahead shows a buffer refilled without a barrier",
          "[emu]") {
  {
    ScopedThreadOrder order(ThreadOrder::forward);
    CHECK(refill_is_right());  // hidden: why the op table also runs in the other orders
  }
  {
    ScopedThreadOrder order(ThreadOrder::low_first);
    CHECK_FALSE(refill_is_right());
  }
}

TEST_CASE("emulation order: the last warp running first shows a read before the barrier",
          "[emu]") {
  {
    ScopedThreadOrder order(ThreadOrder::forward);
    CHECK(read_is_right());
  }
  {
    ScopedThreadOrder order(ThreadOrder::high_first);
    CHECK_FALSE(read_is_right());
  }
}

TEST_CASE("emulation order: WEFT_EMU_ORDER's values, and a clear error for others", "[emu]") {
  using weft::emu::parse_thread_order;
  CHECK(parse_thread_order(nullptr).order == ThreadOrder::forward);
  CHECK(parse_thread_order("").order == ThreadOrder::forward);
  CHECK(parse_thread_order("forward").order == ThreadOrder::forward);
  CHECK(parse_thread_order("reverse").order == ThreadOrder::reverse);
  CHECK(parse_thread_order("low-first").order == ThreadOrder::low_first);
  CHECK(parse_thread_order("high-first").order == ThreadOrder::high_first);
  CHECK(parse_thread_order("shuffle").order == ThreadOrder::shuffled);
  CHECK(parse_thread_order("shuffle").seed == 0);
  const weft::emu::ThreadOrderSetting seeded = parse_thread_order("shuffle:12345");
  CHECK(seeded.order == ThreadOrder::shuffled);
  CHECK(seeded.seed == 12345);
  for (const char* bad : {"Reverse", "shuffle:", "shuffle:x", "shuffle;3", "shuffle:-1",
                          "shuffle:99999999999999999999", "low_first"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_thread_order(bad),
                      Contains("WEFT_EMU_ORDER") && Contains(bad) && Contains("shuffle:SEED"));
  }
}
