// What the vendor paths (kernels/cuda_vendor/*.cu) share on one device: the cuDNN and cuBLAS handles,
// cuDNN descriptors cached per shape, and per-call device workspace.
//
// Handles. cudnnCreate and cublasCreate are slow (cuDNN loads its sub-libraries), so each is
// created on the first vendor call for the device, with that device current, and bound at once
// to the device's one stream (kernels/cuda_runtime/runtime.h device_stream): every cuDNN and cuBLAS call
// is then ordered with the hand kernels and the copies, with no host synchronisation, and the
// caching allocator's "reuse without waiting" rule stays true (runtime.cu). A handle is not safe
// for two threads at once, so each vendor call holds the context's mutex.
//
// Descriptors. A cuDNN descriptor is a small host-side struct describing a tensor, a filter or a
// convolution; cuDNN reads it during the call, so it may be destroyed as soon as the call has
// been queued. weft builds the descriptors of a shape once and keeps them in a plan, in a map
// keyed by the shape's integers (the params struct, flattened): a training step meets the same
// handful of shapes every iteration. A plan also remembers the convolution algorithm chosen for
// each pass. Every descriptor is an RAII object (Descriptor below); when a map outgrows
// kMaxPlans it is simply cleared, destroying its descriptors, and refills on demand.
//
// Workspace. cuDNN convolutions may ask for scratch memory. It comes from the caching allocator
// for the duration of one call (DeviceBuffer) and is handed back right after the call has been
// queued: the next owner of the block is queued on the same stream, after this call.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "kernels/cuda_vendor/check.h"
#include "kernels/params.h"
#include "kernels/selection.h"

namespace weft::vendor {

// One cuDNN descriptor, created in the constructor and destroyed in the destructor.
template <typename Handle, cudnnStatus_t (*create)(Handle*), cudnnStatus_t (*destroy)(Handle)>
class Descriptor {
 public:
  Descriptor() { WEFT_CUDNN_CHECK(create(&handle_)); }
  ~Descriptor() {
    if (handle_ != nullptr) WEFT_CUDNN_WARN(destroy(handle_));
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

using TensorDescriptor =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
               cudnnDestroyConvolutionDescriptor>;

// An NCHW tensor of the given sizes (all of them >= 1), float unless another type is given.
void set_nchw(const TensorDescriptor& descriptor, int n, int c, int h, int w,
              cudnnDataType_t type = CUDNN_DATA_FLOAT);

// Device memory from the caching allocator for the length of one call; null when bytes == 0.
class DeviceBuffer {
 public:
  DeviceBuffer(int device, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return pointer_; }
  float* floats() const { return static_cast<float*>(pointer_); }
  size_t bytes() const { return bytes_; }

 private:
  int device_;
  void* pointer_ = nullptr;
  size_t bytes_;
};

// An algorithm cuDNN will run for one pass of one convolution shape, and the workspace it needs.
template <typename Algorithm>
struct ChosenAlgorithm {
  Algorithm algorithm;
  size_t workspace_bytes = 0;
};

// Everything cuDNN needs to run the three passes of one convolution (Conv2dParams + TF32 mode).
// The transposed convolution reuses the plan of its p.as_conv(), whose input side is the
// transposed convolution's output side.
struct ConvPlan {
  TensorDescriptor x;          // [N, C, H, W]    the convolution's input
  TensorDescriptor y;          // [N, O, OH, OW]  the convolution's output
  FilterDescriptor w;          // [O, C, KH, KW]
  ConvolutionDescriptor conv;  // padding, stride, dilation, cross-correlation, FP32 sums, math
  // x, y and w are BF16 in a bf16 plan.
  std::optional<ChosenAlgorithm<cudnnConvolutionFwdAlgo_t>> forward;
  std::optional<ChosenAlgorithm<cudnnConvolutionBwdDataAlgo_t>> backward_data;
  std::optional<ChosenAlgorithm<cudnnConvolutionBwdFilterAlgo_t>> backward_filter;
};

// Batch normalisation over [N, C, spatial]: the data seen as [N, C, spatial, 1] and the
// per-channel tensors (gamma, beta, means, variances) as [1, C, 1, 1].
struct BatchNormPlan {
  TensorDescriptor data;
  TensorDescriptor channels;
};

// Plans keyed by a shape's integers, cleared when it holds kMaxPlans of them.
template <size_t KeySize, typename Plan>
class PlanCache {
 public:
  static constexpr size_t kMaxPlans = 256;
  using Key = std::array<int, KeySize>;

  // The plan of `key`; `build(plan)` fills in a new one.
  template <typename Build>
  Plan& get(const Key& key, Build build) {
    auto found = plans_.find(key);
    if (found != plans_.end()) return *found->second;
    if (plans_.size() >= kMaxPlans) plans_.clear();
    auto plan = std::make_unique<Plan>();
    build(*plan);
    return *plans_.emplace(key, std::move(plan)).first->second;
  }

 private:
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

class Context {
 public:
  explicit Context(int device);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  // Held by every vendor call for its whole length (handles and caches are not thread-safe).
  std::mutex& mutex() { return mutex_; }

  // Makes the device current and returns the handle, created and bound to the stream on first
  // use. cublas() also sets the math mode the TF32 setting asks for (kernels/selection.h).
  cudnnHandle_t cudnn();
  cublasHandle_t cublas();

  // The plan of a shape at a math precision, built on first use. The precision is part of the
  // key: fp32 sets CUDNN_FMA_MATH (no tensor cores), tf32 CUDNN_DEFAULT_MATH (TF32 tensor cores
  // permitted), bf16 BF16 tensors (x, w, y) with FP32 accumulation and CUDNN_TENSOR_OP_MATH.
  // The algorithm setting (measured or rules) is part of the key too, since the plan keeps
  // the algorithms chosen under it.
  ConvPlan& conv_plan(const Conv2dParams& p, MathPrecision precision,
                      VendorAlgorithms algorithms);
  BatchNormPlan& batch_norm_plan(const BatchNormParams& p);
  // Queues y[0 .. count) = 0 on the stream.
  void zero(float* y, size_t count);

 private:
  void make_current() const;

  int device_;
  cudaStream_t stream_;
  std::mutex mutex_;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  // cuBLAS's workspace, given to the handle when it is made (cublasSetWorkspace): without one
  // cuBLAS allocates its own with cudaMalloc, which a CUDA graph capture refuses.
  void* cublas_workspace_ = nullptr;
  PlanCache<15, ConvPlan> conv_plans_;
  PlanCache<3, BatchNormPlan> batch_norm_plans_;
};

}  // namespace weft::vendor
