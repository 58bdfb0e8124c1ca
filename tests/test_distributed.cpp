// Tests of the single-process parts of data-parallel training: the epoch shards
// (engine/data/sharding.h), the sharded Loader, the gradient-ready announcements of backward
// (engine/autograd.h) and the one-process communicator. The runs with several ranks are in
// tests/mpi/ (label mpi).
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <set>

#include "engine/autograd.h"
#include "engine/data/loader.h"
#include "engine/data/sharding.h"
#include "engine/distributed/communicator.h"
#include "engine/ops.h"
#include "kernels/error.h"

using namespace weft;

namespace {

// The positions rank `rank` trains on in step `step`, per-rank batch `batch`.
std::vector<int64_t> step_of(const std::vector<int64_t>& positions, int64_t batch, int64_t step) {
  const auto begin = positions.begin() + std::min<int64_t>(step * batch, positions.size());
  const auto end = positions.begin() + std::min<int64_t>((step + 1) * batch, positions.size());
  return {begin, end};
}

}  // namespace

TEST_CASE("shards: N ranks x batch B see, step by step, what one process with batch N*B sees") {
  for (const int64_t n : {0, 1, 7, 64, 67, 100}) {
    for (const int ranks : {1, 2, 3, 4}) {
      const int64_t batch = 4;
      const std::vector<int64_t> whole = data::shard_positions(n - n % ranks, batch * ranks, {});
      std::vector<std::vector<int64_t>> shards;
      for (int r = 0; r < ranks; ++r) shards.push_back(data::shard_positions(n, batch, {r, ranks}));
      for (const auto& shard : shards) {
        INFO("n " << n << ", ranks " << ranks);
        CHECK(shard.size() == static_cast<size_t>(n / ranks));  // equal shards
      }
      const int64_t steps = (n / ranks + batch - 1) / batch;
      CHECK(data::shard_steps(n, batch, {0, ranks}) == steps);
      for (int64_t s = 0; s < steps; ++s) {
        std::vector<int64_t> joined;
        for (const auto& shard : shards) {
          const std::vector<int64_t> part = step_of(shard, batch, s);
          joined.insert(joined.end(), part.begin(), part.end());
        }
        INFO("n " << n << ", ranks " << ranks << ", step " << s);
        CHECK(joined == step_of(whole, batch * ranks, s));
      }
    }
  }
}

TEST_CASE("shards: the remainder is dropped, each sample of the rest goes to one rank") {
  const int64_t n = 23;
  std::set<int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    for (const int64_t p : data::shard_positions(n, 2, {r, 3})) CHECK(seen.insert(p).second);
  }
  CHECK(seen.size() == 21);
  CHECK(*seen.rbegin() == 20);  // positions 21 and 22 (23 mod 3 = 2 of them) are left out
  const std::vector<int64_t> order = {9, 8, 7, 6, 5};
  // Global batches {9, 8} and {7, 6}; rank 1 takes the second of each; 5 is the remainder.
  CHECK(data::shard_order(order, 1, {1, 2}) == std::vector<int64_t>{8, 6});
  CHECK_THROWS_WITH(data::shard_positions(10, 2, {2, 2}),
                    Catch::Contains("rank 2 of 2 ranks (expected 0 <= rank < ranks)"));
}

TEST_CASE("sharded loader: two ranks' batches, joined, are the one-process batches") {
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  const int64_t n = 21;
  for (int64_t i = 0; i < n; ++i) {
    pixels.insert(pixels.end(), 9, static_cast<uint8_t>(i * 10));
    labels.push_back(static_cast<int32_t>(i % 3));
  }
  data::Transform transform;
  transform.augment = data::AugmentOptions{};
  transform.augment->horizontal_flip = true;
  transform.augment->rotation_degrees = 30;
  auto dataset = std::make_shared<data::ImageDataset>(Tensor::from_vector(pixels, {n, 1, 3, 3}),
                                                      Tensor::from_vector(labels, {n}),
                                                      std::vector<int64_t>{}, transform);
  data::Loader whole(dataset, {.batch_size = 6, .shuffle = true, .seed = 3});
  data::Loader rank0(dataset, {.batch_size = 3, .shuffle = true, .workers = 1, .seed = 3});
  data::Loader rank1(dataset, {.batch_size = 3, .shuffle = true, .seed = 3});
  whole.start_epoch(2);
  rank0.start_epoch(2, {0, 2});
  rank1.start_epoch(2, {1, 2});
  CHECK(rank0.batches_per_epoch() == 4);  // 10 samples each: 3 + 3 + 3 + 1
  int64_t steps = 0;
  while (auto expected = whole.next()) {
    auto a = rank0.next();
    auto b = rank1.next();
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    std::vector<float> joined = a->inputs.to_vector<float>();
    const std::vector<float> second = b->inputs.to_vector<float>();
    joined.insert(joined.end(), second.begin(), second.end());
    std::vector<float> reference = expected->inputs.to_vector<float>();
    // The last step: the whole loader has positions 18-20, the shards 18-19 (21 mod 2 dropped).
    if (steps == 3) reference.resize(joined.size());
    CHECK(joined == reference);
    ++steps;
  }
  CHECK(steps == 4);
  CHECK_FALSE(rank0.next().has_value());
}

TEST_CASE("backward announces each leaf once, when its gradient is final, last layers first") {
  Tensor w1 = Tensor::full({2, 2}, 0.5f).set_requires_grad();
  Tensor w2 = Tensor::full({2, 2}, 2.0f).set_requires_grad();
  Tensor shared = Tensor::full({2, 2}, 1.0f).set_requires_grad();
  std::vector<std::pair<TensorImpl*, std::vector<float>>> announced;
  const int id = add_gradient_ready_hook([&](TensorImpl* leaf) {
    announced.emplace_back(leaf, leaf->grad.defined() ? leaf->grad.to_vector<float>()
                                                      : std::vector<float>{});
  });
  // shared is used twice: early (with w1) and late (with w2); its gradient is final only after
  // the early use's node, which backward reaches last.
  const Tensor hidden = mul(mul(shared, w1), shared);
  const Tensor out = sum(mul(hidden, w2));
  out.backward();
  remove_gradient_ready_hook(id);
  REQUIRE(announced.size() == 3);
  CHECK(announced[0].first == w2.impl());
  std::set<TensorImpl*> leaves;
  for (const auto& [leaf, grad] : announced) {
    leaves.insert(leaf);
    CHECK(grad == leaf->grad.to_vector<float>());  // nothing was added after the announcement
  }
  CHECK(leaves == std::set<TensorImpl*>{w1.impl(), w2.impl(), shared.impl()});
  // shared's gradient: d/ds (s * w1 * s * w2) = 2 s w1 w2 = 2.
  CHECK(shared.grad().to_vector<float>() == std::vector<float>(4, 2.0f));
  announced.clear();
  Tensor again = sum(mul(w1, w2));
  again.backward();
  CHECK(announced.empty());  // a removed hook hears nothing
}

TEST_CASE("one process: the world is rank 0 of 1 and its collectives leave values alone") {
  CHECK_FALSE(dist::distributed());
  CHECK(dist::is_main());
  CHECK(dist::world().who() == "rank 0 of 1");
  double values[2] = {1.5, -2.0};
  dist::world().allreduce_sum(values, 2, "test");
  CHECK(values[0] == 1.5);
  CHECK(values[1] == -2.0);
  CHECK(dist::shard().count == 1);
}
