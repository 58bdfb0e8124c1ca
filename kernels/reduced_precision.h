// TF32 and BF16 rounding on the host, bit-exact with the GPU's conversions. Used where the host
// must see what a tensor core sees: the host emulation of the warp-level matrix instructions
// (kernels/cuda/emulation_matrix.cpp), the CPU reference's GEMM when the precision switch asks
// for tf32 or bf16 (kernels/cpu/gemm.cpp, kernels/selection.h MathPrecision), and the tests.
// Plain C++; the GPU side spells the same conversions as PTX (kernels/cuda/warp_matrix.h).
//
//   TF32: sign, 8 exponent bits and 10 mantissa bits, carried in a 32-bit register whose low 13
//         bits are zero. cvt.rna.tf32.f32 rounds to nearest with ties away from zero; the mma
//         instruction itself reads only the top 19 bits of each operand (it truncates).
//   BF16: sign, 8 exponent bits and 7 mantissa bits, the top half of a float. Converting a float
//         rounds to nearest with ties to even (cvt.rn.bf16.f32, cvt.rn.bf16x2.f32).
// NaN stays NaN (a quiet NaN of the same sign) and infinities stay infinite in both.
#pragma once

#include <cstdint>
#include <cstring>

namespace weft {

inline uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

inline float float_from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

inline bool bits_are_nan(uint32_t bits) { return (bits & 0x7fffffffu) > 0x7f800000u; }

// cvt.rna.tf32.f32: the float rounded to 10 mantissa bits, ties away from zero. Adding half a
// unit of the last kept place to the magnitude bits and clearing the 13 dropped bits does it; a
// carry out of the mantissa moves the exponent up, and past the largest finite value gives
// infinity, as the conversion does.
inline float round_to_tf32(float x) {
  const uint32_t bits = float_bits(x);
  if (bits_are_nan(bits)) return float_from_bits(bits | 0x00400000u);
  if ((bits & 0x7f800000u) == 0x7f800000u) return x;  // infinity
  return float_from_bits((bits + 0x1000u) & 0xffffe000u);
}

// What the mma instruction reads of a .tf32 operand: the top 19 bits, the rest ignored.
inline float truncate_to_tf32(float x) { return float_from_bits(float_bits(x) & 0xffffe000u); }

// The BF16 bits of a float, rounded to nearest, ties to even (cvt.rn.bf16.f32).
inline uint16_t bf16_bits(float x) {
  const uint32_t bits = float_bits(x);
  if (bits_are_nan(bits)) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  const uint32_t lsb = (bits >> 16) & 1u;  // ties go to the even neighbour
  return static_cast<uint16_t>((bits + 0x7fffu + lsb) >> 16);
}

inline float bf16_to_float(uint16_t bits) { return float_from_bits(uint32_t{bits} << 16); }

inline float round_to_bf16(float x) { return bf16_to_float(bf16_bits(x)); }

// Two floats as one register of packed BF16, `low` in bits 0-15 (the element with the lower
// index in a fragment) and `high` in bits 16-31, as cvt.rn.bf16x2.f32 d, high, low packs them.
inline uint32_t pack_bf16x2(float low, float high) {
  return uint32_t{bf16_bits(low)} | (uint32_t{bf16_bits(high)} << 16);
}

}  // namespace weft
