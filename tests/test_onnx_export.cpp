// The ONNX export without ONNX: the hand-written protobuf wire format against encodings known
// from the protobuf documentation (varints, keys, strings, floats, negative int64), the reader
// refusing truncated input, a FashionCnn export parsed back field by field (IR version, opset,
// node sequence, weights byte for byte, the symbolic batch dimension, metadata), the siamese
// tower's weights stored once, Keras "same" padding as asymmetric pads, and the refusals, each
// naming the module that cannot be exported. ONNX Runtime itself checks every seed model in
// tests/onnx/check_onnx_export.py.
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/io/onnx_model.h"
#include "engine/io/protobuf_wire.h"
#include "engine/nn/onnx_lowering.h"
#include "models/apparel_cnn.h"
#include "models/dcgan_training.h"
#include "models/fashion_cnn.h"
#include "models/onnx_export.h"
#include "models/pair_cnn.h"
#include "models/resnet.h"

namespace {

using Catch::Matchers::Contains;
using weft::io::ProtoReader;
using weft::io::ProtoWriter;
using weft::io::WireType;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string varint(uint64_t value) {
  std::string out;
  ProtoWriter::append_varint(out, value);
  return out;
}

// Every field of a message, by number, in order.
std::multimap<int, weft::io::ProtoField> fields_of(std::string_view message) {
  std::multimap<int, weft::io::ProtoField> fields;
  ProtoReader reader(message);
  while (!reader.done()) {
    const weft::io::ProtoField field = reader.next();
    fields.emplace(field.number, field);
  }
  return fields;
}

std::vector<std::string> strings_of(std::string_view message, int number) {
  std::vector<std::string> out;
  for (const auto& [n, field] : fields_of(message))
    if (n == number) out.emplace_back(field.bytes);
  return out;
}

std::string string_of(std::string_view message, int number) {
  const auto fields = fields_of(message);
  const auto found = fields.find(number);
  REQUIRE(found != fields.end());
  return std::string(found->second.bytes);
}

}  // namespace

TEST_CASE("protobuf wire format: known encodings", "[onnx]") {
  CHECK(hex(varint(0)) == "00");
  CHECK(hex(varint(1)) == "01");
  CHECK(hex(varint(127)) == "7f");
  CHECK(hex(varint(128)) == "80 01");
  CHECK(hex(varint(300)) == "ac 02");
  CHECK(hex(varint(UINT64_MAX)) == "ff ff ff ff ff ff ff ff ff 01");

  ProtoWriter a;  // the protobuf documentation's examples
  a.add_varint(1, 150);
  CHECK(hex(a.bytes()) == "08 96 01");
  ProtoWriter b;
  b.add_bytes(2, "testing");
  CHECK(hex(b.bytes()) == "12 07 74 65 73 74 69 6e 67");
  ProtoWriter c;
  c.add_message(3, a);
  CHECK(hex(c.bytes()) == "1a 03 08 96 01");
  ProtoWriter d;
  d.add_float(2, 1.0f);
  CHECK(hex(d.bytes()) == "15 00 00 80 3f");
  ProtoWriter e;
  e.add_int64(1, -1);
  CHECK(hex(e.bytes()) == "08 ff ff ff ff ff ff ff ff ff 01");
  ProtoWriter f;
  f.add_varint(20, 7);  // field numbers above 15 take a two-byte key
  CHECK(hex(f.bytes()) == "a0 01 07");
}

TEST_CASE("protobuf wire format: the reader reads back what the writer wrote", "[onnx]") {
  ProtoWriter inner;
  inner.add_int64(1, -5);
  ProtoWriter w;
  w.add_varint(1, 300);
  w.add_bytes(2, "weft");
  w.add_float(3, -2.5f);
  w.add_message(4, inner);
  ProtoReader r(w.bytes());
  weft::io::ProtoField field = r.next();
  CHECK((field.number == 1 && field.type == WireType::varint && field.varint == 300));
  field = r.next();
  CHECK((field.number == 2 && field.type == WireType::length_delimited && field.bytes == "weft"));
  field = r.next();
  float value = 0;
  const auto bits = static_cast<uint32_t>(field.varint);
  std::memcpy(&value, &bits, sizeof(value));
  CHECK((field.number == 3 && field.type == WireType::fixed32 && value == -2.5f));
  field = r.next();
  REQUIRE(field.number == 4);
  CHECK(static_cast<int64_t>(ProtoReader(field.bytes).next().varint) == -5);
  CHECK(r.done());

  // Truncated: a length that runs past the end, a varint cut short, an unknown wire type.
  CHECK_THROWS_WITH(ProtoReader(std::string("\x12\x07te", 4)).next(), Contains("7 bytes, 2 left"));
  CHECK_THROWS_WITH(ProtoReader(std::string("\x08\x96", 2)).next(), Contains("past the end"));
  CHECK_THROWS_WITH(ProtoReader(std::string("\x0b", 1)).next(), Contains("wire type 3"));
}

TEST_CASE("onnx export: a FashionCnn parses back as the ModelProto it describes", "[onnx]") {
  weft::models::FashionCnn model({.filters = 4, .dropout = 0.3f, .hidden = 8, .classes = 10});
  weft::models::OnnxExportOptions options;
  options.class_names = weft::data::kFashionMnistClasses;
  options.normalize = {.scale = 1.0f / 255.0f, .mean = {0.5f}, .std = {0.25f}};
  options.metadata["app"] = "fashion-mnist";
  const std::string bytes = weft::onnx::serialize(weft::models::to_onnx(model, options));

  const auto top = fields_of(bytes);
  CHECK(top.find(1)->second.varint == 8);  // ir_version
  CHECK(string_of(bytes, 2) == "weft");    // producer_name
  const std::string opset = string_of(bytes, 8);
  CHECK(string_of(opset, 1).empty());  // the default domain
  CHECK(fields_of(opset).find(2)->second.varint == 17);

  std::map<std::string, std::string> metadata;
  for (const std::string& entry : strings_of(bytes, 14))
    metadata[string_of(entry, 1)] = string_of(entry, 2);
  CHECK(metadata.at("class_names").find("\"Ankle boot\"") != std::string::npos);
  CHECK(metadata.at("input_size") == "[1,28,28]");
  CHECK(metadata.at("normalization_mean") == "[0.5]");
  CHECK(metadata.at("normalization_std") == "[0.25]");
  CHECK(metadata.at("weft_model") == "FashionCnn");
  CHECK(metadata.at("app") == "fashion-mnist");

  const std::string graph = string_of(bytes, 7);
  std::vector<std::string> ops;
  for (const std::string& node : strings_of(graph, 1)) ops.push_back(string_of(node, 4));
  // Dropout is gone: inference.
  CHECK(ops == std::vector<std::string>{"Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu",
                                        "Gemm"});
  CHECK(strings_of(strings_of(graph, 1).back(), 2) == std::vector<std::string>{"logits"});

  // Every parameter once, under its state-dict name, its values byte for byte.
  std::map<std::string, std::string> raw;
  for (const std::string& tensor : strings_of(graph, 5)) {
    CHECK(fields_of(tensor).find(2)->second.varint == 1);  // FLOAT
    raw[string_of(tensor, 8)] = string_of(tensor, 9);
  }
  REQUIRE(raw.size() == model.named_parameters().size());
  for (const auto& [name, tensor] : model.named_parameters()) {
    const std::vector<float> values = tensor.to_vector<float>();
    REQUIRE(raw.count(name));
    CHECK(raw[name].size() == values.size() * sizeof(float));
    CHECK(std::memcmp(raw[name].data(), values.data(), raw[name].size()) == 0);
  }

  // Input "images" [batch, 1, 28, 28]: ValueInfo -> TypeProto -> Tensor -> shape -> dims.
  const std::vector<std::string> inputs = strings_of(graph, 11);
  REQUIRE(inputs.size() == 1);
  CHECK(string_of(inputs[0], 1) == "images");
  const std::string shape = string_of(string_of(string_of(inputs[0], 2), 1), 2);
  const std::vector<std::string> dims = strings_of(shape, 1);
  REQUIRE(dims.size() == 4);
  CHECK(string_of(dims[0], 2) == "batch");
  CHECK(fields_of(dims[1]).find(1)->second.varint == 1);
  CHECK(fields_of(dims[3]).find(1)->second.varint == 28);
}

TEST_CASE("onnx export: the siamese tower's weights are stored once and used twice", "[onnx]") {
  auto model = weft::models::make_pair_model(weft::models::siamese_config(16, 16));
  const weft::onnx::Model graph = weft::models::to_onnx(*model, {});
  int stored = 0, used = 0;
  for (const auto& tensor : graph.initializers) stored += tensor.name == "tower.conv1.weight";
  for (const auto& node : graph.nodes)
    for (const auto& input : node.inputs) used += input == "tower.conv1.weight";
  CHECK(stored == 1);
  CHECK(used == 2);
  REQUIRE(graph.inputs.size() == 2);
  CHECK(graph.inputs[0].name == "left");
  CHECK(graph.inputs[1].name == "right");
}

TEST_CASE("onnx export: Keras 'same' padding of an even kernel becomes asymmetric pads",
          "[onnx]") {
  weft::models::ApparelCnn model({3, 24, 6});
  const weft::onnx::Model graph = weft::models::to_onnx(model, {});
  std::vector<std::vector<int64_t>> pads;
  for (const auto& node : graph.nodes)
    if (node.op_type == "Conv")
      for (const auto& attribute : node.attributes)
        if (attribute.name == "pads") pads.push_back(std::get<std::vector<int64_t>>(attribute.value));
  REQUIRE(pads.size() == 5);
  CHECK(pads[0] == std::vector<int64_t>{1, 1, 1, 1});  // 3x3
  CHECK(pads[4] == std::vector<int64_t>{0, 0, 1, 1});  // 2x2: one row and column after
  CHECK(graph.nodes.back().op_type == "Sigmoid");
  CHECK(graph.outputs.at(0).name == "probabilities");
}

TEST_CASE("onnx export: what cannot be exported is refused, naming the module", "[onnx]") {
  struct Doubler : weft::nn::Module {
    weft::Tensor forward(const weft::Tensor& x) override { return x + x; }
    std::string type_name() const override { return "Doubler"; }
  };
  weft::nn::Sequential net{std::make_shared<weft::nn::Linear>(4, 4), std::make_shared<Doubler>()};
  weft::nn::OnnxLowering lowering;
  CHECK_THROWS_WITH(lowering.lower(net, "", "x"),
                    Contains("cannot export module '1' (Doubler): no ONNX lowering"));

  // A subclass with its own forward is not taken for its base class.
  weft::models::KerasSameConv2d keras(3, 4, 2);
  CHECK_THROWS_WITH(weft::nn::OnnxLowering().lower(keras, "features.0", "x"),
                    Contains("'features.0' (KerasSameConv2d)"));

  // A model with no export description, and a ResNet without its input size.
  weft::models::DcganPair pair(weft::models::dcgan32_gray());
  CHECK_THROWS_WITH(weft::models::to_onnx(pair, {}), Contains("a DcganPair"));
  auto resnet = weft::models::resnet18({.in_channels = 1, .num_classes = 3, .small_input = true});
  CHECK_THROWS_WITH(weft::models::to_onnx(*resnet, {}), Contains("needs the input image size"));

  // An unwritable path is named in the error.
  weft::models::FashionCnn model({.filters = 2, .dropout = 0.0f, .hidden = 4, .classes = 10});
  CHECK_THROWS_WITH(weft::models::export_onnx(model, "/nonexistent/dir/model.onnx", {}),
                    Contains("/nonexistent/dir/model.onnx"));
}
