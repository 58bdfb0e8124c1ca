// Device selection (see runtime.h).
#include "engine/runtime.h"

#include <cstdio>

#include "engine/distributed/communicator.h"
#include "kernels/error.h"
#ifdef WEFT_HAVE_CUDA
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft {

bool cuda_available(std::string* reason) {
#ifdef WEFT_HAVE_CUDA
  std::string why;
  const int count = cuda::device_count(&why);
  if (count > 0) return true;
  if (reason != nullptr) *reason = why.empty() ? "no CUDA device found" : why;
  return false;
#else
  if (reason != nullptr) *reason = "this weft was built without CUDA";
  return false;
#endif
}

namespace {
// The GPU of this rank: its local rank modulo the GPUs present (cuda:0 for one process).
int rank_gpu() {
#ifdef WEFT_HAVE_CUDA
  const int count = cuda::device_count();
  return count > 0 ? dist::world().local_rank() % count : 0;
#else
  return 0;
#endif
}
}  // namespace

Device resolve_device(const std::string& requested) {
  if (requested == "auto" || requested == "cuda") {
    std::string reason;
    if (cuda_available(&reason)) return Device::cuda(rank_gpu());
    WEFT_CHECK(requested == "auto", "--device ", requested, ": no usable GPU (", reason, ")");
    std::fprintf(stderr, "weft: no usable GPU (%s); running on the CPU\n", reason.c_str());
    return Device::cpu();
  }
  const Device device = Device::parse(requested);
  if (device.is_emu()) {
    std::fprintf(stderr,
                 "weft: device emu: the hand CUDA kernels run under the host emulation on the CPU "
                 "(very slow; for tests)\n");
  }
  if (device.is_cuda()) {
    std::string reason;
    WEFT_CHECK(cuda_available(&reason), "--device ", requested, ": no usable GPU (", reason, ")");
#ifdef WEFT_HAVE_CUDA
    const int count = cuda::device_count();
    WEFT_CHECK(device.index < count, "--device ", requested, ": only ", count,
               " CUDA device(s) present");
#endif
  }
  return device;
}

}  // namespace weft
