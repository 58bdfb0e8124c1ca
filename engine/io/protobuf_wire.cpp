// The protocol-buffer wire format by hand (see protobuf_wire.h).
#include "engine/io/protobuf_wire.h"

#include <cstring>

#include "kernels/error.h"

namespace weft::io {

void ProtoWriter::append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void ProtoWriter::add_key(int field, WireType type) {
  append_varint(bytes_, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

void ProtoWriter::add_varint(int field, uint64_t value) {
  add_key(field, WireType::varint);
  append_varint(bytes_, value);
}

void ProtoWriter::add_float(int field, float value) {
  add_key(field, WireType::fixed32);
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

void ProtoWriter::add_bytes(int field, std::string_view bytes) {
  add_key(field, WireType::length_delimited);
  append_varint(bytes_, bytes.size());
  bytes_.append(bytes);
}

uint64_t ProtoReader::read_varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    WEFT_CHECK(!rest_.empty(), "protobuf: a varint runs past the end of the message");
    const auto byte = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  throw Error("protobuf: a varint longer than 10 bytes");
}

ProtoField ProtoReader::next() {
  ProtoField field;
  const uint64_t key = read_varint();
  field.number = static_cast<int>(key >> 3);
  field.type = static_cast<WireType>(key & 7);
  WEFT_CHECK(field.number > 0, "protobuf: field number 0");
  auto fixed = [&](size_t size) {
    WEFT_CHECK(rest_.size() >= size, "protobuf: field ", field.number, " needs ", size,
               " bytes, ", rest_.size(), " left");
    for (size_t i = 0; i < size; ++i)
      field.varint |= static_cast<uint64_t>(static_cast<uint8_t>(rest_[i])) << (8 * i);
    rest_.remove_prefix(size);
  };
  switch (field.type) {
    case WireType::varint:
      field.varint = read_varint();
      break;
    case WireType::fixed64:
      fixed(8);
      break;
    case WireType::fixed32:
      fixed(4);
      break;
    case WireType::length_delimited: {
      const uint64_t size = read_varint();
      WEFT_CHECK(size <= rest_.size(), "protobuf: field ", field.number, " says ", size,
                 " bytes, ", rest_.size(), " left");
      field.bytes = rest_.substr(0, size);
      rest_.remove_prefix(size);
      break;
    }
    default:
      throw Error("protobuf: field " + std::to_string(field.number) + " has wire type " +
                  std::to_string(static_cast<int>(field.type)) + ", expected 0, 1, 2 or 5");
  }
  return field;
}

}  // namespace weft::io
