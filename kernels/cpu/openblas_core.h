// Which of OpenBLAS's kernel sets this process runs, and what to do when it is the wrong one.
//
// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels from the processor's
// family and model numbers. A processor newer than the library, such as the 2-core Xeon this was
// measured on (family 6, model 207: AVX-512 with FP16, BF16 and VNNI), is "not found" and gets
// the Prescott (SSE3) kernels: every SGEMM, and with it every hand convolution (im2col + SGEMM)
// and linear layer, then runs at a fraction of the machine. Measured there, 2 threads, under
// load: a 3x3 256 -> 256 convolution at 14 GFLOP/s with Prescott and 38 with SkylakeX kernels.
//
// OpenBLAS reads OPENBLAS_CORETYPE once, in its library constructor, before any code of weft
// runs (an executable's .preinit_array runs earlier, but glibc resets the environment after it),
// so weft cannot switch the kernels itself. It names the right set instead: the Makefile exports
// OPENBLAS_CORETYPE from the processor's flags when it is not set, and the CPU dispatch prints
// openblas_fallback_note() once when OpenBLAS runs an SSE kernel set on an AVX2 or AVX-512
// processor. SkylakeX and Haswell are the sets OpenBLAS itself uses for the processors it
// recognises with those features (its Cooper Lake and Sapphire Rapids sets add only bfloat16
// routines weft does not call).
#pragma once

#include <string>

namespace weft::cpu {

// OpenBLAS's name for the kernels it runs ("SkylakeX", "Haswell", "Prescott", ...).
std::string openblas_core();
// The kernel set this processor's features call for ("SkylakeX" with AVX-512 F/BW/DQ/VL,
// "Haswell" with AVX2 and FMA), or "" (another architecture, or neither).
std::string openblas_core_for_this_cpu();
// One line for the user when OpenBLAS runs a pre-AVX2 kernel set on a processor that has AVX2
// (or AVX-512), naming OPENBLAS_CORETYPE and the set to give it; "" otherwise.
std::string openblas_fallback_note();

}  // namespace weft::cpu
