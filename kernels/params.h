// Parameter structs shared by every backend of every op family.
//
// A kernel in weft takes raw pointers plus one of these plain structs, never a Tensor, so the
// same call can be made from the engine (engine/ops/), from a unit test or from a benchmark.
// The CPU reference (kernels/cpu/) and the CUDA kernels (kernels/cuda/, kernels/cuda_vendor/) read
// the same struct, which is why it lives here and depends on nothing.
//
// Layout conventions used by all kernels:
//   images   NCHW, contiguous, float32
//   conv     weights OIHW   (out_channels, in_channels, kernel_h, kernel_w), as PyTorch
//   convT    weights IOHW   (in_channels, out_channels, kernel_h, kernel_w), as PyTorch
//   linear   weights [out_features, in_features], y = x W^T + b, as PyTorch
#pragma once

#include <cstdint>

#include "kernels/error.h"

// FusedActivation's functions run in CUDA kernels too: under nvcc they are host and device
// functions (the host emulation compiles them as plain C++).
#if defined(__CUDACC__)
#define WEFT_HOST_DEVICE __host__ __device__
#else
#define WEFT_HOST_DEVICE
#endif

namespace weft {

// An activation an op applies to its own output in the same pass over it (a fused epilogue),
// so the activation costs neither a launch nor a trip through memory of its own:
//   none         y = v
//   relu         y = v > 0 ? v : 0
//   leaky_relu   y = v > 0 ? v : alpha * v     (alpha >= 0)
// with v the op's result. Both functions keep the sign of v (y > 0 exactly where v > 0), so a
// backward finds the derivative from y alone: dy passes where y > 0 and is scaled by alpha
// (0 for relu) elsewhere, which is what activation_backward computes when handed y for x.
struct FusedActivation {
  enum class Kind : uint8_t { none, relu, leaky_relu };
  Kind kind = Kind::none;
  float alpha = 0.0f;

  WEFT_HOST_DEVICE bool active() const { return kind != Kind::none; }
  // The same function as v > 0 ? v : slope * v, written as the elementwise kernels write it.
  WEFT_HOST_DEVICE float apply(float v) const {
    if (kind == Kind::none) return v;
    return v > 0.0f ? v : (kind == Kind::relu ? 0.0f : alpha * v);
  }
  // The factor dy is multiplied by, given the output y.
  WEFT_HOST_DEVICE float slope_at_output(float y) const {
    if (kind == Kind::none) return 1.0f;
    return y > 0.0f ? 1.0f : (kind == Kind::relu ? 0.0f : alpha);
  }
  // dy times the derivative at the input x, as activation_backward writes it (x > 0 ? dy :
  // alpha * dy; relu's 0 stays 0 for any dy).
  WEFT_HOST_DEVICE float gradient_at_input(float x, float dy) const {
    if (kind == Kind::none) return dy;
    return x > 0.0f ? dy : (kind == Kind::relu ? 0.0f : alpha * dy);
  }
};

// 2-d convolution (cross-correlation, as in every DL framework). No groups.
struct Conv2dParams {
  int batch = 1;
  int in_channels = 1, in_h = 1, in_w = 1;
  int out_channels = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  // Applied by the forward after the bias. The backwards ignore it: they take dy already
  // multiplied by the activation's derivative (the engine does that from y).
  FusedActivation activation;

  int out_h() const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int out_w() const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  // Element counts of the input, weight and output tensors.
  int64_t input_count() const { return int64_t{batch} * in_channels * in_h * in_w; }
  int64_t weight_count() const { return int64_t{out_channels} * in_channels * kernel_h * kernel_w; }
  int64_t output_count() const { return int64_t{batch} * out_channels * out_h() * out_w(); }
};

// The stride-1 convolution whose forward is p's backward-data: dy is its input (O channels), its
// weights are p's with the channel roles exchanged and the taps reversed, its padding
// dilation * (kernel - 1) - pad (valid when that is >= 0 and p's stride is 1), no activation (a
// backward takes dy already multiplied by the derivative). Used by the CPU's direct loops
// (kernels/cpu/conv_direct.cpp) and the hand CUDA backward-data (kernels/cuda/conv.cu).
inline Conv2dParams backward_data_adjoint(const Conv2dParams& p) {
  Conv2dParams a = p;
  a.in_channels = p.out_channels;
  a.out_channels = p.in_channels;
  a.in_h = p.out_h();
  a.in_w = p.out_w();
  a.pad_h = p.dilation_h * (p.kernel_h - 1) - p.pad_h;
  a.pad_w = p.dilation_w * (p.kernel_w - 1) - p.pad_w;
  a.activation = FusedActivation{};
  return a;
}

// 2-d transposed convolution, the adjoint of Conv2dParams' convolution. Its forward is the
// backward-data pass of the convolution that maps its output back to its input.
struct ConvTranspose2dParams {
  int batch = 1;
  int in_channels = 1, in_h = 1, in_w = 1;
  int out_channels = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int output_pad_h = 0, output_pad_w = 0;
  int dilation_h = 1, dilation_w = 1;

  int out_h() const {
    return (in_h - 1) * stride_h - 2 * pad_h + dilation_h * (kernel_h - 1) + output_pad_h + 1;
  }
  int out_w() const {
    return (in_w - 1) * stride_w - 2 * pad_w + dilation_w * (kernel_w - 1) + output_pad_w + 1;
  }
  // Element counts of the input, weight (IOHW) and output tensors.
  int64_t input_count() const { return int64_t{batch} * in_channels * in_h * in_w; }
  int64_t weight_count() const { return int64_t{in_channels} * out_channels * kernel_h * kernel_w; }
  int64_t output_count() const { return int64_t{batch} * out_channels * out_h() * out_w(); }
  // The convolution whose backward-data this transposed convolution is: it maps a tensor of our
  // output size (out_channels channels) to one of our input size (in_channels channels).
  Conv2dParams as_conv() const {
    Conv2dParams c;
    c.batch = batch;
    c.in_channels = out_channels;
    c.in_h = out_h();
    c.in_w = out_w();
    c.out_channels = in_channels;
    c.kernel_h = kernel_h;
    c.kernel_w = kernel_w;
    c.stride_h = stride_h;
    c.stride_w = stride_w;
    c.pad_h = pad_h;
    c.pad_w = pad_w;
    c.dilation_h = dilation_h;
    c.dilation_w = dilation_w;
    return c;
  }
};

// Max and average pooling over windows of one channel plane.
struct Pool2dParams {
  int batch = 1, channels = 1, in_h = 1, in_w = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // average pooling only, PyTorch's default
  // Max pooling only: the window's cells pass through this activation before they compete, so
  // the forward gives max_pool(act(x)) and its argmax exactly (the activation after a conv or
  // linear layer, moved behind the pool so that its derivative is applied to the winners only).
  // The backward then takes that y and routes act's derivative at y times dy to the winner
  // (what act's backward would do to the whole unpooled gradient). With an activation the
  // windows must not overlap (stride >= kernel on both axes): each cell then has one window.
  FusedActivation activation;

  int out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
  int out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
  int64_t input_count() const { return int64_t{batch} * channels * in_h * in_w; }
  int64_t output_count() const { return int64_t{batch} * channels * out_h() * out_w(); }
  bool windows_overlap() const { return stride_h < kernel_h || stride_w < kernel_w; }
};

// What every backend's max_pool2d_backward checks first: a fused activation needs the forward's
// y, and windows that do not overlap (each cell then has at most one window, so one slope).
inline void check_pool_activation(const Pool2dParams& p, const float* y) {
  WEFT_CHECK(!p.activation.active() || (y != nullptr && !p.windows_overlap()),
             "max_pool2d_backward: a fused activation needs the forward's y and windows that do "
             "not overlap (stride >= kernel), got kernel ", p.kernel_h, "x", p.kernel_w,
             " stride ", p.stride_h, "x", p.stride_w);
}

// What every backend's conv2d_max_pool2d_forward checks first: the pool reads the convolution's
// output (its batch, channels and size), and the convolution has no activation of its own (an
// activation between the two rides in the pool, Pool2dParams::activation).
inline void check_conv_max_pool(const Conv2dParams& c, const Pool2dParams& p) {
  WEFT_CHECK(p.batch == c.batch && p.channels == c.out_channels && p.in_h == c.out_h() &&
                 p.in_w == c.out_w() && !c.activation.active(),
             "conv2d_max_pool2d_forward: the pool must read the convolution's output (",
             c.batch, "x", c.out_channels, "x", c.out_h(), "x", c.out_w(),
             ") and the convolution must have no activation, got a pool of ", p.batch, "x",
             p.channels, "x", p.in_h, "x", p.in_w);
}

// Whether p is a 2 x 2 pool of stride 2 without padding over the whole output of convolution c
// (and has an output): the pool the hand kernels fuse with a convolution, forward and
// backward-filter (kernels/cuda/conv.h conv2d_max_pool2d_fuses, _filter_fuses).
inline bool pools_2x2_over(const Conv2dParams& c, const Pool2dParams& p) {
  return p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 &&
         p.pad_h == 0 && p.pad_w == 0 && p.batch == c.batch && p.channels == c.out_channels &&
         p.in_h == c.out_h() && p.in_w == c.out_w() && p.out_h() > 0 && p.out_w() > 0;
}

// Batch normalisation over (N, C, spatial): one mean and variance per channel, taken over
// batch * spatial values. BatchNorm1d on [N, C] is spatial = 1.
struct BatchNormSync;
struct BatchNormParams {
  int batch = 1, channels = 1, spatial = 1;
  float eps = 1e-5f;
  float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch_stat (PyTorch)
  // Synchronised batch norm (training forward and its backward): the statistics of the batches
  // of every rank of a data-parallel run together. Null (the default): this batch's alone.
  const BatchNormSync* sync = nullptr;
  // Applied by the forwards to y. The backwards then take that y beside dy and use dy times the
  // activation's derivative (read from y) in place of dy, in the same pass.
  FusedActivation activation;
};

// How a synchronised batch norm shares its per-channel partial results across ranks. The
// kernels compute their rank's part, call `exchange` on it and finish from what comes back, so
// only the step between the partial results and their finishing is added; the exchange itself
// lives in the engine (engine/distributed/sync_batchnorm.cpp), kernels/ knows no MPI or NCCL.
//
//   forward   data = [ranks, C, 3] doubles, zero but for this rank's slot [rank, c, :] =
//             (count, mean, M2) of its values of channel c; after the exchange (an in-place sum
//             over the ranks) every slot is filled, and the kernels merge the slots in rank
//             order (Chan's formula), so every rank gets the same statistics.
//   backward  data = [2 C + 1] doubles: sum(dy) and sum(dy * xhat) per channel, then the
//             count of values per channel; summed over the ranks. dx uses the sums over all
//             ranks; dgamma and dbeta stay this rank's sums (the gradient reducer averages them).
//
// `data` is in the memory of the kernels' device; `stream` is their CUDA stream (null on the
// CPU). The exchange is queued on that stream, so the host does not wait.
struct BatchNormSync {
  int rank = 0, ranks = 1;
  void* context = nullptr;
  void (*exchange)(void* context, double* data, int64_t count, void* stream) = nullptr;
};

// Inverted dropout: kept values are scaled by 1 / (1 - p). The mask is a pure function of
// (seed, offset + element index), so every backend draws the same mask.
struct DropoutParams {
  int64_t count = 0;
  float p = 0.5f;
  uint64_t seed = 0;
  uint64_t offset = 0;
  // In a captured graph (engine/graph.h): a word in the backend's memory added to `offset` when
  // the kernel runs, so that each replay draws new numbers. Null otherwise.
  const uint64_t* offset_shift = nullptr;
};

// Elementwise activations. `alpha` (passed beside) is the negative slope of leaky_relu and the
// alpha of elu, ignored otherwise.
enum class Activation { relu, leaky_relu, elu, sigmoid, tanh };

// What activation_backward reads beside dy: the output y for sigmoid and tanh (y (1 - y),
// 1 - y^2), the input x for the others. Every backend reads that one alone, so the other may be
// null, and the engine saves only it for backward.
constexpr bool activation_backward_reads_output(Activation f) {
  return f == Activation::sigmoid || f == Activation::tanh;
}

// Broadcasting binary arithmetic.
enum class BinaryOp { add, sub, mul, div };

// NumPy broadcasting over up to kMaxDims dimensions. Shapes are right-aligned by the engine and
// given here with the same number of dims; a size-1 dimension of an input broadcasts. Strides
// are in elements, 0 for broadcast dimensions.
constexpr int kMaxDims = 8;
struct BroadcastParams {
  int ndim = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

// Row-major matrix product C = alpha * op(A) op(B) + beta * C, op = optional transpose.
struct GemmParams {
  int m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
};

// A batch gathered from a data set of uint8 images [N, C, H, W] resident in the backend's
// memory, each image mirrored and moved by whole pixels on the way (the flip and random-crop
// augmentations, engine/data/augment.h) and converted to floats: gather_augment_u8_to_f32 in
// backend.h. Per batch image r the caller gives five int32 "moves": the source image, flip left
// right (0 or 1), flip top-bottom, and the shift (sx, sy) in pixels (positive moves the content
// right and down). Output pixel (x, y) of channel c then reads the source at
//   x_in = flip_x ? (W - 1 - x) + sx : x - sx      (the same with y, H and sy)
// (the flip is applied first, the shift after it, both about the image), and positions outside
// the image are filled as `fill` says; the value v (a pixel, or fill_value) is written as
// v * scale + shift.
enum class EdgeFill : int32_t {
  constant,  // fill_value                          kkkk|abcd|kkkk
  nearest,   // the edge pixel                      aaaa|abcd|dddd
  reflect,   // mirrored, the edge pixel repeated   dcba|abcd|dcba
  wrap       // the image repeated                  abcd|abcd|abcd
};
constexpr int kImageMoveFields = 5;  // source, flip_x, flip_y, sx, sy

struct ImageGatherParams {
  int rows = 0;  // images in the batch
  int channels = 1, height = 1, width = 1;
  EdgeFill fill = EdgeFill::constant;
  float fill_value = 0.0f;  // in pixel units, before scale and shift
  float scale = 1.0f, shift = 0.0f;
};

// The source coordinate that position i (-inf < i < inf) of an axis of n pixels reads, or -1
// for a constant fill.
WEFT_HOST_DEVICE inline int edge_source_index(int i, int n, EdgeFill fill) {
  if (i >= 0 && i < n) return i;
  switch (fill) {
    case EdgeFill::nearest:
      return i < 0 ? 0 : n - 1;
    case EdgeFill::reflect: {
      const int period = 2 * n;
      int k = i % period;
      if (k < 0) k += period;
      return k < n ? k : period - 1 - k;
    }
    case EdgeFill::wrap: {
      const int k = i % n;
      return k < 0 ? k + n : k;
    }
    case EdgeFill::constant:
      break;
  }
  return -1;
}

}  // namespace weft
