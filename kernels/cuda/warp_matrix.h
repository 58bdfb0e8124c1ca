// The warp-level matrix instructions and asynchronous copies the hand kernels use, one spelling
// for both builds: under nvcc each function is one inline PTX instruction; on the host it calls
// the emulation (emulation.h, emulation_matrix.cpp), which implements the PTX ISA's fragment
// layouts and rounding. Needs sm_80 or later on a GPU (the build targets sm_90).
//
//   to_tf32(x)                  cvt.rna.tf32.f32: x rounded to TF32, ties away from zero, as the
//                               bits of a .b32 register (the low 13 bits zero)
//   pack_bf16x2(low, high)      cvt.rn.bf16x2.f32: two floats rounded to BF16 (ties to even),
//                               `low` in bits 0-15, `high` in bits 16-31
//   tf32_value(x)               to_tf32(x) as a float (for copies that round as they go)
//   word_of(x)                  the bits of x as a .b32 register
//   tf32_from_float_bits(r), pack_bf16x2_from_float_bits(lo, hi)
//                               the same for registers that hold float bits (as ldmatrix
//                               delivers 32-bit data)
//   mma_m16n8k8_tf32(d, a, b, c)   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//   mma_m16n8k16_bf16(d, a, b, c)  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//                               D (16 x 8) = A B + C, every lane holding its fragment registers;
//                               the layouts are listed in emulation_matrix.cpp and
//                               docs/kernels.md. All 32 lanes of the warp execute it together.
//   ldmatrix<N, trans>(d, row)  ldmatrix.sync.aligned.m8n8.xN{.trans}.shared.b16: N (1, 2, 4)
//                               8 x 8 matrices of 16-bit elements from shared memory; lane
//                               8 i + r passes the address of row r of matrix i (16 bytes,
//                               16-byte aligned); lane l gets register i = elements
//                               (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix i, low
//                               half first, or the transposed positions with .trans. For 32-bit
//                               data (fp32, tf32) one "row" is 4 elements and lane l gets
//                               element (l / 4, l % 4) of an 8 x 4 block.
//   cp_async_ca<B>(dst, src, n) cp.async.ca.shared.global [dst], [src], B, n: copy n of B (4, 8,
//                               16) bytes from global to shared memory, zero-filling the rest
//                               (n = 0 writes B zero bytes, for a tile edge); asynchronous
//   cp_async_cg16(dst, src, n)  the same through L2 only (.cg, 16 bytes only)
//   rounded_operand(x, r)       x as a tensor core reads it at tf32 or bf16, as a float (for
//                               SIMT kernels that multiply at those precisions)
//   cp_async_commit_group()     closes the thread's open group of copies
//   cp_async_wait_group<N>()    waits until at most N of the thread's most recent committed
//                               groups are still pending (N = 0: all); then a __syncthreads()
//                               makes the other threads' copies visible too
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"

#include "kernels/selection.h"

#if !defined(__CUDACC__)
#include "kernels/reduced_precision.h"
#endif

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

#if defined(__CUDACC__)

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ uint32_t pack_bf16x2(float low, float high) {
  uint32_t r;  // the first source goes to the upper half
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(high), "f"(low));
  return r;
}

__device__ __forceinline__ uint32_t tf32_from_float_bits(uint32_t bits) {
  return to_tf32(__uint_as_float(bits));
}

__device__ __forceinline__ float tf32_value(float x) { return __uint_as_float(to_tf32(x)); }

__device__ __forceinline__ uint32_t word_of(float x) { return __float_as_uint(x); }

__device__ __forceinline__ uint32_t pack_bf16x2_from_float_bits(uint32_t low, uint32_t high) {
  return pack_bf16x2(__uint_as_float(low), __uint_as_float(high));
}

__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2], const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4],
                                                  const uint32_t (&b)[2], const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ unsigned shared_address(const void* pointer) {
  return static_cast<unsigned>(__cvta_generic_to_shared(pointer));
}

template <int kMatrices, bool kTrans>
__device__ __forceinline__ void ldmatrix(uint32_t (&d)[kMatrices], const void* row) {
  static_assert(kMatrices == 1 || kMatrices == 2 || kMatrices == 4, "ldmatrix loads 1, 2 or 4");
  const unsigned address = shared_address(row);
  if constexpr (kMatrices == 1 && !kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];"
                 : "=r"(d[0]) : "r"(address) : "memory");
  } else if constexpr (kMatrices == 1) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];"
                 : "=r"(d[0]) : "r"(address) : "memory");
  } else if constexpr (kMatrices == 2 && !kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
                 : "=r"(d[0]), "=r"(d[1]) : "r"(address) : "memory");
  } else if constexpr (kMatrices == 2) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
                 : "=r"(d[0]), "=r"(d[1]) : "r"(address) : "memory");
  } else if constexpr (!kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "r"(address) : "memory");
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "r"(address) : "memory");
  }
}

template <int kBytes>
__device__ __forceinline__ void cp_async_ca(void* destination, const void* source,
                                            int source_bytes) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(shared_address(destination)),
               "l"(source), "n"(kBytes), "r"(source_bytes)
               : "memory");
}

__device__ __forceinline__ void cp_async_cg16(void* destination, const void* source,
                                              int source_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(destination)),
               "l"(source), "r"(source_bytes)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit_group() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}

template <int kPending>
__device__ __forceinline__ void cp_async_wait_group() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

#else  // the host emulation

inline uint32_t to_tf32(float x) { return float_bits(round_to_tf32(x)); }

inline uint32_t pack_bf16x2(float low, float high) { return ::weft::pack_bf16x2(low, high); }

inline uint32_t tf32_from_float_bits(uint32_t bits) { return to_tf32(float_from_bits(bits)); }

inline float tf32_value(float x) { return float_from_bits(to_tf32(x)); }

inline uint32_t word_of(float x) { return float_bits(x); }

inline uint32_t pack_bf16x2_from_float_bits(uint32_t low, uint32_t high) {
  return pack_bf16x2(float_from_bits(low), float_from_bits(high));
}

inline void mma_emulated(::weft::emu::WarpOp op, float (&d)[4], const uint32_t (&a)[4],
                         const uint32_t (&b)[2], const float (&c)[4]) {
  ::weft::emu::WarpFragment in;  // A in words 0-3, B in 4-5, C in 6-9 (emulation_matrix.cpp)
  for (int i = 0; i < 4; ++i) in.words[i] = a[i];
  for (int i = 0; i < 2; ++i) in.words[4 + i] = b[i];
  for (int i = 0; i < 4; ++i) in.words[6 + i] = float_bits(c[i]);
  const ::weft::emu::WarpFragment out = ::weft::emu::warp_matrix_exchange(op, 0, in);
  for (int i = 0; i < 4; ++i) d[i] = float_from_bits(out.words[i]);
}

inline void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                             const float (&c)[4]) {
  mma_emulated(::weft::emu::WarpOp::mma_m16n8k8_tf32, d, a, b, c);
}

inline void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                              const float (&c)[4]) {
  mma_emulated(::weft::emu::WarpOp::mma_m16n8k16_bf16, d, a, b, c);
}

template <int kMatrices, bool kTrans>
void ldmatrix(uint32_t (&d)[kMatrices], const void* row) {
  static_assert(kMatrices == 1 || kMatrices == 2 || kMatrices == 4, "ldmatrix loads 1, 2 or 4");
  ::weft::emu::WarpFragment in;
  const uint64_t address = reinterpret_cast<uintptr_t>(row);
  std::memcpy(in.words, &address, sizeof address);
  const ::weft::emu::WarpFragment out = ::weft::emu::warp_matrix_exchange(
      ::weft::emu::WarpOp::ldmatrix, kMatrices + (kTrans ? 8 : 0), in);
  for (int i = 0; i < kMatrices; ++i) d[i] = out.words[i];
}

template <int kBytes>
void cp_async_ca(void* destination, const void* source, int source_bytes) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
  ::weft::emu::cp_async(destination, source, kBytes, source_bytes);
}

inline void cp_async_cg16(void* destination, const void* source, int source_bytes) {
  ::weft::emu::cp_async(destination, source, 16, source_bytes);
}

inline void cp_async_commit_group() { ::weft::emu::cp_async_commit_group(); }

template <int kPending>
void cp_async_wait_group() {
  ::weft::emu::cp_async_wait_group(kPending);
}

#endif

// How a SIMT kernel that stands in for a tensor-core one at tf32 or bf16 (the narrow
// convolutions, conv_forward_narrow.cu and conv_filter_narrow.cu; the linear layer's forward of
// few outputs, linear_few_outputs.cu) rounds its operands, so that
// its products are the tensor core's: none at fp32, to_tf32 at tf32, BF16 (cvt.rn) at bf16.
enum class OperandRounding : uint8_t { none, tf32, bf16 };

__device__ __forceinline__ float rounded_operand(float x, OperandRounding rounding) {
#if defined(__CUDACC__)
  if (rounding == OperandRounding::tf32) return __uint_as_float(to_tf32(x));
  if (rounding == OperandRounding::bf16) return __uint_as_float(pack_bf16x2(x, 0.0f) << 16);
#else
  if (rounding == OperandRounding::tf32) return float_from_bits(to_tf32(x));
  if (rounding == OperandRounding::bf16) return float_from_bits(pack_bf16x2(x, 0.0f) << 16);
#endif
  return x;
}

// The rounding that stands in for the tensor cores at a math precision (kernels/selection.h).
inline OperandRounding rounding_of(MathPrecision precision) {
  return precision == MathPrecision::tf32   ? OperandRounding::tf32
         : precision == MathPrecision::bf16 ? OperandRounding::bf16
                                            : OperandRounding::none;
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
