// The emulated device's caching pool (see emu_memory.h).
#include "kernels/emu_memory.h"

#include <cstdlib>
#include <mutex>

#include "kernels/block_pool.h"
#include "kernels/error.h"

namespace weft::emu_memory {
namespace {

// Freed blocks kept in the shared pool; beyond it the pool gives memory back to the system,
// largest blocks first (an emulated step is small, so this is rarely reached).
constexpr size_t kCacheLimit = size_t{1} << 30;

struct Pool {
  std::mutex mutex;
  BlockPool books;
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
  if (void* block = p.books.take(size)) return block;
  void* block = std::aligned_alloc(256, size);  // cudaMalloc's alignment
  if (block == nullptr) {
    throw OutOfMemory("emu is out of memory: " + std::to_string(size >> 20) + " MiB needed, " +
                      std::to_string(p.books.stats().current_bytes >> 20) +
                      " MiB held by tensors");
  }
  p.books.add_new(block, size);
  return block;
}

void release(void* pointer, size_t) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  WEFT_CHECK(p.books.give_back(pointer) != 0, "emu: freeing a block the pool does not own");
  const MemoryStats& s = p.books.stats();
  if (s.cached_bytes > kCacheLimit) {
    for (const auto& [block, size] : p.books.evict_shared(s.cached_bytes - kCacheLimit)) {
      std::free(block);
    }
  }
}

MemoryStats stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.books.stats();
}

void reset_peak() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.books.stats().peak_bytes = p.books.stats().current_bytes;
}

void open_private_pool(int id) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.books.open_private(id);
}

void close_private_pool() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.books.close_private();
}

void dissolve_private_pool(int id) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.books.dissolve(id);
}

}  // namespace weft::emu_memory
