// Fuzz target: a safetensors file's bytes (engine/io/safetensors.h), as --weights, --resume and
// every checkpoint reader meet them. What parses must hold its tensors inside the bytes: each
// one is read in full (AddressSanitizer in the fuzzing build sees a read past the data).
#include <cstdint>
#include <string>

#include "engine/io/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  weft::fuzz::expect_clean_errors("fuzz.safetensors", [&] {
    const weft::io::SafetensorsContents contents =
        weft::io::parse_safetensors(bytes, "fuzz.safetensors");
    for (const auto& [name, tensor] : contents.tensors) {
      const weft::Tensor copy = tensor.clone();
      if (copy.numel() != tensor.numel()) std::abort();
    }
  });
  return 0;
}
