// The op table's convolution and transposed-convolution cases (see backend_op_table.h): padding,
// strides, dilation, odd sizes, channel counts around the kernels' tiles, the seed models' layer
// shapes, fused activations, and the tensor-core passes at tf32 and bf16.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tests/backend_op_table_cases.h"

namespace weft::test::table {
namespace {

weft::Conv2dParams conv_params(int batch, int in_channels, int in_h, int in_w, int out_channels,
                               int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h,
                               int pad_w, int dilation = 1) {
  weft::Conv2dParams c;
  c.batch = batch;
  c.in_channels = in_channels;
  c.in_h = in_h;
  c.in_w = in_w;
  c.out_channels = out_channels;
  c.kernel_h = kernel_h;
  c.kernel_w = kernel_w;
  c.stride_h = stride_h;
  c.stride_w = stride_w;
  c.pad_h = pad_h;
  c.pad_w = pad_w;
  c.dilation_h = c.dilation_w = dilation;
  return c;
}

std::string conv_name(const weft::Conv2dParams& c) {
  std::ostringstream s;
  s << " " << c.batch << "x" << c.in_channels << "x" << c.in_h << "x" << c.in_w << " -> "
    << c.out_channels << ", k" << c.kernel_h;
  if (c.kernel_w != c.kernel_h) s << "x" << c.kernel_w;
  s << " s" << c.stride_h;
  if (c.stride_w != c.stride_h) s << "x" << c.stride_w;
  s << " p" << c.pad_h;
  if (c.pad_w != c.pad_h) s << "x" << c.pad_w;
  if (c.dilation_h != 1) s << " d" << c.dilation_h;
  return s.str();
}

// " at tf32" or " at bf16" for a case at a reduced math precision, "" at fp32.
std::string precision_label(MathPrecision precision) {
  return precision == MathPrecision::fp32 ? std::string()
                                          : std::string(" at ") + weft::precision_name(precision);
}

// Forward, backward-data and backward-filter of one convolution. `bias`: whether forward gets a
// bias and backward-filter a dbias. At tf32 or bf16 the hand kernels are the tensor-core ones
// (kernels/cuda/conv_tensor_core.cu) and the CPU reference rounds the operands the same way:
// as for the tensor-core GEMM, the FP32 accumulation order is what separates them.
void add_conv(CaseList& list, const std::string& label, const weft::Conv2dParams& c, bool bias,
              MathPrecision precision = MathPrecision::fp32) {
  const std::string name =
      conv_name(c) + (bias ? "" : " no bias") + label + precision_label(precision);
  const Tolerance forward = product_tolerance(int64_t{c.in_channels} * c.kernel_h * c.kernel_w);
  const Tolerance data = product_tolerance(int64_t{c.out_channels} * c.kernel_h * c.kernel_w);
  const Tolerance filter = product_tolerance(int64_t{c.batch} * c.out_h() * c.out_w());
  list.add("conv2d_forward" + name, cases::conv2d_forward(c, bias), forward.abs, forward.rel,
           precision);
  list.add("conv2d_backward_data" + name, cases::conv2d_backward_data(c), data.abs, data.rel,
           precision);
  list.add("conv2d_backward_filter" + name, cases::conv2d_backward_filter(c, bias), filter.abs,
           filter.rel, precision);
}

}  // namespace

void add_conv_cases(std::vector<OpCase>& all) {
  CaseList list{all, 6000};
  // Geometry: padding and stride 2; batch 1 without padding on odd sizes; dilation 2; different
  // strides, kernel sizes and padding per axis; channel counts just above the 64-row tile.
  add_conv(list, "", conv_params(2, 3, 7, 6, 5, 3, 3, 2, 2, 1, 1), true);
  add_conv(list, "", conv_params(1, 1, 9, 11, 4, 3, 3, 1, 1, 0, 0), true);
  add_conv(list, "", conv_params(2, 3, 11, 10, 6, 3, 3, 1, 1, 2, 2, 2), true);
  add_conv(list, "", conv_params(1, 5, 9, 8, 3, 3, 2, 2, 1, 1, 0), false);
  add_conv(list, "", conv_params(2, 70, 5, 5, 67, 3, 3, 1, 1, 1, 1), true);
  // 4 input channels, the most the hand backward-data's direct kernel takes, with per-axis
  // kernel, stride and padding (5 channels above go to the tiled kernel).
  add_conv(list, "", conv_params(1, 4, 9, 8, 3, 3, 2, 2, 1, 1, 0), true);
  // 3 input channels with a 7 x 7 filter of 64 output channels (3,136 taps by channels): the
  // hand backward-data of few channels (kernels/cuda/conv_data_few_channels.cu) copies the filter
  // to shared memory in two chunks of output channels.
  add_conv(list, " (few-channel backward-data, filter in chunks)",
           conv_params(1, 3, 12, 10, 64, 7, 7, 2, 2, 3, 3), false);
  // Stride 3 with a 2x2 kernel: some phases of the hand backward-data are reached by no tap.
  add_conv(list, "", conv_params(2, 6, 10, 11, 5, 2, 2, 3, 3, 1, 1), true);
  // The reduction of backward-filter split over several blocks (batch * OH * OW > 512).
  add_conv(list, " (split reduction)", conv_params(4, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1), true);
  // The hand narrow backward-filter (kernels/cuda/conv_filter_narrow.cu, which most of the
  // few-channel cases here also reach): output channels in groups of 6 and 1 (5-wide kernel)
  // with dilation 2; in_channels * kernel_h = 64, its limit, with a 3-wide kernel (groups of 10
  // and 6) and strides 2 x 1.
  add_conv(list, " (narrow filter, groups of 6 and 1)",
           conv_params(2, 3, 13, 17, 7, 5, 5, 1, 1, 2, 2, 2), true);
  add_conv(list, " (narrow filter, 64 tap rows)", conv_params(1, 16, 9, 10, 16, 4, 3, 2, 1, 1, 0),
           false);
  // The hand narrow forward (kernels/cuda/conv_forward_narrow.cu, which most few-channel cases
  // here reach too): a 7-wide kernel with stride 2 along the height only and a width of 12 (three
  // 16-byte strips); 16 output channels (two groups of 8) on a width of 13 (a partial strip) with
  // dilation 2 along the height only.
  add_conv(list, " (narrow forward, 7 wide)", conv_params(2, 2, 9, 12, 5, 3, 7, 2, 1, 1, 3), true);
  weft::Conv2dParams tall = conv_params(1, 4, 11, 13, 16, 3, 3, 1, 1, 2, 1);
  tall.dilation_h = 2;
  add_conv(list, " (narrow forward, two groups)", tall, true);
  // Wide layers of at most 32 taps per output channel take the narrow forward too (the Fashion
  // CNN's exact cases below reach it with 8 groups): the apparel CNN's first layer, 3 -> 32 with
  // 27 taps (4 groups) on a width of 10 (partial strips); 32 taps exactly (2 channels, 4 x 4)
  // with 20 outputs (a last group of 4), dilation 2 along the height; and 33 taps (3 channels,
  // 1 x 11 is not a narrow width, so 11 channels of 1 x 3), which the tiled kernel keeps.
  add_conv(list, " (narrow forward, 27 taps)", conv_params(2, 3, 7, 10, 32, 3, 3, 1, 1, 1, 1),
           true);
  weft::Conv2dParams thirty_two = conv_params(1, 2, 13, 9, 20, 4, 4, 1, 1, 2, 1);
  thirty_two.dilation_h = 2;
  add_conv(list, " (narrow forward, 32 taps)", thirty_two, false);
  add_conv(list, " (33 taps, tiled)", conv_params(1, 11, 5, 9, 20, 1, 3, 1, 1, 0, 1), true);
  // The hand bias gradient's slices (conv.cu channel_partial_sums_kernel): 40 images of 5 x 5, so
  // each thread's stride of 256 values crosses several images.
  add_conv(list, " (bias sums over many small images)",
           conv_params(40, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1), true);
  // ... and over 3 slices of 8192 values per channel (5 images of 64 x 64), which its second
  // kernel adds.
  add_conv(list, " (bias sums over 3 slices)", conv_params(5, 1, 64, 64, 2, 3, 3, 1, 1, 1, 1),
           true);
  // Seed layers. Exact: the Fashion-MNIST CNN's Conv2d(1, 64, 3) on 28x28 at batch 1 and 2.
  add_conv(list, " (fashion cnn, exact)", conv_params(1, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), true);
  add_conv(list, " (fashion cnn, exact)", conv_params(2, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), true);
  // Pair CNN (seed 001): 6 or 3 input channels, 5x5 pad 2, 4 filters, at 224x224 -> 20x20.
  add_conv(list, " (pair cnn, scaled)", conv_params(2, 6, 20, 20, 4, 5, 5, 1, 1, 2, 2), true);
  add_conv(list, " (pair cnn, scaled)", conv_params(1, 3, 24, 18, 4, 5, 5, 1, 1, 2, 2), true);
  // Apparel CNN: 3x3 pad 1 with 32 -> 64 and 128 -> 128 channels on small maps; its 2x2 "same"
  // conv (pad 1, the extra row cropped afterwards).
  add_conv(list, " (apparel cnn, scaled)", conv_params(1, 32, 9, 9, 64, 3, 3, 1, 1, 1, 1), true);
  add_conv(list, " (apparel cnn, scaled)", conv_params(1, 128, 5, 5, 128, 3, 3, 1, 1, 1, 1), true);
  add_conv(list, " (apparel cnn, scaled)", conv_params(2, 16, 6, 6, 16, 2, 2, 1, 1, 1, 1), true);
  // ResNet (no bias): 7x7 stride 2 pad 3 stem (64 filters -> 16, 224 -> 32), 3x3 stride 2 pad 1,
  // the 1x1 stride-2 downsample and a 1x1 bottleneck reduction.
  add_conv(list, " (resnet stem, scaled)", conv_params(1, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3), false);
  add_conv(list, " (resnet, scaled)", conv_params(1, 16, 9, 9, 32, 3, 3, 2, 2, 1, 1), false);
  add_conv(list, " (resnet downsample, scaled)", conv_params(2, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0),
           false);
  add_conv(list, " (resnet bottleneck, scaled)", conv_params(1, 64, 4, 4, 16, 1, 1, 1, 1, 0, 0),
           false);
  // Exact ResNet-18 layers at batch 1: a 3x3 512 -> 512 conv of layer 4 on its 7x7 maps (a
  // reduction of 4608 taps), and the 1x1 stride-2 downsample into it.
  add_conv(list, " (resnet-18 layer 4, exact)", conv_params(1, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1),
           false);
  add_conv(list, " (resnet-18 downsample, exact)",
           conv_params(1, 256, 14, 14, 512, 1, 1, 2, 2, 0, 0), false);
  // DCGAN discriminator: 4x4 stride 2 pad 1, and the last 4x4 conv to a single output.
  add_conv(list, " (dcgan, scaled)", conv_params(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1), false);
  add_conv(list, " (dcgan, scaled)", conv_params(2, 16, 4, 4, 1, 4, 4, 1, 1, 0, 0), false);
  // Backward-filter on the 64 x 16 tile (conv_filter.cu, ThinTile: at most 16 taps), besides the
  // Fashion CNN's exact layers above: 16 taps (4 x 4 on one channel) into 70 filters, two row tiles
  // with a partial one, split over slices; 6 taps (2 x 3) into 20 filters at batch 1.
  add_conv(list, " (64 x 16 filter tile)", conv_params(2, 1, 12, 12, 70, 4, 4, 1, 1, 1, 1), true);
  add_conv(list, " (64 x 16 filter tile)", conv_params(1, 1, 9, 7, 20, 2, 3, 1, 1, 0, 1), true);
  // Stride-1 backward-data run as a forward convolution of a flipped filter (conv.cu,
  // data_as_forward), besides the many stride-1 cases above that reach it: dilation 2 with 6
  // input channels (5 is the least it takes), a non-square kernel with padding 1 x 0, and a 1 x 1
  // kernel with padding 1, more than a "full" padding, which keeps the gather kernel.
  add_conv(list, " (backward-data as forward, dilated)",
           conv_params(2, 6, 11, 10, 5, 3, 3, 1, 1, 2, 2, 2), true);
  add_conv(list, " (backward-data as forward)", conv_params(1, 7, 9, 8, 3, 3, 2, 1, 1, 1, 0),
           false);
  add_conv(list, " (padding past full)", conv_params(2, 6, 5, 5, 4, 1, 1, 1, 1, 1, 1), true);
  // Strided backward-data as one forward convolution per phase (conv.cu, data_by_phases; the
  // seed shapes above with more than 4 input channels reach it too): padding 2 at stride 2, where
  // the odd phase's convolution has padding -1; a 4 x 2 kernel at stride 3, whose phases have 2,
  // 1 and 1 taps along the height and 1, 1 and none along the width (those outputs are 0); a
  // one-row input, whose first phase along the height has no rows.
  add_conv(list, " (backward-data by phases, negative padding)",
           conv_params(2, 6, 11, 9, 5, 3, 3, 2, 2, 2, 2), false);
  add_conv(list, " (backward-data by phases, stride 3)",
           conv_params(2, 6, 10, 11, 5, 4, 2, 3, 3, 1, 1), false);
  add_conv(list, " (backward-data by phases, one row)",
           conv_params(2, 6, 1, 5, 5, 3, 3, 2, 2, 1, 1), false);
  // Full-window convolutions, run by the hand backend as GEMMs (kernels/cuda/conv_full_window.cu):
  // with a bias; a non-square window with stride 2 (one output position whatever the stride); a
  // reduction of 64 x 4 x 4 = 1024 taps over 3 images, which the GEMM splits over blocks.
  add_conv(list, " (full window)", conv_params(3, 5, 3, 5, 4, 3, 5, 1, 1, 0, 0), true);
  add_conv(list, " (full window, stride 2)", conv_params(2, 2, 4, 3, 6, 4, 3, 2, 2, 0, 0), true);
  add_conv(list, " (full window, split reduction)", conv_params(3, 64, 4, 4, 3, 4, 4, 1, 1, 0, 0),
           true);
  // Forwards large enough for the larger block tiles (tiled_product_large.h, choose_tile):
  // 136 channels x 8712 positions take the 128 x 128 tile, 40 x 16900 the 64 x 128 one (4 input
  // channels: 36 taps, more than the narrow forward takes); no edge is a multiple of 128 or 8.
  add_conv(list, " (128 x 128 tile)", conv_params(2, 5, 66, 66, 136, 3, 3, 1, 1, 1, 1), true);
  add_conv(list, " (64 x 128 tile)", conv_params(4, 4, 65, 65, 40, 3, 3, 1, 1, 1, 1), false);
  add_conv(list, " (128 x 128 tile, stride 2)", conv_params(3, 7, 129, 131, 132, 3, 3, 2, 2, 1, 1),
           true);
  // The forward's fused activation (the backwards ignore it): ReLU after a biased conv as in the
  // seed CNNs, on the tiled shape and on a few-channel one (the CPU's direct loops); the DCGAN
  // discriminator's LeakyReLU(0.2) without a bias; a full-window conv (the CPU's GEMM path).
  const auto add_fused = [&](weft::Conv2dParams c, weft::FusedActivation act, bool bias,
                             const char* label) {
    c.activation = act;
    const Tolerance forward = product_tolerance(int64_t{c.in_channels} * c.kernel_h * c.kernel_w);
    list.add("conv2d_forward" + conv_name(c) + (bias ? "" : " no bias") + label,
             cases::conv2d_forward(c, bias), forward.abs, forward.rel);
  };
  add_fused(conv_params(2, 70, 5, 5, 67, 3, 3, 1, 1, 1, 1), kRelu, true, " +relu");
  add_fused(conv_params(2, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), kRelu, true, " +relu (fashion cnn)");
  add_fused(conv_params(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1), kLeaky, false,
            " +leaky_relu(0.2) (dcgan)");
  add_fused(conv_params(2, 16, 4, 4, 5, 4, 4, 1, 1, 0, 0), kRelu, true, " +relu (full window)");
  add_fused(conv_params(2, 4, 9, 16, 6, 5, 5, 1, 1, 2, 2), kLeaky, true,
            " +leaky_relu(0.2) (narrow forward)");
  // The tensor-core kernels at tf32 and bf16: channels not a multiple of 8 or 16 across two
  // 64-row tiles, the forward's filter in 16-byte copies (taps a multiple of 4) and element
  // copies, batch 1 with pad 0 on odd sizes, one input channel, stride 2 (backward-data by
  // phase), dilation, stride 2 with dilation 2, stride 3 with phases no tap reaches, 1x1 at
  // stride 1 and 2, backward-filter split over slices, the fused activations.
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    add_conv(list, "", conv_params(2, 70, 5, 5, 67, 3, 3, 1, 1, 1, 1), true, precision);
    add_conv(list, " (apparel cnn, scaled)", conv_params(1, 32, 9, 9, 64, 3, 3, 1, 1, 1, 1), true,
             precision);
    add_conv(list, "", conv_params(1, 1, 9, 11, 4, 3, 3, 1, 1, 0, 0), true, precision);
    add_conv(list, " (fashion cnn, exact)", conv_params(1, 1, 28, 28, 64, 3, 3, 1, 1, 0, 0), true,
             precision);
    add_conv(list, "", conv_params(1, 5, 9, 8, 3, 3, 2, 2, 1, 1, 0), false, precision);
    add_conv(list, "", conv_params(2, 3, 11, 10, 6, 3, 3, 1, 1, 2, 2, 2), true, precision);
    add_conv(list, "", conv_params(1, 6, 11, 9, 5, 3, 3, 2, 2, 2, 2, 2), true, precision);
    add_conv(list, "", conv_params(2, 6, 10, 11, 5, 2, 2, 3, 3, 1, 1), true, precision);
    add_conv(list, " (resnet downsample, scaled)", conv_params(2, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0),
             false, precision);
    add_conv(list, " (resnet bottleneck, scaled)", conv_params(1, 64, 4, 4, 16, 1, 1, 1, 1, 0, 0),
             false, precision);
    add_conv(list, " (resnet, scaled)", conv_params(1, 16, 9, 9, 32, 3, 3, 2, 2, 1, 1), false,
             precision);
    add_conv(list, " (split reduction)", conv_params(4, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1), true,
             precision);
    add_conv(list, " (dcgan, scaled)", conv_params(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1), false,
             precision);
    add_conv(list, " (full window)", conv_params(3, 5, 3, 5, 4, 3, 5, 1, 1, 0, 0), true, precision);
    add_conv(list, " (backward-data as forward, dilated)",
             conv_params(2, 6, 11, 10, 5, 3, 3, 1, 1, 2, 2, 2), true, precision);
    add_conv(list, " (full window, split reduction)", conv_params(3, 64, 4, 4, 3, 4, 4, 1, 1, 0, 0),
             true, precision);
    add_conv(list, " (backward-data by phases, negative padding)",
             conv_params(2, 6, 11, 9, 5, 3, 3, 2, 2, 2, 2), false, precision);
    // Phases on channels-last operands (dy's channels in fours; conv.cu channels_last_phases):
    // nine phases of one tap at stride 3, launched four, four and one; stride 3 with a 2 x 2
    // kernel, five phases no tap reaches (the NCHW gather) beside four of one tap; 12 channels
    // of dy (at bf16 FP32 copies, the BF16 ones need eights) on phases of 2 x 8 x 8 to
    // 2 x 9 x 9 positions (2 and 3 column tiles: the grid is the widest phase's); 6 input
    // channels (the skinny kernel, a launch per phase).
    add_conv(list, " (phases channels-last, stride 3)",
             conv_params(2, 20, 10, 11, 8, 3, 3, 3, 3, 1, 1), false, precision);
    add_conv(list, " (phases channels-last, taps missing)",
             conv_params(1, 20, 9, 10, 8, 2, 2, 3, 3, 0, 0), false, precision);
    add_conv(list, " (phases channels-last, 12 channels)",
             conv_params(2, 20, 17, 17, 12, 3, 3, 2, 2, 1, 1), false, precision);
    add_conv(list, " (phases channels-last, skinny)", conv_params(2, 6, 9, 9, 8, 4, 4, 2, 2, 1, 1),
             false, precision);
    // The 128 x 64 tile of the tensor-core gather (at least 128 GEMM rows, and at least 12
    // blocks: two waves of the emulated card's 2 SMs): the forward with a 16-byte filter (36
    // taps) into 130 channels (a partial second tile) and with an element filter (45 taps) into
    // exactly 128; backward-data into 130 input channels at stride 1 (as a forward) and into 129
    // at stride 2 (by phases). Where the channels come in fours (4, 8 and 16: the first, third
    // and fourth) these run on channels-last copies, whose 128 x 128 tile they take (8 blocks:
    // two waves at 2 blocks per SM).
    add_conv(list, " (tall tensor-core tile)", conv_params(2, 4, 14, 14, 130, 3, 3, 1, 1, 1, 1),
             true, precision);
    add_conv(list, " (tall tensor-core tile)", conv_params(4, 5, 14, 14, 128, 3, 3, 1, 1, 1, 1),
             false, precision);
    add_conv(list, " (tall tensor-core tile)", conv_params(2, 130, 14, 14, 8, 3, 3, 1, 1, 1, 1),
             false, precision);
    add_conv(list, " (tall tensor-core tile)", conv_params(2, 129, 28, 28, 16, 3, 3, 2, 2, 1, 1),
             false, precision);
    // The narrow kernels with rounded operands (at most 8 output channels).
    add_conv(list, " (pair cnn, scaled)", conv_params(2, 6, 20, 20, 4, 5, 5, 1, 1, 2, 2), true,
             precision);
    add_conv(list, " (narrow forward, 7 wide)", conv_params(2, 2, 9, 12, 5, 3, 7, 2, 1, 1, 3), true,
             precision);
    // ... and the narrow forward of wide layers of few taps (with the Fashion CNN's above).
    add_conv(list, " (narrow forward, 27 taps)", conv_params(2, 3, 7, 10, 32, 3, 3, 1, 1, 1, 1),
             true, precision);
    for (const auto& [c, act, bias, label] :
         {std::tuple{conv_params(2, 70, 5, 5, 67, 3, 3, 1, 1, 1, 1), kRelu, true, " +relu"},
          std::tuple{conv_params(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1), kLeaky, false,
                     " +leaky_relu(0.2) (dcgan)"}}) {
      weft::Conv2dParams fused = c;
      fused.activation = act;
      const Tolerance forward = product_tolerance(int64_t{c.in_channels} * c.kernel_h * c.kernel_w);
      list.add("conv2d_forward" + conv_name(fused) + (bias ? "" : " no bias") + label +
                   precision_label(precision),
               cases::conv2d_forward(fused, bias), forward.abs, forward.rel, precision);
    }
  }
}

namespace {

void add_conv_transpose(CaseList& list, const std::string& label,
                        const weft::ConvTranspose2dParams& t, bool bias,
                        MathPrecision precision = MathPrecision::fp32) {
  std::ostringstream s;
  s << " " << t.batch << "x" << t.in_channels << "x" << t.in_h << "x" << t.in_w << " -> "
    << t.out_channels << ", k" << t.kernel_h << " s" << t.stride_h << " p" << t.pad_h;
  if (t.output_pad_h != 0) s << " out_pad" << t.output_pad_h;
  if (t.dilation_h != 1) s << " d" << t.dilation_h;
  const std::string name = s.str() + (bias ? "" : " no bias") + label + precision_label(precision);
  const int64_t taps = int64_t{t.kernel_h} * t.kernel_w;
  const Tolerance forward = product_tolerance(t.in_channels * taps);
  const Tolerance data = product_tolerance(t.out_channels * taps);
  const Tolerance filter = product_tolerance(int64_t{t.batch} * t.in_h * t.in_w);
  list.add("conv_transpose2d_forward" + name, cases::conv_transpose2d_forward(t, bias), forward.abs,
           forward.rel, precision);
  list.add("conv_transpose2d_backward_data" + name, cases::conv_transpose2d_backward_data(t),
           data.abs, data.rel, precision);
  list.add("conv_transpose2d_backward_filter" + name,
           cases::conv_transpose2d_backward_filter(t, bias), filter.abs, filter.rel, precision);
}

weft::ConvTranspose2dParams conv_transpose_params(int batch, int in_channels, int in_h, int in_w,
                                                  int out_channels, int kernel, int stride, int pad,
                                                  int output_pad = 0, int dilation = 1) {
  weft::ConvTranspose2dParams t;
  t.batch = batch;
  t.in_channels = in_channels;
  t.in_h = in_h;
  t.in_w = in_w;
  t.out_channels = out_channels;
  t.kernel_h = t.kernel_w = kernel;
  t.stride_h = t.stride_w = stride;
  t.pad_h = t.pad_w = pad;
  t.output_pad_h = t.output_pad_w = output_pad;
  t.dilation_h = t.dilation_w = dilation;
  return t;
}

}  // namespace

void add_conv_transpose_cases(std::vector<OpCase>& all) {
  CaseList list{all, 7000};
  add_conv_transpose(list, "", conv_transpose_params(1, 4, 5, 5, 3, 4, 2, 1), true);
  // Output padding, dilation, odd non-square inputs.
  add_conv_transpose(list, "", conv_transpose_params(2, 3, 4, 5, 2, 3, 2, 1, 1), true);
  add_conv_transpose(list, "", conv_transpose_params(1, 5, 3, 4, 7, 3, 1, 1, 0, 2), true);
  // DCGAN generator (no bias): the first layer, latent 1x1 -> 4x4 (4x4 stride 1 pad 0; 100 + 10
  // class channels -> 32 instead of 512), and a 4x4 stride 2 pad 1 doubling layer.
  add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(2, 110, 1, 1, 32, 4, 1, 0),
                     false);
  add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(2, 16, 8, 8, 8, 4, 2, 1),
                     false);
  // Exact: the unconditional DCGAN-64 generator's first layer (latent 100 -> 512 at 4x4).
  add_conv_transpose(list, " (dcgan-64, exact)", conv_transpose_params(1, 100, 1, 1, 512, 4, 1, 0),
                     false);
  // A 1x1 input is a full-window convolution seen from its transposed side (the hand backend's
  // GEMMs, kernels/cuda/conv_full_window.cu): with a bias over the output channels, at fp32
  // here and at tf32/bf16 below.
  add_conv_transpose(list, " (full window)", conv_transpose_params(3, 7, 1, 1, 5, 3, 1, 0), true);
  // The forward by phases (conv.cu, data_by_phases) with the bias in its epilogue: 7 output
  // channels at stride 2 with output padding (phases of 2 and 1 taps, of different sizes), and a
  // 4x4 stride-2 doubling layer with a bias on odd sizes.
  add_conv_transpose(list, " (by phases)", conv_transpose_params(2, 6, 5, 7, 7, 3, 2, 1, 1), true);
  add_conv_transpose(list, " (by phases)", conv_transpose_params(1, 5, 3, 5, 6, 4, 2, 1), true);
  // The last layer to image channels, with the reduction of backward-filter split over blocks.
  add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(4, 8, 16, 16, 3, 4, 2, 1),
                     false);
  // The tensor-core kernels through as_conv() at tf32 and bf16 (forward = the convolution's
  // backward-data with the bias, backward-data = its forward, backward-filter = its
  // backward-filter): stride 2 with a bias, output padding, dilation, the DCGAN generator's
  // first layer and a 4x4 stride-2 doubling layer, the last layer with a split reduction, the
  // forward by phases with a bias.
  for (MathPrecision precision : {MathPrecision::tf32, MathPrecision::bf16}) {
    add_conv_transpose(list, "", conv_transpose_params(1, 4, 5, 5, 3, 4, 2, 1), true, precision);
    add_conv_transpose(list, "", conv_transpose_params(2, 3, 4, 5, 2, 3, 2, 1, 1), true, precision);
    add_conv_transpose(list, "", conv_transpose_params(1, 5, 3, 4, 7, 3, 1, 1, 0, 2), true,
                       precision);
    add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(2, 110, 1, 1, 32, 4, 1, 0),
                       false, precision);
    add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(2, 16, 8, 8, 8, 4, 2, 1),
                       false, precision);
    add_conv_transpose(list, " (dcgan, scaled)", conv_transpose_params(4, 8, 16, 16, 3, 4, 2, 1),
                       false, precision);
    add_conv_transpose(list, " (full window)", conv_transpose_params(3, 7, 1, 1, 5, 3, 1, 0), true,
                       precision);
    add_conv_transpose(list, " (by phases)", conv_transpose_params(2, 6, 5, 7, 7, 3, 2, 1, 1), true,
                       precision);
    add_conv_transpose(list, " (by phases)", conv_transpose_params(1, 5, 3, 5, 6, 4, 2, 1), true,
                       precision);
  }
}

}  // namespace weft::test::table
