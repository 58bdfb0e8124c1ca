// The scheduler behind the host emulation of CUDA (kernels/cuda/emulation.h explains the model).
//
// run_grid() walks the blocks of a grid (on OpenMP threads when the launch is large). Each OS
// thread owns one BlockScheduler, which owns a pool of fibers, one per CUDA thread of the largest
// block it has run, each with its own stack. To run a block the scheduler points every fiber at
// the kernel body and then sweeps over the fibers, resuming each one that is ready, until all
// have returned; a sweep takes the threads in index order or in reverse, and the other orders
// (ThreadOrder, emulation.h: other legal interleavings, to expose races) pick one ready thread at
// a time instead. A fiber gives control back only at a barrier (block or warp)
// or when it returns; whoever arrives last at a barrier releases the others and carries on. A
// sweep that resumes nobody while threads are still unfinished is a stall: the scheduler then
// says which barrier was left unreached, by whom, and throws.
#include "kernels/cuda/emulation.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/emulation_switch.h"
#include "kernels/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_EMU_ASAN 1
#endif
#endif
#ifndef WEFT_EMU_ASAN
#define WEFT_EMU_ASAN 0
#endif

#if WEFT_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace weft::emu {
namespace {

// ---- operation counts: one set per OS thread, only ever written by that thread -----------------

struct ThreadOpCounts;
std::mutex op_count_mutex;
std::vector<ThreadOpCounts*> op_count_threads;  // the live threads' counts
OpCounts op_count_retired;                      // the counts of threads that have ended

struct ThreadOpCounts {
  std::atomic<int64_t> mma{0}, ldmatrix{0}, warp_ops{0}, barriers{0}, cp_async{0},
      cp_async_bytes{0};

  ThreadOpCounts() {
    std::lock_guard<std::mutex> lock(op_count_mutex);
    op_count_threads.push_back(this);
  }
  ~ThreadOpCounts() {
    std::lock_guard<std::mutex> lock(op_count_mutex);
    op_count_retired += read();
    std::erase(op_count_threads, this);
  }
  OpCounts read() const {
    OpCounts c;
    c.mma = mma.load(std::memory_order_relaxed);
    c.ldmatrix = ldmatrix.load(std::memory_order_relaxed);
    c.warp_ops = warp_ops.load(std::memory_order_relaxed);
    c.barriers = barriers.load(std::memory_order_relaxed);
    c.cp_async = cp_async.load(std::memory_order_relaxed);
    c.cp_async_bytes = cp_async_bytes.load(std::memory_order_relaxed);
    return c;
  }
  void clear() {
    for (std::atomic<int64_t>* a : {&mma, &ldmatrix, &warp_ops, &barriers, &cp_async,
                                    &cp_async_bytes}) {
      a->store(0, std::memory_order_relaxed);
    }
  }
};

// Adds n to one of the calling thread's counters (only this thread writes it: no read-modify-
// write needed across threads).
void bump(std::atomic<int64_t> ThreadOpCounts::*counter, int64_t n = 1) {
  thread_local ThreadOpCounts mine;
  std::atomic<int64_t>& c = mine.*counter;
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Limits of every current NVIDIA GPU; a launch beyond them fails there, so it fails here too.
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDimZ = 64;
constexpr unsigned kMaxGridDimYZ = 65535;
constexpr size_t kMaxDynamicSharedBytes = 48 * 1024;  // without cudaFuncSetAttribute
constexpr size_t kMaxOptInSharedBytes = 227 * 1024;   // with it, on sm_90 (a block's limit)

// Kernel frames are small, but an exception unwinding through a fiber and ASan's redzones need
// room. The memory is reserved, not committed: only the pages a fiber touches are used.
constexpr size_t kFiberStackBytes = WEFT_EMU_ASAN ? 256 * 1024 : 128 * 1024;

// Where a fiber's stack starts below the top of its mapping. The mappings are 132 KiB apart, a
// multiple of the 4 KiB that a level-1 data cache's sets span, so without an offset the hot top
// frames of all fibers (the switch's saved registers, the frames of a barrier or warp operation)
// would fall into the same few cache sets and evict each other at every sweep over the block.
// Offsetting fiber t by (t mod 64) cache lines spreads them over all 64 sets of a 32 KiB,
// 8-way cache (and over a 64 KiB-wide level 2 likewise). Measured together with the switch's
// other changes of 2026-12-07: docs/architecture.md, "Build time".
size_t stack_colour(unsigned t) { return size_t{t % 64} * 64; }

// Launches with at least this many threads spread their blocks over OpenMP threads.
constexpr int64_t kParallelLaunchThreads = 1 << 14;

constexpr unsigned kWarpSize = 32;

// ---- the thread order (emulation.h, ThreadOrder) -----------------------------------------------

std::atomic<int> order_setting{-1};  // -1: not yet read from WEFT_EMU_ORDER
std::atomic<uint64_t> order_seed{0};

ThreadOrderSetting current_order() {
  int order = order_setting.load(std::memory_order_acquire);
  if (order < 0) {
    const ThreadOrderSetting from_env = parse_thread_order(std::getenv("WEFT_EMU_ORDER"));
    order_seed.store(from_env.seed, std::memory_order_relaxed);
    int expected = -1;
    order_setting.compare_exchange_strong(expected, static_cast<int>(from_env.order),
                                          std::memory_order_acq_rel);
    order = order_setting.load(std::memory_order_acquire);
  }
  return ThreadOrderSetting{static_cast<ThreadOrder>(order),
                            order_seed.load(std::memory_order_relaxed)};
}

// splitmix64: a small, well-mixed generator for the shuffled order's permutations.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// ---- AddressSanitizer fiber annotations ---------------------------------------------------------
// ASan tracks one stack per thread. Before every switch we tell it which stack we are going to
// (start) and, once there, that we arrived (finish); a fiber that will never run again passes
// nullptr so ASan frees its bookkeeping. Without ASan these are no-ops.
void start_switch(void** fake_stack_save, const void* bottom, size_t size) {
#if WEFT_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}
void finish_switch(void* fake_stack_save, const void** bottom_old, size_t* size_old) {
#if WEFT_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

// ---- fibers -------------------------------------------------------------------------------------

// A fiber's stack: an anonymous mapping whose lowest page is inaccessible, so a stack overflow
// faults at once instead of silently overwriting the neighbouring fiber's stack.
class FiberStack {
 public:
  FiberStack() : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    mapping_ = mmap(nullptr, kFiberStackBytes + page_, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapping_ == MAP_FAILED) throw std::bad_alloc();
    if (mprotect(mapping_, page_, PROT_NONE) != 0) {
      munmap(mapping_, kFiberStackBytes + page_);
      throw std::bad_alloc();
    }
  }
  ~FiberStack() { munmap(mapping_, kFiberStackBytes + page_); }
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;

  void* bottom() const { return static_cast<char*>(mapping_) + page_; }
  size_t size() const { return kFiberStackBytes; }

 private:
  size_t page_;
  void* mapping_;
};

enum class FiberState { ready, running, at_block_barrier, at_warp_op, finished };

// What a lane deposited for a warp operation, and the answer it gets back.
struct WarpRequest {
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
  uint64_t bits = 0;
  int lane_param = 0;
  int width = 32;
  uint64_t result = 0;
  WarpFragment fragment_in;   // a matrix instruction's registers (warp_matrix_exchange)
  WarpFragment fragment_out;
};

struct Fiber {
  FiberStack stack;
  SwitchContext context;
  void* asan_fake_stack = nullptr;
  FiberState state = FiberState::finished;
  unsigned linear_id = 0;  // threadIdx flattened: x + y * blockDim.x + z * blockDim.x * blockDim.y
  uint3 index;
  WarpRequest request;
  AsyncCopyQueue async_copies;
  bool abandoned = false;  // left suspended by a failed block: its stack shadow needs cleaning
};

// Per warp: who has arrived at the current warp operation, and which operation it is.
struct WarpState {
  unsigned arrived = 0;
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
};

const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "a warp vote (__ballot_sync/__any_sync/__all_sync)";
    case WarpOp::mma_m16n8k8_tf32: return "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";
    case WarpOp::mma_m16n8k16_bf16: return "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32";
    case WarpOp::ldmatrix: return "ldmatrix.sync.aligned.m8n8";
  }
  return "a warp operation";
}

std::string hex(unsigned value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_outside_kernel(const char* what) {
  throw Error(std::string(what) + " called outside a kernel launched through the emulation");
}

// The misuses of a warp operation that warp_exchange reports, out of line (see complete_warp_op).
[[noreturn, gnu::cold, gnu::noinline]] void throw_lane_outside_mask(WarpOp op, unsigned warp,
                                                                   unsigned lane, unsigned mask) {
  throw Error(std::string(warp_op_name(op)) + ": lane " + std::to_string(lane) + " of warp " +
              std::to_string(warp) + " calls it with mask " + hex(mask) +
              ", which does not include the lane itself");
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_bad_width(WarpOp op, int width) {
  throw Error(std::string(warp_op_name(op)) + ": width " + std::to_string(width) +
              " is not a power of two between 1 and 32");
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_lanes_disagree(unsigned warp, unsigned lane,
                                                                WarpOp op, unsigned mask,
                                                                const WarpState& waiting) {
  throw Error("lanes of warp " + std::to_string(warp) + " disagree: lane " +
              std::to_string(lane) + " calls " + warp_op_name(op) + " with mask " + hex(mask) +
              " while other lanes wait in " + warp_op_name(waiting.op) + " with mask " +
              hex(waiting.mask));
}

// ---- the scheduler of one OS thread -------------------------------------------------------------

class BlockScheduler {
 public:
  // Runs every thread of one block to completion. blockIdx, blockDim and gridDim of this OS
  // thread are already set.
  void run_block(dim3 block, size_t dynamic_shared_bytes, const KernelBody& body,
                 const ThreadOrderSetting& setting);

  // Called from inside a fiber.
  void sync_threads();
  uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t bits, int lane_param, int width);
  WarpFragment warp_matrix_exchange(WarpOp op, int param, const WarpFragment& in);
  AsyncCopyQueue& async_copies() { return current("cp.async").async_copies; }
  void* dynamic_shared() const { return dynamic_shared_.get(); }
  void mark_shared_undefined(void* address, size_t bytes);

 private:
  static void fiber_entry();
  void resume(Fiber& fiber);
  void suspend();
  Fiber& current(const char* what);
  unsigned lanes_present(unsigned warp) const;
  // Out of line, and so are the error reports: warp_exchange's own frame stays small, which
  // matters because it sits on the fiber's stack across the suspension.
  [[gnu::noinline]] void complete_warp_op(unsigned warp);
  void abandon_unfinished();
  std::string describe_stall() const;

  void run_sweeps(bool reversed);
  void run_by_picks(const ThreadOrderSetting& setting, uint64_t block_key);
  int pick_ready(ThreadOrder order, uint64_t* random_state);
  void make_ready(Fiber& fiber);
  void resume_checked(Fiber& fiber);
  void throw_stall();

  std::vector<std::unique_ptr<Fiber>> fibers_;  // grows to the largest block seen; reused
  // Bounds on the ready threads' indices for the picking orders: every ready thread t has
  // lowest_ready_ <= t <= highest_ready_ (kept loose, tightened as the scans pass).
  unsigned lowest_ready_ = 0;
  unsigned highest_ready_ = 0;
  // The shuffled order's ready threads, in no particular order (a pick swaps its entry out).
  bool keep_ready_list_ = false;
  std::vector<unsigned> ready_list_;
  unsigned threads_ = 0;                        // threads of the block being run
  std::vector<WarpState> warps_;
  unsigned at_block_barrier_ = 0;
  unsigned finished_ = 0;
  const KernelBody* body_ = nullptr;
  std::unique_ptr<unsigned char[]> dynamic_shared_;
  // The static __shared__ variables already filled with 0xFF in the block being run.
  std::vector<const void*> marked_undefined_;
  std::string failure_;  // the first exception raised inside a fiber of this block

  SwitchContext scheduler_context_;
  Fiber* current_ = nullptr;
  void* scheduler_fake_stack_ = nullptr;
  const void* scheduler_stack_bottom_ = nullptr;
  size_t scheduler_stack_size_ = 0;
};

BlockScheduler& this_thread_scheduler() {
  static thread_local BlockScheduler scheduler;
  return scheduler;
}

void BlockScheduler::run_block(dim3 block, size_t dynamic_shared_bytes, const KernelBody& body,
                               const ThreadOrderSetting& setting) {
  threads_ = block.x * block.y * block.z;
  while (fibers_.size() < threads_) fibers_.push_back(std::make_unique<Fiber>());
  warps_.assign((threads_ + kWarpSize - 1) / kWarpSize, WarpState{});
  at_block_barrier_ = 0;
  finished_ = 0;
  body_ = &body;
  failure_.clear();

  marked_undefined_.clear();
  dynamic_shared_.reset();
  if (dynamic_shared_bytes > 0) {
    dynamic_shared_.reset(new unsigned char[dynamic_shared_bytes]);
    std::memset(dynamic_shared_.get(), 0xFF, dynamic_shared_bytes);
  }

  for (unsigned t = 0; t < threads_; ++t) {
    Fiber& fiber = *fibers_[t];
    if (fiber.abandoned) {
#if WEFT_EMU_ASAN
      // Frames left on the stack by the failed block still carry ASan's redzone marks.
      ASAN_UNPOISON_MEMORY_REGION(fiber.stack.bottom(), fiber.stack.size());
#endif
      fiber.asan_fake_stack = nullptr;
      fiber.abandoned = false;
    }
    fiber.linear_id = t;
    fiber.async_copies.pending.clear();
    fiber.async_copies.open_group = 0;
    fiber.index = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    fiber.state = FiberState::ready;
    prepare_context(fiber.context, fiber.stack.bottom(), fiber.stack.size() - stack_colour(t),
                    &BlockScheduler::fiber_entry);
  }

  lowest_ready_ = 0;
  highest_ready_ = threads_ - 1;
  keep_ready_list_ = false;
  if (setting.order == ThreadOrder::forward || setting.order == ThreadOrder::reverse) {
    run_sweeps(setting.order == ThreadOrder::reverse);
  } else {
    run_by_picks(setting,
                 (uint64_t{blockIdx.z} * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x);
  }
}

// forward and reverse: sweep over the threads in index order (or its reverse), resuming each one
// that is ready, until all have returned.
void BlockScheduler::run_sweeps(bool reversed) {
  for (;;) {
    bool resumed_any = false;
    for (unsigned i = 0; i < threads_; ++i) {
      Fiber& fiber = *fibers_[reversed ? threads_ - 1 - i : i];
      if (fiber.state != FiberState::ready) continue;
      resume_checked(fiber);
      resumed_any = true;
    }
    if (finished_ == threads_) return;
    if (!resumed_any) throw_stall();
  }
}

// low_first, high_first, shuffled: resume one ready thread at a time, chosen afresh after each
// suspension, so a warp (or a lucky thread) can run far ahead of the others.
void BlockScheduler::run_by_picks(const ThreadOrderSetting& setting, uint64_t block_key) {
  uint64_t random_state = mix64(setting.seed ^ mix64(block_key));
  keep_ready_list_ = setting.order == ThreadOrder::shuffled;
  ready_list_.clear();
  if (keep_ready_list_) {
    for (unsigned t = 0; t < threads_; ++t) ready_list_.push_back(t);
  }
  for (;;) {
    const int t = pick_ready(setting.order, &random_state);
    if (t < 0) {
      if (finished_ == threads_) return;
      throw_stall();
    }
    resume_checked(*fibers_[static_cast<unsigned>(t)]);
  }
}

// The next thread to resume under `order`, or -1 when none is ready.
int BlockScheduler::pick_ready(ThreadOrder order, uint64_t* random_state) {
  const auto ready = [this](unsigned t) { return fibers_[t]->state == FiberState::ready; };
  if (order == ThreadOrder::low_first) {
    for (unsigned t = lowest_ready_; t < threads_; ++t) {
      if (ready(t)) return static_cast<int>(lowest_ready_ = t);
    }
    lowest_ready_ = threads_;
    return -1;
  }
  if (order == ThreadOrder::high_first) {
    for (unsigned t = highest_ready_ + 1; t-- > 0;) {
      if (ready(t)) return static_cast<int>(highest_ready_ = t);
    }
    highest_ready_ = 0;
    return -1;
  }
  // shuffled: a random entry of the ready list, taken out of it.
  if (ready_list_.empty()) return -1;
  *random_state = mix64(*random_state);
  const size_t at = static_cast<size_t>(*random_state % ready_list_.size());
  const unsigned t = ready_list_[at];
  ready_list_[at] = ready_list_.back();
  ready_list_.pop_back();
  return static_cast<int>(t);
}

void BlockScheduler::make_ready(Fiber& fiber) {
  fiber.state = FiberState::ready;
  lowest_ready_ = std::min(lowest_ready_, fiber.linear_id);
  highest_ready_ = std::max(highest_ready_, fiber.linear_id);
  if (keep_ready_list_) ready_list_.push_back(fiber.linear_id);
}

void BlockScheduler::resume_checked(Fiber& fiber) {
  resume(fiber);
  if (!failure_.empty()) {
    abandon_unfinished();
    throw Error(failure_);
  }
}

void BlockScheduler::throw_stall() {
  const std::string stall = describe_stall();
  abandon_unfinished();
  throw Error(stall);
}

void BlockScheduler::resume(Fiber& fiber) {
  current_ = &fiber;
  fiber.state = FiberState::running;
  threadIdx = fiber.index;
  start_switch(&scheduler_fake_stack_, fiber.stack.bottom(), fiber.stack.size());
  switch_context(scheduler_context_, fiber.context);
  finish_switch(scheduler_fake_stack_, nullptr, nullptr);
  current_ = nullptr;
}

// Gives control back to the scheduler; returns when the scheduler resumes this fiber.
void BlockScheduler::suspend() {
  Fiber& fiber = *current_;
  start_switch(&fiber.asan_fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
  switch_context(fiber.context, scheduler_context_);
  finish_switch(fiber.asan_fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
}

// Every fiber starts here, on its own stack, and ends by switching to the scheduler for good.
void BlockScheduler::fiber_entry() {
  BlockScheduler& self = this_thread_scheduler();
  finish_switch(nullptr, &self.scheduler_stack_bottom_, &self.scheduler_stack_size_);
  Fiber& fiber = *self.current_;
  try {
    (*self.body_)();
  } catch (const std::exception& error) {
    if (self.failure_.empty()) self.failure_ = error.what();
  } catch (...) {
    if (self.failure_.empty()) self.failure_ = "the kernel threw an exception of unknown type";
  }
  fiber.state = FiberState::finished;
  ++self.finished_;
  start_switch(nullptr, self.scheduler_stack_bottom_, self.scheduler_stack_size_);
  switch_context(fiber.context, self.scheduler_context_);
}

Fiber& BlockScheduler::current(const char* what) {
  if (current_ == nullptr) throw_outside_kernel(what);
  return *current_;
}

// The lanes of `warp` that exist in this block (the last warp of a block whose size is not a
// multiple of 32 is partial).
unsigned BlockScheduler::lanes_present(unsigned warp) const {
  const unsigned first = warp * kWarpSize;
  const unsigned count = threads_ - first < kWarpSize ? threads_ - first : kWarpSize;
  return count == kWarpSize ? 0xffffffffu : (1u << count) - 1u;
}

void BlockScheduler::sync_threads() {
  Fiber& fiber = current("__syncthreads()");
  if (++at_block_barrier_ == threads_) {  // the last to arrive releases the block
    at_block_barrier_ = 0;
    bump(&ThreadOpCounts::barriers);
    for (unsigned t = 0; t < threads_; ++t) {
      if (fibers_[t]->state == FiberState::at_block_barrier) make_ready(*fibers_[t]);
    }
    return;
  }
  fiber.state = FiberState::at_block_barrier;
  suspend();
}

uint64_t BlockScheduler::warp_exchange(WarpOp op, unsigned mask, uint64_t bits, int lane_param,
                                       int width) {
  Fiber& fiber = current(warp_op_name(op));
  const unsigned warp = fiber.linear_id / kWarpSize;
  const unsigned lane = fiber.linear_id % kWarpSize;
  if ((mask & (1u << lane)) == 0) throw_lane_outside_mask(op, warp, lane, mask);
  if (width < 1 || width > static_cast<int>(kWarpSize) || (width & (width - 1)) != 0) {
    throw_bad_width(op, width);
  }
  WarpState& state = warps_[warp];
  if (state.arrived == 0) {
    state.op = op;
    state.mask = mask;
  } else if (state.op != op || state.mask != mask) {
    throw_lanes_disagree(warp, lane, op, mask, state);
  }
  // fragment_in is left as warp_matrix_exchange set it.
  fiber.request.op = op;
  fiber.request.mask = mask;
  fiber.request.bits = bits;
  fiber.request.lane_param = lane_param;
  fiber.request.width = width;
  fiber.request.result = 0;
  state.arrived |= 1u << lane;
  if (state.arrived == (mask & lanes_present(warp))) {
    complete_warp_op(warp);  // the last lane computes every lane's result and carries on
  } else {
    fiber.state = FiberState::at_warp_op;
    suspend();
  }
  return fiber.request.result;
}

// A matrix instruction: a warp operation of all 32 lanes whose deposit and result are fragments.
WarpFragment BlockScheduler::warp_matrix_exchange(WarpOp op, int param, const WarpFragment& in) {
  Fiber& fiber = current(warp_op_name(op));
  const unsigned warp = fiber.linear_id / kWarpSize;
  if (lanes_present(warp) != 0xffffffffu) {
    throw Error(std::string(warp_op_name(op)) + " in warp " + std::to_string(warp) +
                ", which has only lanes " + hex(lanes_present(warp)) +
                ": the instruction is .aligned and needs all 32 lanes of a full warp");
  }
  fiber.request.fragment_in = in;
  warp_exchange(op, 0xffffffffu, 0, param, static_cast<int>(kWarpSize));
  return fiber.request.fragment_out;
}

// Every participating lane has deposited its request: compute each lane's result.
void BlockScheduler::complete_warp_op(unsigned warp) {
  WarpState& state = warps_[warp];
  const unsigned participants = state.arrived;
  auto lane_fiber = [&](unsigned lane) -> Fiber& { return *fibers_[warp * kWarpSize + lane]; };
  if (state.op == WarpOp::mma_m16n8k8_tf32 || state.op == WarpOp::mma_m16n8k16_bf16 ||
      state.op == WarpOp::ldmatrix) {
    bump(state.op == WarpOp::ldmatrix ? &ThreadOpCounts::ldmatrix : &ThreadOpCounts::mma);
    const WarpFragment* in[kWarpSize];
    WarpFragment* out[kWarpSize];
    for (unsigned lane = 0; lane < kWarpSize; ++lane) {
      in[lane] = &lane_fiber(lane).request.fragment_in;
      out[lane] = &lane_fiber(lane).request.fragment_out;
      if (lane_fiber(lane).request.lane_param != lane_fiber(0).request.lane_param) {
        throw Error(std::string(warp_op_name(state.op)) + ": lanes of warp " +
                    std::to_string(warp) + " disagree on the instruction's form (.x1/.x2/.x4, "
                    ".trans); it is .aligned, so every lane must execute the same one");
      }
    }
    complete_matrix_op(state.op, lane_fiber(0).request.lane_param, in, out);
    for (unsigned lane = 0; lane < kWarpSize; ++lane) {
      Fiber& waiting = lane_fiber(lane);
      if (waiting.state == FiberState::at_warp_op) make_ready(waiting);
    }
    state.arrived = 0;
    return;
  }

  bump(&ThreadOpCounts::warp_ops);
  unsigned vote = 0;
  if (state.op == WarpOp::ballot) {
    for (unsigned lane = 0; lane < kWarpSize; ++lane) {
      if ((participants >> lane & 1u) && lane_fiber(lane).request.bits != 0) vote |= 1u << lane;
    }
  }
  for (unsigned lane = 0; lane < kWarpSize; ++lane) {
    if (!(participants >> lane & 1u)) continue;
    WarpRequest& request = lane_fiber(lane).request;
    const unsigned width = static_cast<unsigned>(request.width);
    const unsigned segment = lane & ~(width - 1);  // first lane of this lane's width-segment
    const unsigned param = static_cast<unsigned>(request.lane_param);
    unsigned source = lane;
    switch (state.op) {
      case WarpOp::sync: break;
      case WarpOp::ballot: break;
      case WarpOp::mma_m16n8k8_tf32: break;  // handled above
      case WarpOp::mma_m16n8k16_bf16: break;
      case WarpOp::ldmatrix: break;
      case WarpOp::shfl_idx: source = segment + (param & (width - 1)); break;
      case WarpOp::shfl_up: source = lane - segment >= param ? lane - param : lane; break;
      case WarpOp::shfl_down: source = lane - segment + param < width ? lane + param : lane; break;
      case WarpOp::shfl_xor: {
        // Lanes may read earlier width-segments but not later ones (those get their own value).
        const unsigned partner = lane ^ param;
        source = partner < segment + width ? partner : lane;
        break;
      }
    }
    if (state.op == WarpOp::ballot) {
      request.result = vote;
    } else if (state.op != WarpOp::sync) {
      if (source >= kWarpSize || !(participants >> source & 1u)) {
        throw Error(std::string(warp_op_name(state.op)) + ": lane " + std::to_string(lane) +
                    " of warp " + std::to_string(warp) + " reads lane " + std::to_string(source) +
                    ", which is not taking part (mask " + hex(state.mask) +
                    ", lanes present in this warp " + hex(lanes_present(warp)) +
                    "); the value would be undefined on a GPU");
      }
      request.result = lane_fiber(source).request.bits;
    }
  }
  for (unsigned lane = 0; lane < kWarpSize; ++lane) {
    if (participants >> lane & 1u) {
      Fiber& waiting = lane_fiber(lane);
      if (waiting.state == FiberState::at_warp_op) make_ready(waiting);
    }
  }
  state.arrived = 0;
}

// Marks the fibers a failed block leaves suspended, so their stacks are cleaned before reuse.
void BlockScheduler::abandon_unfinished() {
  for (unsigned t = 0; t < threads_; ++t) {
    Fiber& fiber = *fibers_[t];
    if (fiber.state != FiberState::finished) {
      fiber.abandoned = true;
      fiber.state = FiberState::finished;
    }
  }
}

// Why no thread of the block can make progress.
std::string BlockScheduler::describe_stall() const {
  unsigned returned = 0, at_barrier = 0, in_warp_op = 0;
  for (unsigned t = 0; t < threads_; ++t) {
    switch (fibers_[t]->state) {
      case FiberState::finished: ++returned; break;
      case FiberState::at_block_barrier: ++at_barrier; break;
      case FiberState::at_warp_op: ++in_warp_op; break;
      default: break;
    }
  }
  std::ostringstream out;
  if (in_warp_op > 0) {
    for (unsigned warp = 0; warp < warps_.size(); ++warp) {
      const WarpState& state = warps_[warp];
      if (state.arrived == 0) continue;
      const unsigned missing = (state.mask & lanes_present(warp)) & ~state.arrived;
      unsigned missing_returned = 0, missing_at_barrier = 0;
      for (unsigned lane = 0; lane < kWarpSize; ++lane) {
        if (!(missing >> lane & 1u)) continue;
        const FiberState s = fibers_[warp * kWarpSize + lane]->state;
        if (s == FiberState::finished) missing_returned |= 1u << lane;
        if (s == FiberState::at_block_barrier) missing_at_barrier |= 1u << lane;
      }
      out << "warp " << warp << ": lanes " << hex(state.arrived) << " wait in "
          << warp_op_name(state.op) << " with mask " << hex(state.mask) << " for lanes "
          << hex(missing);
      if (missing_returned != 0) out << " (lanes " << hex(missing_returned) << " have returned)";
      if (missing_at_barrier != 0) {
        out << " (lanes " << hex(missing_at_barrier) << " wait at __syncthreads())";
      }
      return out.str();
    }
  }
  if (at_barrier > 0 && returned > 0) {
    out << "__syncthreads() is not reached by every thread of the block: " << at_barrier
        << " of " << threads_ << " threads wait at the barrier while " << returned
        << " have returned (a barrier inside a branch that not every thread takes?)";
    return out.str();
  }
  out << "no thread of the block can make progress: " << at_barrier
      << " wait at __syncthreads(), " << in_warp_op << " in warp operations, " << returned
      << " have returned";
  return out.str();
}

// "kernels/cuda/softmax.cu:42" rather than the absolute path the build used.
std::string short_location(const LaunchSite& site) {
  std::string file = site.file != nullptr ? site.file : "?";
  for (const char* root : {"/kernels/", "/tests/", "/engine/", "/bench/"}) {
    const size_t at = file.rfind(root);
    if (at != std::string::npos) {
      file = file.substr(at + 1);
      break;
    }
  }
  return file + ":" + std::to_string(site.line);
}

std::string launch_name(const LaunchSite& site) {
  return std::string("kernel ") + site.kernel + " (launched at " + short_location(site) + ")";
}

void check_configuration(const LaunchSite& site, dim3 grid, dim3 block, size_t shared_bytes,
                         bool large_shared) {
  const size_t shared_limit = large_shared ? kMaxOptInSharedBytes : kMaxDynamicSharedBytes;
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  std::string problem;
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.z > kMaxBlockDimZ) {
    problem = "a block of " + std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
              std::to_string(block.z) + " threads (at most 1024 threads, z at most 64)";
  } else if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu ||
             grid.y > kMaxGridDimYZ || grid.z > kMaxGridDimYZ) {
    problem = "a grid of " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
              std::to_string(grid.z) + " blocks (each at least 1; y and z at most 65535)";
  } else if (shared_bytes > shared_limit) {
    problem = std::to_string(shared_bytes) + " bytes of dynamic shared memory (at most " +
              std::to_string(shared_limit) +
              (large_shared ? ")" : " without WEFT_LAUNCH_LARGE_SHARED)");
  }
  if (!problem.empty()) {
    throw Error(launch_name(site) + ": invalid launch configuration: " + problem);
  }
}

}  // namespace

void run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
              const KernelBody& body, bool large_shared) {
  check_configuration(site, grid, block, dynamic_shared_bytes, large_shared);
  const int64_t blocks = int64_t{grid.x} * grid.y * grid.z;
  const int64_t threads_per_block = int64_t{block.x} * block.y * block.z;
  const bool parallel = blocks > 1 && blocks * threads_per_block >= kParallelLaunchThreads;

  const ThreadOrderSetting order = current_order();  // one order for the whole launch
  const bool blocks_reversed = order.order != ThreadOrder::forward;

  std::atomic<bool> failed{false};
  std::string first_error;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t i = 0; i < blocks; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    const int64_t b = blocks_reversed ? blocks - 1 - i : i;
    const uint3 index{static_cast<unsigned>(b % grid.x),
                      static_cast<unsigned>(b / grid.x % grid.y),
                      static_cast<unsigned>(b / (int64_t{grid.x} * grid.y))};
    try {
      blockIdx = index;
      blockDim = block;
      gridDim = grid;
      this_thread_scheduler().run_block(block, dynamic_shared_bytes, body, order);
    } catch (const std::exception& error) {
      if (!failed.exchange(true)) {
        first_error = launch_name(site) + ", block (" + std::to_string(index.x) + "," +
                      std::to_string(index.y) + "," + std::to_string(index.z) +
                      "): " + error.what();
      }
    }
  }
  if (failed.load()) throw Error(first_error);
}

void* dynamic_shared_memory() { return this_thread_scheduler().dynamic_shared(); }

// The first thread of a block to pass the mark fills the variable; the rest of the block (and a
// second pass of the same thread, as in a device function called twice) leave it alone.
void BlockScheduler::mark_shared_undefined(void* address, size_t bytes) {
  current("WEFT_SHARED_UNDEFINED");
  for (const void* marked : marked_undefined_) {
    if (marked == address) return;
  }
  marked_undefined_.push_back(address);
  std::memset(address, 0xFF, bytes);
}

void mark_shared_undefined(void* address, size_t bytes) {
  this_thread_scheduler().mark_shared_undefined(address, bytes);
}

void set_thread_order(ThreadOrder order, uint64_t seed) {
  order_seed.store(seed, std::memory_order_relaxed);
  order_setting.store(static_cast<int>(order), std::memory_order_release);
}

ThreadOrderSetting thread_order() { return current_order(); }

ThreadOrderSetting parse_thread_order(const char* text) {
  ThreadOrderSetting setting;
  const std::string value = text != nullptr ? text : "";
  if (value.empty() || value == "forward") return setting;
  for (const auto& [name, order] : {std::pair{"reverse", ThreadOrder::reverse},
                                    std::pair{"low-first", ThreadOrder::low_first},
                                    std::pair{"high-first", ThreadOrder::high_first}}) {
    if (value == name) {
      setting.order = order;
      return setting;
    }
  }
  const std::string shuffle = "shuffle";
  if (value.compare(0, shuffle.size(), shuffle) == 0) {
    setting.order = ThreadOrder::shuffled;
    if (value.size() == shuffle.size()) return setting;
    const std::string digits = value.substr(shuffle.size() + 1);
    const bool well_formed = value[shuffle.size()] == ':' && !digits.empty() &&
                             digits.size() <= 19 &&
                             digits.find_first_not_of("0123456789") == std::string::npos;
    if (well_formed) {
      setting.seed = std::stoull(digits);
      return setting;
    }
  }
  throw Error("WEFT_EMU_ORDER=\"" + value +
              "\": expected forward, reverse, low-first, high-first, shuffle or shuffle:SEED "
              "(SEED a decimal number)");
}

void check_vector_access(const void* address, size_t bytes) {
  if (reinterpret_cast<uintptr_t>(address) % bytes != 0) {
    std::ostringstream message;
    message << "misaligned address: a " << bytes << "-byte vector access at " << address
            << " (on a GPU: cudaErrorMisalignedAddress)";
    throw Error(message.str());
  }
}

void __syncthreads() { this_thread_scheduler().sync_threads(); }

void __syncwarp(unsigned mask) { warp_exchange(WarpOp::sync, mask, 0, 0, kWarpSize); }

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t bits, int lane_param, int width) {
  return this_thread_scheduler().warp_exchange(op, mask, bits, lane_param, width);
}

WarpFragment warp_matrix_exchange(WarpOp op, int param, const WarpFragment& in) {
  return this_thread_scheduler().warp_matrix_exchange(op, param, in);
}

AsyncCopyQueue& this_thread_async_copies() { return this_thread_scheduler().async_copies(); }

void count_async_copy(int bytes) {
  bump(&ThreadOpCounts::cp_async);
  bump(&ThreadOpCounts::cp_async_bytes, bytes);
}

OpCounts& OpCounts::operator+=(const OpCounts& more) {
  mma += more.mma;
  ldmatrix += more.ldmatrix;
  warp_ops += more.warp_ops;
  barriers += more.barriers;
  cp_async += more.cp_async;
  cp_async_bytes += more.cp_async_bytes;
  return *this;
}

OpCounts OpCounts::operator-(const OpCounts& earlier) const {
  OpCounts d;
  d.mma = mma - earlier.mma;
  d.ldmatrix = ldmatrix - earlier.ldmatrix;
  d.warp_ops = warp_ops - earlier.warp_ops;
  d.barriers = barriers - earlier.barriers;
  d.cp_async = cp_async - earlier.cp_async;
  d.cp_async_bytes = cp_async_bytes - earlier.cp_async_bytes;
  return d;
}

OpCounts op_counts() {
  std::lock_guard<std::mutex> lock(op_count_mutex);
  OpCounts total = op_count_retired;
  for (const ThreadOpCounts* thread : op_count_threads) total += thread->read();
  return total;
}

void reset_op_counts() {
  std::lock_guard<std::mutex> lock(op_count_mutex);
  op_count_retired = OpCounts{};
  for (ThreadOpCounts* thread : op_count_threads) thread->clear();
}

}  // namespace weft::emu
