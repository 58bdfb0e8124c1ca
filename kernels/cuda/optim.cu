// Hand-written CUDA kernels for the optimizer updates (declared in optim.h).
//
// Both are map kernels (for_each_kernel in common.h): thread t of the grid updates elements
// t, t + T, ... of the parameter, reading param, grad and the state once and writing param and
// state once, so an update costs one pass over memory. No shared memory; any count.
//
// Multi-tensor updates (sgd_update_multi, adam_update_multi): one launch updates up to
// kTableTensors tensors. The host cuts every tensor into chunks of kChunk elements and writes a
// table - passed by value as the kernel's argument, so no copy precedes the launch - of the
// tensors' pointers and counts and, for each block, which tensor and which chunk it updates
// (at most kTableBlocks blocks). Block b updates chunk block_chunk[b] of tensor
// block_tensor[b]; its thread t takes the chunk's elements t, t + 256, ... When a table is
// full it is launched and a new one begun, a tensor's later chunks going to the next launch. A
// model's whole update is then a few launches instead of one per parameter tensor (ResNet-50:
// 161 tensors). Per element the arithmetic is that of the single-tensor kernels.
// Everything that depends only on the step number (Adam's bias corrections, AdamW's decay
// factor) is computed once on the host (adam_scalars, shared with the CPU reference) - and in a
// captured graph read from device memory that the optimizer fills before each replay -
// so emulated runs match it exactly and GPU runs within rounding (nvcc may fuse a multiply and
// an add into one FMA).
#include "kernels/cuda/optim.h"

#include "kernels/cuda/common.h"
#include "kernels/cuda/launch.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {
namespace {

// SGD's per-element arithmetic, shared by the single- and multi-tensor kernels.
struct SgdMath {
  float lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
  const float* lr_on_device;  // in a captured graph: [lr] (SgdStep::device_scalars)
  __device__ void apply(float* param, const float* grad, float* momentum_buffer,
                        int64_t i) const {
    const float rate = lr_on_device != nullptr ? lr_on_device[0] : lr;
    float g = grad[i] + weight_decay * param[i];
    if (momentum != 0.0f) {
      const float buf =
          first_step ? g : momentum * momentum_buffer[i] + (1.0f - dampening) * g;
      momentum_buffer[i] = buf;
      g = nesterov ? g + momentum * buf : buf;
    }
    param[i] -= rate * g;
  }
};

struct SgdKernel {
  SgdMath math;
  float* param;
  const float* grad;
  float* momentum_buffer;
  __device__ void operator()(int64_t i) const { math.apply(param, grad, momentum_buffer, i); }
};

// Adam's per-element arithmetic, shared by the single- and multi-tensor kernels.
struct AdamMath {
  float beta1, beta2, eps;
  float step_size;   // lr / (1 - beta1^t)
  float bias2_sqrt;  // sqrt(1 - beta2^t)
  float decay;       // AdamW: 1 - lr * weight_decay; Adam: 1
  float l2;          // Adam: weight_decay; AdamW: 0
  const float* scalars_on_device;  // in a captured graph: the three above (AdamScalars)
  __device__ void apply(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                        int64_t i) const {
    const bool staged = scalars_on_device != nullptr;
    const float step_size_now = staged ? scalars_on_device[0] : step_size;
    const float bias2_sqrt_now = staged ? scalars_on_device[1] : bias2_sqrt;
    const float decay_now = staged ? scalars_on_device[2] : decay;
    const float g = grad[i] + l2 * param[i];
    const float m = beta1 * exp_avg[i] + (1.0f - beta1) * g;
    const float v = beta2 * exp_avg_sq[i] + (1.0f - beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] * decay_now - step_size_now * m / (sqrtf(v) / bias2_sqrt_now + eps);
  }
};

struct AdamKernel {
  AdamMath math;
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  __device__ void operator()(int64_t i) const { math.apply(param, grad, exp_avg, exp_avg_sq, i); }
};

AdamMath adam_math(const AdamStep& s) {
  const AdamScalars scalars = adam_scalars(s);
  AdamMath math;
  math.beta1 = s.beta1;
  math.beta2 = s.beta2;
  math.eps = s.eps;
  math.step_size = scalars.step_size;
  math.bias2_sqrt = scalars.bias2_sqrt;
  math.decay = scalars.decay;
  math.l2 = s.decoupled_weight_decay ? 0.0f : s.weight_decay;
  math.scalars_on_device = s.device_scalars;
  return math;
}

SgdMath sgd_math(const SgdStep& s) {
  return SgdMath{s.lr,       s.momentum,   s.dampening,      s.weight_decay,
                 s.nesterov, s.first_step, s.device_scalars};
}

// ---- multi-tensor updates ----

constexpr int kTableTensors = 24;
constexpr int kTableBlocks = 320;
constexpr int64_t kChunk = 16384;

// The kernel argument of one multi-tensor launch (3.5 KB, under the 4 KB parameter limit).
// Per tensor: the parameter, its gradient and up to two state buffers (null when unused).
struct TensorTable {
  int64_t counts[kTableTensors];
  float* params[kTableTensors];
  const float* grads[kTableTensors];
  float* state1[kTableTensors];
  float* state2[kTableTensors];
  int32_t block_tensor[kTableBlocks];
  int32_t block_chunk[kTableBlocks];
};

struct SgdMulti {
  SgdMath math;
  __device__ void operator()(const TensorTable& t, int k, int64_t i) const {
    math.apply(t.params[k], t.grads[k], t.state1[k], i);
  }
};

struct AdamMulti {
  AdamMath math;
  __device__ void operator()(const TensorTable& t, int k, int64_t i) const {
    math.apply(t.params[k], t.grads[k], t.state1[k], t.state2[k], i);
  }
};

template <class Update>
__global__ void multi_tensor_kernel(TensorTable table, Update update) {
  const int k = table.block_tensor[blockIdx.x];
  const int64_t begin = static_cast<int64_t>(table.block_chunk[blockIdx.x]) * kChunk;
  const int64_t end = begin + kChunk < table.counts[k] ? begin + kChunk : table.counts[k];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) update(table, k, i);
}

// Fills tables with the tensors' chunks and launches each when full (see the top of the file).
template <class Update>
void multi_tensor_apply(int tensors, const int64_t* counts, float* const* params,
                        const float* const* grads, float* const* state1, float* const* state2,
                        const Update& update, cudaStream_t stream) {
  TensorTable table{};
  int used_tensors = 0, used_blocks = 0;
  const auto launch = [&] {
    if (used_blocks > 0) {
      WEFT_LAUNCH(multi_tensor_kernel<Update>, used_blocks, kBlockThreads, 0, stream, table,
                  update);
    }
    used_tensors = 0;
    used_blocks = 0;
  };
  for (int k = 0; k < tensors; ++k) {
    const int64_t chunks = (counts[k] + kChunk - 1) / kChunk;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      if (chunk == 0 || used_tensors == 0) {  // the tensor takes a slot in this table
        if (used_tensors == kTableTensors) launch();
        table.counts[used_tensors] = counts[k];
        table.params[used_tensors] = params[k];
        table.grads[used_tensors] = grads[k];
        table.state1[used_tensors] = state1 != nullptr ? state1[k] : nullptr;
        table.state2[used_tensors] = state2 != nullptr ? state2[k] : nullptr;
        ++used_tensors;
      }
      table.block_tensor[used_blocks] = used_tensors - 1;
      table.block_chunk[used_blocks] = static_cast<int32_t>(chunk);
      ++used_blocks;
      if (used_blocks == kTableBlocks) launch();
    }
  }
  launch();
}

}  // namespace

void sgd_update(const SgdStep& s, float* param, const float* grad, float* momentum_buffer,
                cudaStream_t stream) {
  for_each(s.count, SgdKernel{sgd_math(s), param, grad, momentum_buffer}, stream);
}

void adam_update(const AdamStep& s, float* param, const float* grad, float* exp_avg,
                 float* exp_avg_sq, cudaStream_t stream) {
  for_each(s.count, AdamKernel{adam_math(s), param, grad, exp_avg, exp_avg_sq}, stream);
}

void sgd_update_multi(const SgdStep& s, int tensors, const int64_t* counts, float* const* params,
                      const float* const* grads, float* const* momentum_buffers,
                      cudaStream_t stream) {
  multi_tensor_apply(tensors, counts, params, grads, momentum_buffers, nullptr,
                     SgdMulti{sgd_math(s)}, stream);
}

void adam_update_multi(const AdamStep& s, int tensors, const int64_t* counts,
                       float* const* params, const float* const* grads, float* const* exp_avgs,
                       float* const* exp_avg_sqs, cudaStream_t stream) {
  multi_tensor_apply(tensors, counts, params, grads, exp_avgs, exp_avg_sqs,
                     AdamMulti{adam_math(s)}, stream);
}

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
