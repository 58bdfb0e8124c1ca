// The linear layer's forward for few outputs (declared in linear_few_outputs.h): y[i, j] =
// act(sum_k x[i, k] w[j, k] + bias[j]) where out_features is at most kFewOutputs.
//
// Why. A classifier's last layer has 2-10 outputs (the apparel tagger's dense2: 64 x 1024 -> 7),
// and a full-window convolution to one channel is a linear layer of one output (the DCGAN
// discriminator's last layer: 128 x 8192 -> 1, conv_full_window.cu). The GEMM puts such a product
// in one column of 64 x 64 block tiles: 7 of 64 columns (1 of 64) do useful work, and its long k
// is split over a few blocks whose partial sums need a second launch. On the H200's second lease
// the apparel layer took 27 us by hand against 13 us for cuBLAS, the one linear shape below 0.5x.
// Here every product is a dot product of two rows that are contiguous along k, so the kernel reads
// each row of x once, in 16-byte pieces, and does only the useful multiplications.
//
// Work. One block of 256 threads (8 warps) takes kRows consecutive rows of x (kRows 1, 2, 4 or 8,
// chosen so that the grid keeps about one block per SM while rows last: rows_per_block); the
// 8 / kRows warps of a row split its k. Warp w takes row r = w / (8 / kRows) of the block and
// part p = w % (8 / kRows); its lane l reads the pieces q = 32 p + l, + 256 / kRows, ... of the row
// (a piece is 4 consecutive k as one float4 when k % 4 == 0 and both rows are 16-byte aligned,
// else one float), and for each piece w's matching piece of every output j < n, accumulating n
// sums in registers (kOutputs of them, the template's bound on n: 1, 4 or 16). Then each sum is
// added over the warp's lanes by shuffles (warp_sum), and lane 0 stores the warp's n sums in
// shared memory: partial[w][j], 8 x 16 floats. After one barrier thread t < kRows * n takes row
// t / n, output t % n, adds the row's warps' sums in warp order, then the bias, applies the
// activation and writes y. Fixed order throughout, no atomics: the same result on every run (it
// differs from the GEMM's by the order of the additions). Each of w's rows is read by every row's
// warps; w is n * k floats (at most 16 x k), so it is served from L1/L2 after the first read.
//
// Precision: each operand is rounded as the tensor cores round it (warp_matrix.h,
// rounded_operand: none at fp32, TF32 at tf32, BF16 at bf16), so products are exact in FP32 and
// accumulate in FP32, as in the tensor-core GEMM the layer would otherwise run on.
#include "kernels/cuda/linear_few_outputs.h"

#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tiled_product_large.h"
#include "kernels/cuda/warp_matrix.h"
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

constexpr int kWarps = static_cast<int>(kBlockThreads / kWarpSize);  // 8

struct FewOutputsShape {
  int rows, depth, outputs;  // x [rows, depth], w [outputs, depth], y [rows, outputs]
  FusedActivation act;
  OperandRounding rounding;
};

// kQuads: pieces of 4 floats (float4) or of 1. kOutputs: a bound on shape.outputs.
template <int kOutputs, bool kQuads>
__global__ void __launch_bounds__(kBlockThreads)
    linear_few_outputs_kernel(FewOutputsShape s, int rows_per_block, const float* x,
                              const float* w, const float* bias, float* y) {
  __shared__ float partial[kWarps][kFewOutputs];
  WEFT_SHARED_UNDEFINED(partial);
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warps_per_row = kWarps / rows_per_block;
  const int row = static_cast<int>(blockIdx.x) * rows_per_block + warp / warps_per_row;
  const int part = warp % warps_per_row;
  constexpr int kPiece = kQuads ? 4 : 1;
  const int pieces = s.depth / kPiece;

  float sums[kOutputs];
WEFT_UNROLL
  for (int j = 0; j < kOutputs; ++j) sums[j] = 0.0f;
  if (row < s.rows) {
    const float* x_row = x + int64_t{row} * s.depth;
    for (int q = part * kWarpSize + lane; q < pieces; q += warps_per_row * kWarpSize) {
      if constexpr (kQuads) {
        const float4 a = load4(x_row, q);
        const float a0 = rounded_operand(a.x, s.rounding), a1 = rounded_operand(a.y, s.rounding);
        const float a2 = rounded_operand(a.z, s.rounding), a3 = rounded_operand(a.w, s.rounding);
WEFT_UNROLL
        for (int j = 0; j < kOutputs; ++j) {
          if (j < s.outputs) {
            const float4 b = load4(w + int64_t{j} * s.depth, q);
            float sum = sums[j];
            sum = fmaf(a0, rounded_operand(b.x, s.rounding), sum);
            sum = fmaf(a1, rounded_operand(b.y, s.rounding), sum);
            sum = fmaf(a2, rounded_operand(b.z, s.rounding), sum);
            sums[j] = fmaf(a3, rounded_operand(b.w, s.rounding), sum);
          }
        }
      } else {
        const float a = rounded_operand(x_row[q], s.rounding);
WEFT_UNROLL
        for (int j = 0; j < kOutputs; ++j) {
          if (j < s.outputs) {
            const float b = rounded_operand(w[int64_t{j} * s.depth + q], s.rounding);
            sums[j] = fmaf(a, b, sums[j]);
          }
        }
      }
    }
  }
WEFT_UNROLL
  for (int j = 0; j < kOutputs; ++j) {
    const float total = warp_sum(sums[j]);
    if (lane == 0 && j < s.outputs) partial[warp][j] = total;
  }
  __syncthreads();
  const int t = static_cast<int>(threadIdx.x);
  if (t >= rows_per_block * s.outputs) return;
  const int block_row = t / s.outputs, j = t % s.outputs;
  const int out_row = static_cast<int>(blockIdx.x) * rows_per_block + block_row;
  if (out_row >= s.rows) return;
  float value = 0.0f;
  for (int p = 0; p < warps_per_row; ++p) value += partial[block_row * warps_per_row + p][j];
  if (bias != nullptr) value += bias[j];
  y[int64_t{out_row} * s.outputs + j] = s.act.apply(value);
}

// Rows per block: the most (8, 4, 2) that still leaves one block per SM of an H100 / H200
// (kTileFillBlocks, the GEMM tiles' rule in tiled_product_large.h: a constant, so the emulation
// chooses as a card does), else 1 (every warp of a block on one row's k).
int rows_per_block(int rows) {
  for (int r = kWarps; r > 1; r /= 2) {
    if ((int64_t{rows} + r - 1) / r >= kTileFillBlocks) return r;
  }
  return 1;
}

template <int kOutputs>
void launch_few_outputs(const FewOutputsShape& s, const float* x, const float* w,
                        const float* bias, float* y, cudaStream_t stream) {
  const int r = rows_per_block(s.rows);
  const dim3 grid(static_cast<unsigned>((s.rows + r - 1) / r));
  const bool quads = s.depth % 4 == 0 && aligned16(x) && aligned16(w);
  if (quads) {
    WEFT_LAUNCH((linear_few_outputs_kernel<kOutputs, true>), grid, kBlockThreads, 0, stream, s, r,
                x, w, bias, y);
  } else {
    WEFT_LAUNCH((linear_few_outputs_kernel<kOutputs, false>), grid, kBlockThreads, 0, stream, s,
                r, x, w, bias, y);
  }
}

}  // namespace

bool linear_has_few_outputs(int rows, int in_features, int out_features) {
  return rows > 0 && in_features > 0 && out_features > 0 && out_features <= kFewOutputs;
}

void linear_forward_few_outputs(int n, int in_features, int out_features, const float* x,
                                const float* w, const float* bias, const FusedActivation& act,
                                OperandRounding rounding, float* y, cudaStream_t stream) {
  WEFT_CHECK(linear_has_few_outputs(n, in_features, out_features),
             "linear_forward_few_outputs: ", n, " x ", in_features, " -> ", out_features,
             " is not a product of 1 to ", kFewOutputs, " outputs");
  const FewOutputsShape s{n, in_features, out_features, act, rounding};
  if (out_features == 1) {
    launch_few_outputs<1>(s, x, w, bias, y, stream);
  } else if (out_features <= 4) {
    launch_few_outputs<4>(s, x, w, bias, y, stream);
  } else {
    launch_few_outputs<kFewOutputs>(s, x, w, bias, y, stream);
  }
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
