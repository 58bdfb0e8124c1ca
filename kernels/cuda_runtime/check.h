// Error checks for CUDA, cuBLAS and cuDNN calls. Each macro captures the statement text, the
// function, file and line, and throws weft::Error (library code never exits). Destructors use
// WEFT_CUDA_WARN, which only logs, because a destructor must not throw.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "kernels/error.h"

namespace weft::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* statement,
                                          const char* function, const char* file, int line) {
  throw Error(std::string("CUDA error ") + cudaGetErrorName(status) + " (" +
              cudaGetErrorString(status) + ") in " + statement + " at " + function + " " + file +
              ":" + std::to_string(line));
}

}  // namespace weft::cuda

#define WEFT_CUDA_CHECK(statement)                                                       \
  do {                                                                                   \
    const cudaError_t weft_status_ = (statement);                                        \
    if (weft_status_ != cudaSuccess) {                                                   \
      ::weft::cuda::throw_cuda_error(weft_status_, #statement, __func__, __FILE__, __LINE__); \
    }                                                                                    \
  } while (0)

#define WEFT_CUDA_WARN(statement)                                                          \
  do {                                                                                     \
    const cudaError_t weft_status_ = (statement);                                          \
    if (weft_status_ != cudaSuccess) {                                                     \
      std::fprintf(stderr, "weft: warning: %s failed: %s (%s:%d)\n", #statement,           \
                   cudaGetErrorString(weft_status_), __FILE__, __LINE__);                  \
    }                                                                                      \
  } while (0)
