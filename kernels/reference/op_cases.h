// One description of each op's call on the Backend interface (kernels/backend.h), shared by the
// op-table test (tests/test_backend_ops.cpp) and the kernel benchmarks (bench/kernel_shapes.h).
// Given a shape, a factory in weft::reference::cases returns an OpCall: the op, the buffers its
// call takes (name, element type, role, element count, what they hold first) and the call
// itself, so each op's call, with the order and meaning of its pointers, is written once.
//
// Each user adds what is its own: the test a case name, a tolerance and contents drawn from
// seeded std::mt19937 streams (outputs start as NaN, so an element a kernel forgets fails); the
// benchmarks a benchmark name, a flop or byte count and contents hashed from the element index
// (outputs start at zero). The factories say what the contents must be (a range, ties, class
// indices, given values, or values derived from the buffers before), not the values, so two
// users agree on the kind of data without sharing a generator.
//
// Why here rather than in bench/ or tests/: it is a statement about the op table, like the
// reference definitions beside it (the max-pool backward's argmax is derived with
// reference::max_pool2d_forward); both of its users need it without depending on each other;
// and, like all of kernels/, it includes nothing from engine/.
//
// A factory's flags say which optional pointers the call passes (a bias, dgamma and dbeta, ...);
// a buffer the call passes as null has count 0. A user may change a buffer's content after the
// factory returns (call.buffer("x").content = ...), never the buffers' order or the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.h"
#include "kernels/params.h"

namespace weft::reference::cases {

enum class ElementType { f32, i32, u8 };
size_t element_size(ElementType type);

enum class Role {
  input,   // read only: must be unchanged after the call
  output,  // written by the call
  inout,   // read and written (running statistics, optimizer state, accumulators)
};

// What a buffer holds before the call.
struct Content {
  enum class Kind {
    none,         // an output: the user's choice (NaN in the test, zero in the benchmarks)
    uniform,      // float in [lo, hi)
    ties,         // float on the grid {-1, -0.5, 0, 0.5, 1}: many exact ties
    class_index,  // int32 in [0, classes)
    given,        // exactly `bytes`
    derived,      // computed on the host from the buffers before this one
  };
  Kind kind = Kind::none;
  float lo = -1.0f, hi = 1.0f;
  int classes = 0;
  bool alternate_sign = false;  // uniform: elements 0, 2, 4, ... negated after the draw
  bool with_nan = false;        // ties: elements 7, 48, 89, ... (every 41st) set to NaN
  std::vector<unsigned char> bytes;
  // derived: `earlier` holds the first contents of the buffers listed before this one.
  std::function<void(const std::vector<const void*>& earlier, void* out)> derive;

  static Content uniform(float lo, float hi);
  static Content ties(bool with_nan = false);
  static Content class_index(int classes);
  static Content given(const std::vector<float>& values);
  static Content given_bytes(const std::vector<uint8_t>& values);
};

struct CaseBuffer {
  std::string name;
  ElementType type = ElementType::f32;
  Role role = Role::input;
  int64_t count = 0;
  Content content;

  size_t bytes() const { return static_cast<size_t>(count) * element_size(type); }
};

// The call receives one pointer per buffer, in the order of OpCall::buffers.
using BufferPointers = std::vector<void*>;
using Call = std::function<void(Backend&, const BufferPointers&)>;

struct OpCall {
  Op op = Op::fill;
  std::vector<CaseBuffer> buffers;
  Call run;

  // The buffer named `name`; throws weft::Error if there is none.
  CaseBuffer& buffer(std::string_view name);
};

// Writes the first contents of a buffer whose kind the user draws its own way: none, uniform,
// ties and class_index. `out` has buffer.bytes() bytes.
using Draw = std::function<void(const CaseBuffer& buffer, void* out)>;

// The first contents of every buffer of `call`, in order: `draw` for the kinds above, then
// alternate_sign and with_nan applied; given bytes copied; derived ones computed.
std::vector<std::vector<unsigned char>> first_contents(const OpCall& call, const Draw& draw);

// ---- the factories, in the order of WEFT_BACKEND_OPS --------------------------------------------

OpCall conv2d_forward(const Conv2dParams& p, bool bias);
OpCall conv2d_backward_data(const Conv2dParams& p);
OpCall conv2d_backward_filter(const Conv2dParams& p, bool bias);
OpCall conv_transpose2d_forward(const ConvTranspose2dParams& p, bool bias);
OpCall conv_transpose2d_backward_data(const ConvTranspose2dParams& p);
OpCall conv_transpose2d_backward_filter(const ConvTranspose2dParams& p, bool bias);

// C is an output when beta is 0 and read (inout) otherwise.
OpCall gemm(const GemmParams& p);
// `act`: the forward's fused activation (kernels/params.h), applied after the bias.
OpCall linear_forward(int n, int in_features, int out_features, bool bias,
                      const FusedActivation& act = {});
// dbias goes with dw. `act` is passed as the forward's; the backward ignores it.
OpCall linear_backward(int n, int in_features, int out_features, bool dx, bool dw,
                       const FusedActivation& act = {});

OpCall max_pool2d_forward(const Pool2dParams& p);
// The argmax is that of the forward on tie-heavy data (a buffer "x" the call does not read),
// so overlapping windows that pick the same cell send it several gradients.
OpCall max_pool2d_backward(const Pool2dParams& p);
// `content` for x, w and bias: Content::ties() makes every convolution output exact in any
// summation order (sums of at most 32 multiples of 0.25), so the pooled values and the argmax
// can be compared exactly across backends, ties included.
OpCall conv2d_max_pool2d_forward(const Conv2dParams& c, const Pool2dParams& pool, bool bias,
                                 const Content& content);
// x and dy drawn with `content`; argmax and y (with pool.activation) those of the definition's
// pool over a tie-heavy convolution output (a buffer "conv_out" the call does not read).
OpCall conv2d_max_pool2d_backward_filter(const Conv2dParams& c, const Pool2dParams& pool,
                                         bool bias, const Content& content);
OpCall avg_pool2d_forward(const Pool2dParams& p);
OpCall avg_pool2d_backward(const Pool2dParams& p);
OpCall global_avg_pool_forward(int batch, int channels, int plane);
OpCall global_avg_pool_backward(int batch, int channels, int plane);

OpCall batch_norm_forward_train(const BatchNormParams& p);
OpCall batch_norm_forward_eval(const BatchNormParams& p);
// `gradients`: whether dgamma and dbeta are requested.
OpCall batch_norm_backward(const BatchNormParams& p, bool gradients);
OpCall batch_norm_backward_eval(const BatchNormParams& p, bool gradients);

OpCall dropout_forward(const DropoutParams& p);
OpCall dropout_backward(const DropoutParams& p);
// x from (-1, 1), about half negative, for the activation's two sides.
OpCall activation_dropout_forward(const DropoutParams& p, const FusedActivation& act);
OpCall activation_dropout_backward(const DropoutParams& p, const FusedActivation& act);

OpCall activation_forward(Activation f, float alpha, int64_t count);
OpCall activation_backward(Activation f, float alpha, int64_t count);
// Divisors are kept away from zero, of both signs for division.
OpCall binary_forward(BinaryOp op, const BroadcastParams& p, int64_t a_count, int64_t b_count);
// a and b drawn from the same range, so about half the sums are negative (clamped to 0).
OpCall add_relu_forward(int64_t count);
// The gradient of the broadcast output summed onto operand b (onto_b) or a, whose element count
// is reduced_count.
OpCall reduce_broadcast(const BroadcastParams& p, bool onto_b, int64_t reduced_count);
OpCall affine(int64_t count, float alpha, float beta);
OpCall scale_by(int64_t count, float scale);
OpCall axpy_accumulate(int64_t count, float alpha);
OpCall fill(int64_t count, float value);
OpCall sum(int64_t count);
OpCall u8_to_f32(int64_t count, float scale, float shift);
// `rows` rows gathered from a data set of `source_rows` rows (indices repeat and skip).
OpCall gather_u8_to_f32(int rows, int64_t row_elements, int source_rows, float scale, float shift);
// Moves that cover both flips, shifts of both signs up to 3 pixels, and (every 6th image) a shift
// past the whole image, so that only the fill is read.
OpCall gather_augment_u8_to_f32(const ImageGatherParams& p, int source_rows);

OpCall softmax_forward(int rows, int cols);
OpCall softmax_backward(int rows, int cols);
OpCall log_softmax_forward(int rows, int cols);
OpCall log_softmax_backward(int rows, int cols);

OpCall cross_entropy_forward(int n, int classes, bool weighted, float label_smoothing);
OpCall cross_entropy_backward(int n, int classes, bool weighted, float label_smoothing,
                              float grad_loss);
OpCall cross_entropy_forward_backward(int n, int classes, bool weighted, float label_smoothing);
OpCall bce_with_logits_forward(int64_t count);
OpCall bce_with_logits_backward(int64_t count, float grad_loss);
OpCall bce_forward(int64_t count);
OpCall bce_backward(int64_t count, float grad_loss);
OpCall mse_forward(int64_t count);
OpCall mse_backward(int64_t count, float grad_loss);
// Metric counts; `hits` starts at a given count (12), so a kernel that overwrites fails.
// `ties`: logits on a coarse grid with NaNs, so the first-maximum rule and NaN are exercised.
OpCall count_argmax_hits(int rows, int cols, bool ties);
OpCall count_threshold_hits(int64_t count);

OpCall sgd_update(const SgdStep& s);
OpCall adam_update(const AdamStep& s);
// The multi-tensor updates of tensors of `counts` elements (s.count unused); buffers per tensor k:
// param_k, grad_k and the state (momentum_k when s.momentum != 0; exp_avg_k, exp_avg_sq_k).
OpCall sgd_update_multi(const SgdStep& s, const std::vector<int64_t>& counts);
OpCall adam_update_multi(const AdamStep& s, const std::vector<int64_t>& counts);

}  // namespace weft::reference::cases
