// GPU ranks' gradient exchange: ncclAllReduce(ncclAvg) per bucket on a dedicated stream,
// ordered against the compute stream by events (see gradient_reducer.h). Compiled only when
// CUDA and NCCL are found (WEFT_HAVE_NCCL). It compiles and links in CI; it has not yet run on
// a GPU, so treat its first multi-GPU run as its test.
//
// Set-up: a watched NCCL communicator of its own (nccl_comm.h: rank 0's unique id broadcast over
// MPI, non-blocking creation, every collective watched with the WEFT_DIST_TIMEOUT_S deadline) on
// this rank's GPU (the app picks cuda:<local rank>, engine/runtime.cpp).
// Per bucket: a device buffer; start() copies the bucket's gradients into it on the compute
// stream, records `packed`, makes the NCCL stream wait for it and queues the all-reduce there;
// complete() records `reduced` on the NCCL stream and makes the compute stream wait for it;
// unpack() copies each slice into a fresh gradient tensor on the compute stream. The host never
// waits for the GPU.
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/distributed/gradient_reducer.h"
#include "engine/distributed/nccl_comm.h"
#include "kernels/cuda_runtime/check.h"
#include "kernels/cuda_runtime/runtime.h"
#include "kernels/error.h"

namespace weft::dist {

namespace {

class NcclReducer : public GradientReducer {
 public:
  explicit NcclReducer(std::vector<Tensor> params) : GradientReducer(std::move(params)) {
    device_ = params_.front().device().index;
    comm_ = std::make_unique<NcclComm>(device_, "gradients");
    WEFT_CUDA_CHECK(cudaStreamCreateWithFlags(&nccl_stream_, cudaStreamNonBlocking));
    compute_stream_ = cuda::device_stream(device_);
    buckets_changed();
  }

  ~NcclReducer() override {
    release_buffers();
    if (nccl_stream_ != nullptr) WEFT_CUDA_WARN(cudaStreamDestroy(nccl_stream_));
  }

 protected:
  void buckets_changed() override {
    release_buffers();
    slots_.resize(buckets_.size());
    for (size_t b = 0; b < buckets_.size(); ++b) {
      Slot& slot = slots_[b];
      slot.bytes = static_cast<size_t>(buckets_[b].elements) * sizeof(float);
      slot.buffer = static_cast<float*>(cuda::cached_malloc(device_, slot.bytes));
      WEFT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.packed, cudaEventDisableTiming));
      WEFT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.reduced, cudaEventDisableTiming));
    }
  }

  void start(size_t b) override {
    const Bucket& bucket = buckets_[b];
    Slot& slot = slots_[b];
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const Tensor& p = params_[bucket.params[k]];
      float* dst = slot.buffer + bucket.offsets[k];
      const size_t bytes = static_cast<size_t>(p.numel()) * sizeof(float);
      if (p.grad().defined()) {
        cuda::memcpy_device_to_device(device_, dst, p.grad().data<float>(), bytes);
      } else {
        cuda::memset_zero(device_, dst, bytes);
      }
    }
    WEFT_CUDA_CHECK(cudaEventRecord(slot.packed, compute_stream_));
    WEFT_CUDA_CHECK(cudaStreamWaitEvent(nccl_stream_, slot.packed, 0));
    comm_->all_reduce(slot.buffer, slot.buffer, static_cast<size_t>(bucket.elements), ncclFloat,
                      ncclAvg, nccl_stream_, "gradient bucket " + std::to_string(b));
  }

  void complete(size_t b) override {
    comm_->check();
    Slot& slot = slots_[b];
    WEFT_CUDA_CHECK(cudaEventRecord(slot.reduced, nccl_stream_));
    WEFT_CUDA_CHECK(cudaStreamWaitEvent(compute_stream_, slot.reduced, 0));
  }

  void unpack(size_t b) override {
    const Bucket& bucket = buckets_[b];
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      Tensor& p = params_[bucket.params[k]];
      if (!p.grad().defined()) continue;
      Tensor mean = Tensor::empty(p.shape(), DType::f32, p.device());
      cuda::memcpy_device_to_device(device_, mean.data<float>(),
                                    slots_[b].buffer + bucket.offsets[k],
                                    static_cast<size_t>(p.numel()) * sizeof(float));
      p.mutable_grad() = mean;
    }
  }

 private:
  struct Slot {
    float* buffer = nullptr;
    size_t bytes = 0;
    cudaEvent_t packed = nullptr;
    cudaEvent_t reduced = nullptr;
  };

  void release_buffers() {
    if (!slots_.empty() && nccl_stream_ != nullptr) WEFT_CUDA_WARN(cudaStreamSynchronize(nccl_stream_));
    for (Slot& slot : slots_) {
      if (slot.buffer != nullptr) cuda::cached_free(device_, slot.buffer, slot.bytes);
      if (slot.packed != nullptr) WEFT_CUDA_WARN(cudaEventDestroy(slot.packed));
      if (slot.reduced != nullptr) WEFT_CUDA_WARN(cudaEventDestroy(slot.reduced));
    }
    slots_.clear();
  }

  int device_ = 0;
  std::unique_ptr<NcclComm> comm_;
  cudaStream_t nccl_stream_ = nullptr;
  cudaStream_t compute_stream_ = nullptr;
  std::vector<Slot> slots_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(const std::vector<Tensor>& params) {
  return std::make_unique<NcclReducer>(params);
}

}  // namespace weft::dist
