// safetensors checkpoints, the format of Hugging Face's safetensors library:
//   8 bytes       little-endian u64 N, the length of the header
//   N bytes       JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//                        "__metadata__": {"key": "string value", ...}}
//   the rest      raw little-endian tensor data; offsets are relative to its start
// Names and layouts are PyTorch's (OIHW conv weights), so a PyTorch state_dict saved with
// safetensors.torch.save_file loads here name for name, and the other way round.
//
// Loading validates everything before trusting it - header length, JSON, dtypes, shapes,
// offsets inside the file, sizes that match shapes, no overlaps - and reports the file and the
// entry that is wrong. Saving is atomic (engine/io/atomic_file.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace weft::io {

struct SafetensorsContents {
  std::map<std::string, Tensor> tensors;  // on the CPU
  std::vector<std::string> order;         // names in file order
  std::map<std::string, std::string> metadata;
};

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

SafetensorsContents load_safetensors(const std::string& path);

// Only the metadata, reading the header and not the tensors (a checkpoint's settings, a model's
// class names); the header is checked as load_safetensors checks it.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

// Parse from bytes already in memory; `source` names them in error messages.
SafetensorsContents parse_safetensors(const std::string& bytes, const std::string& source);

}  // namespace weft::io
