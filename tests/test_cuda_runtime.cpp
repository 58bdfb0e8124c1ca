// The CUDA runtime under the engine (kernels/cuda_runtime/runtime.cu) on a real GPU: host<->device copies
// through the pinned staging buffers, at sizes around the 2 MiB chunk, with the source reused
// as soon as the upload returns; the caching allocator's reuse and byte counters; strided row
// copies (slice, concat). Label
// gpu: without a GPU each case prints SKIPPED and ctest reports it as skipped.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/runtime.h"
#include "engine/tensor.h"
#include "tests/gpu_test_util.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace {

#ifdef WEFT_HAVE_CUDA
using weft::test::gpu_present;
#endif

}  // namespace

TEST_CASE("cuda runtime: staged copies round-trip, and an upload's source is free on return",
          "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!gpu_present()) return;
  const weft::Device gpu = weft::Device::cuda(0);
  constexpr size_t kChunk = size_t{2} << 20;  // kStagingSlotBytes in runtime.cu
  for (size_t bytes : {size_t{1}, size_t{1000}, kChunk - 4, kChunk, kChunk + 4, 9 * kChunk + 12}) {
    INFO("bytes " << bytes);
    std::vector<uint8_t> source(bytes);
    std::iota(source.begin(), source.end(), static_cast<uint8_t>(bytes % 251));
    const std::vector<uint8_t> expected = source;
    void* device = weft::device_allocate(gpu, bytes);
    weft::copy_bytes(gpu, device, weft::Device::cpu(), source.data(), bytes);
    // The upload has returned: the source must no longer be needed.
    std::fill(source.begin(), source.end(), uint8_t{0xEE});
    std::vector<uint8_t> back(bytes, 0);
    weft::copy_bytes(weft::Device::cpu(), back.data(), gpu, device, bytes);
    weft::device_free(gpu, device, bytes);
    CHECK(back == expected);
  }
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

TEST_CASE("cuda runtime: the caching allocator reuses blocks and counts bytes", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!gpu_present()) return;
  const weft::Device gpu = weft::Device::cuda(0);
  const char* no_cache = std::getenv("WEFT_CUDA_NO_CACHE");
  const bool caching = no_cache == nullptr || no_cache[0] != '1';
  weft::cuda::empty_cache(0);
  const weft::MemoryStats before = weft::memory_stats(gpu);
  CHECK(before.cached_bytes == 0);

  void* a = weft::device_allocate(gpu, 1000);  // a 1024-byte size class when caching
  const weft::MemoryStats held = weft::memory_stats(gpu);
  CHECK(held.current_bytes == before.current_bytes + (caching ? 1024 : 1000));
  CHECK(held.peak_bytes >= held.current_bytes);
  weft::device_free(gpu, a, 1000);
  const weft::MemoryStats freed = weft::memory_stats(gpu);
  CHECK(freed.current_bytes == before.current_bytes);
  CHECK(freed.cached_bytes == (caching ? 1024u : 0u));

  void* b = weft::device_allocate(gpu, 900);  // same size class
  if (caching) {
    CHECK(b == a);
  }
  weft::device_free(gpu, b, 900);
  weft::cuda::empty_cache(0);
  CHECK(weft::memory_stats(gpu).cached_bytes == 0);
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}

// copy_rows on the GPU (one cudaMemcpy2DAsync), through the tensor ops that use it: slice and
// concat along inner axes and their gradients, against the same ops on the CPU.
TEST_CASE("cuda runtime: slice and concat along inner axes match the CPU", "[gpu]") {
#ifdef WEFT_HAVE_CUDA
  if (!gpu_present()) return;
  const weft::Device gpu = weft::Device::cuda(0);
  std::vector<float> values(2 * 3 * 5 * 4);
  std::iota(values.begin(), values.end(), -7.0f);
  const weft::Tensor cpu = weft::Tensor::from_vector(values, {2, 3, 5, 4});
  const weft::Tensor cuda = cpu.to(gpu);
  for (int axis = 0; axis < 4; ++axis) {
    INFO("axis " << axis);
    const int64_t length = cpu.dim(axis);
    const weft::Tensor want = cpu.slice(axis, 1, length);
    CHECK(cuda.slice(axis, 1, length).to_vector<float>() == want.to_vector<float>());
    const std::vector<weft::Tensor> cpu_parts{cpu, want};
    const std::vector<weft::Tensor> cuda_parts{cuda, cuda.slice(axis, 1, length)};
    CHECK(weft::concat(cuda_parts, axis).to_vector<float>() ==
          weft::concat(cpu_parts, axis).to_vector<float>());
  }
  weft::Tensor leaf = cpu.to(gpu).detach();
  leaf.set_requires_grad(true);
  weft::sum(leaf.slice(3, 1, 3)).backward();
  const std::vector<float> grad = leaf.grad().to_vector<float>();
  for (size_t i = 0; i < grad.size(); ++i) {
    const size_t w = i % 4;
    CHECK(grad[i] == (w == 1 || w == 2 ? 1.0f : 0.0f));
  }
#else
  WARN("SKIPPED: this weft was built without CUDA");
#endif
}
