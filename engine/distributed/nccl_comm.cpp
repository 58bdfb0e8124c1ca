// The watched NCCL communicator (nccl_comm.h): non-blocking creation polled with a deadline, and a
// watcher thread per communicator that polls each collective's completion event and
// ncclCommGetAsyncError, and aborts the communicator on an error or a missed deadline. Compiled
// and linked in CI; like the rest of the NCCL path it has not yet run on GPUs.
#include "engine/distributed/nccl_comm.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "engine/distributed/communicator.h"
#include "kernels/cuda_runtime/check.h"
#include "kernels/error.h"

namespace weft::dist {

namespace {

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", seconds);
  return text;
}

// Poll until `comm` leaves ncclInProgress or `timeout_s` passes. ncclSuccess, the error, or
// ncclInProgress when the deadline passed.
ncclResult_t poll_ready(ncclComm_t comm, double timeout_s) {
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
    if (query != ncclSuccess) return query;
    if (state != ncclInProgress) return state;
    const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - started;
    if (waited.count() > timeout_s) return ncclInProgress;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

NcclComm::NcclComm(int device, std::string name)
    : device_(device), name_(std::move(name)), timeout_s_(collective_timeout_seconds()) {
  WEFT_CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id{};
  if (world().rank() == 0) {
    const ncclResult_t status = ncclGetUniqueId(&id);
    WEFT_CHECK(status == ncclSuccess, world().who(), ": ncclGetUniqueId (", name_,
               ") failed: ", ncclGetErrorString(status));
  }
  world().broadcast(&id, sizeof(id), 0, "NCCL unique id (" + name_ + ")");
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t status =
      ncclCommInitRankConfig(&comm_, world().world_size(), id, world().rank(), &config);
  if (status != ncclSuccess && status != ncclInProgress) {
    throw Error(world().who() + ": ncclCommInitRankConfig (" + name_ + ", cuda:" +
                std::to_string(device_) + ") failed: " + ncclGetErrorString(status));
  }
  wait_ready("ncclCommInitRankConfig (" + name_ + ", cuda:" + std::to_string(device_) + ")");
  watcher_ = std::thread([this] { watch(); });
}

NcclComm::~NcclComm() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  for (Watched& w : watched_) WEFT_CUDA_WARN(cudaEventDestroy(w.done));
  if (comm_ == nullptr || failed_) return;
  // Finalize flushes the queued collectives; a peer that is gone would keep it in progress, so
  // it gets the deadline too and the communicator is aborted after it.
  const ncclResult_t finalize = ncclCommFinalize(comm_);
  if ((finalize == ncclSuccess || finalize == ncclInProgress) &&
      poll_ready(comm_, timeout_s_) == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    std::fprintf(stderr, "weft: %s: NCCL communicator (%s) did not finalize; aborting it\n",
                 world().who().c_str(), name_.c_str());
    ncclCommAbort(comm_);
  }
}

void NcclComm::all_reduce(const void* send, void* receive, size_t count, ncclDataType_t type,
                          ncclRedOp_t op, cudaStream_t stream, const std::string& what) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (failed_) throw_failure();
  const ncclResult_t status = ncclAllReduce(send, receive, count, type, op, comm_, stream);
  if (status == ncclInProgress) {
    lock.unlock();
    wait_ready("ncclAllReduce (" + what + ")");
    lock.lock();
  } else if (status != ncclSuccess) {
    throw Error(world().who() + ": ncclAllReduce (" + what + ", " + std::to_string(count) +
                " elements) failed: " + ncclGetErrorString(status));
  }
  Watched watched;
  WEFT_CUDA_CHECK(cudaEventCreateWithFlags(&watched.done, cudaEventDisableTiming));
  WEFT_CUDA_CHECK(cudaEventRecord(watched.done, stream));
  watched.started = std::chrono::steady_clock::now();
  watched.what = what;
  watched_.push_back(std::move(watched));
  lock.unlock();
  wake_.notify_all();
}

void NcclComm::check() const {
  if (!failed_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  throw_failure();
}

void NcclComm::throw_failure() const { throw Error(failure_); }

void NcclComm::wait_ready(const std::string& call) {
  const ncclResult_t state = poll_ready(comm_, timeout_s_);
  if (state == ncclSuccess) return;
  const std::string message =
      world().who() + ": " + call +
      (state == ncclInProgress ? " did not complete within " + seconds_text(timeout_s_) + " s"
                               : std::string(" failed: ") + ncclGetErrorString(state));
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failed_) fail(message);
  throw_failure();
}

void NcclComm::fail(const std::string& message) {
  failure_ = message + "; the NCCL communicator (" + name_ + ") was aborted";
  failed_ = true;
  std::fprintf(stderr, "weft: %s\n", failure_.c_str());
  std::fflush(stderr);
  ncclCommAbort(comm_);
}

void NcclComm::watch() {
  WEFT_CUDA_WARN(cudaSetDevice(device_));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_ && !failed_) {
    wake_.wait_for(lock, std::chrono::milliseconds(50));
    while (!watched_.empty() && !failed_) {
      Watched& w = watched_.front();
      const cudaError_t state = cudaEventQuery(w.done);
      if (state == cudaSuccess) {
        WEFT_CUDA_WARN(cudaEventDestroy(w.done));
        watched_.pop_front();
        continue;
      }
      const std::string call = world().who() + ": ncclAllReduce (" + w.what + ")";
      if (state != cudaErrorNotReady) {
        fail(call + " failed on the device: " + cudaGetErrorString(state));
        break;
      }
      ncclResult_t async = ncclSuccess;
      const ncclResult_t query = ncclCommGetAsyncError(comm_, &async);
      const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - w.started;
      if (query != ncclSuccess) {
        fail(call + ": ncclCommGetAsyncError failed: " + ncclGetErrorString(query));
      } else if (async != ncclSuccess && async != ncclInProgress) {
        fail(call + " failed: " + ncclGetErrorString(async) + " (" + ncclGetLastError(comm_) + ")");
      } else if (waited.count() > timeout_s_) {
        fail(call + " did not complete within " + seconds_text(timeout_s_) + " s");
      }
      break;
    }
  }
  if (!failed_) return;
  // The main thread throws the failure at its next NCCL call; if it never makes one (blocked on
  // the aborted stream's results elsewhere), end the process after another deadline.
  if (wake_.wait_for(lock, std::chrono::duration<double>(timeout_s_), [this] { return stopping_; })) {
    return;
  }
  std::fprintf(stderr, "weft: %s: the failed NCCL collective was not handled within %s s; exiting\n",
               world().who().c_str(), seconds_text(timeout_s_).c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace weft::dist
