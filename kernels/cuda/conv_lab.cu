// The kernel lab of the convolution forward (declared and described in conv_lab.h): versions 1
// and 2 live here, versions 3 to 5 are conv.cu's forward with its tile forced.
//
// conv_lab_naive_kernel (v1)   one thread per element i of y[N, O, OH, OW] (grid-stride,
//   consecutive threads on consecutive ow): y = act(bias[o] + sum over c, kh, kw in that order
//   of x[n, c, ih, iw] * w[o, c, kh, kw]), taps in the padding skipped. No shared memory: every
//   product reads both factors from global memory (the caches catch the reuse, if they can).
//
// conv_lab_tiled_kernel (v2)   the implicit GEMM y[O, (n, oh, ow)] = W[O, T] col[T, (n, oh, ow)]
//   on tile_product (tiled_product.h): block (bx, by) computes output channels 64 by .. + 63 at
//   output positions 64 bx .. + 63, thread (ty, tx) the 16 outputs o = 64 by + ty + 16 i,
//   position 64 bx + tx + 16 j; shared memory holds a 16-deep slab of 64 filters and of the same
//   16 taps at 64 positions (ImageColumns below, which decodes tap and position with divisions
//   for every element it stages). Epilogue as conv2d_forward's.
#include "kernels/cuda/conv_lab.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/common.h"
#include "kernels/cuda/conv_operands.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tiled_product.h"
#include "kernels/error.h"

#if defined(__CUDACC__)
#include "kernels/cuda_runtime/check.h"
#include "kernels/cuda_runtime/runtime.h"
#endif

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

__global__ void conv_lab_naive_kernel(ConvGeometry g, const float* x, const float* w,
                                      const float* bias, FusedActivation act, float* y) {
  const int64_t count = int64_t{g.batch} * g.out_channels * g.out_plane();
  for (int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    const int ow = static_cast<int>(i % g.out_w);
    const int oh = static_cast<int>((i / g.out_w) % g.out_h);
    const int o = static_cast<int>((i / g.out_plane()) % g.out_channels);
    const int64_t n = i / (int64_t{g.out_plane()} * g.out_channels);
    float sum = 0.0f;
    for (int c = 0; c < g.in_channels; ++c) {
      const float* image = x + (n * g.in_channels + c) * g.in_plane();
      const float* filter = w + (int64_t{o} * g.in_channels + c) * g.kernel_h * g.kernel_w;
      for (int kh = 0; kh < g.kernel_h; ++kh) {
        const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
        if (ih < 0 || ih >= g.in_h) continue;
        for (int kw = 0; kw < g.kernel_w; ++kw) {
          const int iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
          if (iw < 0 || iw >= g.in_w) continue;
          sum = fmaf(filter[kh * g.kernel_w + kw], image[ih * g.in_w + iw], sum);
        }
      }
    }
    y[i] = act.apply(sum + (bias != nullptr ? bias[o] : 0.0f));
  }
}

// The value the im2col matrix would hold at (tap, output position (n, oh, ow)): the input pixel
// that filter tap (c, kh, kw) sees there, 0 in the padding. The position is the operand row.
struct ImageColumns {
  static constexpr bool kAlongK = false;
  ConvGeometry g;
  const float* x;
  __device__ __forceinline__ float at(int position, int tap) const {
    const int n = position / g.out_plane();
    const int pixel = position - n * g.out_plane();
    const int oh = pixel / g.out_w, ow = pixel % g.out_w;
    const int taps_per_channel = g.kernel_h * g.kernel_w;
    const int c = tap / taps_per_channel;
    const int kernel_pos = tap - c * taps_per_channel;
    const int kh = kernel_pos / g.kernel_w, kw = kernel_pos % g.kernel_w;
    const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
    const int iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
    if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) return 0.0f;
    return x[((int64_t{n} * g.in_channels + c) * g.in_h + ih) * g.in_w + iw];
  }
};

__global__ void __launch_bounds__(kProductThreads)
    conv_lab_tiled_kernel(ConvGeometry g, const float* x, const float* w, const float* bias,
                          FusedActivation act, float* y) {
  const MatrixOperand<true> filters{w, g.taps()};
  const ImageColumns columns{g, x};
  const int positions = g.batch * g.out_plane();
  float acc[kMicroTile][kMicroTile];
  tile_product(filters, g.out_channels, columns, positions, 0, g.taps(), acc);
  store_micro_tile(acc, g.out_channels, positions, [&](int o, int position, float sum) {
    store_nchw(y, g.out_channels, g.out_plane(), o, position, sum, bias, act);
  });
}

}  // namespace

const char* conv_lab_name(ConvLabVersion version) {
  switch (version) {
    case ConvLabVersion::naive:
      return "v1 naive";
    case ConvLabVersion::tiled:
      return "v2 tiled";
    case ConvLabVersion::indexed:
      return "v3 indexed";
    case ConvLabVersion::large:
      return "v4 large";
    case ConvLabVersion::small_runs:
      return "v5 small runs";
  }
  return "unknown";
}

void conv2d_forward_lab(ConvLabVersion version, const Conv2dParams& p, const float* x,
                        const float* w, const float* bias, float* y, cudaStream_t stream) {
  const ConvGeometry g = geometry(p);
  if (g.batch <= 0 || g.out_h <= 0 || g.out_w <= 0 || g.out_channels <= 0) return;
  switch (version) {
    case ConvLabVersion::naive:
      WEFT_LAUNCH(conv_lab_naive_kernel,
                  grid_blocks(int64_t{g.batch} * g.out_channels * g.out_plane()), kBlockThreads, 0,
                  stream, g, x, w, bias, p.activation, y);
      return;
    case ConvLabVersion::tiled:
      WEFT_LAUNCH(conv_lab_tiled_kernel, product_grid(g.out_channels, g.batch * g.out_plane()),
                  kProductThreads, 0, stream, g, x, w, bias, p.activation, y);
      return;
    case ConvLabVersion::indexed:
      conv2d_forward_with_tile(TileChoice::small, p, x, w, bias, y, stream);
      return;
    case ConvLabVersion::large:
      conv2d_forward_with_tile(TileChoice::large, p, x, w, bias, y, stream);
      return;
    case ConvLabVersion::small_runs:
      conv2d_forward_small_runs(p, x, w, bias, y, stream);
      return;
  }
  WEFT_CHECK(false, "conv2d_forward_lab: unknown version ", static_cast<int>(version));
}

namespace {

// The lab as a Backend (backends.h): conv2d_forward runs one version, on the device's stream
// (the device made current first, as the hand backend does) or under emulation (no stream).
class ConvLabBackend final : public PartialBackend {
 public:
  ConvLabBackend(ConvLabVersion version, int device)
      : version_(version),
        device_(device),
        name_(std::string("conv-lab ") + conv_lab_name(version)) {}
  const char* name() const override { return name_.c_str(); }
  bool implements(KernelFamily family) const override { return family == KernelFamily::conv; }
  void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) override {
    conv2d_forward_lab(version_, p, x, w, bias, y, stream());
  }

 private:
  cudaStream_t stream() const {
#if defined(__CUDACC__)
    int current = -1;
    WEFT_CUDA_CHECK(cudaGetDevice(&current));
    if (current != device_) WEFT_CUDA_CHECK(cudaSetDevice(device_));
    return device_stream(device_);
#else
    return nullptr;
#endif
  }

  ConvLabVersion version_;
  [[maybe_unused]] int device_;  // read on a GPU only
  std::string name_;
};

// One backend per (device, version), kept for the life of the process.
Backend& lab_backend(int device, int version) {
  WEFT_CHECK(version >= 1 && version <= kConvLabVersions, "conv lab: no version ", version,
             " (versions 1 to ", kConvLabVersions, ")");
  static std::mutex mutex;
  static std::unique_ptr<ConvLabBackend> backends[64][kConvLabVersions];
  WEFT_CHECK(device >= 0 && device < 64, "conv lab: device ", device, " out of range");
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<ConvLabBackend>& backend = backends[device][version - 1];
  if (!backend) {
    backend = std::make_unique<ConvLabBackend>(static_cast<ConvLabVersion>(version), device);
  }
  return *backend;
}

}  // namespace

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda

namespace weft {

#if defined(__CUDACC__)
Backend& cuda_conv_lab_backend(int device, int version) {
  return cuda::lab_backend(device, version);
}
#else
Backend& emu_conv_lab_backend(int version) {
  return cuda::lab_backend(0, version);
}

// Defined once, in the emulation's build of this file (always built).
int conv_lab_versions() {
  return cuda::kConvLabVersions;
}
#endif

}  // namespace weft
