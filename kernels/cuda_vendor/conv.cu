// Convolution and transposed convolution through cuDNN (vendor.h).
//
// API. cuDNN 9 offers two ways to run a convolution: the legacy calls (cudnnConvolutionForward,
// cudnnConvolutionBackwardData, cudnnConvolutionBackwardFilter, with tensor, filter and
// convolution descriptors) and the graph API (an operation graph, engine heuristics, an
// execution plan and a variant pack per call). weft uses the legacy calls. NVIDIA recommends
// the graph API and marks the legacy one deprecated in the cuDNN 9 headers (CUDNN_DEPRECATED,
// which warns only when CUDNN_WARN_DEPRECATED is defined), but cuDNN 9 still ships and supports
// it in libcudnn_cnn ("the legacy libraries can still be directly used", cuDNN 9 API overview),
// and for three fixed FP32 NCHW passes it is a fifth of the code and reads like the maths. weft
// fuses nothing into its convolutions, which is what the graph API is for. When the legacy API
// goes, the plan cache (context.h) is the one place that changes: a plan would hold the graph's
// execution plans instead of descriptors and algorithm numbers.
//
// Algorithm. The first call of a pass for a shape chooses its algorithm, kept in the shape's plan,
// as kernels/selection.h's vendor_algorithms() says:
//   measured (the default; PyTorch's cudnn.benchmark = True) cuDNN's heuristic ranking
//     (cudnnGetConvolution*Algorithm_v7) says how much workspace its runnable answers want; that
//     much (at most 1 GiB) is borrowed, and cudnnFindConvolution*AlgorithmEx times every
//     algorithm that fits on the call's own buffers (one synchronisation per new shape and pass;
//     the result buffer is overwritten and then written by the real call). The fastest runnable
//     answer whose math type the precision allows is kept, whatever its determinism or rounding.
//     If the workspace cannot be had or the search fails, the rules below decide. Under a CUDA
//     graph capture (no synchronisation allowed) the rules' answer is used for that call and
//     not kept, so the first uncaptured call measures.
//   rules (deterministic mode, WEFT_CUDNN_ALGOS=rules, the GPU op table) the ranking alone, no
//     timing, no memory, no synchronisation, keeping the first answer that
//   1. cuDNN can run (status CUDNN_STATUS_SUCCESS), with the math type the descriptor asked for,
//   2. is deterministic (backward-data ALGO_0 and backward-filter ALGO_0/ALGO_3 use atomics, so
//      two runs would differ in the last bits), and
//   3. is not a transform algorithm (FFT, Winograd), whose rounding differs from a direct sum's
//      by more than the op table's tolerances,
// relaxing 3, then 2, if nothing qualifies. Until 2026-12-04 the rules were the only way, while
// the PyTorch side of the whole-model comparison runs with cudnn.benchmark on
// (bench/pytorch/step_bench.py): weft's untimed picks against PyTorch's timed ones.
//
// Workspace for the chosen algorithm (cudnnGet*WorkspaceSize) is borrowed from the caching
// allocator for the call.
//
// Transposed convolution is the convolution c = p.as_conv() run with the roles exchanged
// (kernels/params.h): its forward is c's backward-data, its backward-data is c's forward, and
// its backward-filter is c's backward-filter with input and output-gradient swapped. Its IOHW
// weights are exactly c's OIHW filter. Requires output padding < stride, like the CPU reference.
//
// Precision (kernels/selection.h math_precision): fp32 runs FMA-only algorithms on FP32 tensors;
// tf32 lets cuDNN use TF32 tensor cores on them; bf16 converts the pass's two operands to BF16
// scratch (bf16.h), runs the pass on BF16 tensors with FP32 accumulation, and widens the BF16
// result into weft's FP32 output (so the result is rounded to BF16 once, as under PyTorch's
// autocast). Biases, their gradients and fused activations stay in FP32 throughout.
//
// Biases go through weft's own kernels (kernels/cuda/bias.h), as PyTorch's go through its own
// reductions: the forward's bias and fused activation in one pass over the output
// (bias_activation; cudnnAddTensor and then the activation were two), the gradient by
// channel_sums (with cudnnConvolutionBackwardBias, the backward-filter of the 6-channel pair
// CNN's first layer took 8.4 ms on an H200, as long as the hand one whose bias sums then ran
// one block per channel; the bias was not timed apart).
//
// alpha = 1, beta = 0 in every call: cuDNN then overwrites the output without reading it, which
// is weft's write rule.
#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/cuda/bias.h"
#include "kernels/cuda_vendor/bf16.h"
#include "kernels/cuda_vendor/vendor.h"
#include "kernels/error.h"
#include "kernels/selection.h"

namespace weft::vendor {
namespace {

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;

bool is_transform(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

std::string shape_text(const Conv2dParams& p) {
  return std::to_string(p.batch) + "x" + std::to_string(p.in_channels) + "x" +
         std::to_string(p.in_h) + "x" + std::to_string(p.in_w) + " -> " +
         std::to_string(p.out_channels) + ", kernel " + std::to_string(p.kernel_h) + "x" +
         std::to_string(p.kernel_w) + ", stride " + std::to_string(p.stride_h) + "x" +
         std::to_string(p.stride_w) + ", padding " + std::to_string(p.pad_h) + "x" +
         std::to_string(p.pad_w) + ", dilation " + std::to_string(p.dilation_h) + "x" +
         std::to_string(p.dilation_w);
}

// Without tensor-core math (fp32), answers that need it are not taken.
bool math_allowed(cudnnMathType_t math, bool tensor_ops) {
  return tensor_ops ||
         (math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

// The preferred algorithm among cuDNN's heuristic answers (best first), by the rules above.
// Without tensor-core math (fp32), answers that need it are skipped.
template <typename Perf>
auto choose_algorithm(const std::vector<Perf>& results, int returned, bool tensor_ops,
                      const char* pass, const Conv2dParams& p) -> decltype(Perf::algo) {
  for (int strictness = 2; strictness >= 0; --strictness) {
    for (int i = 0; i < returned; ++i) {
      const Perf& r = results[static_cast<size_t>(i)];
      if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(r.mathType, tensor_ops)) continue;
      if (strictness >= 1 && r.determinism != CUDNN_DETERMINISTIC) continue;
      if (strictness >= 2 && is_transform(r.algo)) continue;
      return r.algo;
    }
  }
  throw Error(std::string("cuDNN offers no ") + pass + " algorithm for the convolution " +
              shape_text(p));
}

bool has_work(const Conv2dParams& p) {
  return p.batch > 0 && p.in_channels > 0 && p.out_channels > 0 && p.in_h > 0 && p.in_w > 0 &&
         p.out_h() > 0 && p.out_w() > 0;
}

// The plan of `p` at `precision`; `p` must have every size >= 1 (cuDNN rejects empty tensors).
ConvPlan& plan_for(Context& ctx, const Conv2dParams& p, MathPrecision precision) {
  WEFT_CHECK(has_work(p), "the cuDNN convolution needs every size >= 1, got ", shape_text(p));
  return ctx.conv_plan(p, precision, vendor_algorithms());
}

// The convolution whose passes the transposed convolution `p` runs. p.as_conv() maps the
// transposed output size back to its input size only when output padding < stride.
Conv2dParams as_conv_checked(const ConvTranspose2dParams& p) {
  const Conv2dParams c = p.as_conv();
  WEFT_CHECK(c.out_h() == p.in_h && c.out_w() == p.in_w,
             "the cuDNN transposed convolution needs output padding < stride, got output padding ",
             p.output_pad_h, "x", p.output_pad_w, " with stride ", p.stride_h, "x", p.stride_w);
  return c;
}

// What differs between the three passes when an algorithm is chosen: cuDNN's calls for the
// heuristic ranking, the timed search and the workspace size, and where the plan keeps the
// choice. a and b are the pass's operands and out its result, in run_pass's order (forward x, w
// -> y; backward-data dy, w -> dx; backward-filter x, dy -> dw).
struct ForwardPass {
  using Algorithm = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr const char* kName = "forward";
  static std::optional<ChosenAlgorithm<Algorithm>>& slot(ConvPlan& plan) { return plan.forward; }
  static void max_count(cudnnHandle_t h, int* n) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, n));
  }
  static void rank(cudnnHandle_t h, const ConvPlan& plan, int n, int* returned, Perf* out) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
        h, plan.x.get(), plan.w.get(), plan.conv.get(), plan.y.get(), n, returned, out));
  }
  static cudnnStatus_t time(cudnnHandle_t h, const ConvPlan& plan, const void* a, const void* b,
                            void* out, int n, int* returned, Perf* results, void* workspace,
                            size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, plan.x.get(), a, plan.w.get(), b,
                                                  plan.conv.get(), plan.y.get(), out, n, returned,
                                                  results, workspace, bytes);
  }
  static void workspace(cudnnHandle_t h, const ConvPlan& plan, Algorithm algo, size_t* bytes) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan.x.get(), plan.w.get(),
                                                             plan.conv.get(), plan.y.get(), algo,
                                                             bytes));
  }
};

struct BackwardDataPass {
  using Algorithm = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr const char* kName = "backward-data";
  static std::optional<ChosenAlgorithm<Algorithm>>& slot(ConvPlan& plan) {
    return plan.backward_data;
  }
  static void max_count(cudnnHandle_t h, int* n) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, n));
  }
  static void rank(cudnnHandle_t h, const ConvPlan& plan, int n, int* returned, Perf* out) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(), n, returned, out));
  }
  static cudnnStatus_t time(cudnnHandle_t h, const ConvPlan& plan, const void* a, const void* b,
                            void* out, int n, int* returned, Perf* results, void* workspace,
                            size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan.w.get(), b, plan.y.get(), a,
                                                       plan.conv.get(), plan.x.get(), out, n,
                                                       returned, results, workspace, bytes);
  }
  static void workspace(cudnnHandle_t h, const ConvPlan& plan, Algorithm algo, size_t* bytes) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
        h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(), algo, bytes));
  }
};

struct BackwardFilterPass {
  using Algorithm = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr const char* kName = "backward-filter";
  static std::optional<ChosenAlgorithm<Algorithm>>& slot(ConvPlan& plan) {
    return plan.backward_filter;
  }
  static void max_count(cudnnHandle_t h, int* n) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, n));
  }
  static void rank(cudnnHandle_t h, const ConvPlan& plan, int n, int* returned, Perf* out) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(), n, returned, out));
  }
  static cudnnStatus_t time(cudnnHandle_t h, const ConvPlan& plan, const void* a, const void* b,
                            void* out, int n, int* returned, Perf* results, void* workspace,
                            size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, plan.x.get(), a, plan.y.get(), b,
                                                         plan.conv.get(), plan.w.get(), out, n,
                                                         returned, results, workspace, bytes);
  }
  static void workspace(cudnnHandle_t h, const ConvPlan& plan, Algorithm algo, size_t* bytes) {
    WEFT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(), algo, bytes));
  }
};

// Whether a stream is being captured into a CUDA graph (cudnnFind* synchronises, which a
// capture forbids).
bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream, &status) == cudaSuccess &&
         status != cudaStreamCaptureStatusNone;
}

// The measured choice: the largest workspace any runnable answer of the ranking asks for (at
// most kMeasureWorkspaceBytes) is borrowed, cuDNN times every algorithm that fits on the call's
// own buffers (out is overwritten; the real call follows), and the fastest runnable answer with
// an allowed math type is kept. Empty when the workspace cannot be had or the search fails: the
// caller then falls back to the rules.
constexpr size_t kMeasureWorkspaceBytes = size_t{1} << 30;

template <class Pass, class Perf = typename Pass::Perf>
std::optional<ChosenAlgorithm<typename Pass::Algorithm>> measured_algorithm(
    Context& ctx, const ConvPlan& plan, bool tensor_ops, const std::vector<Perf>& ranked,
    int returned, const void* a, const void* b, void* out) {
  size_t wanted = 0;
  for (int i = 0; i < returned; ++i) {
    const Perf& r = ranked[static_cast<size_t>(i)];
    if (r.status == CUDNN_STATUS_SUCCESS && math_allowed(r.mathType, tensor_ops)) {
      wanted = std::max(wanted, std::min(r.memory, kMeasureWorkspaceBytes));
    }
  }
  std::optional<DeviceBuffer> workspace;
  try {
    workspace.emplace(ctx.device(), wanted);
  } catch (const std::exception&) {
    return std::nullopt;  // no memory for the search: the rules need none
  }
  std::vector<Perf> timed(ranked.size());
  int found = 0;
  if (Pass::time(ctx.cudnn(), plan, a, b, out, static_cast<int>(timed.size()), &found,
                 timed.data(), workspace->get(), workspace->bytes()) != CUDNN_STATUS_SUCCESS) {
    return std::nullopt;
  }
  for (int i = 0; i < found; ++i) {  // fastest first
    const Perf& r = timed[static_cast<size_t>(i)];
    if (r.status == CUDNN_STATUS_SUCCESS && math_allowed(r.mathType, tensor_ops) &&
        r.memory <= workspace->bytes()) {
      return ChosenAlgorithm<typename Pass::Algorithm>{r.algo, r.memory};
    }
  }
  return std::nullopt;
}

// The algorithm of `Pass` for the plan's shape: kept in the plan after the first call; measured
// or by rules as vendor_algorithms() says (the plan is keyed by that setting too). Under a CUDA
// graph capture a measured plan's first call takes the rules' answer without keeping it.
template <class Pass>
ChosenAlgorithm<typename Pass::Algorithm> algorithm_for(Context& ctx, ConvPlan& plan,
                                                        const Conv2dParams& p, bool tensor_ops,
                                                        const void* a, const void* b, void* out) {
  auto& slot = Pass::slot(plan);
  if (slot) return *slot;
  cudnnHandle_t handle = ctx.cudnn();
  int capacity = 0;
  Pass::max_count(handle, &capacity);
  std::vector<typename Pass::Perf> ranked(static_cast<size_t>(std::max(capacity, 1)));
  int returned = 0;
  Pass::rank(handle, plan, static_cast<int>(ranked.size()), &returned, ranked.data());
  const bool measure = vendor_algorithms() == VendorAlgorithms::measured;
  const bool keep = !measure || !capturing(ctx.stream());
  if (measure && keep) {
    if (auto chosen = measured_algorithm<Pass>(ctx, plan, tensor_ops, ranked, returned, a, b,
                                                out)) {
      slot = *chosen;
      return *slot;
    }
  }
  ChosenAlgorithm<typename Pass::Algorithm> chosen{
      choose_algorithm(ranked, returned, tensor_ops, Pass::kName, p)};
  Pass::workspace(handle, plan, chosen.algorithm, &chosen.workspace_bytes);
  if (keep) slot = chosen;
  return chosen;
}

// y = conv(x, w) for the plan's shape.
void run_forward(Context& ctx, ConvPlan& plan, const Conv2dParams& p, bool tensor_ops,
                 const void* x, const void* w, void* y) {
  const auto chosen = algorithm_for<ForwardPass>(ctx, plan, p, tensor_ops, x, w, y);
  DeviceBuffer workspace(ctx.device(), chosen.workspace_bytes);
  WEFT_CUDNN_CALL(cudnnConvolutionForward(ctx.cudnn(), &kOne, plan.x.get(), x, plan.w.get(), w,
                                           plan.conv.get(), chosen.algorithm, workspace.get(),
                                           workspace.bytes(), &kZero, plan.y.get(), y));
}

// dx = conv^T(dy, w): the gradient with respect to the input.
void run_backward_data(Context& ctx, ConvPlan& plan, const Conv2dParams& p, bool tensor_ops,
                       const void* dy, const void* w, void* dx) {
  const auto chosen = algorithm_for<BackwardDataPass>(ctx, plan, p, tensor_ops, dy, w, dx);
  DeviceBuffer workspace(ctx.device(), chosen.workspace_bytes);
  WEFT_CUDNN_CALL(cudnnConvolutionBackwardData(
      ctx.cudnn(), &kOne, plan.w.get(), w, plan.y.get(), dy, plan.conv.get(), chosen.algorithm,
      workspace.get(), workspace.bytes(), &kZero, plan.x.get(), dx));
}

// dw = the gradient with respect to the filter, from the input x and the output gradient dy.
void run_backward_filter(Context& ctx, ConvPlan& plan, const Conv2dParams& p, bool tensor_ops,
                         const void* x, const void* dy, void* dw) {
  const auto chosen = algorithm_for<BackwardFilterPass>(ctx, plan, p, tensor_ops, x, dy, dw);
  DeviceBuffer workspace(ctx.device(), chosen.workspace_bytes);
  WEFT_CUDNN_CALL(cudnnConvolutionBackwardFilter(
      ctx.cudnn(), &kOne, plan.x.get(), x, plan.y.get(), dy, plan.conv.get(), chosen.algorithm,
      workspace.get(), workspace.bytes(), &kZero, plan.w.get(), dw));
}

// The three passes of a convolution c, each with two operands and one result:
//   forward          y  from x  and w
//   backward_data    dx from dy and w
//   backward_filter  dw from x  and dy
enum class Pass { forward, backward_data, backward_filter };

// Runs `pass` of c at the current math precision (see the top of the file).
void run_pass(Context& ctx, const Conv2dParams& c, Pass pass, const float* first,
              const float* second, float* result) {
  const MathPrecision precision = math_precision();
  const auto run = [&](const void* a, const void* b, void* out) {
    ConvPlan& plan = plan_for(ctx, c, precision);
    const bool tensor_ops = precision != MathPrecision::fp32;
    switch (pass) {
      case Pass::forward: run_forward(ctx, plan, c, tensor_ops, a, b, out); break;
      case Pass::backward_data: run_backward_data(ctx, plan, c, tensor_ops, a, b, out); break;
      case Pass::backward_filter: run_backward_filter(ctx, plan, c, tensor_ops, a, b, out); break;
    }
  };
  if (precision != MathPrecision::bf16) {
    run(first, second, result);
    return;
  }
  const int64_t x = c.input_count(), w = c.weight_count(), y = c.output_count();
  const int64_t counts[3][3] = {{x, w, y}, {y, w, x}, {x, y, w}};  // first, second, result
  const int64_t* n = counts[static_cast<int>(pass)];
  constexpr size_t kBf16 = 2;  // bytes
  DeviceBuffer a(ctx.device(), kBf16 * static_cast<size_t>(n[0]));
  DeviceBuffer b(ctx.device(), kBf16 * static_cast<size_t>(n[1]));
  DeviceBuffer out(ctx.device(), kBf16 * static_cast<size_t>(n[2]));
  to_bf16(ctx, first, n[0], a.get());
  to_bf16(ctx, second, n[1], b.get());
  run(a.get(), b.get(), out.get());
  from_bf16(ctx, out.get(), n[2], result);
}

// dbias[c] = the sum of t[n, c, :] over n, for t viewed as [batch, channels, plane].
void bias_gradient(Context& ctx, int batch, int channels, int plane, const float* t, float* dbias) {
  const int64_t floats = cuda::channel_sums_workspace_floats(batch, channels, plane);
  DeviceBuffer workspace(ctx.device(), sizeof(float) * static_cast<size_t>(floats));
  cuda::channel_sums(batch, channels, plane, t, dbias, workspace.floats(), ctx.stream());
}

}  // namespace

// ---- convolution ------------------------------------------------------------------------------

void conv2d_forward(Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                    const float* bias, float* y) {
  run_pass(ctx, p, Pass::forward, x, w, y);
  cuda::bias_activation(p.output_count(), p.out_channels, int64_t{p.out_h()} * p.out_w(), bias,
                        p.activation, y, ctx.stream());
}

void conv2d_backward_data(Context& ctx, const Conv2dParams& p, const float* dy, const float* w,
                          float* dx) {
  run_pass(ctx, p, Pass::backward_data, dy, w, dx);
}

void conv2d_backward_filter(Context& ctx, const Conv2dParams& p, const float* x, const float* dy,
                            float* dw, float* dbias) {
  run_pass(ctx, p, Pass::backward_filter, x, dy, dw);
  if (dbias != nullptr) {
    bias_gradient(ctx, p.batch, p.out_channels, p.out_h() * p.out_w(), dy, dbias);
  }
}

// ---- transposed convolution: the convolution c = p.as_conv() with roles exchanged -------------

void conv_transpose2d_forward(Context& ctx, const ConvTranspose2dParams& p, const float* x,
                              const float* w, const float* bias, float* y) {
  const Conv2dParams c = as_conv_checked(p);
  // Our input x has c's output shape and our output y has c's input shape.
  run_pass(ctx, c, Pass::backward_data, x, w, y);
  cuda::bias_activation(c.input_count(), c.in_channels, int64_t{c.in_h} * c.in_w, bias,
                        FusedActivation{}, y, ctx.stream());
}

void conv_transpose2d_backward_data(Context& ctx, const ConvTranspose2dParams& p, const float* dy,
                                    const float* w, float* dx) {
  const Conv2dParams c = as_conv_checked(p);
  run_pass(ctx, c, Pass::forward, dy, w, dx);
}

void conv_transpose2d_backward_filter(Context& ctx, const ConvTranspose2dParams& p, const float* x,
                                      const float* dy, float* dw, float* dbias) {
  const Conv2dParams c = as_conv_checked(p);
  // c's input is our output gradient dy; c's output gradient is our input x.
  run_pass(ctx, c, Pass::backward_filter, dy, x, dw);
  if (dbias != nullptr) bias_gradient(ctx, p.batch, p.out_channels, c.in_h * c.in_w, dy, dbias);
}

}  // namespace weft::vendor
