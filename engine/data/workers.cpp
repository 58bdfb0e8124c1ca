// Worker threads for batch jobs over files and images (see workers.h).
#include "engine/data/workers.h"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace weft::data {

void run_workers(int workers, const std::function<void(int worker)>& work) {
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const auto guarded = [&](int worker) {
    try {
      work(worker);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int worker = 1; worker < workers; ++worker) pool.emplace_back(guarded, worker);
  guarded(0);
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace weft::data
