// Lowering weft's layers (engine/nn/layers.h) to ONNX nodes: one module at a time, through the
// Module tree, with no forward pass and no change to the ops. Each layer becomes standard ONNX:
//
//   Conv2d -> Conv            ConvTranspose2d -> ConvTranspose   BatchNorm2d/1d -> BatchNormalization
//   Linear -> Gemm (transB)   MaxPool2d -> MaxPool               AvgPool2d -> AveragePool
//   GlobalAvgPool2d -> GlobalAveragePool + Flatten               Flatten -> Flatten (axis 1)
//   ReLU, LeakyReLU, ELU, Sigmoid, Tanh -> the ONNX op of that name
//   Dropout, Identity -> nothing (inference)                     Sequential -> its children in order
//
// Weights become initializers named by their state-dict path ("features.0.weight"), each written
// once however often it is used (the siamese tower). Layer types are matched exactly, so a
// subclass with its own forward (models/apparel_cnn.h's KerasSameConv2d) is never mistaken for
// its base; a module this class does not know is refused with a weft::Error naming its path and
// type. models/onnx_export.h derives from it to lower the seed models' own modules (residual
// blocks, the pair and GAN models) and to write the file.
#pragma once

#include <map>
#include <string>
#include <typeinfo>
#include <vector>

#include "engine/io/onnx_model.h"
#include "engine/nn/layers.h"

namespace weft::nn {

class OnnxLowering {
 public:
  virtual ~OnnxLowering() = default;

  // Lower `module`, found at `path` in the model's state dict ("" for the root), applied to the
  // value named `input`; returns the name of the value it produces.
  virtual std::string lower(const Module& module, const std::string& path,
                            const std::string& input);

  // A node with one output; the output (and the node) are named after `path` and `op_type`,
  // made unique.
  std::string add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                       const std::vector<onnx::Attribute>& attributes, const std::string& path);
  // A float32 initializer named `name` holding `tensor` (copied to the host); added once per
  // name, so a parameter used twice is stored once.
  std::string add_weight(const std::string& name, const Tensor& tensor);
  // An int64 initializer holding `values` (shapes, axes), with a unique name built from `name`.
  std::string add_int64s(const std::string& name, const std::vector<int64_t>& values,
                         const std::vector<int64_t>& dims);
  // A Conv node for `conv` with explicit pads [top, left, bottom, right].
  std::string add_conv(const Conv2d& conv, const std::string& path, const std::string& input,
                       const std::vector<int64_t>& pads);

  // weft::Error: `module` at `path` cannot be exported, and why.
  [[noreturn]] static void refuse(const Module& module, const std::string& path,
                                  const std::string& why);

  onnx::Model& model() { return model_; }

 private:
  std::string unique_name(const std::string& base);

  onnx::Model model_;
  std::map<std::string, int> name_uses_;
  std::map<std::string, bool> weights_;
};

// `module` as a T when its type is exactly T (not a subclass), else null.
template <typename T>
const T* exactly(const Module& module) {
  return typeid(module) == typeid(T) ? static_cast<const T*>(&module) : nullptr;
}

// "parent.child", or "child" under the root.
std::string child_path(const std::string& path, const std::string& name);

}  // namespace weft::nn
