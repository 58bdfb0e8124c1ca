// Small pieces the hand CPU kernels share (kernels/cpu/*.cpp): the scratch buffers their
// temporaries live in (also the oneDNN path's reorder buffers, kernels/cpu_vendor/context.h),
// and the marker that compiles a hot loop once per x86-64 vector width.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstddef>
#include <memory>
#include <new>

namespace weft::cpu {

// GCC builds each marked function three times (AVX-512, AVX2+FMA, baseline) and picks one when
// the program loads, since weft is built without -march. The clones name the x86-64 ISA levels
// v4 and v3, which GCC dispatches on by feature; an "arch=skylake-avx512" or "arch=haswell"
// clone is dispatched on the processor *model* (__builtin_cpu_is), so every other AVX-512 or AVX2
// processor (a Sapphire Rapids, a Zen 4) silently ran the baseline SSE2 copy.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WEFT_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WEFT_CPU_CLONES
#endif

// Scratch memory kept from call to call (by its thread: declare it thread_local; or by an owner
// that serialises its uses). Grown to the largest request, never shrunk, 64-byte aligned (a
// cache line, an AVX-512 vector). Every use overwrites what it reads, so it is never zeroed.
// (Fresh zeroed buffers of tens of megabytes, which malloc serves with a new mmap each time, cost
// about a tenth of a ResNet training step in memset and page faults.)
class Scratch {
 public:
  float* floats(int64_t count) {
    if (count > size_) {
      data_.reset();  // the old block goes first: the peak is the new size, not both
      size_ = 0;
      data_.reset(new (std::align_val_t{kAlignment}) float[static_cast<size_t>(count)]);
      size_ = count;
    }
    return data_.get();
  }

 private:
  static constexpr size_t kAlignment = 64;
  struct AlignedDelete {
    void operator()(float* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
  };
  std::unique_ptr<float[], AlignedDelete> data_;
  int64_t size_ = 0;
};

// How many images of a batch to process at once when each needs `floats_per_image` temporary
// floats and the temporaries may take `budget_bytes`: at least one, at most the batch.
inline int images_per_chunk(int64_t floats_per_image, int batch, int64_t budget_bytes) {
  const int64_t fit =
      budget_bytes / static_cast<int64_t>(sizeof(float)) / std::max<int64_t>(floats_per_image, 1);
  return static_cast<int>(std::clamp<int64_t>(fit, 1, std::max(batch, 1)));
}

}  // namespace weft::cpu
