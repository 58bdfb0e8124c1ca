// The MPI communicator (see communicator.h): MPI_COMM_WORLD with errors returned, every
// collective non-blocking and waited for with a deadline, errors naming the rank and the call.
// Compiled only when CMake finds MPI (WEFT_HAVE_MPI).
#include <mpi.h>

#include <chrono>
#include <climits>
#include <map>
#include <string>
#include <thread>

#include "engine/distributed/communicator.h"
#include "kernels/error.h"

namespace weft::dist {

namespace {

using Clock = std::chrono::steady_clock;

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() : timeout_(collective_timeout_seconds()) {
    int rank = 0, size = 1;
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup", "the world communicator");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", "");
    check(MPI_Comm_rank(comm_, &rank), "MPI_Comm_rank", "");
    check(MPI_Comm_size(comm_, &size), "MPI_Comm_size", "");
    placement_.rank = rank;
    placement_.world_size = size;
    MPI_Comm local = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local),
          "MPI_Comm_split_type", "the ranks on this machine");
    check(MPI_Comm_rank(local, &placement_.local_rank), "MPI_Comm_rank", "local");
    check(MPI_Comm_size(local, &placement_.local_size), "MPI_Comm_size", "local");
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(version, &length);
    library_ = std::string(version, static_cast<size_t>(length));
    if (const size_t comma = library_.find(','); comma != std::string::npos) library_.resize(comma);
  }

  ~MpiCommunicator() override {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }

  std::string transport() const override { return "MPI (" + library_ + ")"; }

  void allreduce_sum(float* data, int64_t count, const std::string& what) override {
    MPI_Request request = start_allreduce(data, count, MPI_FLOAT, MPI_SUM, what);
    finish(request, "MPI_Iallreduce", what);
  }

  void allreduce_sum(double* data, int64_t count, const std::string& what) override {
    MPI_Request request = start_allreduce(data, count, MPI_DOUBLE, MPI_SUM, what);
    finish(request, "MPI_Iallreduce", what);
  }

  void allreduce_max(int64_t* data, int64_t count, const std::string& what) override {
    MPI_Request request = start_allreduce(data, count, MPI_INT64_T, MPI_MAX, what);
    finish(request, "MPI_Iallreduce", what);
  }

  int64_t start_allreduce_sum(float* data, int64_t count, const std::string& what) override {
    MPI_Request request = start_allreduce(data, count, MPI_FLOAT, MPI_SUM, what);
    const int64_t id = next_request_++;
    pending_[id] = {request, what};
    return id;
  }

  void wait(int64_t id) override {
    auto found = pending_.find(id);
    WEFT_CHECK(found != pending_.end(), who(), ": no started exchange numbered ", id);
    Pending pending = found->second;
    pending_.erase(found);
    finish(pending.request, "MPI_Iallreduce", pending.what);
  }

  void progress() override {
    for (auto& [id, pending] : pending_) {
      int done = 0;
      // A completed request stays in the table as MPI_REQUEST_NULL until wait() collects it.
      check(MPI_Test(&pending.request, &done, MPI_STATUS_IGNORE), "MPI_Test", pending.what);
    }
  }

  void broadcast(void* data, int64_t bytes, int root, const std::string& what) override {
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Ibcast(data, to_int(bytes, what), MPI_BYTE, root, comm_, &request), "MPI_Ibcast",
          what);
    finish(request, "MPI_Ibcast", what);
  }

  void barrier(const std::string& what) override {
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier", what);
    finish(request, "MPI_Ibarrier", what);
  }

 private:
  struct Pending {
    MPI_Request request;
    std::string what;
  };

  // An in-place non-blocking all-reduce of `count` elements, started; its request to finish.
  MPI_Request start_allreduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op,
                              const std::string& what) const {
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, to_int(count, what), type, op, comm_, &request),
          "MPI_Iallreduce", what);
    return request;
  }

  void check(int code, const char* call, const std::string& what) const {
    if (code == MPI_SUCCESS) return;
    throw Error(who() + ": " + call + (what.empty() ? "" : " (" + what + ")") + " failed: " +
                mpi_error_text(code));
  }

  int to_int(int64_t count, const std::string& what) const {
    WEFT_CHECK(count >= 0 && count <= INT_MAX, who(), ": ", what, " has ", count,
               " elements; one MPI call takes at most ", INT_MAX);
    return static_cast<int>(count);
  }

  // Poll `request` until it completes; spin briefly, then sleep between polls so a waiting
  // rank leaves the cores to the others. Past the deadline: an error naming the call.
  void finish(MPI_Request& request, const char* call, const std::string& what) const {
    const auto start = Clock::now();
    int done = 0;
    for (int64_t polls = 0;; ++polls) {
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call, what);
      if (done) return;
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (waited > timeout_) {
        throw Error(who() + ": " + call + " (" + what + ") did not complete within " +
                    std::to_string(static_cast<int>(timeout_)) +
                    " s (WEFT_DIST_TIMEOUT_S): another rank is stuck or gone");
      }
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  double timeout_;
  std::string library_;
  std::map<int64_t, Pending> pending_;
  int64_t next_request_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    const int code = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) throw Error("MPI_Init_thread failed: " + mpi_error_text(code));
  }
  return std::make_unique<MpiCommunicator>();
}

void finalize_mpi(bool failed) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (failed) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

}  // namespace weft::dist
