// Stack switching for the emulation's fibers (see emulation_switch.h).
//
// x86-64, System V ABI. weft_emu_switch(save, load) is called like a function, so the caller has
// already saved every caller-saved register; what must survive the switch are rbx, rbp and
// r12-r15. It pushes them, stores rsp to *save, loads rsp = load, pops the other execution's
// copies and returns into it. A saved execution's stack, from the stored stack pointer up:
//
//   +0   r15      +8   r14      +16  r13      +24  r12      +32  rbx      +40  rbp
//   +48  return address: where the execution continues
//
// The floating-point control state (MXCSR's rounding mode and exception masks, the x87 control
// word), which the ABI also asks a callee to preserve, is not switched: every fiber of a scheduler
// runs on the scheduler's own OS thread, so they all start with that thread's state, and nothing
// that runs in a fiber changes it (a CUDA kernel cannot: its rounding is chosen per instruction).
// Saving and restoring it (stmxcsr/ldmxcsr, fnstcw/fldcw) took 85% of a switch's time, measured
// with perf on the op-table test of the hand kernels under emulation (2-core Zen 1).
//
// prepare_context writes such a frame at the top of a new stack with the return address
// weft_emu_fiber_start and r12 = the entry function. The first switch to it "returns" into
// weft_emu_fiber_start, which calls r12 with the stack 16-byte aligned at the call, as the ABI
// requires; the entry never returns (ud2 traps if it does). `.cfi_undefined rip` marks that frame
// as the outermost one for unwinders and debuggers. weft_emu_switch carries no unwind information:
// nothing can throw inside it.
#include "kernels/cuda/emulation_switch.h"

#include <cstdint>

#if defined(__x86_64__)

extern "C" {
void weft_emu_switch(void** save, void* load);
void weft_emu_fiber_start();
}

asm(R"(
  .text
  .p2align 4
  .globl weft_emu_switch
  .hidden weft_emu_switch
  .type weft_emu_switch, @function
weft_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size weft_emu_switch, .-weft_emu_switch

  .p2align 4
  .globl weft_emu_fiber_start
  .hidden weft_emu_fiber_start
  .type weft_emu_fiber_start, @function
weft_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  callq *%r12
  ud2
  .cfi_endproc
  .size weft_emu_fiber_start, .-weft_emu_fiber_start
)");

namespace weft::emu {

void prepare_context(SwitchContext& context, void* bottom, size_t size, void (*entry)()) {
  // After the frame's return address is popped the stack pointer is `top`, a multiple of 16, so
  // weft_emu_fiber_start's call leaves the entry function the alignment the ABI promises.
  const uintptr_t top = (reinterpret_cast<uintptr_t>(bottom) + size - 16) & ~uintptr_t{15};
  uint64_t* frame = reinterpret_cast<uint64_t*>(top - 56);
  frame[0] = 0;                                   // r15
  frame[1] = 0;                                   // r14
  frame[2] = 0;                                   // r13
  frame[3] = reinterpret_cast<uintptr_t>(entry);  // r12: called by weft_emu_fiber_start
  frame[4] = 0;                                   // rbx
  frame[5] = 0;                                   // rbp
  frame[6] = reinterpret_cast<uintptr_t>(&weft_emu_fiber_start);
  context.stack_pointer = frame;
}

void switch_context(SwitchContext& from, SwitchContext& to) {
  weft_emu_switch(&from.stack_pointer, to.stack_pointer);
}

}  // namespace weft::emu

#else

namespace weft::emu {

void prepare_context(SwitchContext& context, void* bottom, size_t size, void (*entry)()) {
  getcontext(&context.context);
  context.context.uc_stack.ss_sp = bottom;
  context.context.uc_stack.ss_size = size;
  context.context.uc_link = nullptr;
  makecontext(&context.context, entry, 0);
#if defined(__SANITIZE_ADDRESS__)
  // glibc reads uc_stack only in makecontext. ASan's swapcontext interceptor, though, wipes the
  // shadow of the target's uc_stack on every switch, which would erase the redzones of the
  // fiber's live frames; emulation.cpp's fiber annotations already keep ASan informed.
  context.context.uc_stack.ss_size = 0;
#endif
}

void switch_context(SwitchContext& from, SwitchContext& to) {
  swapcontext(&from.context, &to.context);
}

}  // namespace weft::emu

#endif
