// The kernel benchmark table shared by bench_kernels_cpu.cpp and bench_kernels_cuda.cpp: the
// layer shapes of every seed model at the batch size its app trains with, two sweeps, and, for
// every (op, layer) pair, the one benchmark case both programs run. Because both programs take
// their cases from kernel_cases() below, a benchmark name means the same call on the same
// shapes with the same inputs in the CPU and the CUDA program, and their JSON files can be
// joined on the name.
//
// Benchmark names: OP/MODEL.LAYER/bBATCH, e.g. conv2d_fwd/fashion_cnn.conv1/b512; the Adam
// update has no batch (adam_update/apparel_cnn.dense1.weight). The CUDA program appends the
// implementation: conv2d_fwd/fashion_cnn.conv1/b512/hand and .../vendor. Both programs time
// each call themselves, so Google Benchmark appends "/manual_time" to every name in its output
// (bench/bench_tables.py strips it).
//   OP     conv2d_fwd conv2d_bwd_data conv2d_bwd_filter conv2d_bwd_filter_nobias (biased layers)
//          conv_transpose2d_fwd conv_transpose2d_bwd_data conv_transpose2d_bwd_filter
//          batch_norm_fwd_train batch_norm_bwd batch_norm_fwd_eval batch_norm_bwd_eval
//          dropout_fwd dropout_bwd   linear_fwd linear_bwd   max_pool2d_fwd max_pool2d_bwd
//          max_pool2d_bwd_relu conv2d_max_pool2d_fwd conv2d_max_pool2d_bwd_filter (a conv and
//          its 2 x 2 max pool as one op, forward and a first layer's backward-filter)
//          relu_fwd relu_bwd add_fwd   cross_entropy_fwd cross_entropy_bwd   adam_update
//   MODEL  fashion_cnn     models/fashion_cnn.h, seed 004's model, batch 512 (the seed's)
//          fashion_resnet  models/fashion_resnet.h, the "strong" Fashion-MNIST net, batch 128
//          pair_stacked    models/pair_cnn.h, the stacked shoe-pair CNN (448x224), batch 42
//          pair_channels   models/pair_cnn.h, the 6-channel shoe-pair CNN (224x224), batch 42
//          dcgan64         models/dcgan.h dcgan64_rgb(), 64x64x3, batch 128
//          resnet50        models/resnet.h ResNet-50 at 224x224, batch 32
//          apparel_cnn     models/apparel_cnn.h SmallerVGGNet at 96x96x3, batch 64
//          batch_sweep     a 3x3 conv 32 -> 32 on 28x28 (fashion_resnet's layer1), batch 1..512
//          channel_sweep   a 3x3 conv C -> C on 28x28 at batch 32, C = 16..256
//   LAYER  the layer's name in the model (torchvision's for ResNet-50; conv1+pool1 for a fused
//          pair), or for the DCGAN
//          gen1..gen5 / disc1..disc5 for the generator's transposed convolutions and the
//          discriminator's convolutions in order (main.0, main.3, ... in the model).
//
// Counting: flops are 2 x multiply-adds (convolutions and linear layers only; bias additions
// are not counted); bytes are the bytes each kernel must read and write at least once (every
// input read once, every output written once), for the memory-bound kernels only. A case has
// one of the two, and the programs report GFLOP/s or GB/s from it.
//
// Calls and inputs: each case's buffers and call come from kernels/reference/op_cases.h, the
// description of each op's call that the op-table test (tests/test_backend_ops.cpp) shares, so
// an op's call is written once for both. Both programs fill the buffers with host_contents():
// the same deterministic pseudo-random values in the range op_cases.h asks for (outputs start at
// zero); a backward input that a forward produces (the max-pool argmax) is derived on the host
// by the definition's forward (kernels/reference/pool.h), untimed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/params.h"
#include "kernels/reference/op_cases.h"
#include "kernels/selection.h"

namespace weft::bench {

// ---- the layers ----------------------------------------------------------------------------

struct ConvLayer {
  const char* model;
  const char* layer;
  int batch, in_channels, in_h, in_w, out_channels, kernel, stride, pad;
  bool bias;

  Conv2dParams params() const {
    Conv2dParams p;
    p.batch = batch;
    p.in_channels = in_channels;
    p.in_h = in_h;
    p.in_w = in_w;
    p.out_channels = out_channels;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
  }
};

struct ConvTransposeLayer {
  const char* model;
  const char* layer;
  int batch, in_channels, in_size, out_channels, kernel, stride, pad;

  ConvTranspose2dParams params() const {
    ConvTranspose2dParams p;
    p.batch = batch;
    p.in_channels = in_channels;
    p.in_h = p.in_w = in_size;
    p.out_channels = out_channels;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
  }
};

struct BatchNormLayer {
  const char* model;
  const char* layer;
  int batch, channels, h, w;
  float eps;
};

struct PoolLayer {
  const char* model;
  const char* layer;
  int batch, channels, h, w, kernel, stride, pad;
};

// An activation (or a residual addition) over a [batch, channels, h, w] tensor.
struct ElementwiseLayer {
  const char* model;
  const char* layer;
  int batch, channels, h, w;
  int64_t count() const { return int64_t{batch} * channels * h * w; }
};

struct DropoutLayer {
  const char* model;
  const char* layer;
  int batch;
  int64_t features;  // per sample
  float p;
};

struct LinearLayer {
  const char* model;
  const char* layer;
  int batch, in_features, out_features;
};

struct LossLayer {
  const char* model;
  const char* layer;
  int batch, classes;
};

// One parameter tensor, for the optimizer update (weft updates one tensor per call).
struct ParameterTensor {
  const char* model;
  const char* name;
  int64_t count;
};

// Convolutions. "same" padding is kernel/2; the ResNets' convolutions and the DCGAN's have no
// bias, the others do.
inline const std::vector<ConvLayer>& conv_layers() {
  static const std::vector<ConvLayer> layers = {
      // model, layer, batch, in_channels, in_h, in_w, out_channels, kernel, stride, pad, bias
      {"fashion_cnn", "conv1", 512, 1, 28, 28, 64, 3, 1, 0, true},

      {"fashion_resnet", "conv1", 128, 1, 28, 28, 32, 3, 1, 1, false},
      {"fashion_resnet", "layer1.0.conv1", 128, 32, 28, 28, 32, 3, 1, 1, false},
      {"fashion_resnet", "layer2.0.conv1", 128, 32, 28, 28, 64, 3, 2, 1, false},
      {"fashion_resnet", "layer2.0.conv2", 128, 64, 14, 14, 64, 3, 1, 1, false},
      {"fashion_resnet", "layer2.0.downsample", 128, 32, 28, 28, 64, 1, 2, 0, false},
      {"fashion_resnet", "layer3.0.conv1", 128, 64, 14, 14, 128, 3, 2, 1, false},
      {"fashion_resnet", "layer3.0.conv2", 128, 128, 7, 7, 128, 3, 1, 1, false},
      {"fashion_resnet", "layer3.0.downsample", 128, 64, 14, 14, 128, 1, 2, 0, false},

      // The channel model's conv2..conv4 are the stacked model's on half the rows.
      {"pair_stacked", "conv1", 42, 3, 448, 224, 4, 5, 1, 2, true},
      {"pair_stacked", "conv2", 42, 4, 224, 112, 8, 5, 1, 2, true},
      {"pair_stacked", "conv3", 42, 8, 112, 56, 16, 5, 1, 2, true},
      {"pair_stacked", "conv4", 42, 16, 56, 28, 32, 5, 1, 2, true},
      {"pair_channels", "conv1", 42, 6, 224, 224, 4, 5, 1, 2, true},

      {"dcgan64", "disc1", 128, 3, 64, 64, 64, 4, 2, 1, false},
      {"dcgan64", "disc2", 128, 64, 32, 32, 128, 4, 2, 1, false},
      {"dcgan64", "disc3", 128, 128, 16, 16, 256, 4, 2, 1, false},
      {"dcgan64", "disc4", 128, 256, 8, 8, 512, 4, 2, 1, false},
      {"dcgan64", "disc5", 128, 512, 4, 4, 1, 4, 1, 0, false},

      // torchvision v1.5: a bottleneck's stride sits on its 3x3 conv.
      {"resnet50", "conv1", 32, 3, 224, 224, 64, 7, 2, 3, false},
      {"resnet50", "layer1.0.conv1", 32, 64, 56, 56, 64, 1, 1, 0, false},
      {"resnet50", "layer1.0.conv2", 32, 64, 56, 56, 64, 3, 1, 1, false},
      {"resnet50", "layer1.0.conv3", 32, 64, 56, 56, 256, 1, 1, 0, false},
      {"resnet50", "layer2.0.conv1", 32, 256, 56, 56, 128, 1, 1, 0, false},
      {"resnet50", "layer2.0.conv2", 32, 128, 56, 56, 128, 3, 2, 1, false},
      {"resnet50", "layer2.0.downsample", 32, 256, 56, 56, 512, 1, 2, 0, false},
      {"resnet50", "layer2.1.conv2", 32, 128, 28, 28, 128, 3, 1, 1, false},
      {"resnet50", "layer3.1.conv1", 32, 1024, 14, 14, 256, 1, 1, 0, false},
      {"resnet50", "layer3.1.conv2", 32, 256, 14, 14, 256, 3, 1, 1, false},
      {"resnet50", "layer4.1.conv2", 32, 512, 7, 7, 512, 3, 1, 1, false},
      {"resnet50", "layer4.1.conv3", 32, 512, 7, 7, 2048, 1, 1, 0, false},

      // The 2x2 conv is Keras "same": padded 1 on every side (17x17 out), then cropped to 16x16.
      {"apparel_cnn", "conv1", 64, 3, 96, 96, 32, 3, 1, 1, true},
      {"apparel_cnn", "conv2", 64, 32, 32, 32, 64, 3, 1, 1, true},
      {"apparel_cnn", "conv3", 64, 64, 32, 32, 64, 3, 1, 1, true},
      {"apparel_cnn", "conv4", 64, 64, 16, 16, 128, 3, 1, 1, true},
      {"apparel_cnn", "conv5", 64, 128, 16, 16, 128, 2, 1, 1, true},
  };
  return layers;
}

// The sweeps: one layer over batch sizes, one layer shape over channel counts.
inline const std::vector<int>& batch_sweep_sizes() {
  static const std::vector<int> sizes = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  return sizes;
}
inline const std::vector<int>& channel_sweep_sizes() {
  static const std::vector<int> sizes = {16, 32, 64, 128, 256};
  return sizes;
}
inline std::vector<ConvLayer> sweep_conv_layers() {
  std::vector<ConvLayer> layers;
  for (int batch : batch_sweep_sizes()) {
    layers.push_back({"batch_sweep", "c32_28x28", batch, 32, 28, 28, 32, 3, 1, 1, false});
  }
  static const char* const names[] = {"c16_28x28", "c32_28x28", "c64_28x28", "c128_28x28",
                                      "c256_28x28"};
  for (size_t i = 0; i < channel_sweep_sizes().size(); ++i) {
    const int c = channel_sweep_sizes()[i];
    layers.push_back({"channel_sweep", names[i], 32, c, 28, 28, c, 3, 1, 1, false});
  }
  return layers;
}

inline const std::vector<ConvTransposeLayer>& conv_transpose_layers() {
  static const std::vector<ConvTransposeLayer> layers = {
      // model, layer, batch, in_channels, in_size, out_channels, kernel, stride, pad
      {"dcgan64", "gen1", 128, 100, 1, 512, 4, 1, 0},
      {"dcgan64", "gen2", 128, 512, 4, 256, 4, 2, 1},
      {"dcgan64", "gen3", 128, 256, 8, 128, 4, 2, 1},
      {"dcgan64", "gen4", 128, 128, 16, 64, 4, 2, 1},
      {"dcgan64", "gen5", 128, 64, 32, 3, 4, 2, 1},
  };
  return layers;
}

inline const std::vector<BatchNormLayer>& batch_norm_layers() {
  static const std::vector<BatchNormLayer> layers = {
      // model, layer, batch, channels, h, w, eps
      {"fashion_resnet", "bn1", 128, 32, 28, 28, 1e-5f},
      {"fashion_resnet", "layer2.0.bn1", 128, 64, 14, 14, 1e-5f},
      {"fashion_resnet", "layer3.0.bn1", 128, 128, 7, 7, 1e-5f},
      {"pair_stacked", "bn1", 42, 4, 448, 224, 1e-5f},
      {"pair_stacked", "bn2", 42, 8, 224, 112, 1e-5f},
      {"pair_stacked", "bn3", 42, 16, 112, 56, 1e-5f},
      {"pair_stacked", "bn4", 42, 32, 56, 28, 1e-5f},
      {"pair_stacked", "bn_fc1", 42, 100, 1, 1, 1e-5f},
      // The discriminator's batch norms (after disc2..disc4) have the shapes of gen_bn3..1.
      {"dcgan64", "gen_bn1", 128, 512, 4, 4, 1e-5f},
      {"dcgan64", "gen_bn2", 128, 256, 8, 8, 1e-5f},
      {"dcgan64", "gen_bn3", 128, 128, 16, 16, 1e-5f},
      {"dcgan64", "gen_bn4", 128, 64, 32, 32, 1e-5f},
      {"resnet50", "bn1", 32, 64, 112, 112, 1e-5f},
      {"resnet50", "layer1.0.bn1", 32, 64, 56, 56, 1e-5f},
      {"resnet50", "layer1.0.bn3", 32, 256, 56, 56, 1e-5f},
      {"resnet50", "layer2.1.bn2", 32, 128, 28, 28, 1e-5f},
      {"resnet50", "layer2.1.bn3", 32, 512, 28, 28, 1e-5f},
      {"resnet50", "layer3.1.bn2", 32, 256, 14, 14, 1e-5f},
      {"resnet50", "layer3.1.bn3", 32, 1024, 14, 14, 1e-5f},
      {"resnet50", "layer4.1.bn2", 32, 512, 7, 7, 1e-5f},
      {"resnet50", "layer4.1.bn3", 32, 2048, 7, 7, 1e-5f},
      {"apparel_cnn", "bn1", 64, 32, 96, 96, 1e-3f},
      {"apparel_cnn", "bn2", 64, 64, 32, 32, 1e-3f},
      {"apparel_cnn", "bn4", 64, 128, 16, 16, 1e-3f},
      {"apparel_cnn", "bn_dense1", 64, 1024, 1, 1, 1e-3f},
  };
  return layers;
}

// A convolution whose output only a 2 x 2 max pool (with the ReLU between them) reads: the
// seed models' Conv2d -> ReLU -> MaxPool2d(2) that Sequential runs as one op
// (engine/ops.h conv2d_max_pool2d). Against conv2d_fwd plus max_pool2d_fwd of the same layers.
inline const std::vector<ConvLayer>& conv_max_pool_layers() {
  static const std::vector<ConvLayer> layers = {
      {"fashion_cnn", "conv1+pool1", 512, 1, 28, 28, 64, 3, 1, 0, true},
  };
  return layers;
}

// (fashion_resnet and the DCGAN have no max-pool.)
inline const std::vector<PoolLayer>& max_pool_layers() {
  static const std::vector<PoolLayer> layers = {
      // model, layer, batch, channels, h, w, kernel, stride, pad
      {"fashion_cnn", "pool1", 512, 64, 26, 26, 2, 2, 0},
      {"pair_stacked", "pool1", 42, 4, 448, 224, 2, 2, 0},
      {"pair_stacked", "pool4", 42, 32, 56, 28, 2, 2, 0},
      {"resnet50", "maxpool", 32, 64, 112, 112, 3, 2, 1},
      {"apparel_cnn", "pool1", 64, 32, 96, 96, 3, 3, 0},
      {"apparel_cnn", "pool2", 64, 64, 32, 32, 2, 2, 0},
  };
  return layers;
}

inline const std::vector<ElementwiseLayer>& relu_layers() {
  static const std::vector<ElementwiseLayer> layers = {
      // model, layer, batch, channels, h, w
      {"fashion_cnn", "relu1", 512, 64, 26, 26},
      {"fashion_resnet", "layer1.0.relu", 128, 32, 28, 28},
      {"pair_stacked", "relu1", 42, 4, 448, 224},
      {"dcgan64", "gen_relu4", 128, 64, 32, 32},
      {"resnet50", "relu", 32, 64, 112, 112},
      {"apparel_cnn", "relu1", 64, 32, 96, 96},
  };
  return layers;
}

// Residual additions (the shortcut of a residual block).
inline const std::vector<ElementwiseLayer>& add_layers() {
  static const std::vector<ElementwiseLayer> layers = {
      {"fashion_resnet", "layer1.0.add", 128, 32, 28, 28},
      {"resnet50", "layer1.0.add", 32, 256, 56, 56},
  };
  return layers;
}

inline const std::vector<DropoutLayer>& dropout_layers() {
  static const std::vector<DropoutLayer> layers = {
      // model, layer, batch, features per sample, p
      {"fashion_cnn", "dropout", 512, 64 * 13 * 13, 0.3f},
      {"fashion_resnet", "dropout", 128, 128, 0.2f},
      {"apparel_cnn", "dropout1", 64, 32 * 32 * 32, 0.25f},
      {"apparel_cnn", "dropout4", 64, 1024, 0.5f},
  };
  return layers;
}

inline const std::vector<LinearLayer>& linear_layers() {
  static const std::vector<LinearLayer> layers = {
      // model, layer, batch, in_features, out_features
      {"fashion_cnn", "fc1", 512, 64 * 13 * 13, 32},
      {"fashion_cnn", "fc2", 512, 32, 10},
      {"fashion_resnet", "fc", 128, 128, 10},
      {"pair_stacked", "fc1", 42, 32 * 28 * 14, 100},
      {"pair_stacked", "fc2", 42, 100, 2},
      {"resnet50", "fc", 32, 2048, 1000},
      {"apparel_cnn", "dense1", 64, 128 * 8 * 8, 1024},
      {"apparel_cnn", "dense2", 64, 1024, 7},
  };
  return layers;
}

// Softmax cross-entropy on the logits (the apparel model and the DCGAN use binary
// cross-entropy, which is not benchmarked here).
inline const std::vector<LossLayer>& cross_entropy_layers() {
  static const std::vector<LossLayer> layers = {
      // model, layer, batch, classes
      {"fashion_cnn", "loss", 512, 10},
      {"fashion_resnet", "loss", 128, 10},
      {"pair_stacked", "loss", 42, 2},
      {"resnet50", "loss", 32, 1000},
  };
  return layers;
}

// The largest parameter tensor of each model (what one adam_update call sees at most).
inline const std::vector<ParameterTensor>& adam_tensors() {
  static const std::vector<ParameterTensor> tensors = {
      // model, tensor, elements
      {"fashion_cnn", "fc1.weight", int64_t{32} * 64 * 13 * 13},
      {"fashion_resnet", "layer3.1.conv2.weight", int64_t{128} * 128 * 9},
      {"pair_stacked", "fc1.weight", int64_t{100} * 32 * 28 * 14},
      {"dcgan64", "gen2.weight", int64_t{512} * 256 * 16},
      {"resnet50", "layer4.0.conv2.weight", int64_t{512} * 512 * 9},
      {"apparel_cnn", "dense1.weight", int64_t{1024} * 128 * 8 * 8},
  };
  return tensors;
}

// ---- buffers and their contents -------------------------------------------------------------

// A case's buffers and call are those of kernels/reference/op_cases.h, the description of each
// op's call that the op-table test shares.
using Buffer = reference::cases::CaseBuffer;
using BufferPointers = reference::cases::BufferPointers;

// A deterministic pseudo-random value in [-1, 1) for element i (a multiplicative hash).
inline float pattern_value(int64_t i) {
  uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return static_cast<float>(h & 0xffffu) / 32768.0f - 1.0f;
}

// Writes a buffer's drawn contents (op_cases.h's Draw): pattern_value(i) mapped into the range
// the case asks for (uniform in [lo, hi), the tie grid {-1, -0.5, 0, 0.5, 1}, class indices),
// outputs zero.
inline void draw_pattern(const Buffer& buffer, void* data) {
  using Kind = reference::cases::Content::Kind;
  const reference::cases::Content& content = buffer.content;
  if (buffer.type == reference::cases::ElementType::i32) {
    auto* out = static_cast<int32_t*>(data);
    for (int64_t i = 0; i < buffer.count; ++i) {
      out[i] = content.kind == Kind::class_index
                   ? static_cast<int32_t>((pattern_value(i) + 1.0f) * 0.5f * content.classes) %
                         content.classes
                   : 0;
    }
    return;
  }
  auto* out = static_cast<float*>(data);
  for (int64_t i = 0; i < buffer.count; ++i) {
    const float unit = 0.5f * (pattern_value(i) + 1.0f);  // in [0, 1)
    switch (content.kind) {
      case Kind::uniform:
        out[i] = content.lo + (content.hi - content.lo) * unit;
        break;
      case Kind::ties:
        out[i] = 0.5f * static_cast<float>(static_cast<int>(unit * 5.0f) - 2);
        break;
      default:
        out[i] = 0.0f;
        break;
    }
  }
}

// ---- the cases --------------------------------------------------------------------------------

struct KernelCase {
  std::string name;                          // OP/MODEL.LAYER/bBATCH
  KernelFamily family = KernelFamily::conv;  // for the CUDA and CPU programs: a vendor path?
  double flops = 0;                          // per call, 2 x multiply-adds (compute-bound kernels)
  double bytes = 0;                          // per call, read + written once (memory-bound kernels)
  reference::cases::OpCall call;             // the buffers (null where count is 0) and the call
};

// The first contents of every buffer of `c` on the host, in the order of c.call.buffers.
inline std::vector<std::vector<unsigned char>> host_contents(const KernelCase& c) {
  return reference::cases::first_contents(c.call, draw_pattern);
}

namespace detail {

namespace calls = reference::cases;

inline std::string case_name(const char* op, const char* model, const char* layer, int batch) {
  return std::string(op) + "/" + model + "." + layer + "/b" + std::to_string(batch);
}

inline KernelCase make_case(std::string name, double flops, double bytes, calls::OpCall call) {
  KernelCase c;
  c.name = std::move(name);
  c.family = op_family(call.op);
  c.flops = flops;
  c.bytes = bytes;
  c.call = std::move(call);
  return c;
}

inline void add_conv_cases(const ConvLayer& l, std::vector<KernelCase>& cases) {
  const Conv2dParams p = l.params();
  const int64_t y = int64_t{p.batch} * p.out_channels * p.out_h() * p.out_w();
  const double flops = 2.0 * y * p.in_channels * p.kernel_h * p.kernel_w;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  cases.push_back(make_case(name("conv2d_fwd"), flops, 0, calls::conv2d_forward(p, l.bias)));
  cases.push_back(make_case(name("conv2d_bwd_data"), flops, 0, calls::conv2d_backward_data(p)));
  cases.push_back(
      make_case(name("conv2d_bwd_filter"), flops, 0, calls::conv2d_backward_filter(p, l.bias)));
  // A layer with a bias: its backward-filter once more without the bias gradient, so that the
  // bias gradient's own time (with, minus without) can be read off for each implementation.
  if (l.bias) {
    cases.push_back(make_case(name("conv2d_bwd_filter_nobias"), flops, 0,
                              calls::conv2d_backward_filter(p, false)));
  }
}

inline void add_conv_transpose_cases(const ConvTransposeLayer& l, std::vector<KernelCase>& cases) {
  const ConvTranspose2dParams p = l.params();
  const int64_t x = int64_t{p.batch} * p.in_channels * p.in_h * p.in_w;
  const double flops = 2.0 * x * p.out_channels * p.kernel_h * p.kernel_w;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  cases.push_back(make_case(name("conv_transpose2d_fwd"), flops, 0,
                            calls::conv_transpose2d_forward(p, false)));
  cases.push_back(make_case(name("conv_transpose2d_bwd_data"), flops, 0,
                            calls::conv_transpose2d_backward_data(p)));
  cases.push_back(make_case(name("conv_transpose2d_bwd_filter"), flops, 0,
                            calls::conv_transpose2d_backward_filter(p, false)));
}

// Batch norm: the per-channel vectors are counted in the bytes, though they are small.
inline void add_batch_norm_cases(const BatchNormLayer& l, std::vector<KernelCase>& cases) {
  BatchNormParams p;
  p.batch = l.batch;
  p.channels = l.channels;
  p.spatial = l.h * l.w;
  p.eps = l.eps;
  const int64_t n = int64_t{p.batch} * p.channels * p.spatial;
  const int64_t c = p.channels;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  // x, gamma, beta in; y, save_mean, save_invstd out; running statistics read and written.
  cases.push_back(make_case(name("batch_norm_fwd_train"), 0, 4.0 * (2 * n + 8 * c),
                            calls::batch_norm_forward_train(p)));
  // dy, x, gamma, save_mean, save_invstd in; dx, dgamma, dbeta out. The saved statistics are
  // drawn directly: the backward's cost does not depend on their values.
  cases.push_back(make_case(name("batch_norm_bwd"), 0, 4.0 * (3 * n + 5 * c),
                            calls::batch_norm_backward(p, true)));
  // x, gamma, beta, running_mean, running_var in; y out.
  cases.push_back(make_case(name("batch_norm_fwd_eval"), 0, 4.0 * (2 * n + 4 * c),
                            calls::batch_norm_forward_eval(p)));
  // dy, x, gamma, running_mean, running_var in; dx, dgamma, dbeta out.
  cases.push_back(make_case(name("batch_norm_bwd_eval"), 0, 4.0 * (3 * n + 5 * c),
                            calls::batch_norm_backward_eval(p, true)));
}

inline void add_dropout_cases(const DropoutLayer& l, std::vector<KernelCase>& cases) {
  DropoutParams p;
  p.count = l.batch * l.features;
  p.p = l.p;
  p.seed = 1;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  cases.push_back(make_case(name("dropout_fwd"), 0, 8.0 * p.count, calls::dropout_forward(p)));
  cases.push_back(make_case(name("dropout_bwd"), 0, 8.0 * p.count, calls::dropout_backward(p)));
}

inline void add_linear_cases(const LinearLayer& l, std::vector<KernelCase>& cases) {
  const int n = l.batch, in = l.in_features, out = l.out_features;
  const double flops = 2.0 * n * in * out;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  cases.push_back(make_case(name("linear_fwd"), flops, 0, calls::linear_forward(n, in, out, true)));
  // dx = dy w and dw = dy^T x: two products of the forward's size; dbias as well.
  cases.push_back(
      make_case(name("linear_bwd"), 2 * flops, 0, calls::linear_backward(n, in, out, true, true)));
}

// x and the filter in, the pooled y and argmax out; the convolution's output is never stored.
inline void add_conv_max_pool_case(const ConvLayer& l, std::vector<KernelCase>& cases) {
  const Conv2dParams c = l.params();
  Pool2dParams p;
  p.batch = c.batch;
  p.channels = c.out_channels;
  p.in_h = c.out_h();
  p.in_w = c.out_w();
  p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
  p.activation = FusedActivation{FusedActivation::Kind::relu, 0.0f};
  // Bound by reading x and writing y and argmax (the narrow forward's 9-27 taps per output are
  // few), so counted in bytes, as the memory-bound kernels are.
  cases.push_back(make_case(case_name("conv2d_max_pool2d_fwd", l.model, l.layer, l.batch), 0,
                            4.0 * (c.input_count() + 2 * p.output_count()),
                            calls::conv2d_max_pool2d_forward(c, p, l.bias,
                                                             calls::Content::uniform(-1, 1))));
  // A first layer's dw and dbias from the pool's gradient, y and argmax (no full-size gradient
  // stored): against max_pool2d_bwd_relu plus conv2d_bwd_filter of the same layers.
  const double filter_flops = 2.0 * c.output_count() * c.in_channels * c.kernel_h * c.kernel_w;
  const std::string filter_name =
      case_name("conv2d_max_pool2d_bwd_filter", l.model, l.layer, l.batch);
  cases.push_back(make_case(filter_name, filter_flops, 0,
                            calls::conv2d_max_pool2d_backward_filter(
                                c, p, l.bias, calls::Content::uniform(-1, 1))));
}

inline void add_max_pool_cases(const PoolLayer& l, std::vector<KernelCase>& cases) {
  Pool2dParams p;
  p.batch = l.batch;
  p.channels = l.channels;
  p.in_h = l.h;
  p.in_w = l.w;
  p.kernel_h = p.kernel_w = l.kernel;
  p.stride_h = p.stride_w = l.stride;
  p.pad_h = p.pad_w = l.pad;
  const int64_t x = int64_t{p.batch} * p.channels * p.in_h * p.in_w;
  const int64_t y = int64_t{p.batch} * p.channels * p.out_h() * p.out_w();
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  // x in; y and argmax out.
  cases.push_back(
      make_case(name("max_pool2d_fwd"), 0, 4.0 * (x + 2 * y), calls::max_pool2d_forward(p)));
  // dy and argmax in, dx out. The argmax is derived on the host when the buffers are filled
  // (op_cases.h).
  cases.push_back(
      make_case(name("max_pool2d_bwd"), 0, 4.0 * (x + 2 * y), calls::max_pool2d_backward(p)));
  // With the ReLU before the pool fused into it (windows that do not overlap): y read as well.
  // Against max_pool2d_bwd plus the relu_bwd of the layer before, which it replaces.
  if (!p.windows_overlap()) {
    p.activation = FusedActivation{FusedActivation::Kind::relu, 0.0f};
    cases.push_back(make_case(name("max_pool2d_bwd_relu"), 0, 4.0 * (x + 3 * y),
                              calls::max_pool2d_backward(p)));
  }
}

inline void add_relu_cases(const ElementwiseLayer& l, std::vector<KernelCase>& cases) {
  const int64_t n = l.count();
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  cases.push_back(make_case(name("relu_fwd"), 0, 8.0 * n,
                            calls::activation_forward(Activation::relu, 0.0f, n)));
  // ReLU's backward reads x and dy (not y) and writes dx.
  cases.push_back(make_case(name("relu_bwd"), 0, 12.0 * n,
                            calls::activation_backward(Activation::relu, 0.0f, n)));
}

inline void add_add_case(const ElementwiseLayer& l, std::vector<KernelCase>& cases) {
  const int64_t n = l.count();
  BroadcastParams p;
  p.ndim = 1;
  p.out_shape[0] = n;
  p.a_strides[0] = p.b_strides[0] = 1;
  cases.push_back(make_case(case_name("add_fwd", l.model, l.layer, l.batch), 0, 12.0 * n,
                            calls::binary_forward(BinaryOp::add, p, n, n)));
}

inline void add_cross_entropy_cases(const LossLayer& l, std::vector<KernelCase>& cases) {
  const int n = l.batch, c = l.classes;
  const int64_t logits = int64_t{n} * c;
  const auto name = [&](const char* op) { return case_name(op, l.model, l.layer, l.batch); };
  // logits and targets in, the loss out.
  cases.push_back(make_case(name("cross_entropy_fwd"), 0, 4.0 * (logits + n + 1),
                            calls::cross_entropy_forward(n, c, false, 0.0f)));
  // logits, targets and the loss's gradient in, dlogits out.
  cases.push_back(make_case(name("cross_entropy_bwd"), 0, 4.0 * (2 * logits + n + 1),
                            calls::cross_entropy_backward(n, c, false, 0.0f, 1.0f)));
}

inline void add_adam_case(const ParameterTensor& t, std::vector<KernelCase>& cases) {
  AdamStep s;
  s.count = t.count;
  s.lr = 1e-3f;
  s.step = 10;
  // param, exp_avg, exp_avg_sq read and written, grad read.
  cases.push_back(make_case(std::string("adam_update/") + t.model + "." + t.name, 0,
                            28.0 * t.count, calls::adam_update(s)));
}

}  // namespace detail

// Every case, grouped by op family, each family in the order of its table.
inline std::vector<KernelCase> kernel_cases() {
  std::vector<KernelCase> cases;
  for (const ConvLayer& l : conv_layers()) detail::add_conv_cases(l, cases);
  for (const ConvLayer& l : sweep_conv_layers()) detail::add_conv_cases(l, cases);
  for (const ConvTransposeLayer& l : conv_transpose_layers()) {
    detail::add_conv_transpose_cases(l, cases);
  }
  for (const BatchNormLayer& l : batch_norm_layers()) detail::add_batch_norm_cases(l, cases);
  for (const DropoutLayer& l : dropout_layers()) detail::add_dropout_cases(l, cases);
  for (const LinearLayer& l : linear_layers()) detail::add_linear_cases(l, cases);
  for (const PoolLayer& l : max_pool_layers()) detail::add_max_pool_cases(l, cases);
  for (const ConvLayer& l : conv_max_pool_layers()) detail::add_conv_max_pool_case(l, cases);
  for (const ElementwiseLayer& l : relu_layers()) detail::add_relu_cases(l, cases);
  for (const ElementwiseLayer& l : add_layers()) detail::add_add_case(l, cases);
  for (const LossLayer& l : cross_entropy_layers()) detail::add_cross_entropy_cases(l, cases);
  for (const ParameterTensor& t : adam_tensors()) detail::add_adam_case(t, cases);
  return cases;
}

}  // namespace weft::bench
