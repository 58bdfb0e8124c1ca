// The per-device vendor context (context.h): lazy handles bound to the device's stream, plan
// caches, per-call workspace.
#include <cuda_runtime.h>

#include "kernels/cuda_runtime/check.h"
#include "kernels/cuda_runtime/runtime.h"
#include "kernels/cuda_vendor/cublas_library.h"
#include "kernels/cuda_vendor/context.h"
#include "kernels/selection.h"

namespace weft::vendor {

void set_nchw(const TensorDescriptor& descriptor, int n, int c, int h, int w,
              cudnnDataType_t type) {
  WEFT_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(descriptor.get(), CUDNN_TENSOR_NCHW, type, n, c, h, w));
}

DeviceBuffer::DeviceBuffer(int device, size_t bytes) : device_(device), bytes_(bytes) {
  if (bytes_ > 0) pointer_ = cuda::cached_malloc(device_, bytes_);
}

DeviceBuffer::~DeviceBuffer() {
  if (pointer_ != nullptr) cuda::cached_free(device_, pointer_, bytes_);
}

Context::Context(int device) : device_(device), stream_(cuda::device_stream(device)) {}

// cuBLAS's own guidance for Hopper: 32 MiB of workspace (less is enough on older cards).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

Context::~Context() {
  if (cublas_ != nullptr) {
    const CublasLibrary& library = cublas_library();  // loaded: it made the handle
    const cublasStatus_t status = library.destroy(cublas_);
    if (status != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "weft: warning: cublasDestroy failed: %s\n",
                   library.get_status_string(status));
    }
  }
  if (cudnn_ != nullptr) WEFT_CUDNN_WARN(cudnnDestroy(cudnn_));
  if (cublas_workspace_ != nullptr) {
    WEFT_CUDA_WARN(cudaFree(cublas_workspace_));
  }
}

void Context::make_current() const {
  int current = -1;
  WEFT_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device_) WEFT_CUDA_CHECK(cudaSetDevice(device_));
}

cudnnHandle_t Context::cudnn() {
  make_current();
  if (cudnn_ == nullptr) {
    cudnnHandle_t handle = nullptr;
    WEFT_CUDNN_CHECK(cudnnCreate(&handle));
    const cudnnStatus_t bound = cudnnSetStream(handle, stream_);
    if (bound != CUDNN_STATUS_SUCCESS) {
      WEFT_CUDNN_WARN(cudnnDestroy(handle));
      WEFT_CUDNN_CHECK(bound);
    }
    cudnn_ = handle;
  }
  return cudnn_;
}

cublasHandle_t Context::cublas() {
  make_current();
  const CublasLibrary& library = cublas_library();  // loads cuBLAS on the first call
  if (cublas_ == nullptr) {
    cublasHandle_t handle = nullptr;
    WEFT_CUBLAS_CHECK(library.create(&handle));
    const cublasStatus_t bound = library.set_stream(handle, stream_);
    if (bound != CUBLAS_STATUS_SUCCESS) {
      library.destroy(handle);
      WEFT_CUBLAS_CHECK(bound);
    }
    cublas_ = handle;
    // Its own block, not the caching pool's: it lives as long as the handle, and a graph's
    // private pool (which serves every cached_malloc during a capture) must not lend it.
    WEFT_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
    WEFT_CUBLAS_CHECK(library.set_workspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  }
  // CUBLAS_DEFAULT_MATH keeps float GEMMs in full FP32 (cuBLAS makes TF32 opt-in for float);
  // CUBLAS_TF32_TENSOR_OP_MATH opts in. A host-side setting, cheap to apply on every call.
  WEFT_CUBLAS_CHECK(library.set_math_mode(
      cublas_, vendor_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return cublas_;
}

ConvPlan& Context::conv_plan(const Conv2dParams& p, MathPrecision precision,
                             VendorAlgorithms algorithms) {
  const PlanCache<15, ConvPlan>::Key key = {
      p.batch,    p.in_channels, p.in_h,  p.in_w,  p.out_channels, p.kernel_h,   p.kernel_w,
      p.stride_h, p.stride_w,    p.pad_h, p.pad_w, p.dilation_h,   p.dilation_w,
      static_cast<int>(precision), static_cast<int>(algorithms)};
  return conv_plans_.get(key, [&](ConvPlan& plan) {
    const cudnnDataType_t type =
        precision == MathPrecision::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    set_nchw(plan.x, p.batch, p.in_channels, p.in_h, p.in_w, type);
    set_nchw(plan.y, p.batch, p.out_channels, p.out_h(), p.out_w(), type);
    WEFT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan.w.get(), type, CUDNN_TENSOR_NCHW,
                                                p.out_channels, p.in_channels, p.kernel_h,
                                                p.kernel_w));
    // Cross-correlation (what every DL framework calls convolution), accumulated in FP32 (for
    // BF16 data cuDNN's PSEUDO_BFLOAT16_CONFIG).
    WEFT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan.conv.get(), p.pad_h, p.pad_w, p.stride_h,
                                                     p.stride_w, p.dilation_h, p.dilation_w,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    const cudnnMathType_t math = precision == MathPrecision::fp32   ? CUDNN_FMA_MATH
                                 : precision == MathPrecision::tf32 ? CUDNN_DEFAULT_MATH
                                                                    : CUDNN_TENSOR_OP_MATH;
    WEFT_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), math));
  });
}

BatchNormPlan& Context::batch_norm_plan(const BatchNormParams& p) {
  return batch_norm_plans_.get({p.batch, p.channels, p.spatial}, [&](BatchNormPlan& plan) {
    set_nchw(plan.data, p.batch, p.channels, p.spatial, 1);
    set_nchw(plan.channels, 1, p.channels, 1, 1);
  });
}

void Context::zero(float* y, size_t count) {
  if (count == 0) return;
  make_current();
  WEFT_CUDA_CHECK(cudaMemsetAsync(y, 0, count * sizeof(float), stream_));
}

}  // namespace weft::vendor
