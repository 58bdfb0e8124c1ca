// Tests of the host emulation of CUDA (kernels/cuda/emulation.h): small kernels written here,
// launched through the same helper as the real ones, check that the emulation gives kernels
// what a GPU gives them (every thread of the grid exactly once, barriers that order shared
// memory, warp shuffles and votes with CUDA's lane rules, dynamic shared memory, atomics across
// blocks run on several OS threads) and that it reports the mistakes it can see cheaply (a
// barrier some threads skip, a shuffle from a lane that has returned, a bad launch
// configuration) as errors naming the kernel, and that static shared memory starts every block
// undefined, with every declaration in kernels/cuda/ marked so.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <regex>
#include <string>
#include <vector>

#include "kernels/cuda/common.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"
#include "kernels/reduced_precision.h"

using Catch::Matchers::Contains;

namespace {

// ---- kernels under test -------------------------------------------------------------------------

// Every thread adds 1 to its own slot (the grid flattened x fastest) and counts index errors.
__global__ void record_threads_kernel(int* hits, int* out_of_range) {
  const unsigned threads_per_block = blockDim.x * blockDim.y * blockDim.z;
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  if (threadIdx.x >= blockDim.x || threadIdx.y >= blockDim.y || threadIdx.z >= blockDim.z ||
      blockIdx.x >= gridDim.x || blockIdx.y >= gridDim.y || blockIdx.z >= gridDim.z) {
    atomicAdd(out_of_range, 1);
  }
  atomicAdd(&hits[block * threads_per_block + thread], 1);
}

// Thread t writes slot t of a shared tile; after the barrier it reads slot n - 1 - t, written
// by another thread (the last thread of the block, for thread 0). Without the barrier thread 0
// would run first and read a slot nobody has written yet.
__global__ void reverse_block_kernel(const float* in, float* out) {
  __shared__ float tile[256];
  const unsigned t = threadIdx.x;
  const unsigned base = blockIdx.x * blockDim.x;
  tile[t] = in[base + t];
  __syncthreads();
  out[base + t] = tile[blockDim.x - 1 - t];
}

// Block b sums its n values with block_sum (common.h); every thread stores the total it got.
__global__ void block_sum_kernel(const float* x, int n, float* totals) {
  float value = 0.0f;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    value += x[blockIdx.x * n + i];
  }
  totals[blockIdx.x * blockDim.x + threadIdx.x] = weft::cuda::block_sum(value);
}

// One warp; lane l contributes value 100 + l and records the result of each warp operation.
__global__ void warp_ops_kernel(int* results) {
  const int lane = static_cast<int>(threadIdx.x);
  const int value = 100 + lane;
  int* row = results;
  row[0 * 32 + lane] = __shfl_down_sync(0xffffffffu, value, 3);
  row[1 * 32 + lane] = __shfl_up_sync(0xffffffffu, value, 2);
  row[2 * 32 + lane] = __shfl_xor_sync(0xffffffffu, value, 5);
  row[3 * 32 + lane] = __shfl_sync(0xffffffffu, value, 7);
  row[4 * 32 + lane] = __shfl_down_sync(0xffffffffu, value, 3, 8);
  row[5 * 32 + lane] = __shfl_sync(0xffffffffu, value, 2, 8);
  row[6 * 32 + lane] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  row[7 * 32 + lane] = __any_sync(0xffffffffu, lane == 17);
  row[8 * 32 + lane] = __all_sync(0xffffffffu, lane < 40);
  row[9 * 32 + lane] = __all_sync(0xffffffffu, lane < 31);
}

// Threads 16 and up return before a barrier the others wait at: a GPU would hang or misbehave.
__global__ void skipped_barrier_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

// Lanes 8 and up return, and the rest shuffle with the full mask.
__global__ void shuffle_with_returned_lanes_kernel(float* out) {
  if (threadIdx.x % 32 >= 8) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

// The values 0, 2, 4, ... are written to dynamic shared memory (n floats, more than the block has
// threads, so each thread writes several); after the barrier thread t reads them back reversed.
__global__ void dynamic_shared_kernel(int n, float* out) {
  WEFT_DYNAMIC_SHARED(float, values);
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    values[i] = 2.0f * static_cast<float>(i);
  }
  __syncthreads();
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    out[i] = values[n - 1 - i];
  }
}

// Thread t reads slot t of a static shared tile before anyone writes it, then (after a barrier)
// writes 1 there. Without WEFT_SHARED_UNDEFINED each block after the first run on the same OS
// thread would read the previous block's 1s.
__global__ void read_before_write_kernel(float* out) {
  __shared__ float tile[64];
  WEFT_SHARED_UNDEFINED(tile);
  out[blockIdx.x * blockDim.x + threadIdx.x] = tile[threadIdx.x];
  __syncthreads();
  tile[threadIdx.x] = 1.0f;
}

// Writes the tile, passes the mark again (as a device function called twice does), and reads a
// neighbour's slot after the barrier: a second pass in the same block must leave the tile alone.
__global__ void mark_twice_kernel(float* out) {
  __shared__ float tile[64];
  WEFT_SHARED_UNDEFINED(tile);
  tile[threadIdx.x] = static_cast<float>(threadIdx.x);
  WEFT_SHARED_UNDEFINED(tile);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = tile[(threadIdx.x + 1) % blockDim.x];
}

// Kernel parameters are per-thread copies: changing one in a thread changes no other thread's.
__global__ void private_parameter_kernel(int value, int* out) {
  value += static_cast<int>(threadIdx.x);
  out[threadIdx.x] = value;
}

}  // namespace

TEST_CASE("emulation: every thread of the grid runs exactly once with in-range indices",
          "[emu]") {
  struct Launch {
    dim3 grid, block;
  };
  // Small 3-d launches run block after block; the last one is large enough to spread its
  // blocks over OpenMP threads, where atomicAdd must be a real atomic.
  const std::vector<Launch> launches = {
      {dim3(1), dim3(1)}, {dim3(3, 2, 2), dim3(5, 3, 2)}, {dim3(7), dim3(33)},
      {dim3(2, 3), dim3(32, 4)}, {dim3(64), dim3(512)}};
  for (const Launch& l : launches) {
    const size_t threads = size_t{l.grid.x} * l.grid.y * l.grid.z * l.block.x * l.block.y *
                           l.block.z;
    std::vector<int> hits(threads, 0);
    int out_of_range = 0;
    WEFT_LAUNCH(record_threads_kernel, l.grid, l.block, 0, nullptr, hits.data(), &out_of_range);
    INFO("grid " << l.grid.x << "x" << l.grid.y << "x" << l.grid.z << ", block " << l.block.x
                 << "x" << l.block.y << "x" << l.block.z);
    CHECK(out_of_range == 0);
    CHECK(std::count(hits.begin(), hits.end(), 1) == static_cast<std::ptrdiff_t>(threads));
  }
}

TEST_CASE("emulation: __syncthreads orders shared-memory writes before reads", "[emu]") {
  for (unsigned threads : {32u, 96u, 256u}) {
    const unsigned blocks = 3;
    std::vector<float> in(blocks * threads), out(in.size(), -1.0f);
    std::iota(in.begin(), in.end(), 0.0f);
    WEFT_LAUNCH(reverse_block_kernel, blocks, threads, 0, nullptr, in.data(), out.data());
    for (unsigned b = 0; b < blocks; ++b) {
      for (unsigned t = 0; t < threads; ++t) {
        INFO("threads " << threads << ", block " << b << ", thread " << t);
        REQUIRE(out[b * threads + t] == in[b * threads + threads - 1 - t]);
      }
    }
  }
}

TEST_CASE("emulation: a block reduction with warp shuffles gives every thread the sum",
          "[emu]") {
  for (unsigned threads : {32u, 64u, 256u, 1024u}) {
    for (int n : {1, 31, 1000, 5000}) {
      const unsigned blocks = 2;
      std::vector<float> x(static_cast<size_t>(blocks) * n);
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
      std::vector<float> totals(blocks * threads, -1.0f);
      WEFT_LAUNCH(block_sum_kernel, blocks, threads, 0, nullptr, x.data(), n, totals.data());
      for (unsigned b = 0; b < blocks; ++b) {
        // Small integers: the sum is exact in float whatever the order.
        const float want = std::accumulate(x.begin() + b * n, x.begin() + (b + 1) * n, 0.0f);
        for (unsigned t = 0; t < threads; ++t) {
          INFO("threads " << threads << ", n " << n << ", block " << b << ", thread " << t);
          REQUIRE(totals[b * threads + t] == want);
        }
      }
    }
  }
}

TEST_CASE("emulation: warp shuffles and votes follow CUDA's lane rules", "[emu]") {
  std::vector<int> results(10 * 32, -1);
  WEFT_LAUNCH(warp_ops_kernel, 1, 32, 0, nullptr, results.data());
  unsigned every_third = 0;
  for (int lane = 0; lane < 32; lane += 3) every_third |= 1u << lane;
  for (int lane = 0; lane < 32; ++lane) {
    INFO("lane " << lane);
    const int segment = lane & ~7;  // first lane of this lane's group of 8
    CHECK(results[0 * 32 + lane] == 100 + (lane + 3 < 32 ? lane + 3 : lane));
    CHECK(results[1 * 32 + lane] == 100 + (lane >= 2 ? lane - 2 : lane));
    CHECK(results[2 * 32 + lane] == 100 + (lane ^ 5));
    CHECK(results[3 * 32 + lane] == 107);
    CHECK(results[4 * 32 + lane] == 100 + (lane - segment + 3 < 8 ? lane + 3 : lane));
    CHECK(results[5 * 32 + lane] == 100 + segment + 2);
    CHECK(static_cast<unsigned>(results[6 * 32 + lane]) == every_third);
    CHECK(results[7 * 32 + lane] == 1);
    CHECK(results[8 * 32 + lane] == 1);
    CHECK(results[9 * 32 + lane] == 0);
  }
}

TEST_CASE("emulation: dynamic shared memory holds the launch's byte count", "[emu]") {
  for (int n : {1, 100, 1000, 12288}) {  // 12288 floats: the full 48 KiB
    std::vector<float> out(static_cast<size_t>(n), -1.0f);
    WEFT_LAUNCH(dynamic_shared_kernel, 1, 128, n * sizeof(float), nullptr, n, out.data());
    for (int i = 0; i < n; ++i) {
      INFO("n " << n << ", i " << i);
      REQUIRE(out[i] == 2.0f * static_cast<float>(n - 1 - i));
    }
  }
}

TEST_CASE("emulation: more than 48 KiB of dynamic shared memory only when allowed", "[emu]") {
  // 80 KiB, the wide tensor-core tile's stages: refused by WEFT_LAUNCH, as by a GPU for a kernel
  // not allowed it; WEFT_LAUNCH_LARGE_SHARED allows up to a block's 227 KiB (sm_90).
  const int n = 20480;
  std::vector<float> out(static_cast<size_t>(n), -1.0f);
  REQUIRE_THROWS_WITH(
      WEFT_LAUNCH(dynamic_shared_kernel, 1, 128, n * sizeof(float), nullptr, n, out.data()),
      Contains("dynamic shared memory") && Contains("WEFT_LAUNCH_LARGE_SHARED"));
  WEFT_LAUNCH_LARGE_SHARED(dynamic_shared_kernel, 1, 128, n * sizeof(float), nullptr, n,
                           out.data());
  for (int i = 0; i < n; ++i) {
    INFO("i " << i);
    REQUIRE(out[i] == 2.0f * static_cast<float>(n - 1 - i));
  }
  REQUIRE_THROWS_WITH(WEFT_LAUNCH_LARGE_SHARED(dynamic_shared_kernel, 1, 128, 228 * 1024, nullptr,
                                               4, out.data()),
                      Contains("dynamic shared memory") && Contains("at most 232448"));
}

TEST_CASE("emulation: each thread gets its own copy of the kernel arguments", "[emu]") {
  std::vector<int> out(64, -1);
  WEFT_LAUNCH(private_parameter_kernel, 1, 64, 0, nullptr, 1000, out.data());
  for (int t = 0; t < 64; ++t) CHECK(out[t] == 1000 + t);
}

TEST_CASE("emulation: a barrier that some threads skip is an error naming the kernel",
          "[emu]") {
  std::vector<float> out(64, 0.0f);
  REQUIRE_THROWS_WITH(WEFT_LAUNCH(skipped_barrier_kernel, 1, 64, 0, nullptr, out.data()),
                      Contains("skipped_barrier_kernel") && Contains("__syncthreads()") &&
                          Contains("16 of 64 threads wait") && Contains("48 have returned"));
  // The scheduler recovers: the fibers left waiting are reset for the next launch.
  std::vector<float> in(64), reversed(64);
  std::iota(in.begin(), in.end(), 0.0f);
  WEFT_LAUNCH(reverse_block_kernel, 1, 64, 0, nullptr, in.data(), reversed.data());
  CHECK(reversed[0] == 63.0f);
  CHECK(reversed[63] == 0.0f);
}

TEST_CASE("emulation: a shuffle waiting for lanes that returned is an error", "[emu]") {
  std::vector<float> out(64, 0.0f);
  REQUIRE_THROWS_WITH(
      WEFT_LAUNCH(shuffle_with_returned_lanes_kernel, 1, 64, 0, nullptr, out.data()),
      Contains("shuffle_with_returned_lanes_kernel") && Contains("__shfl_down_sync") &&
          Contains("have returned"));
}

TEST_CASE("emulation: an invalid launch configuration is an error naming the kernel", "[emu]") {
  std::vector<float> out(4096, 0.0f);
  REQUIRE_THROWS_WITH(WEFT_LAUNCH(skipped_barrier_kernel, 1, 2048, 0, nullptr, out.data()),
                      Contains("skipped_barrier_kernel") &&
                          Contains("invalid launch configuration"));
  REQUIRE_THROWS_WITH(WEFT_LAUNCH(skipped_barrier_kernel, 0, 32, 0, nullptr, out.data()),
                      Contains("invalid launch configuration"));
  REQUIRE_THROWS_WITH(
      WEFT_LAUNCH(dynamic_shared_kernel, 1, 32, 64 * 1024, nullptr, 4, out.data()),
      Contains("dynamic shared memory"));
}

TEST_CASE("emulation: __syncthreads outside a kernel is an error", "[emu]") {
  REQUIRE_THROWS_WITH(__syncthreads(), Contains("outside a kernel"));
}

TEST_CASE("emulation: static shared memory starts every block undefined (NaN bytes)", "[emu]") {
  const unsigned blocks = 4, threads = 64;
  std::vector<float> out(blocks * threads, 0.0f);
  WEFT_LAUNCH(read_before_write_kernel, blocks, threads, 0, nullptr, out.data());
  for (unsigned i = 0; i < out.size(); ++i) {
    INFO("block " << i / threads << ", thread " << i % threads);
    REQUIRE(std::isnan(out[i]));
  }
  WEFT_LAUNCH(mark_twice_kernel, blocks, threads, 0, nullptr, out.data());
  for (unsigned i = 0; i < out.size(); ++i) {
    INFO("block " << i / threads << ", thread " << i % threads);
    REQUIRE(out[i] == static_cast<float>((i % threads + 1) % threads));
  }
  REQUIRE_THROWS_WITH(WEFT_SHARED_UNDEFINED(out), Contains("outside a kernel"));
}

// Every static __shared__ declaration in the kernel sources is followed (within the next few
// lines, after any other declarations) by its WEFT_SHARED_UNDEFINED mark, so no kernel escapes
// the check above.
TEST_CASE("emulation: every static __shared__ declaration in kernels/cuda/ has its mark",
          "[emu]") {
  namespace fs = std::filesystem;
  // A declaration: [alignas(N)] __shared__ TYPE NAME[...]; (the emulation's own files, which
  // define the word, are not kernel sources).
  const std::regex declaration(
      R"(^\s*(alignas\(\d+\)\s+)?__shared__\s[^;]*?(\w+)\s*(\[[^;]*)?;)");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(WEFT_SOURCE_DIR) / "kernels/cuda")) {
    const std::string name = entry.path().filename().string();
    const std::string ext = entry.path().extension().string();
    if ((ext == ".cu" || ext == ".h") && name.rfind("emulation", 0) != 0 &&
        name != "cuda_compat.h") {
      files.push_back(entry.path());
    }
  }
  REQUIRE(files.size() >= 20);
  int declarations = 0;
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    std::ifstream file(path);
    REQUIRE(file.good());
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(line);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch match;
      if (!std::regex_search(lines[i], match, declaration)) continue;
      ++declarations;
      const std::string mark = "WEFT_SHARED_UNDEFINED(" + match[2].str() + ");";
      bool marked = false;
      for (size_t j = i + 1; j < std::min(lines.size(), i + 6); ++j) {
        marked = marked || lines[j].find(mark) != std::string::npos;
      }
      INFO(name << ":" << i + 1 << ": " << lines[i]);
      CHECK(marked);
    }
  }
  CHECK(declarations >= 16);  // the count when the check was written; fewer means it misparses
}

namespace {

bool same_bits(float x, float y) {
  if (std::isnan(x) && std::isnan(y)) return true;
  return std::memcmp(&x, &y, sizeof x) == 0;
}

}  // namespace

TEST_CASE("emulation: the kernels' fmaf rounds once, bit for bit as the C library's fmaf",
          "[emu]") {
  // Double rounding: the exact value 2^24 + 3 - 2^-46 lies just below a float midpoint; rounded
  // to double it is the midpoint itself, which then ties to the even 2^24 + 4. Rounded once it is
  // 2^24 + 2.
  const float a = 1.0f + 0x1p-23f, b = 1.0f - 0x1p-23f, c = 0x1p24f + 2.0f;
  CHECK(static_cast<float>(static_cast<double>(a) * b + c) == 0x1p24f + 4.0f);
  CHECK(weft::emu::fmaf(a, b, c) == 0x1p24f + 2.0f);
  CHECK(weft::emu::fmaf(-a, b, -c) == -(0x1p24f + 2.0f));
  // A result below float's normal range: 2^-120 (1 + 2^-23) - 2^-120 is 2^-143, a subnormal.
  CHECK(weft::emu::fmaf(0x1p-60f, 0x1p-60f * (1.0f + 0x1p-23f), -0x1p-120f) == 0x1p-143f);

  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f,    -0.0f,    1.0f,     -1.0f, 0x1p-149f, -0x1p-126f,
                            3.4e38f, -3.4e38f, 0x1p-75f, inf,   -inf,      std::nanf("")};
  int64_t mismatches = 0;
  for (float x : specials) {
    for (float y : specials) {
      for (float z : specials) {
        if (!same_bits(weft::emu::fmaf(x, y, z), std::fmaf(x, y, z))) ++mismatches;
      }
    }
  }
  // Random operands: any bit pattern, and sums that nearly cancel (c close to -a*b).
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state >> 16);
  };
  for (int i = 0; i < 400000; ++i) {
    const float x = weft::float_from_bits(next()), y = weft::float_from_bits(next());
    const float z = i % 2 == 0 ? weft::float_from_bits(next())
                               : -x * y * (1.0f + static_cast<float>(next() % 64) * 0x1p-24f);
    if (!same_bits(weft::emu::fmaf(x, y, z), std::fmaf(x, y, z))) ++mismatches;
  }
  CHECK(mismatches == 0);
}
