// The emulated device's caching pool (see emu_memory.h).
#include "engine/emu_memory.h"

#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>

#include "kernels/error.h"
#include "kernels/runtime_counters.h"

namespace weft::emu_memory {
namespace {

// Freed blocks kept in all; beyond it the pool gives memory back to the system, oldest size
// blocks first (an emulated step is small, so this is rarely reached).
constexpr size_t kCacheLimit = size_t{1} << 30;

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;         // size class -> block
  std::unordered_map<void*, size_t> block_sizes;    // every block handed out or cached
  MemoryStats stats;
};

Pool& pool() {
  static Pool* instance = new Pool;  // never destroyed: tensors may be freed by static destructors
  return *instance;
}

}  // namespace

void* allocate(size_t bytes) {
  const size_t size = pool_block_size(bytes);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  void* block = nullptr;
  auto found = p.free_blocks.find(size);
  if (found != p.free_blocks.end()) {
    block = found->second;
    p.free_blocks.erase(found);
    p.stats.cached_bytes -= size;
    count::allocation(true);
  } else {
    count::allocation(false);
    block = std::aligned_alloc(256, size);  // cudaMalloc's alignment
    if (block == nullptr) {
      throw OutOfMemory("emu is out of memory: " + std::to_string(size >> 20) + " MiB needed, " +
                        std::to_string(p.stats.current_bytes >> 20) + " MiB held by tensors");
    }
    p.block_sizes[block] = size;
  }
  p.stats.current_bytes += size;
  if (p.stats.current_bytes > p.stats.peak_bytes) p.stats.peak_bytes = p.stats.current_bytes;
  return block;
}

void release(void* pointer, size_t) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto owned = p.block_sizes.find(pointer);
  WEFT_CHECK(owned != p.block_sizes.end(), "emu: freeing a block the pool does not own");
  const size_t size = owned->second;
  p.stats.current_bytes -= size;
  while (!p.free_blocks.empty() && p.stats.cached_bytes + size > kCacheLimit) {
    auto oldest = std::prev(p.free_blocks.end());
    p.stats.cached_bytes -= oldest->first;
    p.block_sizes.erase(oldest->second);
    std::free(oldest->second);
    p.free_blocks.erase(oldest);
  }
  p.free_blocks.emplace(size, pointer);
  p.stats.cached_bytes += size;
}

MemoryStats stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void reset_peak() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.peak_bytes = p.stats.current_bytes;
}

}  // namespace weft::emu_memory
