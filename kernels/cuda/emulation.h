// Host emulation of the CUDA execution model, so that the hand-written kernels in kernels/cuda/
// compile with the ordinary C++ compiler and run (slowly, but exactly as written) on a machine
// without a GPU. The CI tests every kernel this way against the CPU reference.
//
// What a CUDA kernel assumes, and how it is provided here
// --------------------------------------------------------
// A launch kernel<<<grid, block, shared_bytes>>>(args) runs the kernel body once per thread:
// grid.x * grid.y * grid.z blocks of block.x * block.y * block.z threads. Threads of one block
// share `__shared__` memory and meet at `__syncthreads()`; the 32 threads of a warp also
// exchange registers (`__shfl_*_sync`) and vote (`__ballot_sync`).
//
//  * One fiber per CUDA thread. A fiber is a function with its own stack that can be suspended
//    and resumed (emulation_switch.h: a few instructions of our own on x86-64, POSIX ucontext
//    elsewhere). A block is run by a small scheduler on one
//    OS thread: it resumes every ready fiber of the block in thread order; a fiber runs until it
//    reaches a barrier or returns. Between two barriers the threads of a block therefore run one
//    after another, which is one legal CUDA interleaving (kernels must not rely on any other).
//  * `__syncthreads()` is a barrier of the block: the arriving fiber is suspended until every
//    thread of the block has arrived; the last one releases them all. A thread that returned
//    while others wait means the barrier can never complete (undefined behaviour on a GPU, often
//    a hang): the emulator throws weft::Error naming the kernel and the counts.
//  * A warp operation (shuffle, vote, __syncwarp) is a barrier among the lanes named in its mask:
//    each lane deposits its value and waits; the last lane to arrive computes every lane's result
//    (the value of the source lane, or the vote) and releases the warp. Reading a lane that is
//    not taking part, or lanes of one warp disagreeing on the operation, throws.
//  * Warp-level matrix instructions (mma.sync, ldmatrix; kernels/cuda/warp_matrix.h) are warp
//    operations whose deposit and result are fragments of up to 12 registers per lane; the last
//    lane computes every lane's registers by the PTX ISA's layouts (emulation_matrix.cpp).
//    cp.async copies are queued per thread, their destination NaN until the wait_group that
//    completes them.
//  * Indices: threadIdx, blockIdx, blockDim and gridDim are thread_local variables that the
//    scheduler sets before it resumes a fiber, so kernel code reads them as on the GPU.
//  * `__shared__` is `static thread_local`: every fiber of a block runs on the same OS thread
//    and sees the same variable, while blocks running at the same time on other OS threads have
//    their own copy. Dynamic shared memory (the launch's shared_bytes, declared in a kernel with
//    WEFT_DYNAMIC_SHARED) is a heap buffer of exactly that size per block, filled with 0xFF
//    bytes (a float NaN) at block start so a read before any write shows up, and overruns are
//    caught by AddressSanitizer.
//  * Blocks are independent, so they run on OpenMP threads (each with its own scheduler and
//    fibers) when a launch is large; atomics are real atomics (std::atomic_ref).
//
// What it does not model: timing, the memory hierarchy, or races as such. A race shows up only
// if the order the scheduler picks exposes it; the order can be changed (ThreadOrder,
// emulation_order.h), and the test suite runs the hand kernels' op table in several, so a kernel
// that relies on one interleaving (warp-synchronous code without __syncwarp, a missing barrier)
// gives a different result in one of them. Global memory is host memory.
// Static __shared__ variables would keep their values from one block to the next (on a GPU they
// start undefined), so every declaration is followed by WEFT_SHARED_UNDEFINED(name)
// (cuda_compat.h): the first thread of each block to pass it fills the variable with 0xFF bytes,
// as dynamic shared memory is filled, and a kernel that reads shared memory before writing it
// reads NaN (or an index of -1) here as it would read garbage there. A test
// (test_emulation.cpp) checks that no declaration in kernels/cuda/ goes without its mark.
//
// Cost: a fiber switch on x86-64 is a function call that saves and restores the six callee-saved
// registers (until 2026-12-05 it was swapcontext, which also saves the signal mask with a system
// call: about 0.6 us per switch and most of the emulation's time; until 2026-12-07 it also
// switched the floating-point control state, see emulation_switch.cpp), paid once per thread to
// start it and twice per barrier or warp operation it waits in. Each emulated thread still costs
// its start and its stack's cache lines, so tests should use modest sizes (thousands of
// elements, not millions).
//
// AddressSanitizer: switching stacks behind ASan's back breaks its bookkeeping, so every switch is
// announced with __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber (see
// emulation.cpp). Where the switch is ucontext's (not x86-64), ASan prints one line per process
// ("WARNING: ASan doesn't fully support makecontext/swapcontext functions ...") the first time a
// fiber is entered; it is expected.
//
// Kernel sources do not include this file directly: they include kernels/cuda/cuda_compat.h,
// which picks the real CUDA headers under nvcc and this emulation otherwise.
#pragma once

#if defined(__CUDACC__)
#error "kernels/cuda/emulation.h is the host emulation; nvcc builds use the CUDA runtime"
#endif

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cuda/emulation_order.h"

// ---- declaration specifiers -------------------------------------------------------------------
// On the host every function is a host function and shared memory is per OS thread (see above).
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static thread_local

namespace weft::emu {

// ---- launch geometry --------------------------------------------------------------------------
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

// A CUDA stream orders work on a GPU; the emulator runs each launch to completion before
// returning, so a stream is just a token that launch sites pass along.
struct Stream;
using stream_t = Stream*;

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

// ---- running a grid ---------------------------------------------------------------------------

// The kernel body as one callable, erased to a function pointer plus a context pointer so the
// scheduler (emulation.cpp) is not a template.
class KernelBody {
 public:
  template <class Callable>
  explicit KernelBody(const Callable& callable)
      : invoke_([](const void* c) { (*static_cast<const Callable*>(c))(); }),
        callable_(&callable) {}
  void operator()() const { invoke_(callable_); }

 private:
  void (*invoke_)(const void*);
  const void* callable_;
};

// Where a launch came from, for error messages.
struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

// Runs `body` once for every thread of the grid. Checks the launch configuration as the CUDA
// driver would (at most 1024 threads per block, dynamic shared memory up to 48 KiB, or up to a
// block's opt-in limit of 227 KiB (sm_90) for a kernel allowed more (large_shared: launch.h's
// WEFT_LAUNCH_LARGE_SHARED), no empty grid) and throws weft::Error naming the kernel on a bad
// configuration or a broken barrier.
void run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
              const KernelBody& body, bool large_shared = false);

// The dynamic shared memory of the calling thread's block (nullptr when the launch asked for
// none). Used by WEFT_DYNAMIC_SHARED.
void* dynamic_shared_memory();

// Fills the static __shared__ variable at `address` with 0xFF bytes unless this block has done
// so already (WEFT_SHARED_UNDEFINED). Throws outside a kernel.
void mark_shared_undefined(void* address, size_t bytes);

// ---- barriers and warp operations ---------------------------------------------------------------

void __syncthreads();

// What a lane asks of its warp. The last lane to arrive computes every lane's result. The
// last three are the warp-level matrix instructions (see below and emulation_matrix.cpp).
enum class WarpOp {
  sync,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  mma_m16n8k8_tf32,
  mma_m16n8k16_bf16,
  ldmatrix,
};

// Deposits `bits` (a value of up to 8 bytes) for a warp operation over the lanes in `mask` and
// returns this lane's result: the bits of the source lane for a shuffle, the vote for a ballot.
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t bits, int lane_param, int width);

void __syncwarp(unsigned mask = 0xffffffffu);

template <class T>
T warp_shuffle(WarpOp op, unsigned mask, T value, int lane_param, int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp shuffles move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = warp_exchange(op, mask, bits, lane_param, width);
  T result;
  std::memcpy(&result, &bits, sizeof(T));
  return result;
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return warp_shuffle(WarpOp::shfl_idx, mask, var, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return warp_shuffle(WarpOp::shfl_up, mask, var, static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return warp_shuffle(WarpOp::shfl_down, mask, var, static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return warp_shuffle(WarpOp::shfl_xor, mask, var, lane_mask, width);
}

inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(
      warp_exchange(WarpOp::ballot, mask, predicate != 0 ? 1u : 0u, 0, warpSize));
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, !predicate) == 0; }

// ---- warp-level matrix instructions ----------------------------------------------------------
// mma.sync and ldmatrix are warp operations like a shuffle, with more registers per lane: every
// lane deposits its fragment (up to kFragmentWords 32-bit registers: an mma's A, B and C, or
// ldmatrix's row address) and waits; the last lane to arrive computes every lane's result
// registers and releases the warp. Both are .sync.aligned: all 32 lanes of a full warp take
// part, or the emulator throws. Kernels call them through kernels/cuda/warp_matrix.h; the
// layouts and the arithmetic are described in emulation_matrix.cpp and docs/kernels.md.
constexpr int kFragmentWords = 12;

struct WarpFragment {
  uint32_t words[kFragmentWords] = {};
};

// `param`: the number of 8x8 matrices for ldmatrix (1, 2 or 4), plus 8 for .trans; 0 for mma.
WarpFragment warp_matrix_exchange(WarpOp op, int param, const WarpFragment& in);

// Computes every lane's result of a matrix instruction from the 32 lanes' deposits (called by
// the last lane to arrive, emulation_matrix.cpp).
void complete_matrix_op(WarpOp op, int param, const WarpFragment* const in[32],
                        WarpFragment* const out[32]);

// ---- asynchronous copies (cp.async) ---------------------------------------------------------
// Each CUDA thread has its own queue of cp.async copies. Issuing one fills its destination with
// 0xFF bytes (a float NaN) at once and queues the copy; commit_group closes the open group;
// wait_group N performs, in issue order, the copies of every committed group except the N most
// recent, as the hardware guarantees them complete by then. So a kernel that reads shared memory
// before waiting for the copy that fills it reads NaN, and its test fails. Copies left pending
// when a thread returns are dropped (their destination is gone on a GPU too).
struct AsyncCopy {
  void* destination;
  const void* source;
  int bytes;         // cp-size: 4, 8 or 16
  int source_bytes;  // bytes read from source; the rest of the destination is zero-filled
  uint64_t group;    // the group the copy belongs to (the thread's open group when issued)
};

struct AsyncCopyQueue {
  std::vector<AsyncCopy> pending;  // in issue order
  uint64_t open_group = 0;         // groups 0 .. open_group - 1 are committed
};

// The calling CUDA thread's queue (throws outside a kernel).
AsyncCopyQueue& this_thread_async_copies();

void cp_async(void* destination, const void* source, int bytes, int source_bytes);
// Counts one copy of `bytes` for op_counts() (called by cp_async).
void count_async_copy(int bytes);
void cp_async_commit_group();
void cp_async_wait_group(int most_recent_pending);

// ---- what the emulated kernels executed -------------------------------------------------------
// Counts of the operations that cost a GPU issue slots besides arithmetic, summed over every
// emulated launch since the process started (or reset_op_counts()): the dynamic counterpart of
// the static instruction mix (bench/kernel_static_table.py), per operation the kernel's source
// really executed for a given shape. A warp operation counts once per warp, a barrier once per
// block, a copy once per thread. Read them when no emulated kernel is running (after the
// stream's synchronisation); each OS thread counts its own, op_counts() adds them up.
struct OpCounts {
  int64_t mma = 0;             // mma.sync, either shape (per warp)
  int64_t ldmatrix = 0;        // ldmatrix, any form (per warp)
  int64_t warp_ops = 0;        // shuffles, ballots, __syncwarp (per warp)
  int64_t barriers = 0;        // __syncthreads (per block)
  int64_t cp_async = 0;        // cp.async copies (per thread)
  int64_t cp_async_bytes = 0;  // their cp-size in bytes

  OpCounts& operator+=(const OpCounts& more);
  OpCounts operator-(const OpCounts& earlier) const;
};

OpCounts op_counts();
void reset_op_counts();

// ---- atomics: real atomics, because blocks may run on several OS threads ------------------------

template <class T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <class T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}
template <class T>
T atomicCAS(T* address, T expected, T desired) {
  std::atomic_ref<T>(*address).compare_exchange_strong(expected, desired);
  return expected;  // the old value, whether or not the exchange happened
}
template <class T>
T atomicMax(T* address, T value) {
  std::atomic_ref<T> target(*address);
  T old = target.load();
  while (old < value && !target.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <class T>
T atomicMin(T* address, T value) {
  std::atomic_ref<T> target(*address);
  T old = target.load();
  while (value < old && !target.compare_exchange_weak(old, value)) {
  }
  return old;
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- device math that has no host spelling ------------------------------------------------------
// The fast-math intrinsics are approximate on a GPU; on the host they are the exact functions,
// so a kernel compared against the CPU reference must allow for the GPU's error in its tolerance.
// __expf and __logf need nothing here: glibc's <math.h> declares them (its own names for expf
// and logf) in the global namespace.
inline float __fdividef(float a, float b) { return a / b; }
// The high 32 bits of the 64-bit product, exactly as the GPU's integer instruction gives them.
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
template <class T>
T __ldg(const T* address) {
  return *address;
}

// fmaf: a * b + c rounded once, as the GPU's FFMA computes it. The C library's fmaf is exact
// but is a call per multiply-add (through the PLT), around which the caller must save every
// vector register, its accumulators included. Here, in double: the product of two floats is
// exact in double (24 + 24 bits < 53, exponents in range), so the double sum is the exact value
// rounded once to 53 bits, and rounding it to float gives the exact value rounded to float unless
// the first rounding landed exactly on a float midpoint (then the second rounding may go the
// wrong way: double rounding). Every float midpoint is a double, and rounding is monotonic, so a
// sum that is not a midpoint lies on the same side of every midpoint as the exact value. The rare
// midpoint sums, and sums below float's normal range (where float has fewer bits), go to the
// library. A test compares the two bit for bit (label emu).
inline float fmaf(float a, float b, float c) {
  const double sum = static_cast<double>(a) * static_cast<double>(b) + static_cast<double>(c);
  uint64_t bits = 0;
  std::memcpy(&bits, &sum, sizeof bits);
  // The 29 bits below float's 23-bit fraction: 1 then 28 zeros is a midpoint.
  const bool midpoint = (bits & 0x1fffffffu) == 0x10000000u;
  const bool below_normal = ((bits >> 52) & 0x7ffu) < 1023 - 126 && (bits << 1) != 0;
  if (midpoint || below_normal) [[unlikely]] return std::fmaf(a, b, c);
  return static_cast<float>(sum);
}

// ---- vector types -------------------------------------------------------------------------------
// float4 as in CUDA's vector_types.h: four floats aligned to 16 bytes, so that a kernel's
// reinterpret_cast<const float4*> of a 16-byte-aligned float pointer means the same here (one
// 16-byte access on a GPU, four floats on the host).
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
// float2 likewise: two floats aligned to 8 bytes.
struct alignas(8) float2 {
  float x, y;
};

// A GPU faults on a vector access that is not aligned to its size (cudaErrorMisalignedAddress);
// the host would not notice. Kernels' float4 accesses (load4/store4 in common.h) call this first
// so that an unaligned one throws weft::Error here too.
void check_vector_access(const void* address, size_t bytes);

}  // namespace weft::emu

// The CUDA names live in the global namespace, as the builtins do under nvcc. They are defined
// in weft::emu so that, in a build that also links nvcc-compiled objects, no symbol of the
// emulation collides with the CUDA runtime's (dim3's constructor, for one).
using weft::emu::dim3;
using weft::emu::uint3;
using cudaStream_t = weft::emu::stream_t;
using weft::emu::blockDim;
using weft::emu::blockIdx;
using weft::emu::gridDim;
using weft::emu::threadIdx;
using weft::emu::warpSize;
using weft::emu::__syncthreads;
using weft::emu::__syncwarp;
using weft::emu::__shfl_sync;
using weft::emu::__shfl_up_sync;
using weft::emu::__shfl_down_sync;
using weft::emu::__shfl_xor_sync;
using weft::emu::__ballot_sync;
using weft::emu::__any_sync;
using weft::emu::__all_sync;
using weft::emu::atomicAdd;
using weft::emu::atomicExch;
using weft::emu::atomicCAS;
using weft::emu::atomicMax;
using weft::emu::atomicMin;
using weft::emu::__threadfence;
using weft::emu::__fdividef;
using weft::emu::__umulhi;
using weft::emu::rsqrtf;
using weft::emu::__saturatef;
using weft::emu::__ldg;
using weft::emu::float2;
using weft::emu::float4;
using weft::emu::make_float4;
