// The operands of a CPU matrix product or convolution as a GPU's tensor cores see them. Under
// the math precision tf32 or bf16 (kernels/selection.h MathPrecision) a tensor core rounds each
// factor of a product to TF32 (ties away from zero) or BF16 (ties to even) and accumulates in
// FP32; the CPU kernels (OpenBLAS, the direct and Winograd loops, oneDNN) compute in FP32. So the
// CPU backends round their factors into a scratch copy first (kernels/reduced_precision.h) and
// then run their usual FP32 code on the rounded values: the CPU is the reference for the GPU at
// the same precision, and a CPU training run at bf16 rounds where the GPU's hand kernels do.
// Under fp32 nothing is copied.
#pragma once

#include <cstdint>
#include <vector>

namespace weft::cpu {

class RoundedOperand {
 public:
  // Reads `count` floats at `data` (which must stay valid while get() is used).
  RoundedOperand(const float* data, int64_t count);
  RoundedOperand(const RoundedOperand&) = delete;
  RoundedOperand& operator=(const RoundedOperand&) = delete;

  // The rounded copy under tf32 or bf16, `data` itself under fp32 (or when it is null).
  const float* get() const { return data_; }
  // Whether get() is a rounded copy (so a sum that the GPU takes over the unrounded tensor, a
  // bias gradient, must read the original).
  bool rounded() const { return !copy_.empty(); }

 private:
  std::vector<float> copy_;
  const float* data_;
};

}  // namespace weft::cpu
