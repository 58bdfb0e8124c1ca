// Switching between stacks for the host emulation's fibers (kernels/cuda/emulation.cpp): the
// scheduler of a block resumes a CUDA thread's fiber, and the fiber hands control back at a
// barrier, thousands of times per emulated block.
//
// On x86-64 a switch is a few instructions of our own (emulation_switch.cpp): the callee-saved
// registers go onto the running stack, the stack pointer is stored, the other one loaded, and the
// same popped from there (the floating-point control state stays the OS thread's: see there).
// Elsewhere it is POSIX ucontext (makecontext / swapcontext). The two do the same; the difference
// is cost: swapcontext also saves and restores the signal mask, a system call each way, which
// made a switch cost about 0.6 us and, measured with perf on `weft_tests "emu step:
// fashion-mnist FashionCnn*"`, about 60% of the emulation's time (swapcontext and the kernel's
// side of it).
#pragma once

#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace weft::emu {

// Where an execution stopped: a fiber at a barrier, or the scheduler that resumed it.
struct SwitchContext {
#if defined(__x86_64__)
  void* stack_pointer = nullptr;  // its saved registers sit at this address
#else
  ucontext_t context{};
#endif
};

// Makes `context` start `entry` on the stack [bottom, bottom + size) at its next switch_context.
// `entry` must never return: it ends by switching away for good.
void prepare_context(SwitchContext& context, void* bottom, size_t size, void (*entry)());

// Saves the running execution into `from` and continues the one saved in `to`; returns when
// something switches back to `from`.
void switch_context(SwitchContext& from, SwitchContext& to);

}  // namespace weft::emu
