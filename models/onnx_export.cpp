// ONNX export of the seed models (see onnx_export.h): the seed models' own modules lowered on
// top of engine/nn/onnx_lowering.h, the graph's inputs and outputs, and the metadata.
#include "models/onnx_export.h"

#include <nlohmann/json.hpp>

#include "engine/nn/onnx_lowering.h"
#include "kernels/error.h"
#include "models/apparel_cnn.h"
#include "models/dcgan.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/fashion_vgg.h"
#include "models/pair_cnn.h"
#include "models/resnet.h"
#include "models/simple_cnn.h"

namespace weft::models {
namespace {

using nn::child_path;
using nn::exactly;

constexpr int kFashionResNetDefaultSize = 28;
const onnx::Dimension kBatch = std::string("batch");

class SeedModelLowering : public nn::OnnxLowering {
 public:
  std::string lower(const nn::Module& module, const std::string& path,
                    const std::string& input) override {
    if (const auto* conv = exactly<KerasSameConv2d>(module)) {
      // Keras "same": the convolution padded k/2 on every side with its first (k + 1) % 2 rows
      // and columns dropped is the convolution padded (k - 1) / 2 before and k / 2 after.
      const Conv2dOptions& o = conv->options;
      const int64_t crop_h = conv->weight.dim(2) % 2 == 0, crop_w = conv->weight.dim(3) % 2 == 0;
      return add_conv(*conv, path, input, {o.pad_h - crop_h, o.pad_w - crop_w, o.pad_h, o.pad_w});
    }
    if (const auto* cnn = exactly<FashionCnn>(module)) return sequential_pair(*cnn, path, input);
    if (const auto* cnn = exactly<SimpleCnn>(module)) return sequential_pair(*cnn, path, input);
    if (const auto* cnn = exactly<ApparelCnn>(module)) return sequential_pair(*cnn, path, input);
    if (const auto* block = exactly<BasicBlock>(module)) {
      std::string out = relu(conv_bn(*block->conv1, *block->bn1, path, "1", input), path);
      out = conv_bn(*block->conv2, *block->bn2, path, "2", out);
      return residual(out, block->downsample.get(), path, input);
    }
    if (const auto* block = exactly<Bottleneck>(module)) {
      std::string out = relu(conv_bn(*block->conv1, *block->bn1, path, "1", input), path);
      out = relu(conv_bn(*block->conv2, *block->bn2, path, "2", out), path);
      out = conv_bn(*block->conv3, *block->bn3, path, "3", out);
      return residual(out, block->downsample.get(), path, input);
    }
    if (const auto* resnet = exactly<ResNet>(module)) {
      std::string x = relu(conv_bn(*resnet->conv1, *resnet->bn1, path, "1", input), path);
      if (!resnet->options().small_input) {
        // torchvision's stem pool, 3x3 stride 2 pad 1 (models/resnet.cpp).
        x = add_node("MaxPool", {x},
                     {{"kernel_shape", std::vector<int64_t>{3, 3}},
                      {"strides", std::vector<int64_t>{2, 2}},
                      {"pads", std::vector<int64_t>{1, 1, 1, 1}}},
                     path);
      }
      for (size_t i = 0; i < resnet->layers.size(); ++i)
        x = lower(*resnet->layers[i], child_path(path, "layer" + std::to_string(i + 1)), x);
      return lower(*resnet->fc, child_path(path, "fc"), global_pool(x, path));
    }
    if (const auto* resnet = exactly<FashionResNet>(module)) {
      std::string x = relu(conv_bn(*resnet->conv1, *resnet->bn1, path, "1", input), path);
      for (size_t i = 0; i < resnet->layers.size(); ++i)
        x = lower(*resnet->layers[i], child_path(path, "layer" + std::to_string(i + 1)), x);
      return lower(*resnet->fc, child_path(path, "fc"), global_pool(x, path));
    }
    if (const auto* vgg = exactly<FashionVgg>(module)) {
      std::string x = input;
      if (vgg->whiten) x = relu(lower(*vgg->whiten, child_path(path, "whiten"), x), path);
      x = lower(*vgg->features, child_path(path, "features"), x);
      // FashionVgg::forward's max over the whole last map.
      x = add_node("Flatten", {add_node("GlobalMaxPool", {x}, {}, path)}, {{"axis", int64_t{1}}},
                   path);
      return lower(*vgg->fc, child_path(path, "fc"), x);
    }
    if (const auto* tower = exactly<SiameseTower>(module)) return trunk(tower->trunk, path, input);
    return nn::OnnxLowering::lower(module, path, input);
  }

  // The stacked and channel models: the photos joined as PairCnn::forward_pair joins them.
  std::string pair_cnn(const PairCnn& model, const std::string& left, const std::string& right) {
    const int64_t axis = model.config().input == PairInput::stacked ? 2 : 1;
    const std::string joined = add_node("Concat", {left, right}, {{"axis", axis}}, "");
    return lower(*model.fc2, "fc2", trunk(model.trunk, "", joined));
  }

  // SiameseNet::compare on the tower's two embeddings: concat(|a - b|, a * b) -> head.
  std::string siamese(const SiameseNet& model, const std::string& left, const std::string& right) {
    const std::string a = lower(*model.tower, "tower", left);
    const std::string b = lower(*model.tower, "tower", right);
    const std::string distance = add_node("Abs", {add_node("Sub", {a, b}, {}, "")}, {}, "");
    const std::string product = add_node("Mul", {a, b}, {}, "");
    const std::string joined = add_node("Concat", {distance, product}, {{"axis", int64_t{1}}}, "");
    return lower(*model.head, "head", joined);
  }

  // int64 labels [N] -> float one-hot rows [N, classes]: Equal against 0..classes-1, Cast.
  std::string one_hot(const std::string& labels, int classes) {
    std::vector<int64_t> range(static_cast<size_t>(classes));
    for (int k = 0; k < classes; ++k) range[static_cast<size_t>(k)] = k;
    const std::string column = add_node(
        "Unsqueeze", {labels, add_int64s("label_axis", {1}, {1})}, {}, "labels");
    const std::string equal =
        add_node("Equal", {column, add_int64s("class_indices", range, {classes})}, {}, "labels");
    return add_node("Cast", {equal}, {{"to", int64_t{1}}}, "labels");
  }

  // [N, C] -> [N, C, 1, 1]
  std::string to_planes(const std::string& x, const std::string& path) {
    return add_node("Unsqueeze", {x, add_int64s("plane_axes", {2, 3}, {2})}, {}, path);
  }

  std::string generator(const DcganGenerator& model, const std::string& noise,
                        const std::string& labels) {
    std::string codes = noise;
    if (model.config.num_classes > 0) {
      codes = add_node("Concat", {noise, one_hot(labels, model.config.num_classes)},
                       {{"axis", int64_t{1}}}, "");
    }
    return lower(*model.main, "main", to_planes(codes, ""));
  }

  std::string discriminator(const DcganDiscriminator& model, const std::string& images,
                            const std::string& labels) {
    std::string x = images;
    if (model.config.num_classes > 0) {
      // Plane k all ones for label k (models/dcgan.cpp, one_hot_planes).
      const int64_t k = model.config.num_classes, side = model.config.image_size;
      const std::string planes = add_node(
          "Expand", {to_planes(one_hot(labels, model.config.num_classes), "labels"),
                     add_int64s("plane_shape", {1, k, side, side}, {4})},
          {}, "labels");
      x = add_node("Concat", {images, planes}, {{"axis", int64_t{1}}}, "");
    }
    return add_node("Flatten", {lower(*model.main, "main", x)}, {{"axis", int64_t{1}}}, "");
  }

 private:
  template <typename Model>
  std::string sequential_pair(const Model& model, const std::string& path,
                              const std::string& input) {
    const std::string features = lower(*model.features, child_path(path, "features"), input);
    return lower(*model.classifier, child_path(path, "classifier"), features);
  }

  std::string relu(const std::string& x, const std::string& path) {
    return add_node("Relu", {x}, {}, path);
  }

  // conv<n> -> bn<n> of a residual block or stem.
  std::string conv_bn(const nn::Conv2d& conv, const nn::BatchNorm& bn, const std::string& path,
                      const std::string& n, const std::string& input) {
    return lower(bn, child_path(path, "bn" + n), lower(conv, child_path(path, "conv" + n), input));
  }

  std::string residual(const std::string& out, const nn::Sequential* downsample,
                       const std::string& path, const std::string& input) {
    const std::string identity =
        downsample ? lower(*downsample, child_path(path, "downsample"), input) : input;
    return relu(add_node("Add", {out, identity}, {}, path), path);
  }

  std::string global_pool(const std::string& x, const std::string& path) {
    return add_node("Flatten", {add_node("GlobalAveragePool", {x}, {}, path)},
                    {{"axis", int64_t{1}}}, path);
  }

  // ConvTrunk::forward: four (conv -> [bn] -> ReLU -> max-pool 2x2) blocks, flatten, fc1,
  // [bn_fc1], ReLU.
  std::string trunk(const ConvTrunk& trunk, const std::string& path, const std::string& input) {
    std::string h = input;
    for (size_t i = 0; i < trunk.convs.size(); ++i) {
      const std::string n = std::to_string(i + 1);
      h = lower(*trunk.convs[i], child_path(path, "conv" + n), h);
      if (trunk.norms[i]) h = lower(*trunk.norms[i], child_path(path, "bn" + n), h);
      h = add_node("MaxPool", {relu(h, path)},
                   {{"kernel_shape", std::vector<int64_t>{2, 2}},
                    {"strides", std::vector<int64_t>{2, 2}},
                    {"pads", std::vector<int64_t>{0, 0, 0, 0}}},
                   child_path(path, "pool" + n));
    }
    h = lower(*trunk.fc1, child_path(path, "fc1"),
              add_node("Flatten", {h}, {{"axis", int64_t{1}}}, path));
    if (trunk.bn_fc1) h = lower(*trunk.bn_fc1, child_path(path, "bn_fc1"), h);
    return relu(h, path);
  }
};

int resnet_input_size(const OnnxExportOptions& options) {
  WEFT_CHECK(options.image_size > 0, "ONNX export of a ResNet needs the input image size ",
             "(OnnxExportOptions::image_size), got ", options.image_size);
  return options.image_size;
}

struct OutputDescription {
  std::string name;
  std::vector<int64_t> shape;  // after the batch dimension
  std::string description;     // for the metadata
};

OutputDescription output_of(const nn::Module& model) {
  if (const auto* m = exactly<ApparelCnn>(model))
    return {"probabilities", {m->config.labels},
            "independent label probabilities (sigmoid of the logits)"};
  if (const auto* m = exactly<DcganGenerator>(model))
    return {"images", {m->config.channels, m->config.image_size, m->config.image_size},
            "images in (-1, 1); pixel = round((x + 1) * 127.5)"};
  if (exactly<DcganDiscriminator>(model))
    return {"logits", {1}, "one logit per image, real when positive (sigmoid gives P(real))"};
  if (dynamic_cast<const PairModel*>(&model))
    return {"logits", {2}, "two logits per pair, class 1 = same pair (softmax gives P)"};
  int64_t classes = 0;
  if (const auto* m = exactly<FashionCnn>(model)) classes = m->config.classes;
  if (const auto* m = exactly<FashionResNet>(model)) classes = m->config.classes;
  if (const auto* m = exactly<FashionVgg>(model)) classes = m->config.classes;
  if (const auto* m = exactly<SimpleCnn>(model)) classes = m->config.classes;
  if (const auto* m = exactly<ResNet>(model)) classes = m->options().num_classes;
  return {"logits", {classes}, "class logits (softmax gives class probabilities)"};
}

std::string json_list(const std::vector<float>& values) {
  return nlohmann::json(values).dump();
}

}  // namespace

std::vector<OnnxInput> onnx_inputs(const nn::Module& model, const OnnxExportOptions& options) {
  using onnx::ElementType;
  if (exactly<FashionCnn>(model)) return {{"images", ElementType::f32, {1, 28, 28}}};
  if (const auto* m = exactly<FashionVgg>(model)) {
    const int64_t side = options.image_size > 0 ? options.image_size : kFashionResNetDefaultSize;
    return {{"images", ElementType::f32, {m->config.in_channels, side, side}}};
  }
  if (const auto* m = exactly<FashionResNet>(model)) {
    const int64_t side = options.image_size > 0 ? options.image_size : kFashionResNetDefaultSize;
    return {{"images", ElementType::f32, {m->config.in_channels, side, side}}};
  }
  if (const auto* m = exactly<SimpleCnn>(model))
    return {{"images", ElementType::f32, {m->config.in_channels, m->config.height, m->config.width}}};
  if (const auto* m = exactly<ResNet>(model)) {
    const int64_t side = resnet_input_size(options);
    return {{"images", ElementType::f32, {m->options().in_channels, side, side}}};
  }
  if (const auto* m = exactly<ApparelCnn>(model)) {
    const int64_t side = m->config.image_size;
    return {{"images", ElementType::f32, {m->config.in_channels, side, side}}};
  }
  if (const auto* m = dynamic_cast<const PairModel*>(&model)) {
    const PairCnnConfig& c = m->config();
    const std::vector<int64_t> photo = {c.image_channels, c.image_height, c.image_width};
    return {{"left", ElementType::f32, photo}, {"right", ElementType::f32, photo}};
  }
  if (const auto* m = exactly<DcganGenerator>(model)) {
    std::vector<OnnxInput> inputs = {{"noise", ElementType::f32, {m->config.z_dim}}};
    if (m->config.num_classes > 0) inputs.push_back({"labels", ElementType::i64, {}});
    return inputs;
  }
  if (const auto* m = exactly<DcganDiscriminator>(model)) {
    const int64_t side = m->config.image_size;
    std::vector<OnnxInput> inputs = {{"images", ElementType::f32, {m->config.channels, side, side}}};
    if (m->config.num_classes > 0) inputs.push_back({"labels", ElementType::i64, {}});
    return inputs;
  }
  throw Error("ONNX export: no input description for a " + model.type_name() +
              " (exportable models: FashionCnn, FashionResNet, FashionVgg, SimpleCnn, ResNet, "
              "ApparelCnn, PairCnn, SiameseNet, DcganGenerator, DcganDiscriminator)");
}

onnx::Model to_onnx(const nn::Module& model, const OnnxExportOptions& options) {
  const std::vector<OnnxInput> inputs = onnx_inputs(model, options);
  SeedModelLowering lowering;
  onnx::Model& graph = lowering.model();
  graph.graph_name = model.type_name();
  nlohmann::ordered_json input_shapes = nlohmann::ordered_json::object();
  for (const OnnxInput& input : inputs) {
    onnx::ValueInfo value{input.name, input.type, {kBatch}};
    for (int64_t d : input.shape) value.dims.push_back(d);
    graph.inputs.push_back(value);
    input_shapes[input.name] = input.shape;
  }
  const std::string second = inputs.size() > 1 ? inputs[1].name : "";
  std::string result;
  if (const auto* pair = exactly<PairCnn>(model)) {
    result = lowering.pair_cnn(*pair, "left", "right");
  } else if (const auto* net = exactly<SiameseNet>(model)) {
    result = lowering.siamese(*net, "left", "right");
  } else if (const auto* g = exactly<DcganGenerator>(model)) {
    result = lowering.generator(*g, "noise", second);
  } else if (const auto* d = exactly<DcganDiscriminator>(model)) {
    result = lowering.discriminator(*d, "images", second);
  } else {
    result = lowering.lower(model, "", inputs.front().name);
  }
  const OutputDescription output = output_of(model);
  if (exactly<ApparelCnn>(model)) result = lowering.add_node("Sigmoid", {result}, {}, "");
  // The last node's output takes the output's name.
  WEFT_CHECK(!graph.nodes.empty() && graph.nodes.back().outputs.front() == result,
             "ONNX export of ", model.type_name(), ": the graph does not end in a node");
  graph.nodes.back().outputs.front() = output.name;
  onnx::ValueInfo output_value{output.name, onnx::ElementType::f32, {kBatch}};
  for (int64_t d : output.shape) output_value.dims.push_back(d);
  graph.outputs.push_back(output_value);

  graph.doc_string = "weft " + model.type_name() + ", exported for inference";
  graph.metadata.emplace_back("weft_model", model.type_name());
  graph.metadata.emplace_back("input_size", nlohmann::json(inputs.front().shape).dump());
  graph.metadata.emplace_back("inputs", input_shapes.dump());
  graph.metadata.emplace_back("output", output.name + ": " + output.description);
  graph.metadata.emplace_back("normalization_scale", nlohmann::json(options.normalize.scale).dump());
  graph.metadata.emplace_back("normalization_mean",
                              json_list(options.normalize.mean.empty() ? std::vector<float>{0.0f}
                                                                       : options.normalize.mean));
  graph.metadata.emplace_back("normalization_std",
                              json_list(options.normalize.std.empty() ? std::vector<float>{1.0f}
                                                                      : options.normalize.std));
  graph.metadata.emplace_back(
      "preprocessing",
      exactly<DcganGenerator>(model)
          ? "noise: standard normal, float32; the output images are normalised pixels, so pixel "
            "= (x * normalization_std + normalization_mean) / normalization_scale"
          : "input = (pixel * normalization_scale - normalization_mean) / normalization_std per "
            "channel; pixels 0-255, NCHW, float32");
  if (!options.class_names.empty())
    graph.metadata.emplace_back("class_names", nlohmann::json(options.class_names).dump());
  for (const auto& [key, value] : options.metadata) graph.metadata.emplace_back(key, value);
  return graph;
}

void export_onnx(const nn::Module& model, const std::string& path,
                 const OnnxExportOptions& options) {
  onnx::write_model(path, to_onnx(model, options));
}

}  // namespace weft::models
