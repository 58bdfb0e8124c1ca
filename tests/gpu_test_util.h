// What the [gpu] test cases share: whether a GPU is there to run them.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "engine/runtime.h"

namespace weft::test {

// Whether a [gpu] case can run; if not, says "SKIPPED: ..." (a Catch2 WARN, which ctest reports
// as skipped) with the reason.
inline bool gpu_present() {
  std::string reason;
  if (weft::cuda_available(&reason)) return true;
  WARN("SKIPPED: no usable GPU (" << reason << ")");
  return false;
}

}  // namespace weft::test
