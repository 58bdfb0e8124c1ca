// Bias kernels (declared in bias.h): the forward's bias with the fused activation, and the bias
// gradient of convolutions and linear layers.
//
// bias_activation: y = act(y + bias[c]) in place, by common.h's channel_pass (element i's
//   channel c = (i / inner) % channels from two FastDivmods below 2^31 elements, 64-bit division
//   above; a grid of a few waves of the card, grid-stride). Thread t takes elements 4q .. 4q + 3
//   for q = t, t + T, ... as one float4 load and store when y is 16-byte aligned and the four
//   elements' channels come together: one channel for all four when inner % 4 == 0 (NCHW planes
//   of a multiple of 4), channels c .. c + 3 when inner == 1 and channels % 4 == 0 (a linear
//   layer's rows); else one element per step. Each element is computed by the same expression
//   on both paths (the gemm epilogue's: act.apply(value + bias[c])), so the results are
//   identical. No shared memory. Replaces cudnnAddTensor followed by weft's activation kernel on
//   the vendor path: one read and one write of y where there were two of each.
//
// channel_partial_sums_kernel, finish_channel_sums_kernel   sums[o] = sum of t[n, o, :, :].
//   Channel o owns M = N * OH * OW values, numbered j = n * OH * OW + q; M is large and O can be
//   small (the shoe-pair CNNs: 4 channels of 4.2 million values, where one block per channel
//   took 8 ms on an H200), so each channel is cut into `splits` slices of consecutive j of about
//   8192 values: grid (O, splits), block (o, s) takes slice s, its thread t the values
//   j = slice start + t, + 256, ... (consecutive threads on consecutive q: coalesced; (n, q)
//   advanced by carries, one division per thread), added in double; block_sum combines the
//   threads (shared memory: 32 per-warp slots) and thread 0 writes the slice's sum to the
//   workspace (doubles). The second kernel, one block per channel, adds a channel's slices: its
//   thread t those numbered t, t + 256, ... in order, then block_sum (one thread per channel,
//   as it was, chained the hundreds of slices of a large first layer, 514 for the pair CNN's,
//   one dependent load after another). With one slice the first kernel writes the sum itself
//   and the second is not launched. Deterministic.
//
// column_sums_kernel: sums[j] = sum_i m[i, j] (the linear layer's bias gradient).
//   Block of 32 x 8 threads for 32 columns: thread (ty, tx) adds rows ty, ty + 8, ... of column
//   j = 32 * blockIdx.x + tx in a register, so the 32 threads of a warp read 32 consecutive
//   floats of one row. Shared memory: the 8 x 32 partial sums; after a barrier thread (0, tx)
//   adds its column's 8 partials in order and writes sums[j]. Fixed order, no atomics: the
//   result is the same on every run.
#include "kernels/cuda/bias.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"
#include "kernels/error.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// y = act(y + bias[c]) for element i of channel c, or for elements 4q .. 4q + 3 from channel c
// (see the top).
struct BiasActivationOp {
  const float* bias;
  FusedActivation act;
  bool one_channel_per_quad;  // inner % 4 == 0; else inner == 1 and channels % 4 == 0
  float* y;

  __device__ float bias_of(int64_t c) const { return bias != nullptr ? bias[c] : 0.0f; }
  __device__ float value(float v, float b) const { return act.apply(v + b); }
  __device__ void operator()(int64_t i, int64_t c) const { y[i] = value(y[i], bias_of(c)); }
  // The quad's bias (or four biases) read once, before the store.
  __device__ void quad(int64_t q, int64_t c) const {
    const float4 v = load4(y, q);
    if (one_channel_per_quad) {
      const float b = bias_of(c);
      store4(y, q, make_float4(value(v.x, b), value(v.y, b), value(v.z, b), value(v.w, b)));
    } else {
      store4(y, q,
             make_float4(value(v.x, bias_of(c)), value(v.y, bias_of(c + 1)),
                         value(v.z, bias_of(c + 2)), value(v.w, bias_of(c + 3))));
    }
  }
};

__global__ void channel_partial_sums_kernel(int batch, int channels, int plane, int64_t slice,
                                            const float* t, double* partials, float* sums) {
  const int c = static_cast<int>(blockIdx.x), s = static_cast<int>(blockIdx.y);
  const int64_t count = int64_t{batch} * plane;
  const int64_t end = (s + 1) * slice < count ? (s + 1) * slice : count;
  double sum = 0.0;
  int64_t j = s * slice + threadIdx.x;
  if (j < end) {
    int64_t n = j / plane, q = j - n * plane;
    for (; j < end; j += blockDim.x) {
      sum += t[(n * channels + c) * plane + q];
      q += blockDim.x;
      while (q >= plane) {
        q -= plane;
        ++n;
      }
    }
  }
  sum = block_sum(sum);
  if (threadIdx.x != 0) return;
  if (gridDim.y == 1) {
    sums[c] = static_cast<float>(sum);  // one slice: the channel's sum itself
  } else {
    partials[int64_t{c} * gridDim.y + s] = sum;
  }
}

// One block per channel (see the top of the file): thread t adds the channel's slices t, t + 256,
// ... in order, block_sum combines the threads in its fixed order.
__global__ void finish_channel_sums_kernel(int splits, const double* partials, float* sums) {
  const int64_t c = blockIdx.x;
  double sum = 0.0;
  for (int s = static_cast<int>(threadIdx.x); s < splits; s += static_cast<int>(blockDim.x)) {
    sum += partials[c * splits + s];
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) sums[c] = static_cast<float>(sum);
}

constexpr int kSumColumns = 32;
constexpr int kSumRowGroups = 8;

__global__ void column_sums_kernel(int rows, int cols, const float* m, float* sums) {
  __shared__ float partial[kSumRowGroups][kSumColumns];
  WEFT_SHARED_UNDEFINED(partial);
  const int tx = static_cast<int>(threadIdx.x) % kSumColumns;
  const int ty = static_cast<int>(threadIdx.x) / kSumColumns;
  const int col = static_cast<int>(blockIdx.x) * kSumColumns + tx;
  float sum = 0.0f;
  if (col < cols) {
    for (int row = ty; row < rows; row += kSumRowGroups) sum += m[int64_t{row} * cols + col];
  }
  partial[ty][tx] = sum;
  __syncthreads();
  if (ty == 0 && col < cols) {
    float total = 0.0f;
    for (int g = 0; g < kSumRowGroups; ++g) total += partial[g][tx];
    sums[col] = total;
  }
}

// The slices of channel_partial_sums_kernel: about kChannelSliceValues values each.
constexpr int64_t kChannelSliceValues = 8192;
constexpr int64_t kMaxChannelSplits = 65535;  // gridDim.y

int64_t channel_splits(int batch, int plane) {
  const int64_t count = int64_t{std::max(batch, 0)} * std::max(plane, 0);
  return std::clamp<int64_t>((count + kChannelSliceValues - 1) / kChannelSliceValues, 1,
                             kMaxChannelSplits);
}

}  // namespace

void bias_activation(int64_t count, int channels, int64_t inner, const float* bias,
                     const FusedActivation& act, float* y, cudaStream_t stream) {
  if (count <= 0 || (bias == nullptr && !act.active())) return;
  WEFT_CHECK(channels > 0 && inner > 0 && inner <= int64_t{INT32_MAX}, "bias_activation: ",
             channels, " channels of ", inner, " values");
  const bool one_channel_per_quad = inner % 4 == 0;
  const bool quads = aligned16(y) && (one_channel_per_quad || (inner == 1 && channels % 4 == 0));
  channel_pass(count, channels, static_cast<int>(inner), quads,
               BiasActivationOp{bias, act, one_channel_per_quad, y}, stream);
}

// An even count: the partials are doubles.
int64_t channel_sums_workspace_floats(int batch, int channels, int plane) {
  const int64_t splits = channel_splits(batch, plane);
  return channels <= 0 || splits == 1 ? 0 : 2 * int64_t{channels} * splits;
}

void channel_sums(int batch, int channels, int plane, const float* t, float* sums, float* workspace,
                  cudaStream_t stream) {
  if (channels <= 0) return;
  const int64_t splits = channel_splits(batch, plane);
  WEFT_CHECK(splits == 1 || workspace != nullptr, "the hand bias gradient needs a workspace of ",
             channel_sums_workspace_floats(batch, channels, plane), " floats");
  const int64_t count = int64_t{std::max(batch, 0)} * std::max(plane, 0);
  const int64_t slice = std::max<int64_t>((count + splits - 1) / splits, 1);
  double* partials = reinterpret_cast<double*>(workspace);
  WEFT_LAUNCH(channel_partial_sums_kernel,
              dim3(static_cast<unsigned>(channels), static_cast<unsigned>(splits)), kBlockThreads,
              0, stream, std::max(batch, 0), channels, std::max(plane, 0), slice, t, partials,
              sums);
  if (splits == 1) return;
  WEFT_LAUNCH(finish_channel_sums_kernel, static_cast<unsigned>(channels), kBlockThreads, 0, stream,
              static_cast<int>(splits), static_cast<const double*>(partials), sums);
}

void column_sums(int rows, int cols, const float* m, float* sums, cudaStream_t stream) {
  if (cols <= 0) return;
  const unsigned blocks = static_cast<unsigned>((cols + kSumColumns - 1) / kSumColumns);
  WEFT_LAUNCH(column_sums_kernel, blocks, kSumColumns * kSumRowGroups, 0, stream,
              std::max(rows, 0), cols, m, sums);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
