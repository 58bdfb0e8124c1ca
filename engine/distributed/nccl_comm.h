// One NCCL communicator over all ranks, with its collectives watched so that a dead or hung peer
// ends this rank with an error instead of a hang. Compiled only with NCCL (WEFT_HAVE_NCCL); used
// by the GPU ranks' gradient reducer (nccl_reducer.cpp) and by the synchronised batch norm
// (sync_batchnorm.cpp), each with a communicator of its own, so that the two streams' collectives
// never wait for each other.
//
// Bounded waiting (WEFT_DIST_TIMEOUT_S, default 300 s):
//   * the communicator is created non-blocking (ncclConfig_t::blocking = 0): creation, and any
//     call that answers ncclInProgress, are waited for by polling ncclCommGetAsyncError until it
//     leaves ncclInProgress, with the deadline;
//   * every collective's completion is recorded as a CUDA event on its stream and watched by a
//     thread of this communicator, which polls the event and ncclCommGetAsyncError. An
//     asynchronous NCCL error, or a collective not complete within the deadline, makes the
//     watcher call ncclCommAbort (which ends the collective's kernels, so the stream moves on),
//     print "rank R of N: ncclAllReduce (WHAT) did not complete within T s" to stderr and
//     record it; the next call on the communicator (or check()) throws it as a weft::Error, and
//     the app's error path ends every rank (MPI_Abort). Should the main thread never come back
//     (blocked elsewhere), the watcher ends the process after another deadline, and mpirun ends
//     the other ranks.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace weft::dist {

class NcclComm {
 public:
  // Collective over all ranks of world(): rank 0's unique id goes to every rank over MPI, and
  // every rank joins on GPU `device`. `name` says which communicator in messages.
  NcclComm(int device, std::string name);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // ncclAllReduce of `count` elements on `stream`, watched until it completes. `what` names the
  // exchange in messages ("gradient bucket 2").
  void all_reduce(const void* send, void* receive, size_t count, ncclDataType_t type,
                  ncclRedOp_t op, cudaStream_t stream, const std::string& what);
  // weft::Error if the watcher found an error or a deadline passed.
  void check() const;

 private:
  struct Watched {
    cudaEvent_t done = nullptr;
    std::chrono::steady_clock::time_point started;
    std::string what;
  };

  // Poll ncclCommGetAsyncError until the communicator leaves ncclInProgress (deadline).
  void wait_ready(const std::string& call);
  void watch();
  void fail(const std::string& message);
  [[noreturn]] void throw_failure() const;

  int device_ = 0;
  std::string name_;
  double timeout_s_ = 300;
  ncclComm_t comm_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Watched> watched_;
  bool stopping_ = false;
  std::atomic<bool> failed_{false};
  std::string failure_;  // under mutex_
  std::thread watcher_;
};

}  // namespace weft::dist
