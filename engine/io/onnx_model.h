// A minimal in-memory ONNX model - the graph's nodes, its weights (initializers), its named
// inputs and outputs with a symbolic batch dimension, and metadata_props - and its serialisation
// as an ONNX ModelProto through the hand-written protobuf wire format (engine/io/protobuf_wire.h).
// docs/onnx.md says why weft writes the format itself instead of linking libonnx/libprotobuf.
//
// Only the fields weft writes exist here; their numbers are those of onnx/onnx.proto:
//   ModelProto    1 ir_version, 2 producer_name, 3 producer_version, 6 doc_string, 7 graph,
//                 8 opset_import, 14 metadata_props
//   GraphProto    1 node, 2 name, 5 initializer, 11 input, 12 output
//   NodeProto     1 input, 2 output, 3 name, 4 op_type, 5 attribute
//   AttributeProto 1 name, 2 f, 3 i, 4 s, 8 ints, 20 type (FLOAT 1, INT 2, STRING 3, INTS 7)
//   TensorProto   1 dims, 2 data_type, 8 name, 9 raw_data (little-endian)
//   ValueInfoProto 1 name, 2 type; TypeProto 1 tensor_type; TypeProto.Tensor 1 elem_type,
//                 2 shape; TensorShapeProto 1 dim; Dimension 1 dim_value, 2 dim_param
//   OperatorSetIdProto 1 domain, 2 version; StringStringEntryProto 1 key, 2 value
// The model neighbours: models/onnx_export.h lowers weft's modules into this form.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace weft::onnx {

// What weft writes: IR version 8 is the one that goes with opset 17 (ONNX 1.12).
constexpr int64_t kIrVersion = 8;
constexpr int64_t kOpsetVersion = 17;

// TensorProto.DataType values.
enum class ElementType : int32_t { f32 = 1, i32 = 6, i64 = 7 };

using AttributeValue = std::variant<float, int64_t, std::vector<int64_t>, std::string>;

struct Attribute {
  std::string name;
  AttributeValue value;
};

struct Node {
  std::string op_type;
  std::string name;
  std::vector<std::string> inputs, outputs;
  std::vector<Attribute> attributes;
};

struct Initializer {
  std::string name;
  ElementType type = ElementType::f32;
  std::vector<int64_t> dims;
  std::string raw;  // the values, little-endian, row-major
};

// A dimension is a size or a symbolic name ("batch").
using Dimension = std::variant<int64_t, std::string>;

struct ValueInfo {
  std::string name;
  ElementType type = ElementType::f32;
  std::vector<Dimension> dims;
};

struct Model {
  std::string graph_name = "weft";
  std::string doc_string;
  std::vector<Node> nodes;
  std::vector<Initializer> initializers;
  std::vector<ValueInfo> inputs, outputs;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// The ModelProto bytes of `model` (producer "weft", the IR version and opset above); weft::Error
// for a model of 2 GiB or more (protobuf's limit; weft writes no external-data files).
std::string serialize(const Model& model);

// serialize() written atomically to `path` (engine/io/atomic_file.h); weft::Error naming the
// path when it cannot be written.
void write_model(const std::string& path, const Model& model);

}  // namespace weft::onnx
