// safetensors reading and writing (format and validation rules in safetensors.h).
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft::io {
namespace {

using nlohmann::json;

// Headers larger than this are rejected before parsing (the reference library's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

bool parse_dtype(const std::string& name, DType* dtype) {
  for (DType candidate : {DType::f32, DType::i32, DType::u8, DType::i64}) {
    if (name == dtype_name(candidate)) {
      *dtype = candidate;
      return true;
    }
  }
  return false;
}

std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}

}  // namespace

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    WEFT_CHECK(name != "__metadata__", "cannot save a tensor named __metadata__");
    WEFT_CHECK(!header.contains(name), "cannot save ", path, ": tensor name '", name,
               "' appears twice");
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
    header[name] = {{"dtype", dtype_name(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string header_text = header.dump();
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string file = u64_le(header_text.size()) + header_text;
  file.reserve(file.size() + offset);
  for (const auto& [name, tensor] : tensors) {
    const Tensor host = tensor.cpu();
    file.append(static_cast<const char*>(host.raw_data()),
                static_cast<size_t>(host.numel()) * dtype_size(host.dtype()));
  }
  write_file_atomic(path, file);
}

namespace {

using Fail = std::function<Error(const std::string&)>;

Fail failure_for(const std::string& source) {
  return [source](const std::string& what) {
    return Error(source + ": not a valid safetensors file: " + what);
  };
}

// The header's length from the first 8 bytes of a file of `file_size` bytes, checked.
uint64_t header_length_of(const char* first8, uint64_t file_size, const Fail& fail) {
  if (file_size < 8) throw fail("only " + std::to_string(file_size) + " bytes, expected at least 8");
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(first8[i]);
  if (header_length > kMaxHeaderBytes || header_length > file_size - 8) {
    throw fail("header length " + std::to_string(header_length) + " exceeds the file size " +
               std::to_string(file_size) + " (truncated file?)");
  }
  return header_length;
}

json parse_header(const char* begin, const char* end, const Fail& fail) {
  json header;
  try {
    header = json::parse(begin, end);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large
    throw fail(std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw fail("header is not a JSON object");
  return header;
}

std::map<std::string, std::string> metadata_of(const json& entry, const Fail& fail) {
  if (!entry.is_object()) throw fail("__metadata__ is not an object");
  std::map<std::string, std::string> metadata;
  for (auto m = entry.begin(); m != entry.end(); ++m) {
    if (!m.value().is_string()) throw fail("__metadata__ value '" + m.key() + "' is not a string");
    metadata[m.key()] = m.value().get<std::string>();
  }
  return metadata;
}

}  // namespace

SafetensorsContents parse_safetensors(const std::string& bytes, const std::string& source) {
  const Fail fail = failure_for(source);
  const uint64_t header_length = header_length_of(bytes.data(), bytes.size(), fail);
  const json header = parse_header(bytes.data() + 8, bytes.data() + 8 + header_length, fail);

  const uint64_t data_start = 8 + header_length;
  const uint64_t data_size = bytes.size() - data_start;
  SafetensorsContents contents;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      contents.metadata = metadata_of(entry, fail);
      continue;
    }
    auto bad = [&](const std::string& what) { return fail("tensor '" + name + "': " + what); };
    if (!entry.is_object()) throw bad("entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) throw bad("no dtype string");
    DType dtype;
    const std::string dtype_text = entry["dtype"].get<std::string>();
    if (!parse_dtype(dtype_text, &dtype)) {
      throw bad("dtype " + dtype_text + " is not supported (weft reads F32, I32, U8, I64)");
    }
    if (!entry.contains("shape") || !entry["shape"].is_array()) throw bad("no shape array");
    Shape shape;
    uint64_t count = 1;
    for (const json& d : entry["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape has an entry that is not a non-negative integer");
      const uint64_t size = d.get<uint64_t>();
      if (size > 0 && count > (uint64_t{1} << 40) / size) throw bad("shape is too large");
      count *= size;
      shape.push_back(static_cast<int64_t>(size));
    }
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2 || !entry["data_offsets"][0].is_number_unsigned() ||
        !entry["data_offsets"][1].is_number_unsigned()) {
      throw bad("data_offsets must be two non-negative integers");
    }
    const uint64_t begin = entry["data_offsets"][0].get<uint64_t>();
    const uint64_t end = entry["data_offsets"][1].get<uint64_t>();
    if (begin > end || end > data_size) {
      throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                "] lie outside the " + std::to_string(data_size) + " data bytes (truncated file?)");
    }
    const uint64_t expected = count * dtype_size(dtype);
    if (end - begin != expected) {
      throw bad("shape " + shape_str(shape) + " of " + dtype_text + " needs " +
                std::to_string(expected) + " bytes but data_offsets span " +
                std::to_string(end - begin));
    }
    ranges.emplace_back(begin, end);
    Tensor tensor = Tensor::empty(shape, dtype);
    if (expected > 0) std::memcpy(tensor.raw_data(), bytes.data() + data_start + begin, expected);
    contents.tensors[name] = tensor;
    contents.order.push_back(name);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second && ranges[i].first != ranges[i].second) {
      throw fail("two tensors' data_offsets overlap at byte " + std::to_string(ranges[i].first));
    }
  }
  return contents;
}

SafetensorsContents load_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open " + path + ": " + std::strerror(errno));
  const auto file_size = static_cast<uint64_t>(in.tellg());
  const Fail fail = failure_for(path);
  char first8[8] = {};
  in.seekg(0);
  in.read(first8, file_size < 8 ? static_cast<std::streamsize>(file_size) : 8);
  const uint64_t header_length = header_length_of(first8, file_size, fail);
  std::string header_text(header_length, '\0');
  if (!in.read(header_text.data(), static_cast<std::streamsize>(header_length))) {
    throw Error("cannot read " + path);
  }
  const json header =
      parse_header(header_text.data(), header_text.data() + header_text.size(), fail);
  const auto metadata = header.find("__metadata__");
  if (metadata == header.end()) return {};
  return metadata_of(*metadata, fail);
}

}  // namespace weft::io
