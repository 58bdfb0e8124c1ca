// cuBLAS, loaded the first time a GPU needs it rather than linked into every weft program.
//
// Linked, libcublas pulls in libcublasLt, whose start-up code runs in every process that links it,
// GPU or not: 26,000 page faults and 70 ms on a 2-core AMD EPYC (Zen 1), measured with `perf stat`
// on an empty program linked against the two. That was most of the start-up of a CPU-only app run
// and about 45 s of the test suite (590 processes). weft calls a dozen cuBLAS functions; they go
// through this table, which dlopen/dlsym fill the first time a GPU context asks for cuBLAS (or
// for its version). cuDNN stays linked: its library loads its engines lazily by itself and costs
// a process about 1 ms.
//
// The types are cuBLAS's own (from its header), so a call through the table is checked by the
// compiler as a direct call would be. Compiled by nvcc only (kernels/cuda_vendor/).
#pragma once

#include <cublas_v2.h>

namespace weft::vendor {

struct CublasLibrary {
  // cublas_v2.h makes most of these names macros for their _v2 symbols; decltype sees the
  // declarations they expand to.
  decltype(&cublasCreate) create = nullptr;
  decltype(&cublasDestroy) destroy = nullptr;
  decltype(&cublasSetStream) set_stream = nullptr;
  decltype(&cublasSetWorkspace) set_workspace = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSscal) sscal = nullptr;
  decltype(&cublasSgemm) sgemm = nullptr;
  // cublas_api.h also declares a C++ overload of cublasGemmEx (for a cudaDataType compute type);
  // this is the library's own function.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*,
                            cudaDataType, int, const void*, void*, cudaDataType, int,
                            cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  decltype(&cublasGetProperty) get_property = nullptr;
  decltype(&cublasGetStatusName) get_status_name = nullptr;
  decltype(&cublasGetStatusString) get_status_string = nullptr;
};

// The table, loaded on the first call (thread-safe): libcublas by its soname through the usual
// search (LD_LIBRARY_PATH, the program's run path, the loader's cache), then the toolkit's copy
// that the build found. Throws weft::Error naming the library and the loader's reason when
// neither loads, or the symbol when one is missing; a later call tries again.
const CublasLibrary& cublas_library();

// Whether this process has loaded libcublas (through the table or otherwise), without loading
// it: for tests and diagnostics.
bool cublas_loaded();

}  // namespace weft::vendor
