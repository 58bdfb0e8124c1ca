// The host emulation of the warp-level matrix instructions and of cp.async (declared in
// emulation.h; kernels call them through kernels/cuda/warp_matrix.h). The scheduler
// (emulation.cpp) gathers the 32 lanes' fragments of an mma.sync or ldmatrix and calls
// complete_matrix_op from the last lane to arrive; the cp.async queue lives with each fiber.
//
// Fragment layouts, from the PTX ISA ("Matrix Fragments for mma.m16n8k8", "... for mma.m16n8k16
// with floating point type", "ldmatrix"), with g = lane / 4 and t = lane % 4:
//
//   mma.m16n8k8 .tf32   A (16 x 8, row): a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)
//                       B (8 x 8, col):  b0 (k t, n g)  b1 (k t + 4, n g)
//   mma.m16n8k16 .bf16  A (16 x 16), two bf16 per register, low half first:
//                         r0 (g, 2t | 2t+1)  r1 (g+8, 2t | 2t+1)  r2 (g, 2t+8 | 2t+9)
//                         r3 (g+8, 2t+8 | 2t+9)
//                       B (16 x 8): r0 (k 2t | 2t+1, n g)  r1 (k 2t+8 | 2t+9, n g)
//   C and D, both shapes (16 x 8 f32): c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)
//   ldmatrix .m8n8 .b16: lane 8i + r gives the address of row r of matrix i (16 bytes, 16-byte
//                       aligned); lane l receives in register i the elements (l/4, 2(l%4)) and
//                       (l/4, 2(l%4)+1) of matrix i, or with .trans (2(l%4), l/4) and
//                       (2(l%4)+1, l/4); low half first.
//
// Arithmetic of mma. Operands: a .tf32 operand is read as its top 19 bits (the hardware ignores
// the low 13 bits; kernels round with cvt.rna first, warp_matrix.h); .bf16 operands are exact.
// Every product of two such operands is exact in double (11 x 11 or 8 x 8 significant bits).
// The emulator adds the k products and C in double, in k order, and rounds the sum to float
// once: D is the correctly rounded value of C + sum_k A B. The hardware also forms the products
// exactly but adds them in a fixed-point alignment to the largest term with truncation, not a
// correct rounding (measured on V100/A100 by Fasi, Higham, Mikaitis and Pranesh, "Numerical
// behavior of NVIDIA tensor cores", 2021; NVIDIA does not document it). The two differ by at
// most a few units in the last place of the largest term of one mma (k + 1 terms), about
// 2^-22 of it: the same size as the rounding of a float accumulation chain over those k terms.
// A GEMM of depth K chains K / k mma instructions through C in float on both, so a tolerance
// that covers a float accumulation of K terms (tests/backend_op_table.cpp product_tolerance)
// covers emulator against hardware too; the rounding of the operands to tf32 or bf16, 2^-11 or
// 2^-8 relative, is identical on both sides and is not part of the difference.
#include <cstring>
#include <string>

#include "kernels/cuda/emulation.h"
#include "kernels/error.h"
#include "kernels/reduced_precision.h"

namespace weft::emu {
namespace {

constexpr int kLanes = 32;

float word_as_float(uint32_t word) { return float_from_bits(word); }
uint32_t float_as_word(float value) { return float_bits(value); }

float low_bf16(uint32_t word) { return bf16_to_float(static_cast<uint16_t>(word & 0xffffu)); }
float high_bf16(uint32_t word) { return bf16_to_float(static_cast<uint16_t>(word >> 16)); }

// D = C + A B for a 16 x 8 x depth product, C and D in the accumulator layout.
template <int kDepth>
void multiply_accumulate(const double (&a)[16][kDepth], const double (&b)[kDepth][8],
                         const WarpFragment* const in[kLanes], int c_word,
                         WarpFragment* const out[kLanes]) {
  for (int lane = 0; lane < kLanes; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + (i >= 2 ? 8 : 0);
      const int col = 2 * t + (i & 1);
      double sum = 0.0;
      for (int k = 0; k < kDepth; ++k) sum += a[row][k] * b[k][col];
      sum += word_as_float(in[lane]->words[c_word + i]);
      out[lane]->words[i] = float_as_word(static_cast<float>(sum));
    }
  }
}

// Words of a lane's deposit: A in 0-3, B in 4-5, C in 6-9 (warp_matrix.h packs them so).
void mma_m16n8k8_tf32(const WarpFragment* const in[kLanes], WarpFragment* const out[kLanes]) {
  double a[16][8], b[8][8];
  for (int lane = 0; lane < kLanes; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const uint32_t* w = in[lane]->words;
    a[g][t] = truncate_to_tf32(word_as_float(w[0]));
    a[g + 8][t] = truncate_to_tf32(word_as_float(w[1]));
    a[g][t + 4] = truncate_to_tf32(word_as_float(w[2]));
    a[g + 8][t + 4] = truncate_to_tf32(word_as_float(w[3]));
    b[t][g] = truncate_to_tf32(word_as_float(w[4]));
    b[t + 4][g] = truncate_to_tf32(word_as_float(w[5]));
  }
  multiply_accumulate<8>(a, b, in, 6, out);
}

void mma_m16n8k16_bf16(const WarpFragment* const in[kLanes], WarpFragment* const out[kLanes]) {
  double a[16][16], b[16][8];
  for (int lane = 0; lane < kLanes; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const uint32_t* w = in[lane]->words;
    for (int r = 0; r < 4; ++r) {
      const int row = g + (r & 1 ? 8 : 0);
      const int col = 2 * t + (r >= 2 ? 8 : 0);
      a[row][col] = low_bf16(w[r]);
      a[row][col + 1] = high_bf16(w[r]);
    }
    for (int r = 0; r < 2; ++r) {
      const int k = 2 * t + (r == 1 ? 8 : 0);
      b[k][g] = low_bf16(w[4 + r]);
      b[k + 1][g] = high_bf16(w[4 + r]);
    }
  }
  multiply_accumulate<16>(a, b, in, 6, out);
}

// param: matrices (1, 2, 4) + 8 for .trans. Word 0-1 of a lane's deposit: its row address.
void ldmatrix(int param, const WarpFragment* const in[kLanes], WarpFragment* const out[kLanes]) {
  const bool trans = (param & 8) != 0;
  const int matrices = param & 7;
  if (matrices != 1 && matrices != 2 && matrices != 4) {
    throw Error("ldmatrix: " + std::to_string(matrices) + " matrices (.x1, .x2 or .x4 only)");
  }
  uint16_t m[4][8][8];
  for (int i = 0; i < matrices; ++i) {
    for (int r = 0; r < 8; ++r) {
      uint64_t address = 0;
      std::memcpy(&address, in[8 * i + r]->words, sizeof address);
      if (address % 16 != 0) {
        throw Error("ldmatrix: lane " + std::to_string(8 * i + r) + " gives the row address " +
                    std::to_string(address) + ", which is not 16-byte aligned");
      }
      std::memcpy(m[i][r], reinterpret_cast<const void*>(address), 16);
    }
  }
  for (int lane = 0; lane < kLanes; ++lane) {
    const int row = lane / 4, pair = 2 * (lane % 4);
    for (int i = 0; i < matrices; ++i) {
      const uint16_t low = trans ? m[i][pair][row] : m[i][row][pair];
      const uint16_t high = trans ? m[i][pair + 1][row] : m[i][row][pair + 1];
      out[lane]->words[i] = uint32_t{low} | (uint32_t{high} << 16);
    }
  }
}

void perform(const AsyncCopy& copy) {
  std::memcpy(copy.destination, copy.source, static_cast<size_t>(copy.source_bytes));
  std::memset(static_cast<unsigned char*>(copy.destination) + copy.source_bytes, 0,
              static_cast<size_t>(copy.bytes - copy.source_bytes));
}

}  // namespace

void complete_matrix_op(WarpOp op, int param, const WarpFragment* const in[32],
                        WarpFragment* const out[32]) {
  switch (op) {
    case WarpOp::mma_m16n8k8_tf32: mma_m16n8k8_tf32(in, out); return;
    case WarpOp::mma_m16n8k16_bf16: mma_m16n8k16_bf16(in, out); return;
    case WarpOp::ldmatrix: ldmatrix(param, in, out); return;
    default: throw Error("complete_matrix_op: not a matrix instruction");
  }
}

void cp_async(void* destination, const void* source, int bytes, int source_bytes) {
  if (bytes != 4 && bytes != 8 && bytes != 16) {
    throw Error("cp.async of " + std::to_string(bytes) + " bytes (4, 8 or 16 only)");
  }
  if (source_bytes < 0 || source_bytes > bytes) {
    throw Error("cp.async: src-size " + std::to_string(source_bytes) + " outside 0.." +
                std::to_string(bytes));
  }
  const auto misaligned = [bytes](const void* p) {
    return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) != 0;
  };
  if (misaligned(destination) || misaligned(source)) {
    throw Error("cp.async of " + std::to_string(bytes) +
                " bytes with an address that is not aligned to " + std::to_string(bytes));
  }
  AsyncCopyQueue& queue = this_thread_async_copies();
  count_async_copy(bytes);
  std::memset(destination, 0xFF, static_cast<size_t>(bytes));  // NaN until the copy completes
  queue.pending.push_back(AsyncCopy{destination, source, bytes, source_bytes, queue.open_group});
}

void cp_async_commit_group() { ++this_thread_async_copies().open_group; }

void cp_async_wait_group(int most_recent_pending) {
  AsyncCopyQueue& queue = this_thread_async_copies();
  const uint64_t allowed = static_cast<uint64_t>(most_recent_pending < 0 ? 0 : most_recent_pending);
  // Committed groups are 0 .. open_group - 1; all but the `allowed` most recent must complete.
  const uint64_t complete_below = queue.open_group > allowed ? queue.open_group - allowed : 0;
  size_t kept = 0;
  for (size_t i = 0; i < queue.pending.size(); ++i) {
    const AsyncCopy copy = queue.pending[i];
    if (copy.group < complete_below) {
      perform(copy);
    } else {
      queue.pending[kept++] = copy;
    }
  }
  queue.pending.resize(kept);
}

}  // namespace weft::emu
