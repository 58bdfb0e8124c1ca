// A fixed number of threads running one function to completion: the shape of weft's batch jobs
// over files and images (decoding a folder, balancing by augmentation), where each worker takes
// the next index from a shared atomic counter until none is left.
//
// The calling thread is worker 0, so a job on one worker starts no thread, and worker 0 can do
// what must happen on the caller (progress lines). An exception escaping a worker (a failed
// allocation, say) does not end the process: every thread is joined, then the first exception
// is rethrown on the caller.
#pragma once

#include <functional>

namespace weft::data {

// `work(worker)` for worker = 0 .. workers - 1 (at least one), 0 on the calling thread.
void run_workers(int workers, const std::function<void(int worker)>& work);

}  // namespace weft::data
