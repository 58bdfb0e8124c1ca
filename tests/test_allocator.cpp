// Tests of engine/allocator.h on the CPU: byte counters, and the cache that keeps freed blocks
// of 32 MiB or more for the next allocation of the same size (none under AddressSanitizer); and,
// under AddressSanitizer, the emulated device's pool marking what lies past a buffer.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "engine/allocator.h"
#include "engine/tensor.h"
#include "kernels/emu_memory.h"
#include "kernels/runtime_counters.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

TEST_CASE("emu memory under AddressSanitizer: a block is addressable up to the bytes asked for, "
          "and not at all in the pool", "[allocator][emu]") {
  const auto poisoned = [](const void* at) { return __asan_address_is_poisoned(at) != 0; };
  auto* block = static_cast<unsigned char*>(weft::emu_memory::allocate(100));
  CHECK_FALSE(poisoned(block));
  CHECK_FALSE(poisoned(block + 99));
  CHECK(poisoned(block + 100));  // the pool's block is 512 bytes; the rest is not the buffer's
  CHECK(poisoned(block + 511));
  weft::emu_memory::release(block, 100);
  CHECK(poisoned(block));  // freed into the pool: a use after free is reported
  auto* again = static_cast<unsigned char*>(weft::emu_memory::allocate(200));  // from the pool
  CHECK_FALSE(poisoned(again + 199));
  CHECK(poisoned(again + 200));
  weft::emu_memory::release(again, 200);
}
#endif

TEST_CASE("CPU allocator counts bytes and reuses large freed blocks", "[allocator]") {
  const weft::Device cpu = weft::Device::cpu();
  const size_t large = size_t{40} << 20;
  const weft::MemoryStats start = weft::memory_stats(cpu);

  void* first = weft::device_allocate(cpu, large);
  std::memset(first, 1, large);
  CHECK(weft::memory_stats(cpu).current_bytes == start.current_bytes + large);
  CHECK(weft::memory_stats(cpu).peak_bytes >= start.current_bytes + large);
  weft::device_free(cpu, first, large);
  const weft::MemoryStats freed = weft::memory_stats(cpu);
  CHECK(freed.current_bytes == start.current_bytes);

  void* second = weft::device_allocate(cpu, large);
#ifndef __SANITIZE_ADDRESS__
  CHECK(freed.cached_bytes >= large);
  CHECK(second == first);
  CHECK(weft::memory_stats(cpu).cached_bytes == freed.cached_bytes - large);
#endif
  weft::device_free(cpu, second, large);

  // Small blocks go straight back to malloc and are never counted as cached.
  const size_t cached_before = weft::memory_stats(cpu).cached_bytes;
  void* small = weft::device_allocate(cpu, 4096);
  weft::device_free(cpu, small, 4096);
  CHECK(weft::memory_stats(cpu).cached_bytes == cached_before);
}

TEST_CASE("runtime counters: the emulated device counts copies, host syncs, memsets and pool hits") {
  using weft::Device;
  using weft::Tensor;
  const weft::RuntimeCounters start = weft::runtime_counters();
  {
    const Tensor host = Tensor::full({1000}, 2.0f);
    const Tensor on_emu = host.to(Device::emu());  // a new block from the "driver", an upload
    CHECK(on_emu.device() == Device::emu());
    Tensor copy = on_emu.clone();                  // within the device
    copy.zero_();
    CHECK(copy.to_vector<float>() == std::vector<float>(1000, 0.0f));  // a download waits
    CHECK(on_emu.to_vector<float>() == std::vector<float>(1000, 2.0f));
  }
  const Tensor again = Tensor::empty({1000}, weft::DType::f32, Device::emu());  // freed block
  const weft::RuntimeCounters d = weft::runtime_counters() - start;
  CHECK(d.h2d_copies == 1);
  CHECK(d.h2d_bytes == 4000);
  CHECK(d.d2h_copies == 2);
  CHECK(d.d2h_bytes == 8000);
  CHECK(d.host_syncs == 2);
  CHECK(d.d2d_copies == 1);
  CHECK(d.memsets == 1);
  CHECK(d.driver_allocs >= 1);
  CHECK(d.cache_hits >= 1);
  CHECK(d.launches == 0);
  // The CPU device counts nothing.
  const weft::RuntimeCounters before_cpu = weft::runtime_counters();
  const Tensor a = Tensor::full({10}, 1.0f);
  CHECK(a.clone().to_vector<float>().size() == 10);
  const weft::RuntimeCounters cpu = weft::runtime_counters() - before_cpu;
  CHECK(cpu.h2d_copies + cpu.d2h_copies + cpu.d2d_copies + cpu.host_syncs + cpu.memsets == 0);
  CHECK(cpu.str().rfind("launches 0, ", 0) == 0);
}
