// Hand CPU convolutions for the shapes im2col + SGEMM handles badly (kernels/cpu/conv.cpp
// chooses among them per call and pass with conv_algorithm()):
//
//   full_window  the kernel covers the whole (unpadded) input, so the output is 1x1 and the
//                convolution is a linear layer on the flattened image: x[N, C*H*W] times
//                w[O, C*KH*KW]^T, one SGEMM per pass with no column matrix (the DCGAN
//                discriminator's last layer, 512 -> 1 on 4x4).
//   direct       stride 1 along the rows, and few channels: forward with at most 8 output
//                channels, or at most 64 with at most 16 input channels (an im2col GEMM that
//                thin runs memory-bound on its column matrix: the shoe-pair CNNs' layers, the
//                first layers of the Fashion and apparel CNNs); backward-data where its adjoint
//                convolution is such a forward with at most 16 input channels (stride 1 both
//                ways); backward-filter with at most 8 input or output channels (a GEMM whose
//                two small sides OpenBLAS cannot split across threads: the first layer of every
//                CNN). Forward sums each output row tap by tap from a zero-padded copy of the
//                input, in registers, two blocks of columns (16 each with AVX-512, 8 otherwise)
//                by 4 output channels; backward-data
//                is that loop on dy with the weights flipped and transposed; backward-filter
//                sums dy times the shifted input per image, in double per thread.
//   winograd     3x3 at stride 1 with at least 16 channels on both sides: Winograd F(2x2, 3x3)
//                (kernels/cpu/conv_winograd.h), 2.25x fewer multiply-adds than the direct sum
//                and a transformed copy of the input 4x its size instead of im2col's 9x.
//   im2col       everything else (kernels/cpu/conv.cpp).
//
// WEFT_CPU_CONV (or set_conv_choice) overrides the choice for comparisons: `im2col` takes
// im2col for every shape, `winograd` Winograd for every shape it applies to; `auto` (the
// default) chooses as above.
//
// The direct loops are compiled for AVX-512, AVX2+FMA and baseline x86-64 (GCC target_clones,
// picked once at load time from the processor), since weft is built without -march.
// Every function overwrites its outputs, like the rest of kernels/cpu/conv.h; sums run in a
// fixed order for a given thread count, so results repeat bit for bit run to run.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace weft::cpu {

enum class ConvAlgorithm { im2col, full_window, direct, winograd };
enum class ConvPass { forward, backward_data, backward_filter };

enum class ConvChoice { automatic, im2col, winograd };

// The process-wide choice (WEFT_CPU_CONV, read on first use; a bad value throws weft::Error).
ConvChoice conv_choice();
void set_conv_choice(ConvChoice choice);

// The algorithm the hand CPU kernels use for `pass` of `p`.
ConvAlgorithm conv_algorithm(const Conv2dParams& p, ConvPass pass);
const char* conv_algorithm_name(ConvAlgorithm algorithm);

namespace direct {

void full_window_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y);
void full_window_backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx);
// dw only; the caller sums dbias.
void full_window_backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw);

void forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y);
void backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx);
// dbias (may be null) is summed in the same pass over dy.
void backward_filter(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                     float* dbias);

// A convolution and the max pool of its output as one loop (the backend's
// conv2d_max_pool2d_forward and conv2d_max_pool2d_backward_filter): each image's convolution
// output, or its gradient from the pool's, is formed in a buffer of the thread (out_channels x
// out_h x out_w floats: 173 KB for the Fashion CNN's first layer, in L2) and pooled, or summed
// into dw, from there, where the composition writes and reads the whole batch's (89 MB at batch
// 512) through memory. Bit for bit the composition of forward (or backward_filter) with
// max_pool2d_forward (or max_pool2d_backward): the same loops on the same values in the same
// order. fuses_max_pool (fuses_max_pool_filter): the forward (backward-filter) is direct, the
// convolution has no activation of its own (the pool carries it), and the pool's windows, over
// the convolution's output, do not overlap.
bool fuses_max_pool(const Conv2dParams& c, const Pool2dParams& pool);
bool fuses_max_pool_filter(const Conv2dParams& c, const Pool2dParams& pool);
void forward_max_pool(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                      const float* w, const float* bias, float* y, int32_t* argmax);
void backward_filter_max_pool(const Conv2dParams& c, const Pool2dParams& pool, const float* x,
                              const float* dy, const float* y, const int32_t* argmax, float* dw,
                              float* dbias);

}  // namespace direct
}  // namespace weft::cpu
