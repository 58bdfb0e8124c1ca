// The protocol-buffer wire format, written and read by hand: just what weft's ONNX export
// (engine/io/onnx_model.h) needs, with no dependency on libprotobuf or generated code.
//
// A message is a sequence of fields; each field is a key varint (field_number << 3 | wire_type)
// followed by its value:
//   wire type 0 (varint)            int32, int64, enums: 7 bits per byte, low group first, the top
//                                   bit set on every byte but the last; negative int64 values
//                                   are their two's complement (10 bytes)
//   wire type 2 (length-delimited)  strings, bytes, nested messages, packed repeated numbers: a
//                                   varint byte count, then the bytes
//   wire type 5 (32-bit)            float: 4 bytes, little-endian
// Worked example: field 1 holding 150 is 08 96 01 (key 1 << 3 | 0 = 0x08; 150 = 0x96 0x01).
//
// ProtoReader walks the fields of one message; the tests use it to parse the export back, and
// it refuses truncated or malformed input with a weft::Error rather than reading past the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace weft::io {

enum class WireType : uint32_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

class ProtoWriter {
 public:
  void add_varint(int field, uint64_t value);
  void add_int64(int field, int64_t value) { add_varint(field, static_cast<uint64_t>(value)); }
  void add_float(int field, float value);
  void add_bytes(int field, std::string_view bytes);
  void add_message(int field, const ProtoWriter& message) { add_bytes(field, message.bytes()); }
  const std::string& bytes() const { return bytes_; }

  // The varint encoding of `value` appended to `out`.
  static void append_varint(std::string& out, uint64_t value);

 private:
  void add_key(int field, WireType type);
  std::string bytes_;
};

// One field as ProtoReader returns it: `number` and `type`, and the value in `varint` (wire
// types 0, 1 and 5: the raw bits) or `bytes` (wire type 2: a view into the reader's input).
struct ProtoField {
  int number = 0;
  WireType type = WireType::varint;
  uint64_t varint = 0;
  std::string_view bytes;
};

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view message) : rest_(message) {}
  bool done() const { return rest_.empty(); }
  // The next field; weft::Error for a truncated field or an unknown wire type.
  ProtoField next();

 private:
  uint64_t read_varint();
  std::string_view rest_;
};

}  // namespace weft::io
