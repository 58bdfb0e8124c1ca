// Error checks for cuDNN and cuBLAS calls, the vendor-library siblings of WEFT_CUDA_CHECK
// (kernels/cuda_runtime/check.h). Each macro captures the statement text, the function, file and line and
// throws weft::Error; cuDNN's message also carries cudnnGetLastErrorString(), which in cuDNN 9
// says which argument or limit a call rejected. The _WARN forms only log, for destructors.
// Compiled by nvcc only (kernels/cuda_vendor/).
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <cstdio>
#include <string>

#include "kernels/cuda_vendor/cublas_library.h"
#include "kernels/error.h"
#include "kernels/runtime_counters.h"

namespace weft::vendor {

[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* statement,
                                           const char* function, const char* file, int line) {
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof detail);
  std::string message = std::string("cuDNN error ") + cudnnGetErrorString(status) + " in " +
                        statement + " at " + function + " " + file + ":" + std::to_string(line);
  if (detail[0] != '\0') message += " (" + std::string(detail) + ")";
  throw Error(message);
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* statement,
                                            const char* function, const char* file, int line) {
  const CublasLibrary& cublas = cublas_library();  // loaded: the status came from it
  throw Error(std::string("cuBLAS error ") + cublas.get_status_name(status) + " (" +
              cublas.get_status_string(status) + ") in " + statement + " at " + function + " " +
              file + ":" + std::to_string(line));
}

}  // namespace weft::vendor

#define WEFT_CUDNN_CHECK(statement)                                                         \
  do {                                                                                      \
    const cudnnStatus_t weft_cudnn_status_ = (statement);                                   \
    if (weft_cudnn_status_ != CUDNN_STATUS_SUCCESS) {                                       \
      ::weft::vendor::throw_cudnn_error(weft_cudnn_status_, #statement, __func__, __FILE__, \
                                        __LINE__);                                          \
    }                                                                                       \
  } while (0)

#define WEFT_CUDNN_WARN(statement)                                               \
  do {                                                                           \
    const cudnnStatus_t weft_cudnn_status_ = (statement);                        \
    if (weft_cudnn_status_ != CUDNN_STATUS_SUCCESS) {                            \
      std::fprintf(stderr, "weft: warning: %s failed: %s (%s:%d)\n", #statement, \
                   cudnnGetErrorString(weft_cudnn_status_), __FILE__, __LINE__); \
    }                                                                            \
  } while (0)

#define WEFT_CUBLAS_CHECK(statement)                                                          \
  do {                                                                                        \
    const cublasStatus_t weft_cublas_status_ = (statement);                                   \
    if (weft_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                       \
      ::weft::vendor::throw_cublas_error(weft_cublas_status_, #statement, __func__, __FILE__, \
                                         __LINE__);                                           \
    }                                                                                         \
  } while (0)

// A cuDNN or cuBLAS call that queues work on the device (a convolution, a GEMM, a tensor add):
// counted as a library call (kernels/runtime_counters.h), then checked like the above.
#define WEFT_CUDNN_CALL(statement) \
  do {                             \
    ::weft::count::library_call(); \
    WEFT_CUDNN_CHECK(statement);   \
  } while (0)

#define WEFT_CUBLAS_CALL(statement) \
  do {                              \
    ::weft::count::library_call();  \
    WEFT_CUBLAS_CHECK(statement);   \
  } while (0)
