// The order in which the host emulation of CUDA (emulation.h) runs a block's threads, and the
// switch that changes it. Kept apart from emulation.h, which defines CUDA's keywords as macros,
// so that code outside the kernels (tests, tools) can set the order without those macros.
//
// Between two barriers the emulator runs a block's threads one after another; which one first is
// the scheduler's choice, as it is the hardware's on a GPU. A kernel whose result depends on that
// choice has a race (a missing __syncthreads or __syncwarp, a read of another thread's shared
// memory before it was written, a write over shared memory another warp still reads). Running
// the same kernels in other legal orders shows it:
//   forward     sweeps over the threads in index order, resuming each ready one; blocks in index
//               order (the default, and the fastest). A thread gets at most one barrier or warp
//               operation ahead of the others per sweep, so warps move nearly in step.
//   reverse     the same sweeps in reverse index order; blocks in reverse order.
//   low_first   always resumes the lowest-numbered ready thread: warp 0 runs as far as it can
//               (to the next __syncthreads, or to its end) before warp 1 starts, and so on.
//   high_first  always the highest-numbered ready thread: the last warp runs ahead.
//   shuffled    after each suspension, a pseudo-random ready thread (seeded, so a failure can be
//               replayed: the choices depend on the seed and the block).
// The picking orders (the last three) also run the blocks in reverse order. low_first exposes a
// warp that overwrites shared memory the others still read (a missing barrier at the end of a
// pipelined loop); high_first a warp that reads what an earlier warp has not yet written.
// The environment variable WEFT_EMU_ORDER (forward, reverse, low-first, high-first, shuffle or
// shuffle:SEED) sets the order at the first launch; set_thread_order overrides it (call it while
// no emulated kernel runs).
#pragma once

#include <cstdint>

namespace weft::emu {

enum class ThreadOrder { forward, reverse, low_first, high_first, shuffled };

struct ThreadOrderSetting {
  ThreadOrder order = ThreadOrder::forward;
  uint64_t seed = 0;
};

void set_thread_order(ThreadOrder order, uint64_t seed = 0);
ThreadOrderSetting thread_order();

// Parses WEFT_EMU_ORDER's value; throws weft::Error naming the variable and the accepted values.
ThreadOrderSetting parse_thread_order(const char* text);

}  // namespace weft::emu
