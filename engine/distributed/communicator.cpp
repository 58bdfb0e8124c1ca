// The world communicator: launch detection from the environment, the single-process
// communicator, and init/shutdown (see communicator.h).
#include "engine/distributed/communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

#include "engine/distributed/gradient_reducer.h"
#include "engine/distributed/sync_batchnorm.h"
#include "engine/train/interrupt.h"
#include "kernels/error.h"

namespace weft::dist {

namespace {

// A run of one: every collective leaves its input as it is.
class SingleProcess : public Communicator {
 public:
  explicit SingleProcess(const Placement& placement) { placement_ = placement; }
  std::string transport() const override { return "single process"; }
  void allreduce_sum(float*, int64_t, const std::string&) override {}
  void allreduce_sum(double*, int64_t, const std::string&) override {}
  void allreduce_max(int64_t*, int64_t, const std::string&) override {}
  int64_t start_allreduce_sum(float*, int64_t, const std::string&) override { return 0; }
  void wait(int64_t) override {}
  void progress() override {}
  void broadcast(void*, int64_t, int, const std::string&) override {}
  void barrier(const std::string&) override {}
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> communicator = std::make_unique<SingleProcess>(Placement{});
  return communicator;
}

// The integer in environment variable `name`, or -1 when it is not set.
int environment_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return -1;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  WEFT_CHECK(end != nullptr && *end == '\0' && value >= 0 && value < (1L << 30), "environment variable ",
             name, "='", text, "' is not a rank or size (a non-negative integer)");
  return static_cast<int>(value);
}

// The first of `names` that is set, or -1.
int first_set(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const int value = environment_int(name);
    if (value >= 0) return value;
  }
  return -1;
}

}  // namespace

std::string Communicator::who() const {
  return "rank " + std::to_string(rank()) + " of " + std::to_string(world_size());
}

Placement placement_from_environment() {
  Placement p;
  const int size = first_set({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"});
  if (size <= 1) return p;
  p.world_size = size;
  p.rank = std::max(0, first_set({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}));
  p.local_rank = std::max(0, first_set({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"}));
  p.local_size = std::max(1, first_set({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}));
  WEFT_CHECK(p.rank < p.world_size, "the launcher says rank ", p.rank, " of ", p.world_size,
             " ranks: the rank must be smaller than the number of ranks");
  return p;
}

double collective_timeout_seconds() {
  const char* text = std::getenv("WEFT_DIST_TIMEOUT_S");
  if (text == nullptr || *text == '\0') return 300.0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  WEFT_CHECK(end != nullptr && *end == '\0' && value > 0, "WEFT_DIST_TIMEOUT_S='", text,
             "' must be a positive number of seconds");
  return value;
}

void init([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
  const Placement launch = placement_from_environment();
  if (launch.world_size <= 1) return;
#ifdef WEFT_HAVE_MPI
  world_slot() = make_mpi_communicator(argc, argv);
#else
  throw Error("launched as rank " + std::to_string(launch.rank) + " of " +
              std::to_string(launch.world_size) +
              " ranks, but this weft was built without MPI (libopenmpi-dev was not found when "
              "cmake ran); install it (scripts/setup.sh) and rebuild, or run one process");
#endif
  // Every rank must stop at the same step: a signal on one rank is agreed on at the next
  // gradient exchange (engine/distributed/gradient_reducer.h).
  train::use_agreed_stop(true);
  if (world().rank() != 0) {
    const char* log_all = std::getenv("WEFT_DIST_LOG_ALL");
    if (log_all == nullptr || std::strcmp(log_all, "1") != 0) {
      std::fflush(stdout);
      if (std::freopen("/dev/null", "w", stdout) == nullptr) {
        std::fprintf(stderr, "weft: %s: could not silence stdout\n", world().who().c_str());
      }
    }
  }
}

void shutdown([[maybe_unused]] bool failed) {
  if (!distributed()) return;
  const char* profile = std::getenv("WEFT_DIST_PROFILE");
  if (profile != nullptr && std::strcmp(profile, "1") == 0) {
    const ExchangeTotals& totals = exchange_totals();
    std::fprintf(stderr,
                 "weft: %s: %lld gradient exchanges, %.3f s in them (%.2f ms each), %.1f MB of "
                 "gradients\n",
                 world().who().c_str(), static_cast<long long>(totals.steps),
                 totals.exchange_seconds,
                 totals.steps > 0 ? 1e3 * totals.exchange_seconds / static_cast<double>(totals.steps) : 0.0,
                 static_cast<double>(totals.bytes) / 1e6);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  train::use_agreed_stop(false);
#ifdef WEFT_HAVE_MPI
  if (failed) finalize_mpi(true);  // MPI_Abort: ends every rank, does not return
  release_sync_batchnorm();
  world_slot() = std::make_unique<SingleProcess>(Placement{});  // frees the MPI communicator
  finalize_mpi(false);
#endif
}

Communicator& world() { return *world_slot(); }

bool distributed() { return world().world_size() > 1; }

bool is_main() { return world().rank() == 0; }

data::Shard shard() { return {world().rank(), world().world_size()}; }

}  // namespace weft::dist
