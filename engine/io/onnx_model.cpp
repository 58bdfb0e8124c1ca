// ONNX ModelProto serialisation (see onnx_model.h for the field numbers).
#include "engine/io/onnx_model.h"

#include <type_traits>

#include "engine/io/atomic_file.h"
#include "engine/io/protobuf_wire.h"
#include "kernels/error.h"

namespace weft::onnx {
namespace {

using io::ProtoWriter;

enum AttributeType : uint64_t { kFloat = 1, kInt = 2, kString = 3, kInts = 7 };

ProtoWriter attribute_proto(const Attribute& attribute) {
  ProtoWriter out;
  out.add_bytes(1, attribute.name);
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, float>) {
          out.add_float(2, value);
          out.add_varint(20, kFloat);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out.add_int64(3, value);
          out.add_varint(20, kInt);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out.add_bytes(4, value);
          out.add_varint(20, kString);
        } else {
          for (int64_t v : value) out.add_int64(8, v);
          out.add_varint(20, kInts);
        }
      },
      attribute.value);
  return out;
}

ProtoWriter node_proto(const Node& node) {
  ProtoWriter out;
  for (const std::string& input : node.inputs) out.add_bytes(1, input);
  for (const std::string& output : node.outputs) out.add_bytes(2, output);
  out.add_bytes(3, node.name);
  out.add_bytes(4, node.op_type);
  for (const Attribute& attribute : node.attributes) out.add_message(5, attribute_proto(attribute));
  return out;
}

ProtoWriter tensor_proto(const Initializer& tensor) {
  ProtoWriter out;
  for (int64_t d : tensor.dims) out.add_int64(1, d);
  out.add_varint(2, static_cast<uint64_t>(tensor.type));
  out.add_bytes(8, tensor.name);
  out.add_bytes(9, tensor.raw);
  return out;
}

ProtoWriter value_info_proto(const ValueInfo& value) {
  ProtoWriter shape;
  for (const Dimension& dim : value.dims) {
    ProtoWriter dimension;
    if (const auto* size = std::get_if<int64_t>(&dim)) {
      dimension.add_int64(1, *size);
    } else {
      dimension.add_bytes(2, std::get<std::string>(dim));
    }
    shape.add_message(1, dimension);
  }
  ProtoWriter tensor_type;
  tensor_type.add_varint(1, static_cast<uint64_t>(value.type));
  tensor_type.add_message(2, shape);
  ProtoWriter type;
  type.add_message(1, tensor_type);
  ProtoWriter out;
  out.add_bytes(1, value.name);
  out.add_message(2, type);
  return out;
}

}  // namespace

std::string serialize(const Model& model) {
  ProtoWriter graph;
  for (const Node& node : model.nodes) graph.add_message(1, node_proto(node));
  graph.add_bytes(2, model.graph_name);
  for (const Initializer& tensor : model.initializers) graph.add_message(5, tensor_proto(tensor));
  for (const ValueInfo& input : model.inputs) graph.add_message(11, value_info_proto(input));
  for (const ValueInfo& output : model.outputs) graph.add_message(12, value_info_proto(output));

  ProtoWriter opset;
  opset.add_bytes(1, "");  // the default domain, ai.onnx
  opset.add_int64(2, kOpsetVersion);

  ProtoWriter out;
  out.add_int64(1, kIrVersion);
  out.add_bytes(2, "weft");
  out.add_bytes(3, "0.1.0");
  if (!model.doc_string.empty()) out.add_bytes(6, model.doc_string);
  out.add_message(7, graph);
  out.add_message(8, opset);
  for (const auto& [key, value] : model.metadata) {
    ProtoWriter entry;
    entry.add_bytes(1, key);
    entry.add_bytes(2, value);
    out.add_message(14, entry);
  }
  // Protobuf readers refuse messages of 2 GiB or more; ONNX puts larger weights in external
  // files, which weft does not write (its largest seed model, ResNet-50, is about 100 MB).
  WEFT_CHECK(out.bytes().size() < (size_t{1} << 31), "ONNX export: the model is ",
             out.bytes().size(), " bytes; a single ONNX file must stay under 2 GiB (weights in "
             "external data files are not supported)");
  return out.bytes();
}

void write_model(const std::string& path, const Model& model) {
  io::write_file_atomic(path, serialize(model));
}

}  // namespace weft::onnx
