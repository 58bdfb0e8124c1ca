// The books of a caching device pool and its graph-private pools (see block_pool.h).
#include "kernels/block_pool.h"

#include <iterator>

#include "kernels/runtime_counters.h"

namespace weft {

void* BlockPool::take(size_t size) {
  auto pool = free_.find(open_);
  if (pool == free_.end()) return nullptr;
  auto found = pool->second.find(size);
  if (found == pool->second.end()) return nullptr;
  void* block = found->second;
  pool->second.erase(found);
  stats_.cached_bytes -= size;
  stats_.current_bytes += size;
  if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
  count::allocation(true);
  return block;
}

void BlockPool::add_new(void* block, size_t size) {
  count::allocation(false);
  blocks_[block] = Block{size, open_};
  stats_.current_bytes += size;
  if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
}

size_t BlockPool::give_back(void* block) {
  auto owned = blocks_.find(block);
  if (owned == blocks_.end()) return 0;
  const Block& b = owned->second;
  stats_.current_bytes -= b.size;
  stats_.cached_bytes += b.size;
  free_[b.pool].emplace(b.size, block);
  return b.size;
}

size_t BlockPool::forget(void* block) {
  auto owned = blocks_.find(block);
  if (owned == blocks_.end()) return 0;
  const size_t size = owned->second.size;
  stats_.current_bytes -= size;
  blocks_.erase(owned);
  return size;
}

void BlockPool::dissolve(int id) {
  if (id == kShared) return;
  for (auto& [block, b] : blocks_) {
    if (b.pool == id) b.pool = kShared;
  }
  auto pool = free_.find(id);
  if (pool == free_.end()) return;
  free_[kShared].insert(pool->second.begin(), pool->second.end());
  free_.erase(id);
}

std::vector<std::pair<void*, size_t>> BlockPool::evict_shared(size_t bytes) {
  std::vector<std::pair<void*, size_t>> evicted;
  auto pool = free_.find(kShared);
  if (pool == free_.end()) return evicted;
  size_t freed = 0;
  while (!pool->second.empty() && freed < bytes) {
    auto largest = std::prev(pool->second.end());
    evicted.emplace_back(largest->second, largest->first);
    freed += largest->first;
    stats_.cached_bytes -= largest->first;
    blocks_.erase(largest->second);
    pool->second.erase(largest);
  }
  return evicted;
}

}  // namespace weft
