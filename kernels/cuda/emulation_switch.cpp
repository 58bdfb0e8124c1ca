// Stack switching for the emulation's fibers (see emulation_switch.h).
//
// x86-64, System V ABI. weft_emu_switch(save, load) is called like a function, so the caller has
// already saved every caller-saved register; what must survive the switch are rbx, rbp and
// r12-r15, the MXCSR (SSE rounding and exception masks) and the x87 control word. It pushes them,
// stores rsp to *save, loads rsp = load, pops the other execution's copies and returns into it.
// A saved execution's stack, from the stored stack pointer up:
//
//   +0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
//   +8   r15      +16  r14      +24  r13      +32  r12      +40  rbx      +48  rbp
//   +56  return address: where the execution continues
//
// prepare_context writes such a frame at the top of a new stack with the return address
// weft_emu_fiber_start and r12 = the entry function, and the current thread's MXCSR and x87
// control word. The first switch to it "returns" into weft_emu_fiber_start, which calls r12 with
// the stack 16-byte aligned at the call, as the ABI requires; the entry never returns (ud2 traps
// if it does). `.cfi_undefined rip` marks that frame as the outermost one for unwinders and
// debuggers. weft_emu_switch carries no unwind information: nothing can throw inside it.
#include "kernels/cuda/emulation_switch.h"

#include <cstdint>
#include <cstring>

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
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
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
  uint64_t* frame = reinterpret_cast<uint64_t*>(top - 64);
  uint32_t mxcsr = 0;
  uint16_t x87_control = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87_control));
  frame[0] = 0;
  std::memcpy(&frame[0], &mxcsr, sizeof mxcsr);
  std::memcpy(reinterpret_cast<char*>(&frame[0]) + 4, &x87_control, sizeof x87_control);
  frame[1] = 0;                                   // r15
  frame[2] = 0;                                   // r14
  frame[3] = 0;                                   // r13
  frame[4] = reinterpret_cast<uintptr_t>(entry);  // r12: called by weft_emu_fiber_start
  frame[5] = 0;                                   // rbx
  frame[6] = 0;                                   // rbp
  frame[7] = reinterpret_cast<uintptr_t>(&weft_emu_fiber_start);
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
