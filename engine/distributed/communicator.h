// The ranks of a data-parallel run and how they talk: which rank this process is, how many
// there are, and the few collectives training needs (sum, max, broadcast) on host memory.
//
// One process per rank, started by `mpirun -np N build/weft-<app> ...`. init() reads the launch
// from the environment Open MPI (OMPI_COMM_WORLD_*), MPICH/PMI (PMI_SIZE) or PMIx (PMIX_RANK)
// set: with none of them, or with one rank, weft runs as a single process and world() is a
// communicator of one whose collectives return their input - nothing else changes. With
// several ranks and a build with MPI (WEFT_HAVE_MPI), world() is MPI_COMM_WORLD; a build
// without MPI refuses to run as one of several ranks and says why.
//
// Failures: every MPI call returns its error (MPI_ERRORS_RETURN) and becomes a weft::Error
// naming the rank, the MPI function and what was being exchanged ("rank 1 of 2:
// MPI_Iallreduce (gradient bucket 3, 262144 floats): ..."). Collectives are started
// non-blocking and waited for with a deadline (WEFT_DIST_TIMEOUT_S, default 300 s), so a peer
// that hangs or died without Open MPI noticing ends this rank with an error instead of a hang.
// An error in one rank ends the run on every rank: shutdown(failed = true) calls MPI_Abort.
//
// WEFT_DIST_PROFILE=1: at shutdown each rank prints to stderr how many gradient exchanges it
// made and the time spent in them (packing, starting, waiting, unpacking), for the compute /
// communication split of a step (docs/distributed.md).
//
// Output: ranks other than 0 write no files (engine/io/atomic_file.h) and their stdout goes
// to /dev/null unless WEFT_DIST_LOG_ALL=1; stderr (errors) stays open on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/data/sharding.h"

namespace weft::dist {

struct Placement {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank among the processes on this machine (picks the GPU)
  int local_size = 1;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  const Placement& placement() const { return placement_; }
  int rank() const { return placement_.rank; }
  int world_size() const { return placement_.world_size; }
  int local_rank() const { return placement_.local_rank; }
  // "single process" or "MPI (Open MPI v4.1.4 ...)".
  virtual std::string transport() const = 0;

  // In-place sums and maxima over all ranks of `count` values in host memory. `what` names the
  // exchange in error messages ("gradient bucket 2").
  virtual void allreduce_sum(float* data, int64_t count, const std::string& what) = 0;
  virtual void allreduce_sum(double* data, int64_t count, const std::string& what) = 0;
  virtual void allreduce_max(int64_t* data, int64_t count, const std::string& what) = 0;
  // Start a float sum and return its request number; the data must stay put until wait().
  virtual int64_t start_allreduce_sum(float* data, int64_t count, const std::string& what) = 0;
  virtual void wait(int64_t request) = 0;
  // Let started requests advance (MPI moves data only inside its calls); never blocks.
  virtual void progress() = 0;
  // `bytes` of host memory from rank `root` to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;

  // "rank 1 of 2" for messages.
  std::string who() const;

 protected:
  Placement placement_;
};

// Set up the ranks from the environment (see above); call once, first thing in main().
// weft::Error when the environment asks for several ranks and this build cannot.
void init(int* argc, char*** argv);
// End the run: MPI_Finalize after success, MPI_Abort of every rank after a failure (so a rank
// that fails never leaves the others waiting). A no-op for a single process.
void shutdown(bool failed);

// The communicator of this run (a single process before init()).
Communicator& world();
// More than one rank.
bool distributed();
// Rank 0: the one that writes checkpoints, metrics, figures and reports.
bool is_main();

// This rank's share of each epoch (engine/data/sharding.h): {rank, world size}.
data::Shard shard();

// What the environment says about the launch, whether or not MPI is compiled in.
Placement placement_from_environment();

// Seconds a collective may take before this rank gives up (WEFT_DIST_TIMEOUT_S, default 300).
double collective_timeout_seconds();

#ifdef WEFT_HAVE_MPI
// The MPI communicator (engine/distributed/mpi_communicator.cpp): MPI_Init_thread, then
// MPI_COMM_WORLD with MPI_ERRORS_RETURN. Local ranks from MPI_Comm_split_type(SHARED).
std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv);
void finalize_mpi(bool failed);
#endif

}  // namespace weft::dist
