// Winograd F(2x2, 3x3) convolutions for the hand CPU backend (the method: conv_winograd.h).
//
// Layouts. A block (see "blocks of tiles" below) holds `tiles` tiles; tile q of the block is
// one 2x2 output tile of some image. The transformed buffers hold the 16 elementwise products
// k = 4 i + j (row i, column j of the 4x4 transform) one after another:
//
//   V[k][c][tiles]   transformed input patches      Z[k][o][tiles]  transformed output gradients
//   M[k][o][tiles]   forward products               U[k][o][c]      transformed weights (and dU)
//
// so that each of the 16 products is one row-major SGEMM. A thread transforms one plane (image
// and channel) of its block at a time; the planes go through zero-padded copies, so no loop
// tests bounds, and WEFT_CPU_CLONES builds AVX-512 and AVX2 copies of the transforms.
#include "kernels/cpu/conv_winograd.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_support.h"

namespace weft::cpu::winograd {
namespace {

constexpr int kProducts = 16;  // 4x4 elementwise products per tile

// How a convolution's output splits into 2x2 tiles.
struct Tiling {
  int th = 0, tw = 0;  // tiles down and across one image
  int ph = 0, pw = 0;  // the zero-padded input plane the 4x4 patches are read from
  int64_t per_image = 0;

  explicit Tiling(const Conv2dParams& p)
      : th((p.out_h() + 1) / 2),
        tw((p.out_w() + 1) / 2),
        ph(2 * th + 2),
        pw(2 * tw + 2),
        per_image(int64_t{th} * tw) {}
};

// The calling thread's transformed weights, and each thread's plane work space (cpu_support.h).
thread_local Scratch weight_scratch, plane_scratch;

// ---- the transforms of one plane -------------------------------------------------------------
//
// Each transform works on tile rows [ty0, ty1) of one plane and keeps its heavy step (16 values
// in or out per tile) in one loop over all q = (ty - ty0) * tw + tx of those rows, long enough
// to vectorise; only the steps that pair neighbouring columns (even and odd) run row by row.

// Work floats any of the four functions below needs for tile rows of t (an upper bound).
int64_t plane_floats(const Tiling& t) {
  return int64_t{t.ph} * t.pw + 24 * (int64_t{t.th} + 1) * t.tw + 2 * int64_t{t.pw};
}

// V for tile rows [ty0, ty1) of one input plane [h, w]: v[k * k_stride + q] = (B^T d B)[k] of
// the 4x4 patch whose top-left corner is padded cell (2 ty, 2 tx).
WEFT_CPU_CLONES
void input_plane(const float* __restrict plane, int h, int w, int pad_h, int pad_w, const Tiling& t,
                 int ty0, int ty1, float* __restrict work, float* __restrict v, int64_t k_stride) {
  const int tw = t.tw, first = 2 * ty0, count = 2 * (ty1 - ty0) + 2;  // padded rows used
  const int64_t nq = int64_t{ty1 - ty0} * tw, hq = nq + tw;
  float* __restrict padded = work;                        // [count][pw]
  float* __restrict rows = work + int64_t{count} * t.pw;  // [row parity][j][hq]: d B
  std::memset(padded, 0, sizeof(float) * static_cast<size_t>(count) * t.pw);
  for (int r = std::max(first - pad_h, 0); r < std::min(first + count - pad_h, h); ++r) {
    std::memcpy(padded + int64_t{r + pad_h - first} * t.pw + pad_w, plane + int64_t{r} * w,
                sizeof(float) * static_cast<size_t>(w));
  }
  // Padded row r, times B along its columns, goes to rows[r % 2][j][(r / 2) * tw + tx].
  for (int r = 0; r < count; ++r) {
    const float* __restrict in = padded + int64_t{r} * t.pw;
    float* __restrict out = rows + (r % 2) * 4 * hq + int64_t{r / 2} * tw;
    for (int tx = 0; tx < tw; ++tx) {
      const float d0 = in[2 * tx], d1 = in[2 * tx + 1], d2 = in[2 * tx + 2], d3 = in[2 * tx + 3];
      out[tx] = d0 - d2;
      out[hq + tx] = d1 + d2;
      out[2 * hq + tx] = d2 - d1;
      out[3 * hq + tx] = d1 - d3;
    }
  }
  // B^T down the columns: patch rows 0..3 of tile q are even row q, odd row q, even row q + tw
  // and odd row q + tw.
  for (int j = 0; j < 4; ++j) {
    const float* __restrict even = rows + j * hq;
    const float* __restrict odd = rows + (4 + j) * hq;
    float* __restrict v0 = v + j * k_stride;
    float* __restrict v1 = v + (4 + j) * k_stride;
    float* __restrict v2 = v + (8 + j) * k_stride;
    float* __restrict v3 = v + (12 + j) * k_stride;
    for (int64_t q = 0; q < nq; ++q) {
      const float a0 = even[q], a1 = odd[q], a2 = even[q + tw], a3 = odd[q + tw];
      v0[q] = a0 - a2;
      v1[q] = a1 + a2;
      v2[q] = a2 - a1;
      v3[q] = a1 - a3;
    }
  }
}

// Output rows 2 ty0 .. 2 ty1 - 1 of one plane [oh, ow] from the products of tile rows [ty0, ty1)
// (m[k * k_stride + q]): y = act(A^T m A + bias), cropped to the plane.
WEFT_CPU_CLONES
void output_plane(const float* __restrict m, int64_t k_stride, const Tiling& t, int ty0, int ty1,
                  int oh, int ow, float bias, FusedActivation act, float* __restrict work,
                  float* __restrict y) {
  const int tw = t.tw;
  const int64_t nq = int64_t{ty1 - ty0} * tw;
  float* __restrict cols = work;           // [output row r][j][nq]: A^T m
  float* __restrict line = work + 8 * nq;  // one output row, 2 tw wide
  for (int j = 0; j < 4; ++j) {
    const float* __restrict m0 = m + j * k_stride;
    const float* __restrict m1 = m + (4 + j) * k_stride;
    const float* __restrict m2 = m + (8 + j) * k_stride;
    const float* __restrict m3 = m + (12 + j) * k_stride;
    float* __restrict c0 = cols + j * nq;
    float* __restrict c1 = cols + (4 + j) * nq;
    for (int64_t q = 0; q < nq; ++q) {
      c0[q] = m0[q] + m1[q] + m2[q];
      c1[q] = m1[q] - m2[q] - m3[q];
    }
  }
  for (int ty = ty0; ty < ty1; ++ty) {
    for (int r = 0; r < 2 && 2 * ty + r < oh; ++r) {
      const float* __restrict e = cols + 4 * r * nq + int64_t{ty - ty0} * tw;
      for (int tx = 0; tx < tw; ++tx) {
        line[2 * tx] = e[tx] + e[nq + tx] + e[2 * nq + tx];
        line[2 * tx + 1] = e[nq + tx] - e[2 * nq + tx] - e[3 * nq + tx];
      }
      float* __restrict out = y + int64_t{2 * ty + r} * ow;
      if (act.active()) {
        for (int x = 0; x < ow; ++x) out[x] = act.apply(line[x] + bias);
      } else {
        for (int x = 0; x < ow; ++x) out[x] = line[x] + bias;
      }
    }
  }
}

// Z for tile rows [ty0, ty1) of one output-gradient plane [oh, ow]: z[k * k_stride + q] =
// (A g A^T)[k] of the tile's 2x2 gradients g (zero beyond the plane).
WEFT_CPU_CLONES
void gradient_plane(const float* __restrict dy, int oh, int ow, const Tiling& t, int ty0, int ty1,
                    float* __restrict work, float* __restrict z, int64_t k_stride) {
  const int tw = t.tw;
  const int64_t nq = int64_t{ty1 - ty0} * tw;
  float* __restrict split = work;          // [tile row r][even, odd column][nq]
  float* __restrict line = work + 4 * nq;  // one gradient row, 2 tw wide, zero-padded
  for (int ty = ty0; ty < ty1; ++ty) {
    for (int r = 0; r < 2; ++r) {
      const int row = 2 * ty + r;
      std::fill(line, line + 2 * tw, 0.0f);
      if (row < oh) std::memcpy(line, dy + int64_t{row} * ow, sizeof(float) * ow);
      float* __restrict even = split + 2 * r * nq + int64_t{ty - ty0} * tw;
      float* __restrict odd = even + nq;
      for (int tx = 0; tx < tw; ++tx) {
        even[tx] = line[2 * tx];
        odd[tx] = line[2 * tx + 1];
      }
    }
  }
  const float* __restrict a0 = split;
  const float* __restrict b0 = split + nq;
  const float* __restrict a1 = split + 2 * nq;
  const float* __restrict b1 = split + 3 * nq;
  // g A^T along each of the two rows (x = a, a + b, a - b, -b), then A down the columns: patch
  // rows x0, x0 + x1, x0 - x1, -x1.
  for (int j = 0; j < 4; ++j) {
    float* __restrict z0 = z + j * k_stride;
    float* __restrict z1 = z + (4 + j) * k_stride;
    float* __restrict z2 = z + (8 + j) * k_stride;
    float* __restrict z3 = z + (12 + j) * k_stride;
    const float sa = j < 3 ? 1.0f : 0.0f;                      // weight of a in x[j]
    const float sb = j == 0 ? 0.0f : (j == 1 ? 1.0f : -1.0f);  // weight of b in x[j]
    for (int64_t q = 0; q < nq; ++q) {
      const float x0 = sa * a0[q] + sb * b0[q], x1 = sa * a1[q] + sb * b1[q];
      z0[q] = x0;
      z1[q] = x0 + x1;
      z2[q] = x0 - x1;
      z3[q] = -x1;
    }
  }
}

// Adds to one input-gradient plane [h, w] the part that tile rows [ty0, ty1) contribute, from
// their dV (dv[k * k_stride + q]): the sum of B dV B^T, each 4x4 result at its patch.
// Neighbouring patches overlap by two rows or columns; within the call the overlaps are summed
// here, and the caller keeps calls whose rows overlap apart in time.
WEFT_CPU_CLONES
void data_plane(const float* __restrict dv, int64_t k_stride, const Tiling& t, int ty0, int ty1,
                int h, int w, int pad_h, int pad_w, float* __restrict work, float* __restrict dx) {
  const int tw = t.tw, first = 2 * ty0, count = 2 * (ty1 - ty0) + 2;  // padded rows touched
  const int64_t nq = int64_t{ty1 - ty0} * tw, hq = nq + tw;
  float* __restrict cols = work;            // [patch row i][j][nq]: B dV
  float* __restrict rows = work + 16 * nq;  // [row parity][j][hq]: patch rows summed
  float* __restrict line = rows + 8 * hq;   // one padded row, pw wide
  for (int j = 0; j < 4; ++j) {
    const float* __restrict v0 = dv + j * k_stride;
    const float* __restrict v1 = dv + (4 + j) * k_stride;
    const float* __restrict v2 = dv + (8 + j) * k_stride;
    const float* __restrict v3 = dv + (12 + j) * k_stride;
    float* __restrict e0 = cols + j * nq;
    float* __restrict e1 = cols + (4 + j) * nq;
    float* __restrict e2 = cols + (8 + j) * nq;
    float* __restrict e3 = cols + (12 + j) * nq;
    for (int64_t q = 0; q < nq; ++q) {
      e0[q] = v0[q];
      e1[q] = v1[q] - v2[q] + v3[q];
      e2[q] = v1[q] + v2[q] - v0[q];
      e3[q] = -v3[q];
    }
  }
  // Padded row 2 p + s (s = 0, 1) holds patch row s of tile row p and patch row s + 2 of tile
  // row p - 1: rows[s][j][p * tw + tx] is their sum.
  for (int s = 0; s < 2; ++s) {
    for (int j = 0; j < 4; ++j) {
      const float* __restrict upper = cols + (4 * s + j) * nq;
      const float* __restrict lower = cols + (4 * (s + 2) + j) * nq;
      float* __restrict out = rows + (4 * s + j) * hq;
      for (int64_t q = 0; q < tw; ++q) out[q] = upper[q];
      for (int64_t q = tw; q < nq; ++q) out[q] = upper[q] + lower[q - tw];
      for (int64_t q = nq; q < hq; ++q) out[q] = lower[q - tw];
    }
  }
  for (int r = 0; r < count; ++r) {
    const int row = first + r - pad_h;  // the input row this padded row is
    if (row < 0 || row >= h) continue;
    // B along the row: f0 = e0, f1 = e1 - e2 + e3, f2 = e1 + e2 - e0, f3 = -e3. f[j] of tile
    // tx lands on padded column 2 tx + j, so even columns 2 x get f0[x] + f2[x - 1] and odd ones
    // f1[x] + f3[x - 1].
    const float* __restrict e0 = rows + (r % 2) * 4 * hq + int64_t{r / 2} * tw;
    const float* __restrict e1 = e0 + hq;
    const float* __restrict e2 = e0 + 2 * hq;
    const float* __restrict e3 = e0 + 3 * hq;
    line[0] = e0[0];
    line[1] = e1[0] - e2[0] + e3[0];
    for (int x = 1; x < tw; ++x) {
      line[2 * x] = e0[x] + (e1[x - 1] + e2[x - 1] - e0[x - 1]);
      line[2 * x + 1] = (e1[x] - e2[x] + e3[x]) - e3[x - 1];
    }
    line[2 * tw] = e1[tw - 1] + e2[tw - 1] - e0[tw - 1];
    line[2 * tw + 1] = -e3[tw - 1];
    float* __restrict out = dx + int64_t{row} * w;
    for (int x = 0; x < w; ++x) out[x] += line[pad_w + x];
  }
}

// ---- the weights -----------------------------------------------------------------------------

// U[k][o][c] = (G w[o][c] G^T)[k].
void transform_weights(const Conv2dParams& p, const float* w, float* u) {
  const int64_t pairs = int64_t{p.out_channels} * p.in_channels;
#pragma omp parallel for schedule(static) if (pairs > 4096)
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const float* g = w + pair * 9;
    float rows[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
      rows[0][j] = g[j];
      rows[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
      rows[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
      rows[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; ++i) {
      const float* r = rows[i];
      const float out[4] = {r[0], 0.5f * (r[0] + r[1] + r[2]), 0.5f * (r[0] - r[1] + r[2]), r[2]};
      for (int j = 0; j < 4; ++j) u[(4 * i + j) * pairs + pair] = out[j];
    }
  }
}

// dw[o][c] = G^T dU[o][c] G (3x4 times 4x4 times 4x3).
void untransform_weight_gradient(const Conv2dParams& p, const float* du, float* dw) {
  const int64_t pairs = int64_t{p.out_channels} * p.in_channels;
#pragma omp parallel for schedule(static) if (pairs > 4096)
  for (int64_t pair = 0; pair < pairs; ++pair) {
    float d[4][4];
    for (int k = 0; k < kProducts; ++k) d[k / 4][k % 4] = du[k * pairs + pair];
    float rows[3][4];  // G^T d
    for (int j = 0; j < 4; ++j) {
      rows[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
      rows[1][j] = 0.5f * (d[1][j] - d[2][j]);
      rows[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
    }
    float* out = dw + pair * 9;
    for (int i = 0; i < 3; ++i) {
      const float* r = rows[i];
      out[3 * i] = r[0] + 0.5f * (r[1] + r[2]);
      out[3 * i + 1] = 0.5f * (r[1] - r[2]);
      out[3 * i + 2] = 0.5f * (r[1] + r[2]) + r[3];
    }
  }
}

// ---- blocks of tiles -------------------------------------------------------------------------
//
// The batch's tile rows (image n, row ty: global row n * th + ty) are cut into blocks of a few
// hundred tiles, sized so that a block's V and M (or Z) stay in a core's L2 cache. Each OpenMP
// thread takes whole blocks: it transforms the block, runs the 16 products on it with a
// single-threaded SGEMM (OpenBLAS's OpenMP build does not start threads inside a parallel
// region) and transforms the result back, so the transformed data never goes to memory.
// (Transforming the whole batch first, then 16 batch-wide SGEMMs, then the outputs ran at
// memory speed: V and M are 4x the input and output.)

// Target for a block's transformed buffers, and the fewest tiles a block gets (a thinner SGEMM
// spends more on packing its weights than on multiplying).
constexpr int64_t kBlockBytes = int64_t{1} << 20;
constexpr int64_t kMinBlockTiles = 256;

// Part of a block: tile rows [ty0, ty1) of image n, at tile column `col` of the block.
struct Segment {
  int n, ty0, ty1;
  int64_t col;
};

struct Blocks {
  int64_t rows_per_block = 1, total_rows = 0, count = 0, max_tiles = 0;

  Blocks(const Conv2dParams& p, const Tiling& t) {
    const int64_t bytes_per_tile =
        kProducts * (int64_t{p.in_channels} + p.out_channels) * int64_t{sizeof(float)};
    const int64_t tiles = std::max(kBlockBytes / bytes_per_tile, kMinBlockTiles);
    rows_per_block = std::max<int64_t>(1, tiles / t.tw);
    total_rows = int64_t{p.batch} * t.th;
    count = (total_rows + rows_per_block - 1) / rows_per_block;
    max_tiles = rows_per_block * t.tw;
  }

  int64_t tiles(int64_t b, const Tiling& t) const {
    return (std::min(b * rows_per_block + rows_per_block, total_rows) - b * rows_per_block) * t.tw;
  }

  // Block b's segments, in order.
  template <class Visit>
  void visit(int64_t b, const Tiling& t, Visit visit_segment) const {
    const int64_t first = b * rows_per_block;
    const int64_t end = std::min(first + rows_per_block, total_rows);
    for (int64_t row = first; row < end;) {
      const int n = static_cast<int>(row / t.th), ty0 = static_cast<int>(row % t.th);
      const int ty1 = static_cast<int>(std::min<int64_t>(t.th, ty0 + (end - row)));
      visit_segment(Segment{n, ty0, ty1, (row - first) * t.tw});
      row += ty1 - ty0;
    }
  }
};

// Each thread's block buffers and plane work space (cpu_support.h).
thread_local Scratch block_patches, block_products, partial_scratch;

// V of block b: [16][C][tiles].
int64_t transform_block_inputs(const Conv2dParams& p, const Tiling& t, const Blocks& blocks,
                               int64_t b, const float* x, float* work, float* v) {
  const int64_t in_plane = int64_t{p.in_h} * p.in_w;
  const int64_t tiles = blocks.tiles(b, t);
  blocks.visit(b, t, [&](const Segment& s) {
    for (int c = 0; c < p.in_channels; ++c) {
      input_plane(x + (int64_t{s.n} * p.in_channels + c) * in_plane, p.in_h, p.in_w, p.pad_h,
                  p.pad_w, t, s.ty0, s.ty1, work, v + c * tiles + s.col, p.in_channels * tiles);
    }
  });
  return tiles;
}

// Z of block b: [16][O][tiles].
void transform_block_gradients(const Conv2dParams& p, const Tiling& t, const Blocks& blocks,
                               int64_t b, int64_t tiles, const float* dy, float* work, float* z) {
  const int64_t out_plane = int64_t{p.out_h()} * p.out_w();
  blocks.visit(b, t, [&](const Segment& s) {
    for (int o = 0; o < p.out_channels; ++o) {
      gradient_plane(dy + (int64_t{s.n} * p.out_channels + o) * out_plane, p.out_h(), p.out_w(), t,
                     s.ty0, s.ty1, work, z + o * tiles + s.col, p.out_channels * tiles);
    }
  });
}

}  // namespace

bool applies(const Conv2dParams& p) {
  return p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 && p.stride_w == 1 &&
         p.dilation_h == 1 && p.dilation_w == 1 && p.pad_h >= 0 && p.pad_w >= 0 && p.batch > 0 &&
         p.in_channels > 0 && p.out_channels > 0 && p.out_h() > 0 && p.out_w() > 0;
}

void forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Tiling t(p);
  const Blocks blocks(p, t);
  const int C = p.in_channels, O = p.out_channels;
  const int64_t out_plane = int64_t{p.out_h()} * p.out_w();
  float* u = weight_scratch.floats(kProducts * int64_t{O} * C);
  transform_weights(p, w, u);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks.count; ++b) {
    float* work = plane_scratch.floats(plane_floats(t));
    float* v = block_patches.floats(kProducts * C * blocks.max_tiles);
    float* m = block_products.floats(kProducts * O * blocks.max_tiles);
    const int64_t tiles = transform_block_inputs(p, t, blocks, b, x, work, v);
    const int ld = static_cast<int>(tiles);
    for (int k = 0; k < kProducts; ++k) {  // M[k][O, tiles] = U[k][O, C] V[k][C, tiles]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, ld, C, 1.0f, u + k * int64_t{O} * C,
                  C, v + k * C * tiles, ld, 0.0f, m + k * O * tiles, ld);
    }
    blocks.visit(b, t, [&](const Segment& s) {
      for (int o = 0; o < O; ++o) {
        output_plane(m + o * tiles + s.col, O * tiles, t, s.ty0, s.ty1, p.out_h(), p.out_w(),
                     bias ? bias[o] : 0.0f, p.activation, work,
                     y + (int64_t{s.n} * O + o) * out_plane);
      }
    });
  }
}

void backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  const Tiling t(p);
  const Blocks blocks(p, t);
  const int C = p.in_channels, O = p.out_channels;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w;
  float* u = weight_scratch.floats(kProducts * int64_t{O} * C);
  transform_weights(p, w, u);
  std::fill(dx, dx + p.input_count(), 0.0f);
  // Blocks b and b + 1 may add to the same two input rows, so the even blocks run first, then
  // the odd ones: the blocks of one pass never share a row.
  for (int parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(static)
    for (int64_t b = parity; b < blocks.count; b += 2) {
      float* work = plane_scratch.floats(plane_floats(t));
      float* dv = block_patches.floats(kProducts * C * blocks.max_tiles);
      float* z = block_products.floats(kProducts * O * blocks.max_tiles);
      const int64_t tiles = blocks.tiles(b, t);
      const int ld = static_cast<int>(tiles);
      transform_block_gradients(p, t, blocks, b, tiles, dy, work, z);
      for (int k = 0; k < kProducts; ++k) {  // dV[k][C, tiles] = U[k]^T[C, O] Z[k][O, tiles]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, ld, O, 1.0f, u + k * int64_t{O} * C,
                    C, z + k * O * tiles, ld, 0.0f, dv + k * C * tiles, ld);
      }
      blocks.visit(b, t, [&](const Segment& s) {
        for (int c = 0; c < C; ++c) {
          data_plane(dv + c * tiles + s.col, C * tiles, t, s.ty0, s.ty1, p.in_h, p.in_w, p.pad_h,
                     p.pad_w, work, dx + (int64_t{s.n} * C + c) * in_plane);
        }
      });
    }
  }
}

void backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw) {
  const Tiling t(p);
  const Blocks blocks(p, t);
  const int C = p.in_channels, O = p.out_channels;
  const int64_t weights = kProducts * int64_t{O} * C;
  // Each thread sums dU over its blocks (a fixed set for a given thread count, so the result
  // repeats bit for bit); the partial sums are then added in thread order.
  std::vector<float*> partials(static_cast<size_t>(omp_get_max_threads()), nullptr);
#pragma omp parallel
  {
    float* du = nullptr;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks.count; ++b) {
      float* work = plane_scratch.floats(plane_floats(t));
      float* v = block_patches.floats(kProducts * C * blocks.max_tiles);
      float* z = block_products.floats(kProducts * O * blocks.max_tiles);
      const int64_t tiles = transform_block_inputs(p, t, blocks, b, x, work, v);
      const int ld = static_cast<int>(tiles);
      transform_block_gradients(p, t, blocks, b, tiles, dy, work, z);
      // dU[k][O, C] (+)= Z[k][O, tiles] V[k]^T[tiles, C]; a thread's first block overwrites.
      const float beta = du == nullptr ? 0.0f : 1.0f;
      if (du == nullptr) du = partial_scratch.floats(weights);
      for (int k = 0; k < kProducts; ++k) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, C, ld, 1.0f, z + k * O * tiles, ld,
                    v + k * C * tiles, ld, beta, du + k * int64_t{O} * C, C);
      }
    }
    partials[static_cast<size_t>(omp_get_thread_num())] = du;
  }
  float* total = weight_scratch.floats(weights);
  std::fill(total, total + weights, 0.0f);
  for (const float* partial : partials) {
    if (partial == nullptr) continue;
#pragma omp parallel for schedule(static) if (weights > (1 << 15))
    for (int64_t i = 0; i < weights; ++i) total[i] += partial[i];
  }
  untransform_weight_gradient(p, total, dw);
}

}  // namespace weft::cpu::winograd
