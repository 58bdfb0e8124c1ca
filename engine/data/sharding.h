// Which samples of an epoch each rank of a data-parallel run trains on.
//
// Every rank computes the same seeded permutation of the epoch. The epoch is cut into global
// batches of batch_size x world_size consecutive positions, and rank r takes the r-th equal
// slice of each global batch. So one step of N ranks with batch B sees exactly the samples one
// process with batch N x B sees in that step, in the same order: averaged gradients match the
// single process's (tests/test_distributed.cpp checks it), and the loss of a step is the mean
// over its global batch.
//
// Equal shards: the last (n mod world_size) positions of each epoch's permutation are left out,
// so every rank has floor(n / world_size) samples and the same number of steps (a rank with one
// step more would wait forever for the others in the gradient exchange). Fewer than world_size
// samples are dropped per epoch, and since the permutation changes every epoch it is a
// different few each time; padding with repeats instead would count those samples twice in
// the gradient. The last global batch may be short; it is split equally too.
#pragma once

#include <cstdint>
#include <vector>

namespace weft::data {

struct Shard {
  int rank = 0;
  int count = 1;  // world size
};

// The positions (0 .. n-1, into the epoch's permutation) that `shard` trains on, in order,
// for a per-rank batch of `batch_size`. The whole range when shard.count is 1.
std::vector<int64_t> shard_positions(int64_t n, int64_t batch_size, const Shard& shard);

// Steps of one epoch for the shard (per-step schedules count them): ceil((n - n mod ranks) /
// ranks / batch_size), the same on every rank.
int64_t shard_steps(int64_t n, int64_t batch_size, const Shard& shard);

// `order` restricted to the shard: order[p] for each p in shard_positions.
std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int64_t batch_size,
                                 const Shard& shard);

}  // namespace weft::data
