// OpenBLAS's kernel set against the processor's features (openblas_core.h).
#include "kernels/cpu/openblas_core.h"

#include <cblas.h>

#include <cctype>

namespace weft::cpu {

std::string openblas_core() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

std::string openblas_core_for_this_cpu() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

std::string openblas_fallback_note() {
  const std::string wanted = openblas_core_for_this_cpu();
  if (wanted.empty()) return "";
  std::string running = openblas_core();
  for (char& c : running) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // OpenBLAS's x86-64 kernel sets from before AVX2 (its fallbacks for unknown processors).
  for (const char* old : {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                          "sandybridge", "katmai", "coppermine", "northwood", "banias"}) {
    if (running == old) {
      return "OpenBLAS runs its " + openblas_core() + " kernels on this processor, which has " +
             (wanted == "SkylakeX" ? "AVX-512" : "AVX2") +
             " (OpenBLAS does not recognise it): the hand CPU kernels' matrix products run "
             "several times slower than they can. Set OPENBLAS_CORETYPE=" +
             wanted + " (the Makefile does) to use its " + wanted + " kernels.";
    }
  }
  return "";
}

}  // namespace weft::cpu
