// The bookkeeping of a caching device pool, shared by the CUDA allocator
// (kernels/cuda_runtime/runtime.cu) and the emulated device's (kernels/emu_memory.cpp): which
// blocks exist and their size classes (pool_block_size), which are free, the byte counters, and
// graph-private pools. The owner does the driver calls and the locking; BlockPool only keeps
// books.
//
// Graph-private pools. A captured graph (engine/graph.h) replays its kernels on the addresses
// they had at capture, so every block used during a capture must stay reserved for that graph
// while it lives: handing one to other work would let a replay overwrite it. So while a private
// pool is open (open_private(id)), blocks are taken from and created in that pool only, and a
// block of that pool, when freed - during the capture or at any time after it - returns to that
// pool's free list, where only the same graph's later captures can find it. Reuse within a
// capture is safe for the same reason it is on one stream: the graph's nodes run in capture
// order. dissolve(id), when the graph is destroyed, hands the pool's free blocks to the shared
// pool and lets its blocks still in use return there when freed.
#pragma once

#include <cstddef>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/memory_stats.h"

namespace weft {

class BlockPool {
 public:
  static constexpr int kShared = 0;

  // A cached block of size class `size` from the open pool (counted as a pool hit), or null.
  void* take(size_t size);
  // A block just obtained from the driver: it belongs to the open pool and is now in use.
  void add_new(void* block, size_t size);
  // Marks `block` free in its own pool; returns its size class, or 0 when the pool does not
  // own it.
  size_t give_back(void* block);
  // Drops `block` from the books (in use, about to be given back to the driver); returns its
  // size class, or 0 when the pool does not own it.
  size_t forget(void* block);

  // The pool a block belongs to (kShared or a graph's id), or -1 when the pool does not own it;
  // the pool that takes and creates blocks now.
  int pool_of(void* block) const {
    const auto found = blocks_.find(block);
    return found == blocks_.end() ? -1 : found->second.pool;
  }
  int open_pool() const { return open_; }

  void open_private(int id) { open_ = id; }
  void close_private() { open_ = kShared; }
  void dissolve(int id);

  // Removes up to `bytes` (all, by default) of the shared pool's free blocks, largest first, and
  // returns them for the owner to give back to the driver.
  std::vector<std::pair<void*, size_t>> evict_shared(size_t bytes = static_cast<size_t>(-1));

  MemoryStats& stats() { return stats_; }

 private:
  struct Block {
    size_t size = 0;
    int pool = kShared;
  };
  int open_ = kShared;
  std::map<int, std::multimap<size_t, void*>> free_;  // pool -> size class -> block
  std::unordered_map<void*, Block> blocks_;          // every block handed out or cached
  MemoryStats stats_;
};

}  // namespace weft
