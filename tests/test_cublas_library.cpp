// cuBLAS is loaded on first use (kernels/cuda_vendor/cublas_library.h), not linked: a process
// that never uses a GPU never maps it, and the first use loads it and resolves every function
// weft calls. Needs no GPU (loading the library and asking its version need none); builds
// without the CUDA toolkit have no cuBLAS and no case here. Label: cpu.
#include <catch2/catch.hpp>

#ifdef WEFT_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <string>

#include "engine/runtime.h"
#include "kernels/cuda_vendor/cublas_library.h"

TEST_CASE("cublas library: loaded on first use, with every function weft calls resolved") {
  std::string reason;
  if (!weft::cuda_available(&reason)) {
    // Without a GPU nothing in this process has used cuBLAS: not start-up, not another case.
    CHECK_FALSE(weft::vendor::cublas_loaded());
  }
  const weft::vendor::CublasLibrary& cublas = weft::vendor::cublas_library();
  CHECK(weft::vendor::cublas_loaded());
  CHECK(&weft::vendor::cublas_library() == &cublas);  // loaded once
  CHECK(cublas.create != nullptr);
  CHECK(cublas.destroy != nullptr);
  CHECK(cublas.set_stream != nullptr);
  CHECK(cublas.set_workspace != nullptr);
  CHECK(cublas.set_math_mode != nullptr);
  CHECK(cublas.sscal != nullptr);
  CHECK(cublas.sgemm != nullptr);
  CHECK(cublas.gemm_ex != nullptr);
  // Calls through the table: the library's version matches the toolkit weft was built with, and
  // a status has its name.
  int major = 0;
  REQUIRE(cublas.get_property(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS);
  CHECK(major == CUDART_VERSION / 1000);
  CHECK(std::string(cublas.get_status_name(CUBLAS_STATUS_NOT_INITIALIZED)) ==
        "CUBLAS_STATUS_NOT_INITIALIZED");
  CHECK_FALSE(std::string(cublas.get_status_string(CUBLAS_STATUS_INVALID_VALUE)).empty());
}

#endif
