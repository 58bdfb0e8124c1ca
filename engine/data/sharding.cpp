// Equal shards of an epoch for the ranks of a data-parallel run (see sharding.h).
#include "engine/data/sharding.h"

#include <algorithm>

#include "kernels/error.h"

namespace weft::data {

std::vector<int64_t> shard_positions(int64_t n, int64_t batch_size, const Shard& shard) {
  WEFT_CHECK(n >= 0, "shard_positions: n must be >= 0, got ", n);
  WEFT_CHECK(batch_size > 0, "shard_positions: batch size must be positive, got ", batch_size);
  WEFT_CHECK(shard.count >= 1 && shard.rank >= 0 && shard.rank < shard.count,
             "shard_positions: rank ", shard.rank, " of ", shard.count,
             " ranks (expected 0 <= rank < ranks)");
  const int64_t ranks = shard.count;
  const int64_t usable = n - n % ranks;
  const int64_t global_batch = batch_size * ranks;
  std::vector<int64_t> positions;
  positions.reserve(static_cast<size_t>(usable / ranks));
  for (int64_t start = 0; start < usable; start += global_batch) {
    const int64_t slice = std::min(global_batch, usable - start) / ranks;
    const int64_t first = start + shard.rank * slice;
    for (int64_t k = 0; k < slice; ++k) positions.push_back(first + k);
  }
  return positions;
}

int64_t shard_steps(int64_t n, int64_t batch_size, const Shard& shard) {
  WEFT_CHECK(batch_size > 0 && shard.count >= 1, "shard_steps: batch size ", batch_size,
             " and ", shard.count, " ranks must be positive");
  const int64_t per_rank = n / shard.count;
  return (per_rank + batch_size - 1) / batch_size;
}

std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int64_t batch_size,
                                 const Shard& shard) {
  if (shard.count == 1) return order;
  std::vector<int64_t> mine;
  for (const int64_t p : shard_positions(static_cast<int64_t>(order.size()), batch_size, shard)) {
    mine.push_back(order[static_cast<size_t>(p)]);
  }
  return mine;
}

}  // namespace weft::data
