// The emulated device's caching pool (see emu_memory.h).
#include "kernels/emu_memory.h"

#include <sanitizer/asan_interface.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_set>

#include "kernels/block_pool.h"
#include "kernels/error.h"
#include "kernels/guarded_memory.h"

namespace weft::emu_memory {
namespace {

// Freed blocks kept in the shared pool; beyond it the pool gives memory back to the system,
// largest blocks first (an emulated step is small, so this is rarely reached).
constexpr size_t kCacheLimit = size_t{1} << 30;

struct Pool {
  std::mutex mutex;
  BlockPool books;
  std::unordered_set<void*> unguarded;  // blocks from aligned_alloc (see map_block)
};

Pool& pool() {
  static Pool* instance = new Pool;  // never destroyed: tensors may be freed by static destructors
  return *instance;
}

// Under AddressSanitizer (make test-asan) a block of the shared pool is addressable only up to
// the bytes asked for, and not at all while it waits in the pool: an emulated kernel that reads
// or writes past its buffer, or a buffer already freed, is reported as on the host, where the
// pool's rounding and caching would hide it (what compute-sanitizer's memcheck sees under
// WEFT_CUDA_NO_CACHE=1 on a GPU). A graph's private pool stays addressable whole: a replay
// writes, by design, into blocks its capture freed and handed out again for other sizes.
// Without ASan these are no-ops.
void hand_out(const BlockPool& books, void* block, size_t size, size_t bytes) {
  if (books.open_pool() != BlockPool::kShared) {
    ASAN_UNPOISON_MEMORY_REGION(block, size);
    return;
  }
  ASAN_POISON_MEMORY_REGION(block, size);
  ASAN_UNPOISON_MEMORY_REGION(block, bytes);
}

// Each block is its own mapping before a page with no access (guarded_memory.h): an emulated
// kernel that writes or reads past the block's rounded size faults at once. Sizes are multiples
// of 512, so the block keeps cudaMalloc's 256-byte alignment and ends at the guard page. Where
// the system refuses another mapping (vm.max_map_count), the block comes from aligned_alloc
// without a guard.
constexpr size_t kAlignment = 256;

void* map_block(Pool& p, size_t size) {
  if (void* block = guarded_memory::map(size, kAlignment)) return block;
  void* block = std::aligned_alloc(kAlignment, size);
  if (block != nullptr) p.unguarded.insert(block);
  return block;
}

void unmap_block(Pool& p, void* block, size_t size) {
  if (p.unguarded.erase(block) != 0) {
    std::free(block);
  } else {
    guarded_memory::unmap(block, size, kAlignment);
  }
}

}  // namespace

void* allocate(size_t bytes) {
  const size_t size = pool_block_size(bytes);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (void* block = p.books.take(size)) {
    hand_out(p.books, block, size, bytes);
    return block;
  }
  void* block = map_block(p, size);
  if (block == nullptr) {
    throw OutOfMemory("emu is out of memory: " + std::to_string(size >> 20) + " MiB needed, " +
                      std::to_string(p.books.stats().current_bytes >> 20) +
                      " MiB held by tensors");
  }
  p.books.add_new(block, size);
  hand_out(p.books, block, size, bytes);
  return block;
}

void release(void* pointer, size_t) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  const bool shared = p.books.pool_of(pointer) == BlockPool::kShared;
  const size_t size = p.books.give_back(pointer);
  WEFT_CHECK(size != 0, "emu: freeing a block the pool does not own");
  if (shared) ASAN_POISON_MEMORY_REGION(pointer, size);
  const MemoryStats& s = p.books.stats();
  if (s.cached_bytes > kCacheLimit) {
    for (const auto& [block, bytes] : p.books.evict_shared(s.cached_bytes - kCacheLimit)) {
      ASAN_UNPOISON_MEMORY_REGION(block, bytes);
      unmap_block(p, block, bytes);
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
