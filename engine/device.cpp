// Device and dtype names: printing and parsing.
#include "engine/device.h"

#include "kernels/error.h"

namespace weft {

std::string Device::str() const {
  if (is_emu()) return "emu";
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text == "emu") return emu();
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    const std::string number = text.substr(5);
    if (number.find_first_not_of("0123456789") == std::string::npos && number.size() < 4) {
      return cuda(std::stoi(number));
    }
  }
  throw Error("unknown device '" + text + "': expected cpu, cuda, cuda:N or emu");
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::u8: return 1;
    case DType::i64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
    case DType::i64: return "I64";
  }
  return "?";
}

}  // namespace weft
