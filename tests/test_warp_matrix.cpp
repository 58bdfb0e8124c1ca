// Tests of the emulated warp-level matrix instructions (kernels/cuda/warp_matrix.h, emulated in
// kernels/cuda/emulation_matrix.cpp): mma.sync m16n8k8 TF32 and m16n8k16 BF16, ldmatrix in its
// six forms, cp.async with its commit/wait groups, and the TF32/BF16 conversions.
//
// The fragment layouts here are this file's own tables, written out from the PTX ISA
// ("Matrix Fragments for mma.m16n8k8", "Matrix Fragments for mma.m16n8k16 with floating point
// type", "Warp-level matrix load instruction: ldmatrix"); each kernel builds its lanes' registers
// from them and a scalar loop in double is the reference. A table and the emulator that
// disagree on any element fail (a swap of two registers, of the two halves of a BF16 pair, of
// rows and columns of .trans).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/reduced_precision.h"

namespace {

using weft::float_bits;
using weft::float_from_bits;

// Where element i of a lane's fragment sits: row = row_g * g + row_t * t + row_add and likewise
// for the column, with g = lane / 4 (groupID) and t = lane % 4 (threadID_in_group).
struct Place {
  int row_g, row_t, row_add;
  int col_g, col_t, col_add;
  int row(int lane) const { return row_g * (lane / 4) + row_t * (lane % 4) + row_add; }
  int col(int lane) const { return col_g * (lane / 4) + col_t * (lane % 4) + col_add; }
};

// PTX ISA, mma.m16n8k8 .tf32. A (16 x 8): a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4).
constexpr Place kTf32A[4] = {
    {1, 0, 0, 0, 1, 0}, {1, 0, 8, 0, 1, 0}, {1, 0, 0, 0, 1, 4}, {1, 0, 8, 0, 1, 4}};
// B (8 x 8, row = k, col = n): b0 (t, g), b1 (t+4, g).
constexpr Place kTf32B[2] = {{0, 1, 0, 1, 0, 0}, {0, 1, 4, 1, 0, 0}};
// C and D (16 x 8), both shapes: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
constexpr Place kAccumulator[4] = {
    {1, 0, 0, 0, 2, 0}, {1, 0, 0, 0, 2, 1}, {1, 0, 8, 0, 2, 0}, {1, 0, 8, 0, 2, 1}};
// mma.m16n8k16 .bf16. A (16 x 16), elements a0..a7, two per register, a(2r) in the low half:
// a0 (g, 2t), a1 (g, 2t+1), a2 (g+8, 2t), a3 (g+8, 2t+1), a4 (g, 2t+8), a5 (g, 2t+9),
// a6 (g+8, 2t+8), a7 (g+8, 2t+9).
constexpr Place kBf16A[8] = {{1, 0, 0, 0, 2, 0}, {1, 0, 0, 0, 2, 1}, {1, 0, 8, 0, 2, 0},
                             {1, 0, 8, 0, 2, 1}, {1, 0, 0, 0, 2, 8}, {1, 0, 0, 0, 2, 9},
                             {1, 0, 8, 0, 2, 8}, {1, 0, 8, 0, 2, 9}};
// B (16 x 8): b0 (2t, g), b1 (2t+1, g), b2 (2t+8, g), b3 (2t+9, g).
constexpr Place kBf16B[4] = {
    {0, 2, 0, 1, 0, 0}, {0, 2, 1, 1, 0, 0}, {0, 2, 8, 1, 0, 0}, {0, 2, 9, 1, 0, 0}};
// ldmatrix .m8n8 .b16, register i of lane l holds two elements of matrix i, low half first:
// (l/4, 2(l%4)) and (l/4, 2(l%4)+1); with .trans (2(l%4), l/4) and (2(l%4)+1, l/4).
constexpr Place kLdmatrix[2] = {{1, 0, 0, 0, 2, 0}, {1, 0, 0, 0, 2, 1}};
constexpr Place kLdmatrixTrans[2] = {{0, 2, 0, 1, 0, 0}, {0, 2, 1, 1, 0, 0}};

struct LayoutTables {
  Place a[8], b[4], c[4];
};

// ---- kernels under test: one warp each ----------------------------------------------------------

// D = A B + C with mma.m16n8k8.tf32; A [16][8], B [8][8], C and D [16][8] row-major in global.
__global__ void mma_tf32_kernel(LayoutTables layout, const float* a, const float* b,
                                const float* c, float* d) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  uint32_t ra[4], rb[2];
  float rc[4], rd[4];
  const auto at = [&](const float* m, const Place& p) { return m[p.row(lane) * 8 + p.col(lane)]; };
  for (int i = 0; i < 4; ++i) ra[i] = float_bits(at(a, layout.a[i]));
  for (int i = 0; i < 2; ++i) rb[i] = float_bits(at(b, layout.b[i]));
  for (int i = 0; i < 4; ++i) rc[i] = at(c, layout.c[i]);
  weft::cuda::mma_m16n8k8_tf32(rd, ra, rb, rc);
  for (int i = 0; i < 4; ++i) d[layout.c[i].row(lane) * 8 + layout.c[i].col(lane)] = rd[i];
}

// D = A B + C with mma.m16n8k16.bf16; A [16][16], B [16][8] (values already BF16), C, D [16][8].
__global__ void mma_bf16_kernel(LayoutTables layout, const float* a, const float* b,
                                const float* c, float* d) {
  const int lane = static_cast<int>(threadIdx.x);
  uint32_t ra[4], rb[2];
  float rc[4], rd[4];
  const auto at = [&](const float* m, int cols, const Place& p) {
    return m[p.row(lane) * cols + p.col(lane)];
  };
  for (int r = 0; r < 4; ++r) {
    ra[r] = weft::cuda::pack_bf16x2(at(a, 16, layout.a[2 * r]), at(a, 16, layout.a[2 * r + 1]));
  }
  for (int r = 0; r < 2; ++r) {
    rb[r] = weft::cuda::pack_bf16x2(at(b, 8, layout.b[2 * r]), at(b, 8, layout.b[2 * r + 1]));
  }
  for (int i = 0; i < 4; ++i) rc[i] = at(c, 8, layout.c[i]);
  weft::cuda::mma_m16n8k16_bf16(rd, ra, rb, rc);
  for (int i = 0; i < 4; ++i) d[layout.c[i].row(lane) * 8 + layout.c[i].col(lane)] = rd[i];
}

// Four 8 x 8 matrices of 16-bit values stored in shared memory with a row stride of 24
// elements (48 bytes); lane 8 i + r passes row r of matrix i (lanes past the loaded matrices
// pass matrix 3's rows, which must not matter). Lane l writes its registers to out[l][i].
template <int kMatrices, bool kTrans>
__global__ void ldmatrix_kernel(const uint16_t* matrices, uint32_t* out) {
  struct alignas(16) Tile {
    uint16_t e[4 * 8 * 24];
  };
  __shared__ Tile tile;
  const int lane = static_cast<int>(threadIdx.x);
  for (int e = lane; e < 4 * 64; e += 32) tile.e[(e / 8) * 24 + e % 8] = matrices[e];
  __syncwarp();
  const int matrix = lane / 8 < kMatrices ? lane / 8 : 3;
  uint32_t d[kMatrices];
  weft::cuda::ldmatrix<kMatrices, kTrans>(d, &tile.e[(matrix * 8 + lane % 8) * 24]);
  for (int i = 0; i < kMatrices; ++i) out[lane * 4 + i] = d[i];
}

// Each of 32 threads copies 16 bytes (4 floats) of `in` to shared memory in two groups
// (floats 0-1 with one 8-byte copy, then 2-3 with two 4-byte copies), then reads its slot back
// after `waits` wait_group calls: 0 none, 1 wait_group 1 (the first group only), 2 wait_group 0.
__global__ void cp_async_kernel(const float* in, int waits, float* out) {
  struct alignas(16) Staged {
    float e[32 * 4];
  };
  __shared__ Staged staged;
  const int t = static_cast<int>(threadIdx.x);
  weft::cuda::cp_async_ca<8>(&staged.e[4 * t], &in[4 * t], 8);
  weft::cuda::cp_async_commit_group();
  weft::cuda::cp_async_ca<4>(&staged.e[4 * t + 2], &in[4 * t + 2], 4);
  weft::cuda::cp_async_ca<4>(&staged.e[4 * t + 3], &in[4 * t + 3], 4);
  weft::cuda::cp_async_commit_group();
  if (waits == 1) weft::cuda::cp_async_wait_group<1>();
  if (waits == 2) weft::cuda::cp_async_wait_group<0>();
  __syncthreads();
  for (int i = 0; i < 4; ++i) out[4 * t + i] = staged.e[4 * t + i];
}

// 16-byte copies (.ca and .cg) with src-size 16, 4 and 0: full, partly and wholly zero-filled.
__global__ void cp_async_zero_fill_kernel(const float* in, float* out) {
  struct alignas(16) Staged {
    float e[3 * 4 * 2];
  };
  __shared__ Staged staged;
  weft::cuda::cp_async_ca<16>(&staged.e[0], in, 16);
  weft::cuda::cp_async_ca<16>(&staged.e[4], in, 4);
  weft::cuda::cp_async_ca<16>(&staged.e[8], in, 0);
  weft::cuda::cp_async_cg16(&staged.e[12], in, 16);
  weft::cuda::cp_async_cg16(&staged.e[16], in, 4);
  weft::cuda::cp_async_cg16(&staged.e[20], in, 0);
  weft::cuda::cp_async_commit_group();
  weft::cuda::cp_async_wait_group<0>();
  for (int i = 0; i < 24; ++i) out[i] = staged.e[i];
}

// An ldmatrix.x1 whose row addresses are `shift` bytes past 16-byte boundaries.
__global__ void ldmatrix_shifted_kernel(int shift, uint32_t* out) {
  struct alignas(16) Tile {
    unsigned char bytes[8 * 32 + 16];
  };
  __shared__ Tile tile;
  const int lane = static_cast<int>(threadIdx.x);
  uint32_t d[1];
  weft::cuda::ldmatrix<1, false>(d, &tile.bytes[(lane % 8) * 32 + shift]);
  out[lane] = d[0];
}

__global__ void conversions_kernel(const float* in, int count, uint32_t* tf32, uint32_t* bf16) {
  for (int i = 0; i < count; ++i) {
    tf32[i] = weft::cuda::to_tf32(in[i]);
    bf16[i] = weft::cuda::pack_bf16x2(in[i], -in[i]);
  }
}

// ---- helpers ------------------------------------------------------------------------------------

LayoutTables tf32_tables() {
  LayoutTables t{};
  for (int i = 0; i < 4; ++i) t.a[i] = kTf32A[i];
  for (int i = 0; i < 2; ++i) t.b[i] = kTf32B[i];
  for (int i = 0; i < 4; ++i) t.c[i] = kAccumulator[i];
  return t;
}

LayoutTables bf16_tables() {
  LayoutTables t{};
  for (int i = 0; i < 8; ++i) t.a[i] = kBf16A[i];
  for (int i = 0; i < 4; ++i) t.b[i] = kBf16B[i];
  for (int i = 0; i < 4; ++i) t.c[i] = kAccumulator[i];
  return t;
}

// Random values already representable in `round` (so the reference needs no rounding).
std::vector<float> draw(size_t count, uint32_t seed, float (*round)(float)) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(count);
  for (float& x : v) x = round(dist(gen));
  return v;
}

// The 16 x 8 product in double, D = A B + C, against the kernel's D: the emulator rounds the
// exact sum to float once, so at most half an ulp of the sum apart, plus nothing else.
void check_product(const std::vector<float>& a, const std::vector<float>& b,
                   const std::vector<float>& c, const std::vector<float>& d, int depth) {
  int wrong = 0;
  for (int row = 0; row < 16; ++row) {
    for (int col = 0; col < 8; ++col) {
      double want = c[row * 8 + col];
      for (int k = 0; k < depth; ++k) want += double{a[row * depth + k]} * b[k * 8 + col];
      const double got = d[row * 8 + col];
      if (std::fabs(got - want) > 1e-6 * std::fabs(want) + 1e-30 && ++wrong <= 5) {
        UNSCOPED_INFO("D(" << row << ", " << col << ") = " << got << ", want " << want);
      }
    }
  }
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("emu: mma.sync m16n8k8 tf32 matches a scalar product in the PTX fragment layout",
          "[emu]") {
  const std::vector<float> a = draw(16 * 8, 1, weft::round_to_tf32);
  const std::vector<float> b = draw(8 * 8, 2, weft::round_to_tf32);
  const std::vector<float> c = draw(16 * 8, 3, [](float x) { return x; });
  std::vector<float> d(16 * 8, NAN);
  WEFT_LAUNCH(mma_tf32_kernel, dim3(1), dim3(32), 0, nullptr, tf32_tables(), a.data(), b.data(),
              c.data(), d.data());
  check_product(a, b, c, d, 8);
}

TEST_CASE("emu: mma.sync m16n8k8 tf32 reads only the top 19 bits of each operand", "[emu]") {
  // A = 1 + 2^-12 and B = 1 + 2^-13 everywhere: both below TF32's 10-bit mantissa, so the
  // hardware multiplies 1 by 1; D = 8 exactly, not 8 (1 + 2^-12)(1 + 2^-13).
  const std::vector<float> a(16 * 8, 1.0f + std::ldexp(1.0f, -12));
  const std::vector<float> b(8 * 8, 1.0f + std::ldexp(1.0f, -13));
  const std::vector<float> c(16 * 8, 0.0f);
  std::vector<float> d(16 * 8, NAN);
  WEFT_LAUNCH(mma_tf32_kernel, dim3(1), dim3(32), 0, nullptr, tf32_tables(), a.data(), b.data(),
              c.data(), d.data());
  for (float x : d) REQUIRE(x == 8.0f);
}

TEST_CASE("emu: mma.sync m16n8k16 bf16 matches a scalar product in the PTX fragment layout",
          "[emu]") {
  const std::vector<float> a = draw(16 * 16, 4, weft::round_to_bf16);
  const std::vector<float> b = draw(16 * 8, 5, weft::round_to_bf16);
  const std::vector<float> c = draw(16 * 8, 6, [](float x) { return x; });
  std::vector<float> d(16 * 8, NAN);
  WEFT_LAUNCH(mma_bf16_kernel, dim3(1), dim3(32), 0, nullptr, bf16_tables(), a.data(), b.data(),
              c.data(), d.data());
  check_product(a, b, c, d, 16);
}

TEST_CASE("emu: ldmatrix m8n8 x1/x2/x4 and .trans give each lane its PTX pieces", "[emu]") {
  std::vector<uint16_t> matrices(4 * 64);
  for (int e = 0; e < 4 * 64; ++e) matrices[e] = static_cast<uint16_t>(1000 + e);  // m*64+r*8+c
  const auto check = [&](int count, bool trans, const std::vector<uint32_t>& out) {
    const Place* table = trans ? kLdmatrixTrans : kLdmatrix;
    int wrong = 0;
    for (int lane = 0; lane < 32; ++lane) {
      for (int i = 0; i < count; ++i) {
        const uint32_t low = matrices[i * 64 + table[0].row(lane) * 8 + table[0].col(lane)];
        const uint32_t high = matrices[i * 64 + table[1].row(lane) * 8 + table[1].col(lane)];
        if (out[lane * 4 + i] != (low | high << 16) && ++wrong <= 5) {
          UNSCOPED_INFO(".x" << count << (trans ? ".trans" : "") << " lane " << lane
                             << " register " << i << ": got " << out[lane * 4 + i]);
        }
      }
    }
    CHECK(wrong == 0);
  };
  std::vector<uint32_t> out(32 * 4);
  WEFT_LAUNCH((ldmatrix_kernel<1, false>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(1, false, out);
  WEFT_LAUNCH((ldmatrix_kernel<2, false>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(2, false, out);
  WEFT_LAUNCH((ldmatrix_kernel<4, false>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(4, false, out);
  WEFT_LAUNCH((ldmatrix_kernel<1, true>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(1, true, out);
  WEFT_LAUNCH((ldmatrix_kernel<2, true>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(2, true, out);
  WEFT_LAUNCH((ldmatrix_kernel<4, true>), dim3(1), dim3(32), 0, nullptr, matrices.data(),
              out.data());
  check(4, true, out);
}

TEST_CASE("emu: cp.async read before wait_group sees NaN, wait_group N completes older groups",
          "[emu]") {
  std::vector<float> in(32 * 4);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) + 0.5f;
  std::vector<float> out(32 * 4);
  SECTION("no wait: every element read is the NaN the emulator leaves until the copy") {
    WEFT_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 0, nullptr, in.data(), 0, out.data());
    for (float x : out) REQUIRE(std::isnan(x));
  }
  SECTION("wait_group 1: the first group has landed, the most recent may still be pending") {
    WEFT_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 0, nullptr, in.data(), 1, out.data());
    for (size_t i = 0; i < out.size(); ++i) {
      if (i % 4 < 2) {
        REQUIRE(out[i] == in[i]);
      } else {
        REQUIRE(std::isnan(out[i]));
      }
    }
  }
  SECTION("wait_group 0: everything has landed") {
    WEFT_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 0, nullptr, in.data(), 2, out.data());
    CHECK(out == in);
  }
}

TEST_CASE("emu: cp.async src-size zero-fills the rest of the copy (.ca and .cg)", "[emu]") {
  alignas(16) float in[4] = {1.5f, 2.5f, 3.5f, 4.5f};
  std::vector<float> out(24, NAN);
  WEFT_LAUNCH(cp_async_zero_fill_kernel, dim3(1), dim3(1), 0, nullptr, in, out.data());
  const std::vector<float> want = {1.5f, 2.5f, 3.5f, 4.5f, 1.5f, 0, 0, 0, 0, 0, 0, 0,
                                   1.5f, 2.5f, 3.5f, 4.5f, 1.5f, 0, 0, 0, 0, 0, 0, 0};
  CHECK(out == want);
}

TEST_CASE("emu: mma.sync and ldmatrix need a full warp and aligned rows, or name the error",
          "[emu]") {
  const std::vector<float> a(16 * 8, 1.0f), b(8 * 8, 1.0f), c(16 * 8, 0.0f);
  std::vector<float> d(16 * 8);
  // 48 threads: the second warp has 16 lanes, and the instruction is .aligned.
  CHECK_THROWS_WITH(WEFT_LAUNCH(mma_tf32_kernel, dim3(1), dim3(48), 0, nullptr, tf32_tables(),
                                a.data(), b.data(), c.data(), d.data()),
                    Catch::Contains("mma.sync.aligned.m16n8k8") &&
                        Catch::Contains("all 32 lanes"));
  std::vector<uint32_t> out(32);
  WEFT_LAUNCH(ldmatrix_shifted_kernel, dim3(1), dim3(32), 0, nullptr, 0, out.data());
  CHECK_THROWS_WITH(
      WEFT_LAUNCH(ldmatrix_shifted_kernel, dim3(1), dim3(32), 0, nullptr, 8, out.data()),
      Catch::Contains("ldmatrix") && Catch::Contains("not 16-byte aligned"));
}

TEST_CASE("emu: cvt.rna.tf32.f32 and cvt.rn.bf16x2.f32 round known values", "[emu]") {
  const float max = float_from_bits(0x7f7fffffu);
  const std::vector<float> in = {
      float_from_bits(0x3f801000u),  // 1 + 2^-11: a tie for TF32, away from zero -> 1 + 2^-10
      float_from_bits(0x3f800fffu),  // just below that tie -> 1
      float_from_bits(0x3f808000u),  // 1 + 2^-8: a tie for BF16, to even -> 1
      float_from_bits(0x3f818000u),  // 1 + 3 2^-8: a tie for BF16, to even -> 1 + 2^-6
      float_from_bits(0x3f808001u),  // just above the BF16 tie -> 1 + 2^-7
      max,                           // rounds up to infinity in both
      -1.5f,                         // exact in both
  };
  const std::vector<uint32_t> want_tf32 = {0x3f802000u, 0x3f800000u, 0x3f808000u, 0x3f818000u,
                                           0x3f808000u, 0x7f800000u, 0xbfc00000u};
  const std::vector<uint16_t> want_bf16 = {0x3f80u, 0x3f80u, 0x3f80u, 0x3f82u,
                                           0x3f81u, 0x7f80u, 0xbfc0u};
  std::vector<uint32_t> tf32(in.size()), bf16(in.size());
  WEFT_LAUNCH(conversions_kernel, dim3(1), dim3(1), 0, nullptr, in.data(),
              static_cast<int>(in.size()), tf32.data(), bf16.data());
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("input bits " << float_bits(in[i]));
    CHECK(tf32[i] == want_tf32[i]);
    CHECK((bf16[i] & 0xffffu) == want_bf16[i]);                   // low half: the first value
    CHECK((bf16[i] >> 16) == (want_bf16[i] ^ 0x8000u));          // high half: its negation
  }
  // NaN stays NaN; the tie cases of TF32 are symmetric in the sign.
  CHECK(std::isnan(weft::round_to_tf32(NAN)));
  CHECK(std::isnan(weft::round_to_bf16(NAN)));
  CHECK(weft::round_to_tf32(-float_from_bits(0x3f801000u)) == -float_from_bits(0x3f802000u));
}
