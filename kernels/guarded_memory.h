// Host memory placed just before a page with no access: the emulated device's pool
// (kernels/emu_memory.cpp) and the op table's host buffers (tests/test_backend_ops.cpp) take their
// blocks from here, so that an emulated kernel writing or reading past its buffer faults at once
// (SIGSEGV, which Catch2 reports with the running test) instead of overwriting the host's heap,
// where it had hung a test in malloc's lock. Each block is its own mapping: the block ends as close
// to the guard page as its alignment allows, so only an overrun of less than the alignment's
// rounding goes unseen. Under AddressSanitizer (`make test-asan`) the blocks are ordinary heap
// allocations instead, whose redzones see overruns and underruns to the byte.
#pragma once

#include <cstddef>

namespace weft::guarded_memory {

// `size` bytes at a multiple of `alignment` (a power of two, at most the page size), followed
// within `alignment` bytes by a page with no access; nullptr when the system refuses the mapping
// (vm.max_map_count).
void* map(size_t size, size_t alignment);

// Gives back a block of map(size, alignment), with the same size and alignment.
void unmap(void* block, size_t size, size_t alignment);

}  // namespace weft::guarded_memory
