// ONNX export of weft's models: the inference graph (eval mode: batch norm on its running
// statistics, dropout off) with the weights, named inputs and outputs, a symbolic batch
// dimension, and the preprocessing the model expects in metadata_props. `--export-onnx FILE`
// in the apps calls export_onnx (apps/common/export_onnx.h); docs/onnx.md has the lowering table,
// the IR and opset versions, and why the protobuf is written by hand.
//
//   models::OnnxExportOptions options;
//   options.class_names = data::kFashionMnistClasses;
//   options.normalize = {.scale = 1.0f / 255, .mean = {0.5f}, .std = {0.5f}};
//   models::export_onnx(model, "model.onnx", options);
//
// Every seed model exports, each with these inputs (shapes after the batch dimension "batch"):
//   FashionCnn, FashionResNet, SimpleCnn, ResNet-18/50   images [C, H, W] -> logits [classes]
//   ApparelCnn                  images [C, S, S] -> probabilities [labels] (a Sigmoid is added)
//   PairCnn (stacked, channels) left, right [C, H, W] -> logits [2] (joined inside the graph)
//   SiameseNet                  left, right [C, H, W] -> logits [2] (the tower's weights once)
//   DcganGenerator              noise [z] (and labels int64 [], conditional) -> images [C, S, S]
//   DcganDiscriminator          images [C, S, S] (and labels int64 []) -> logits [1]
// The plain layers are engine/nn/onnx_lowering.h's; this file adds the seed models' own
// modules. Anything else is refused with a weft::Error naming the module's path and type.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/data/augment.h"
#include "engine/io/onnx_model.h"
#include "engine/nn/module.h"

namespace weft::models {

struct OnnxExportOptions {
  // Side of the (square) input images, for the models whose size is not part of their config:
  // ResNet-18/50 (required) and FashionResNet (default 28). Ignored by the others.
  int image_size = 0;
  // Recorded in metadata_props as "class_names" (a JSON list) when not empty.
  std::vector<std::string> class_names{};
  // The preprocessing, recorded as "normalization_scale", "normalization_mean" and
  // "normalization_std": input = (pixel * scale - mean) / std per channel, pixels 0-255, NCHW.
  // For the DCGAN generator it describes the output images the same way.
  data::Normalize normalize{};
  // Further metadata_props ("app", the app's settings, ...).
  std::map<std::string, std::string> metadata{};
};

// One input of the exported graph; `shape` leaves out the leading batch dimension.
struct OnnxInput {
  std::string name;
  onnx::ElementType type = onnx::ElementType::f32;
  std::vector<int64_t> shape;
};

// The inputs the export of `model` has, in order.
std::vector<OnnxInput> onnx_inputs(const nn::Module& model, const OnnxExportOptions& options);

// The graph of `model` (lowered, nothing written); weft::Error for a module it cannot export.
onnx::Model to_onnx(const nn::Module& model, const OnnxExportOptions& options);

// to_onnx written atomically to `path`.
void export_onnx(const nn::Module& model, const std::string& path,
                 const OnnxExportOptions& options);

}  // namespace weft::models
