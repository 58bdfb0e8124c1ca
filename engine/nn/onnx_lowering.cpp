// Lowering weft's layers to ONNX nodes (see onnx_lowering.h).
#include "engine/nn/onnx_lowering.h"

#include <cstring>

#include "kernels/error.h"

namespace weft::nn {

std::string child_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

void OnnxLowering::refuse(const Module& module, const std::string& path, const std::string& why) {
  throw Error("ONNX export: cannot export module '" + (path.empty() ? "(root)" : path) + "' (" +
              module.type_name() + "): " + why);
}

std::string OnnxLowering::unique_name(const std::string& base) {
  const int uses = name_uses_[base]++;
  return uses == 0 ? base : base + "_" + std::to_string(uses);
}

std::string OnnxLowering::add_node(const std::string& op_type,
                                   const std::vector<std::string>& inputs,
                                   const std::vector<onnx::Attribute>& attributes,
                                   const std::string& path) {
  const std::string name = unique_name((path.empty() ? "" : path + "/") + op_type);
  model_.nodes.push_back({op_type, name, inputs, {name}, attributes});
  return name;
}

std::string OnnxLowering::add_weight(const std::string& name, const Tensor& tensor) {
  if (weights_.count(name)) return name;
  WEFT_CHECK(tensor.dtype() == DType::f32, "ONNX export: ", name, " is ", tensor.str(),
             "; expected float32");
  const std::vector<float> values = tensor.to(Device::cpu()).to_vector<float>();
  onnx::Initializer initializer{name, onnx::ElementType::f32, tensor.shape(), {}};
  initializer.raw.resize(values.size() * sizeof(float));
  std::memcpy(initializer.raw.data(), values.data(), initializer.raw.size());
  model_.initializers.push_back(std::move(initializer));
  weights_[name] = true;
  return name;
}

std::string OnnxLowering::add_int64s(const std::string& name, const std::vector<int64_t>& values,
                                     const std::vector<int64_t>& dims) {
  const std::string unique = unique_name(name);
  onnx::Initializer initializer{unique, onnx::ElementType::i64, dims, {}};
  initializer.raw.resize(values.size() * sizeof(int64_t));
  std::memcpy(initializer.raw.data(), values.data(), initializer.raw.size());
  model_.initializers.push_back(std::move(initializer));
  return unique;
}

std::string OnnxLowering::add_conv(const Conv2d& conv, const std::string& path,
                                   const std::string& input, const std::vector<int64_t>& pads) {
  std::vector<std::string> inputs = {input, add_weight(child_path(path, "weight"), conv.weight)};
  if (conv.bias.defined()) inputs.push_back(add_weight(child_path(path, "bias"), conv.bias));
  const Conv2dOptions& o = conv.options;
  return add_node("Conv", inputs,
                  {{"kernel_shape", std::vector<int64_t>{conv.weight.dim(2), conv.weight.dim(3)}},
                   {"strides", std::vector<int64_t>{o.stride_h, o.stride_w}},
                   {"pads", pads},
                   {"dilations", std::vector<int64_t>{o.dilation_h, o.dilation_w}},
                   {"group", int64_t{1}}},
                  path);
}

std::string OnnxLowering::lower(const Module& module, const std::string& path,
                                const std::string& input) {
  if (const auto* sequential = exactly<Sequential>(module)) {
    std::string value = input;
    for (const auto& [name, child] : sequential->children())
      value = lower(*child, child_path(path, name), value);
    return value;
  }
  if (const auto* conv = exactly<Conv2d>(module)) {
    const Conv2dOptions& o = conv->options;
    return add_conv(*conv, path, input, {o.pad_h, o.pad_w, o.pad_h, o.pad_w});
  }
  if (const auto* deconv = exactly<ConvTranspose2d>(module)) {
    std::vector<std::string> inputs = {input,
                                       add_weight(child_path(path, "weight"), deconv->weight)};
    if (deconv->bias.defined())
      inputs.push_back(add_weight(child_path(path, "bias"), deconv->bias));
    const ConvTranspose2dOptions& o = deconv->options;
    return add_node(
        "ConvTranspose", inputs,
        {{"kernel_shape", std::vector<int64_t>{deconv->weight.dim(2), deconv->weight.dim(3)}},
         {"strides", std::vector<int64_t>{o.stride_h, o.stride_w}},
         {"pads", std::vector<int64_t>{o.pad_h, o.pad_w, o.pad_h, o.pad_w}},
         {"output_padding", std::vector<int64_t>{o.output_pad_h, o.output_pad_w}},
         {"dilations", std::vector<int64_t>{o.dilation_h, o.dilation_w}}},
        path);
  }
  if (const auto* norm = exactly<BatchNorm>(module)) {
    // Inference: normalised by the running statistics, as weft's eval mode does.
    return add_node("BatchNormalization",
                    {input, add_weight(child_path(path, "weight"), norm->weight),
                     add_weight(child_path(path, "bias"), norm->bias),
                     add_weight(child_path(path, "running_mean"), norm->running_mean),
                     add_weight(child_path(path, "running_var"), norm->running_var)},
                    {{"epsilon", norm->eps}}, path);
  }
  if (const auto* linear = exactly<Linear>(module)) {
    std::vector<std::string> inputs = {input,
                                       add_weight(child_path(path, "weight"), linear->weight)};
    if (linear->bias.defined())
      inputs.push_back(add_weight(child_path(path, "bias"), linear->bias));
    return add_node("Gemm", inputs, {{"transB", int64_t{1}}}, path);
  }
  const auto pool_attributes = [](const Pool2dOptions& o) {
    return std::vector<onnx::Attribute>{
        {"kernel_shape", std::vector<int64_t>{o.kernel_h, o.kernel_w}},
        {"strides", std::vector<int64_t>{o.stride_h, o.stride_w}},
        {"pads", std::vector<int64_t>{o.pad_h, o.pad_w, o.pad_h, o.pad_w}}};
  };
  if (const auto* pool = exactly<MaxPool2d>(module))
    return add_node("MaxPool", {input}, pool_attributes(pool->options), path);
  if (const auto* pool = exactly<AvgPool2d>(module)) {
    std::vector<onnx::Attribute> attributes = pool_attributes(pool->options);
    attributes.push_back({"count_include_pad", int64_t{pool->options.count_include_pad ? 1 : 0}});
    return add_node("AveragePool", {input}, attributes, path);
  }
  if (exactly<GlobalAvgPool2d>(module))
    return add_node("Flatten", {add_node("GlobalAveragePool", {input}, {}, path)},
                    {{"axis", int64_t{1}}}, path);
  if (exactly<Flatten>(module)) return add_node("Flatten", {input}, {{"axis", int64_t{1}}}, path);
  if (exactly<Dropout>(module) || exactly<Identity>(module)) return input;
  if (exactly<ReLU>(module)) return add_node("Relu", {input}, {}, path);
  if (const auto* leaky = exactly<LeakyReLU>(module))
    return add_node("LeakyRelu", {input}, {{"alpha", leaky->negative_slope}}, path);
  if (const auto* elu = exactly<ELU>(module))
    return add_node("Elu", {input}, {{"alpha", elu->alpha}}, path);
  if (exactly<Sigmoid>(module)) return add_node("Sigmoid", {input}, {}, path);
  if (exactly<Tanh>(module)) return add_node("Tanh", {input}, {}, path);
  refuse(module, path,
         "no ONNX lowering for this module type (weft lowers Sequential, Conv2d, "
         "ConvTranspose2d, BatchNorm2d/1d, Linear, MaxPool2d, AvgPool2d, GlobalAvgPool2d, "
         "Flatten, Dropout, Identity, ReLU, LeakyReLU, ELU, Sigmoid, Tanh and the seed models)");
}

}  // namespace weft::nn
