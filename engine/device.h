// Where a tensor lives: the CPU, one CUDA device, or `emu` - the emulated GPU, whose memory is
// host memory but which the engine treats like a GPU (every host read is a counted device->host
// copy, and its ops run the hand CUDA kernels under the host emulation, kernels/cuda/emulation.h).
// Also the element types weft stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace weft {

enum class DeviceType : uint8_t { cpu, cuda, emu };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  static Device emu() { return {DeviceType::emu, 0}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool is_emu() const { return type == DeviceType::emu; }
  bool operator==(const Device& other) const { return type == other.type && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }

  std::string str() const;                     // "cpu", "cuda:0", "emu"
  static Device parse(const std::string& text);  // "cpu", "cuda", "cuda:1", "emu"; throws on others
};

// float32 for activations and parameters, int32 for class labels, uint8 for raw pixels,
// int64 only for counters that PyTorch checkpoints carry (BatchNorm's num_batches_tracked).
enum class DType : uint8_t { f32, i32, u8, i64 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // the safetensors spelling: "F32", "I32", "U8"

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::f32; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <>
constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <>
constexpr DType dtype_of<int64_t>() { return DType::i64; }

}  // namespace weft
