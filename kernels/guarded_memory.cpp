// Blocks that end at a page with no access (see guarded_memory.h).
#include "kernels/guarded_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

// Under AddressSanitizer the blocks come from its heap instead: its redzones on both sides see
// overruns and underruns to the byte (with the callers' poisoning), where a guard page sees only
// overruns past the rounding.
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_GUARDED_BY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_GUARDED_BY_ASAN 1
#endif
#endif

namespace weft::guarded_memory {
namespace {

size_t round_up(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

#ifndef WEFT_GUARDED_BY_ASAN
size_t page_size() {
  static const size_t bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

// The mapping of a block: its data pages and the guard page after them.
size_t mapped_bytes(size_t size, size_t alignment) {
  return round_up(round_up(size, alignment), page_size()) + page_size();
}
#endif

}  // namespace

void* map(size_t size, size_t alignment) {
#ifdef WEFT_GUARDED_BY_ASAN
  return std::aligned_alloc(alignment, round_up(size, alignment));
#else
  const size_t total = mapped_bytes(size, alignment);
  void* start = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (start == MAP_FAILED) return nullptr;
  char* guard = static_cast<char*>(start) + total - page_size();
  if (mprotect(guard, page_size(), PROT_NONE) != 0) {
    munmap(start, total);
    return nullptr;
  }
  return guard - round_up(size, alignment);
#endif
}

void unmap(void* block, size_t size, size_t alignment) {
#ifdef WEFT_GUARDED_BY_ASAN
  (void)size;
  (void)alignment;
  std::free(block);
#else
  const size_t total = mapped_bytes(size, alignment);
  char* guard = static_cast<char*>(block) + round_up(size, alignment);
  munmap(guard + page_size() - total, total);
#endif
}

}  // namespace weft::guarded_memory
