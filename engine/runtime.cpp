// Device selection (see runtime.h).
#include "engine/runtime.h"

#include <cstdio>

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

Device resolve_device(const std::string& requested) {
  if (requested == "auto") {
    std::string reason;
    if (cuda_available(&reason)) return Device::cuda(0);
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
