// Hand or vendor: the user's kernel choice per op family, its grammar, the precision of matrix
// products (MathPrecision), and the kernel log.
//
// weft has two implementations of the expensive op families on a GPU: its own kernels
// (kernels/cuda/, "cuda-hand") and NVIDIA's libraries (kernels/cuda_vendor/, "cuda-vendor":
// cuDNN for convolutions and batch norm, cuBLAS for GEMM and linear). For each family the user
// picks
//
//   hand     always the hand kernel (an op its supports() predicate rejects is an error)
//   vendor   always the vendor library (families without a vendor path keep the hand kernel)
//   auto     the faster of the two for each call's shapes, measured on first use (the default)
//
// from the environment, read once at the first query,
//
//   WEFT_KERNELS=vendor                    every family
//   WEFT_KERNELS=conv=vendor,gemm=hand     per family; the others keep their default (auto)
//   WEFT_KERNELS=vendor,dropout=hand       items apply left to right, so later ones win
//
// or from the API (set_kernel_choice), which overrides the environment. The default is auto.
//
// The choice is applied, per call, in one place: the dispatch (engine/dispatch.h), which also
// does the measuring of `auto`. This file is plain C++ with no CUDA in it.
//
// What must agree does: the dispatch's decision for an op depends only on its family, the
// family's current choice, the op and its params struct. With hand or vendor every pass of a
// layer runs on that path. With auto, batch norm's forward and backward (which share the saved
// statistics) are measured as one group and run on one path; the passes of a convolution or a
// linear layer, which share nothing but their tensors, are measured and chosen one by one
// (engine/dispatch.h). Changing a choice between a forward and its backward would break batch
// norm's agreement; change choices between training steps.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace weft {

// The op families of the Backend interface (kernels/backend.h), as the choice sees them.
// gemm covers gemm, linear_forward and linear_backward; pool covers max, average and global
// average pooling; elementwise covers activations, broadcasting arithmetic, reductions and fills.
enum class KernelFamily {
  conv,
  conv_transpose,
  batchnorm,
  dropout,
  gemm,
  pool,
  elementwise,
  softmax,
  loss,
  optimizer,
};
inline constexpr int kKernelFamilyCount = 10;

// What the user asked for. `auto` is a C++ keyword, hence `automatic`; its text form is "auto".
enum class KernelChoice { hand, vendor, automatic };

// What actually runs.
enum class KernelPath { hand, vendor };

const char* family_name(KernelFamily family);
const char* choice_name(KernelChoice choice);
const char* path_name(KernelPath path);
std::optional<KernelFamily> parse_family(std::string_view text);
std::optional<KernelChoice> parse_choice(std::string_view text);

// Whether the vendor libraries implement the family in weft: conv, conv_transpose, batchnorm and
// gemm, on a GPU (cuDNN/cuBLAS) and on the CPU (oneDNN) alike.
// Dropout has no vendor path on purpose: cuDNN's dropout draws its mask from its own RNG state
// and needs the forward's reserve space in the backward, while weft's mask is a pure function of
// (seed, offset, element index) that every backend reproduces (kernels/params.h DropoutParams).
bool has_vendor_path(KernelFamily family);

// ---- the settings -------------------------------------------------------------------------------

// The result of parsing a WEFT_KERNELS string: a choice for each family it mentions.
struct KernelChoices {
  std::array<std::optional<KernelChoice>, kKernelFamilyCount> per_family;

  std::optional<KernelChoice> operator[](KernelFamily family) const {
    return per_family[static_cast<size_t>(family)];
  }
};

// Grammar (spaces around names are ignored, empty items are skipped):
//   spec   := item ("," item)*
//   item   := choice | target "=" choice
//   target := family | "all"
//   choice := "hand" | "vendor" | "auto"
// A bare choice sets every family. Throws weft::Error naming the item it cannot read.
KernelChoices parse_kernel_choices(std::string_view spec);

// The API. These override WEFT_KERNELS (which is read before the first change is applied).
void set_kernel_choice(KernelFamily family, KernelChoice choice);
void set_kernel_choice(KernelChoice choice);     // every family
void set_kernel_choices(std::string_view spec);  // the WEFT_KERNELS syntax
KernelChoice kernel_choice(KernelFamily family);
// Back to the defaults with the environment read anew: every setting of this file, not only the
// kernel choices (auto, then WEFT_KERNELS), but the math precision (WEFT_PRECISION, WEFT_TF32),
// cuDNN's algorithms, the tensor-core tile and the channels-last switch too; a precision set by
// set_math_precision is forgotten.
void reset_kernel_choices();

// ---- the precision of matrix products ---------------------------------------------------------
// What the matrix products (GEMM and the linear layer; convolutions to follow) may round their
// float operands to before multiplying; products are accumulated in FP32 in every mode.
//
//   fp32   no rounding: the hand kernels use FFMA on the CUDA cores, cuDNN CUDNN_FMA_MATH and
//          cuBLAS CUBLAS_DEFAULT_MATH (full FP32). The default, for parity with the reference.
//   tf32   operands rounded to TF32 (10-bit mantissa, cvt.rna: ties away from zero): the hand
//          GEMM on tensor cores (mma.sync m16n8k8), cuBLAS with CUBLAS_TF32_TENSOR_OP_MATH,
//          cuDNN with CUDNN_DEFAULT_MATH; about 1e-3 relative error per product.
//   bf16   operands rounded to BF16 (7-bit mantissa, ties to even): the hand GEMM on tensor
//          cores (mma.sync m16n8k16), cuBLAS with CUBLAS_COMPUTE_32F_FAST_16BF; cuDNN's
//          convolutions stay FP32 (they have no BF16 mode for float tensors).
//
// The CPU reference (kernels/cpu/gemm.cpp) rounds its GEMM operands the same way, so every
// backend is compared like with like. From WEFT_PRECISION=fp32|tf32|bf16 (read once, at the
// first query; another value is an error), else WEFT_TF32=1 (the older switch, meaning tf32),
// else fp32; set_math_precision overrides the environment. Part of the autotune key
// (engine/dispatch.cpp). Change it between training steps, not between a forward and its
// backward.
enum class MathPrecision { fp32, tf32, bf16 };

const char* precision_name(MathPrecision precision);
std::optional<MathPrecision> parse_precision(std::string_view text);
void set_math_precision(MathPrecision precision);
MathPrecision math_precision();

// The older TF32 switch, kept as a view of the precision: set_vendor_tf32(true) sets tf32 and
// (false) fp32; vendor_tf32() says whether the precision is tf32 (cuDNN and cuBLAS may then use
// TF32 tensor cores).
void set_vendor_tf32(bool enabled);
bool vendor_tf32();

// ---- deterministic mode -----------------------------------------------------------------------
// Deterministic mode: auto keeps only implementations that give bit-identical results run to
// run (engine/dispatch.h), and cuDNN picks its algorithms by rules (below). Read from
// WEFT_DETERMINISTIC=1 on first use; the API overrides it.
void set_deterministic(bool enabled);
bool deterministic();

// ---- how cuDNN's convolution algorithms are picked ---------------------------------------------
//   measured  (the default) the first call of a pass for a shape times every algorithm cuDNN
//             can run there at the precision's math type, on the call's own buffers
//             (cudnnFind*Ex, one synchronisation), and the fastest is kept for the shape: what
//             PyTorch's torch.backends.cudnn.benchmark = True does. The pick may use atomics
//             (not bit-identical run to run) or a transform (FFT, Winograd: other rounding).
//   rules     cuDNN's heuristic ranking (no timing, no synchronisation), keeping the first answer
//             that is deterministic and not a transform, relaxed when none is (the comment at
//             the top of kernels/cuda_vendor/conv.cu). Always in deterministic mode; the GPU op
//             table uses it, since its tolerances are those of a direct sum.
// From WEFT_CUDNN_ALGOS=measured|rules (read once with the other settings; another value is an
// error); set_vendor_algorithms overrides it. Part of the autotune key.
enum class VendorAlgorithms { measured, rules };

const char* vendor_algorithms_name(VendorAlgorithms algorithms);
std::optional<VendorAlgorithms> parse_vendor_algorithms(std::string_view text);
void set_vendor_algorithms(VendorAlgorithms algorithms);
VendorAlgorithms vendor_algorithms();  // rules whenever deterministic() is on

// The block tile of the hand tensor-core convolutions (kernels/cuda/conv_tensor_core.cu): chosen
// per shape (automatic), or one tile for every call, so that a test or a benchmark can run a
// whole table on each: square (64 x 64), tall (128 x 64), wide (128 x 128; the channels-last
// gather only: the other kernels take the tall tile instead). From WEFT_TENSOR_CORE_TILE=
// automatic|square|tall|wide (read once with the other settings; another value is an error);
// set_tensor_core_tile overrides it. Not part of the autotune key: a forced tile is for tests.
enum class TensorCoreTileSetting { automatic, square, tall, wide };

const char* tensor_core_tile_name(TensorCoreTileSetting tile);
std::optional<TensorCoreTileSetting> parse_tensor_core_tile(std::string_view text);
void set_tensor_core_tile(TensorCoreTileSetting tile);
TensorCoreTileSetting tensor_core_tile();

// Whether the hand tensor-core convolutions run on channels-last copies where the channels allow
// (kernels/cuda/conv_channels_last.cu; on by default): WEFT_CONV_CHANNELS_LAST=1|0 (read once
// with the other settings; another value is an error), set_conv_channels_last overrides it. A
// switch for timing both layouts; not part of the autotune key.
void set_conv_channels_last(bool enabled);
bool conv_channels_last();

// What a hand kernel's supports() predicate says about one call (kernels/hand_support.h).
struct KernelSupport {
  bool supported = true;
  std::string reason;  // why not, when !supported

  static KernelSupport yes() { return {}; }
  static KernelSupport no(std::string why) { return {false, std::move(why)}; }
};

// ---- the once-only log --------------------------------------------------------------------------

// Sends `message` to the log (stderr unless a sink is installed).
void log_kernel_message(const std::string& message);
// Sends `message` to the log the first time (family, reason) is seen and returns true; later
// calls with the same pair return false. The log is stderr unless a sink is installed.
bool log_kernel_note_once(KernelFamily family, const std::string& reason,
                          const std::string& message);
using KernelLogSink = std::function<void(const std::string&)>;
// Installs `sink` (an empty function means stderr) and returns the previous one.
KernelLogSink set_kernel_log_sink(KernelLogSink sink);
// Forgets which (family, reason) pairs were logged, so they log again (for tests).
void reset_kernel_log();

}  // namespace weft
