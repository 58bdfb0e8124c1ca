// The kernel lab of the convolution forward, in the spirit of llm.c's dev/cuda: the hand
// kernel's versions from the naive one to the one the dispatch uses, kept runnable side by side
// so that each step's effect can be read in the code and measured (bench/bench_kernels_cuda.cpp,
// BM_conv_lab) and its static evidence compared (docs/kernels.md, "The conv forward kernel lab").
// The normal dispatch (conv2d_forward in conv.h) does not go through here.
//
//   v1 naive     one thread per output element, direct loops over (c, kh, kw) reading x and w
//                from global memory (conv_lab.cu)
//   v2 tiled     the implicit GEMM on the shared-memory tiled product of tiled_product.h: 64 x 64
//                block tile, 4 x 4 micro-tile, each staged element decoded with divisions
//                (conv_lab.cu; the forward of the hand kernels until issue 14)
//   v3 indexed   the same tile on the core of tiled_product_large.h: taps and positions decoded
//                once and advanced by carries (SmallTile; conv.cu)
//   v4 large     + 128 x 128 block tile, 8 x 8 micro-tile as float4 runs, warp tiling,
//                double-buffered slabs (LargeTile; conv.cu). The dispatch picks among v3's,
//                a 64 x 128 and this tile by the problem's size (choose_tile)
//   v5 small runs  v3's 64 x 64 tile with v4's float4 runs and warp tiling, one buffer
//                (SmallRunTile; conv.cu). v3 was the fastest version on 38 of 51 seed shapes on
//                an H200; this one issues a fifth fewer instructions per slab at 3 blocks per
//                SM instead of 4, which the dispatch's 64 x 64 choice (under two blocks per SM)
//                never reaches: since 2026-12-07 the dispatch runs v5 where it chose v3
//
// Every version computes the same y as conv2d_forward: bias and the fused activation included,
// each output one fmaf chain over the taps in increasing order (so versions 2-5 agree bit for
// bit; v1 sums in the same order). Device pointers; work queued on `stream`.
#pragma once

#include "kernels/cuda/cuda_compat.h"
#include "kernels/params.h"

namespace weft::cuda {
inline namespace WEFT_KERNEL_ABI {

enum class ConvLabVersion { naive = 1, tiled = 2, indexed = 3, large = 4, small_runs = 5 };
constexpr int kConvLabVersions = 5;

// "v1 naive", "v2 tiled", ...
const char* conv_lab_name(ConvLabVersion version);

void conv2d_forward_lab(ConvLabVersion version, const Conv2dParams& p, const float* x,
                        const float* w, const float* bias, float* y, cudaStream_t stream);

}  // namespace WEFT_KERNEL_ABI
}  // namespace weft::cuda
