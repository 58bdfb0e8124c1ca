// Decoding a flat index without division in a loop: a number as digits (hi, mid, lo) in the mixed
// radix (unbounded, mid_radix, lo_radix) — a tap (c, kh, kw) in radix (KH, KW), a position
// (n, oh, ow) in radix (OH, OW) — split once by division (split_digits) and then moved on by a
// fixed step with a compare and a carry per digit (add_digits). Used by the SIMT core's indexed
// operands (tiled_product_large.h, conv_operands.h) and the tensor-core convolutions' slab
// tables (conv_tensor_core.cu).
#pragma once

#include "kernels/cuda/cuda_compat.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

struct Digits {
  int hi, mid, lo;
};

// The divisions, once per decoded index (also on the host, for a step split at launch).
__host__ __device__ __forceinline__ Digits split_digits(int value, int mid_radix, int lo_radix) {
  const int per_hi = mid_radix * lo_radix;
  const int hi = value / per_hi;
  const int rest = value - hi * per_hi;
  const int mid = rest / lo_radix;
  return Digits{hi, mid, rest - mid * lo_radix};
}

// a += step for a step already in digits (step.mid < mid_radix, step.lo < lo_radix): a digit
// plus the step's digit plus a carry stays below twice its radix, so one compare and one
// subtraction per digit replace the divisions.
__device__ __forceinline__ void add_digits(Digits& a, const Digits& step, int mid_radix,
                                           int lo_radix) {
  a.lo += step.lo;
  int carry = 0;
  if (a.lo >= lo_radix) {
    a.lo -= lo_radix;
    carry = 1;
  }
  a.mid += step.mid + carry;
  carry = 0;
  if (a.mid >= mid_radix) {
    a.mid -= mid_radix;
    carry = 1;
  }
  a.hi += step.hi + carry;
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
