// The op table of tests/test_backend_ops.cpp: every case (an op call from
// kernels/reference/op_cases.h with its name, tolerance and first buffer contents), built once.
// The cases of each kernel family are in tests/backend_op_table.cpp; the runner that checks them
// on every backend against the CPU reference is tests/test_backend_ops.cpp.
#pragma once

#include <string>
#include <vector>

#include "kernels/reference/op_cases.h"
#include "kernels/selection.h"

namespace weft::test {

struct OpCase {
  std::string name;  // op and shape, for failure messages
  reference::cases::OpCall call;
  double abs_tol = 1e-6, rel_tol = 1e-5;
  std::vector<std::vector<unsigned char>> contents;  // each buffer's first bytes
  // The math precision the case runs at (kernels/selection.h), on the reference and on the
  // backend alike; cases at tf32 or bf16 run only on backends that follow it (the CPU reference
  // and the hand kernels; tests/test_backend_ops.cpp).
  MathPrecision precision = MathPrecision::fp32;
};

// Every case of the table, in family order; data drawn from seeded streams, the same every run.
const std::vector<OpCase>& op_cases();

}  // namespace weft::test
