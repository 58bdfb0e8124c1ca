// Loading cuBLAS on first use (cublas_library.h says why).
#include "kernels/cuda_vendor/cublas_library.h"

#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <string>

#include "kernels/error.h"

// The symbol a cuBLAS name stands for, as a string: WEFT_CUBLAS_SYMBOL(cublasSgemm) is
// "cublasSgemm_v2" (the macro argument is expanded before it is turned into a string).
#define WEFT_CUBLAS_STRING(name) #name
#define WEFT_CUBLAS_SYMBOL(name) WEFT_CUBLAS_STRING(name)

namespace weft::vendor {
namespace {

// Set by CMakeLists.txt from the toolkit the build used: "libcublas.so.13" and its full path.
constexpr const char* kSoname = WEFT_CUBLAS_SONAME;
constexpr const char* kToolkitPath = WEFT_CUBLAS_PATH;

void* open_library() {
  std::string reasons;
  for (const char* name : {kSoname, kToolkitPath}) {
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* reason = dlerror();
    reasons += std::string("\n  ") + name + ": " + (reason != nullptr ? reason : "not loaded");
  }
  throw Error(std::string("cannot load cuBLAS, which the cuda-vendor backend's GEMM and linear "
                          "layers need (the hand kernels do not):") +
              reasons);
}

template <class Function>
void resolve(void* handle, Function& slot, const char* symbol) {
  void* address = dlsym(handle, symbol);
  if (address == nullptr) {
    throw Error(std::string("cuBLAS (") + kSoname + ") has no symbol " + symbol +
                ": a cuBLAS older than the headers weft was built with?");
  }
  slot = reinterpret_cast<Function>(address);
}

CublasLibrary load() {
  void* handle = open_library();
  CublasLibrary library;
  try {
    resolve(handle, library.create, WEFT_CUBLAS_SYMBOL(cublasCreate));
    resolve(handle, library.destroy, WEFT_CUBLAS_SYMBOL(cublasDestroy));
    resolve(handle, library.set_stream, WEFT_CUBLAS_SYMBOL(cublasSetStream));
    resolve(handle, library.set_workspace, WEFT_CUBLAS_SYMBOL(cublasSetWorkspace));
    resolve(handle, library.set_math_mode, WEFT_CUBLAS_SYMBOL(cublasSetMathMode));
    resolve(handle, library.sscal, WEFT_CUBLAS_SYMBOL(cublasSscal));
    resolve(handle, library.sgemm, WEFT_CUBLAS_SYMBOL(cublasSgemm));
    resolve(handle, library.gemm_ex, "cublasGemmEx");
    resolve(handle, library.get_property, WEFT_CUBLAS_SYMBOL(cublasGetProperty));
    resolve(handle, library.get_status_name, WEFT_CUBLAS_SYMBOL(cublasGetStatusName));
    resolve(handle, library.get_status_string, WEFT_CUBLAS_SYMBOL(cublasGetStatusString));
  } catch (...) {
    dlclose(handle);
    throw;
  }
  return library;  // the handle stays open for the life of the process
}

}  // namespace

const CublasLibrary& cublas_library() {
  static std::mutex mutex;
  static CublasLibrary library;
  static std::atomic<bool> loaded{false};
  if (loaded.load(std::memory_order_acquire)) return library;
  std::lock_guard<std::mutex> lock(mutex);
  if (!loaded.load(std::memory_order_relaxed)) {
    library = load();
    loaded.store(true, std::memory_order_release);
  }
  return library;
}

bool cublas_loaded() {
  void* handle = dlopen(kSoname, RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);  // NOLOAD still counts a reference
  return true;
}

}  // namespace weft::vendor
