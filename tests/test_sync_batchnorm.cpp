// Synchronised batch norm in one process (kernels/params.h BatchNormSync): two ranks simulated by
// an exchange that replays what the other rank contributed. Each rank's half of a batch, run
// through the cpu and emu (hand CUDA) kernels with the exchange, must give the statistics of the
// whole batch: its half of y and dx, the whole batch's save_mean, save_invstd and running
// statistics, and dgamma / dbeta that add up to the whole batch's. The runs with real ranks are
// in tests/mpi/ (label mpi).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/params.h"

using namespace weft;

namespace {

constexpr int kRanks = 2;

// Two ranks in one process. Recording: each exchange keeps the buffer the rank passed in (its
// own contribution). Replaying: each exchange adds the other ranks' recorded contributions, as
// the sum over ranks would.
struct SimulatedRanks {
  std::vector<std::vector<double>> recorded = std::vector<std::vector<double>>(kRanks);
  int rank = 0;
  bool replay = false;
  int exchanges = 0;
};

void simulated_exchange(void* context, double* data, int64_t count, void*) {
  auto* ranks = static_cast<SimulatedRanks*>(context);
  ++ranks->exchanges;
  if (!ranks->replay) {
    ranks->recorded[ranks->rank].assign(data, data + count);
    return;
  }
  for (int r = 0; r < kRanks; ++r) {
    if (r == ranks->rank) continue;
    REQUIRE(static_cast<int64_t>(ranks->recorded[r].size()) == count);
    for (int64_t i = 0; i < count; ++i) data[i] += ranks->recorded[r][i];
  }
}

struct Channels {
  std::vector<float> mean, invstd, running_mean, running_var, dgamma, dbeta;
  explicit Channels(int c)
      : mean(c), invstd(c), running_mean(c, 0.5f), running_var(c, 2.0f), dgamma(c), dbeta(c) {}
};

double largest_difference(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

}  // namespace

TEST_CASE("sync batch norm: two simulated ranks compute the whole batch's statistics",
          "[distributed][batchnorm]") {
  const int batch = 3, channels = 4, spatial = 5;  // per rank
  const size_t half = static_cast<size_t>(batch) * channels * spatial;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> spread(-1.0f, 1.0f);
  std::vector<float> x(2 * half), dy(2 * half), gamma(channels), beta(channels);
  // A mean of 100 next to a spread of 1 (and a different offset per rank's half): the moments
  // merge must not lose the spread.
  for (size_t i = 0; i < x.size(); ++i) x[i] = 100.0f + (i < half ? 0.0f : 0.5f) + spread(rng);
  for (float& v : dy) v = spread(rng);
  for (int c = 0; c < channels; ++c) {
    gamma[c] = 1.0f + 0.1f * static_cast<float>(c);
    beta[c] = 0.1f * static_cast<float>(c);
  }

  for (Backend* backend : {&cpu_backend(), &emu_backend()}) {
    INFO("backend " << backend->name());
    // The whole batch in one call, unsynchronised.
    BatchNormParams whole;
    whole.batch = 2 * batch;
    whole.channels = channels;
    whole.spatial = spatial;
    std::vector<float> y_whole(2 * half), dx_whole(2 * half);
    Channels w(channels);
    backend->batch_norm_forward_train(whole, x.data(), gamma.data(), beta.data(), y_whole.data(),
                                      w.mean.data(), w.invstd.data(), w.running_mean.data(),
                                      w.running_var.data());
    backend->batch_norm_backward(whole, dy.data(), x.data(), nullptr, gamma.data(), w.mean.data(),
                                 w.invstd.data(), dx_whole.data(), w.dgamma.data(), w.dbeta.data());

    // Each rank's half, synchronised: record every rank's contribution, then replay.
    SimulatedRanks ranks;
    BatchNormSync sync;
    sync.ranks = kRanks;
    sync.context = &ranks;
    sync.exchange = simulated_exchange;
    BatchNormParams p = whole;
    p.batch = batch;
    p.sync = &sync;
    std::vector<Channels> per_rank(kRanks, Channels(channels));
    std::vector<float> y(2 * half), dx(2 * half);
    for (bool replay : {false, true}) {
      ranks.replay = replay;
      for (int r = 0; r < kRanks; ++r) {
        ranks.rank = sync.rank = r;
        Channels& c = per_rank[r];
        c = Channels(channels);
        backend->batch_norm_forward_train(p, x.data() + r * half, gamma.data(), beta.data(),
                                          y.data() + r * half, c.mean.data(), c.invstd.data(),
                                          c.running_mean.data(), c.running_var.data());
      }
    }
    for (bool replay : {false, true}) {
      ranks.replay = replay;
      for (int r = 0; r < kRanks; ++r) {
        ranks.rank = sync.rank = r;
        Channels& c = per_rank[r];
        backend->batch_norm_backward(p, dy.data() + r * half, x.data() + r * half, nullptr,
                                     gamma.data(), c.mean.data(), c.invstd.data(),
                                     dx.data() + r * half, c.dgamma.data(), c.dbeta.data());
      }
    }
    CHECK(ranks.exchanges == 4 * kRanks);

    CHECK(largest_difference(y.data(), y_whole.data(), y.size()) < 1e-4);
    CHECK(largest_difference(dx.data(), dx_whole.data(), dx.size()) < 1e-4);
    for (int r = 0; r < kRanks; ++r) {
      const Channels& c = per_rank[r];
      CHECK(largest_difference(c.mean.data(), w.mean.data(), channels) < 1e-5);
      CHECK(largest_difference(c.invstd.data(), w.invstd.data(), channels) < 1e-4);
      CHECK(largest_difference(c.running_mean.data(), w.running_mean.data(), channels) < 1e-5);
      CHECK(largest_difference(c.running_var.data(), w.running_var.data(), channels) < 1e-5);
      // Every rank merges the same slots in the same order: bit-identical statistics.
      CHECK(c.mean == per_rank[0].mean);
      CHECK(c.running_var == per_rank[0].running_var);
    }
    std::vector<float> dgamma_sum(channels), dbeta_sum(channels);
    for (int c = 0; c < channels; ++c) {
      dgamma_sum[c] = per_rank[0].dgamma[c] + per_rank[1].dgamma[c];
      dbeta_sum[c] = per_rank[0].dbeta[c] + per_rank[1].dbeta[c];
    }
    CHECK(largest_difference(dgamma_sum.data(), w.dgamma.data(), channels) < 1e-4);
    CHECK(largest_difference(dbeta_sum.data(), w.dbeta.data(), channels) < 1e-4);

    // Per-rank statistics (no exchange) differ from the whole batch's: the check can fail.
    BatchNormParams own = p;
    own.sync = nullptr;
    Channels alone(channels);
    std::vector<float> y_alone(half);
    backend->batch_norm_forward_train(own, x.data() + half, gamma.data(), beta.data(),
                                      y_alone.data(), alone.mean.data(), alone.invstd.data(),
                                      alone.running_mean.data(), alone.running_var.data());
    CHECK(largest_difference(alone.mean.data(), w.mean.data(), channels) > 0.1);
  }
}
