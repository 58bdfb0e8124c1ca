// The CPU vendor backend, "cpu-vendor" (oneDNN; kernels/cpu_vendor/onednn.h), as a plain C++
// declaration for the dispatch (engine/dispatch.cpp), the tests and the benchmarks. Present
// only in a build that found oneDNN (WEFT_HAVE_ONEDNN); which of the CPU's two
// implementations runs an op is the dispatch's choice (engine/dispatch.h).
#pragma once

#include <string>

#include "kernels/backend.h"

namespace weft {

#ifdef WEFT_HAVE_ONEDNN
// "cpu-vendor": convolution, transposed convolution, batch normalisation, GEMM and linear
// through oneDNN on host memory; every other method throws weft::NotImplemented. Defined in
// kernels/cpu_vendor/backend.cpp.
Backend& cpu_vendor_backend();
// "oneDNN 2.6.3 (AVX-512)": the library this process loaded and the ISA it dispatches to.
std::string cpu_vendor_version();
#endif

}  // namespace weft
