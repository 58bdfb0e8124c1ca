// RoundedOperand (rounded_operand.h): a scratch copy of a product's factor rounded to the math
// precision's operand format, filled by OpenMP threads for large tensors.
#include "kernels/cpu/rounded_operand.h"

#include "kernels/reduced_precision.h"
#include "kernels/selection.h"

namespace weft::cpu {
namespace {

// Below this many elements the copy runs on one thread: a parallel region costs more.
constexpr int64_t kParallelThreshold = 1 << 15;

}  // namespace

RoundedOperand::RoundedOperand(const float* data, int64_t count) : data_(data) {
  const MathPrecision precision = math_precision();
  if (precision == MathPrecision::fp32 || data == nullptr || count <= 0) return;
  copy_.resize(static_cast<size_t>(count));
  float (*round)(float) = precision == MathPrecision::tf32 ? round_to_tf32 : round_to_bf16;
  float* out = copy_.data();
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) out[i] = round(data[i]);
  data_ = out;
}

}  // namespace weft::cpu
