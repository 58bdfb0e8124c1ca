// Tests of engine/allocator.h on the CPU: byte counters, and the cache that keeps freed blocks
// of 32 MiB or more for the next allocation of the same size (none under AddressSanitizer).
#include <catch2/catch.hpp>

#include <cstring>

#include "engine/allocator.h"

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
