// Tensor: a shaped, typed view of device memory that can take part in automatic
// differentiation.
//
// A Tensor is a cheap handle (a shared pointer) to a TensorImpl; copying a Tensor shares the
// data, as in PyTorch. Every tensor is contiguous, row-major (NCHW for images), so kernels get
// a raw pointer and a shape and nothing else. Views (reshape, flatten) share storage; slice and
// concat copy.
//
// Autograd fields: `requires_grad` marks a leaf whose gradient is wanted (parameters);
// `grad_fn` is the tape node of the op that produced a non-leaf tensor (engine/autograd.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"

namespace weft {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3, 28, 28]"

// A block of device memory, freed through the device's allocator when the last tensor that
// uses it goes away.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;

  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, Device device = Device::cpu()) {
    return full(shape, 1.0f, device);
  }
  static Tensor scalar(float value, Device device = Device::cpu()) {
    return full({}, value, device);
  }
  // Copies `values` (row-major) into a new CPU tensor of `shape`; sizes must agree.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<uint8_t>& values, const Shape& shape);
  static Tensor empty_like(const Tensor& other);
  static Tensor zeros_like(const Tensor& other);

  // ---- properties ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim(int axis) const;  // negative axes count from the end
  int ndim() const;
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::string str() const;  // "Tensor[2, 3] f32 cpu"

  // Typed pointer to the first element, on the tensor's device; checks the dtype.
  template <typename T>
  T* data() const;
  void* raw_data() const;

  // ---- host access (copies from the device when needed) ----
  template <typename T = float>
  std::vector<T> to_vector() const;
  float item() const;  // a one-element float tensor's value

  // ---- devices and copies ----
  Tensor to(Device device) const;  // a copy on `device` (this tensor itself when already there)
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor clone() const;  // a copy of the data with no autograd history
  // Move this tensor's data to `device` in place: every handle sees the new storage. Used by
  // Module::to so optimizers and modules keep the same parameter objects.
  void move_to_(Device device);
  // Overwrite this tensor's data with `source`'s (same shape and dtype, any device).
  void copy_(const Tensor& source);
  void zero_();
  void fill_(float value);

  // ---- shape views and copies (all differentiable) ----
  Tensor reshape(const Shape& shape) const;  // one entry may be -1
  Tensor flatten(int start_axis = 1) const;  // [N, C, H, W] -> [N, C*H*W] for start_axis 1
  Tensor slice(int axis, int64_t begin, int64_t end) const;  // copies [begin, end) along axis

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  const Tensor& grad() const;  // undefined until a backward pass reaches this tensor
  Tensor& mutable_grad();
  void zero_grad();  // drops the gradient (it is created again, =, by the next backward)
  // Keep the gradient of this non-leaf tensor when backward passes through it (Grad-CAM).
  void retain_grad();
  std::shared_ptr<Node> grad_fn() const;
  // Same data, no history, requires_grad false.
  Tensor detach() const;
  // Run reverse-mode differentiation from this tensor. With no argument it must hold one
  // element and its gradient is taken as 1.
  void backward(const Tensor& gradient = Tensor()) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements, into storage
  Shape shape;
  DType dtype = DType::f32;

  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

// Concatenate tensors of equal shape but for `axis` (differentiable).
Tensor concat(const std::vector<Tensor>& tensors, int axis);

// Normalise a possibly negative axis against `ndim`, with a clear error when out of range.
int normalize_axis(int axis, int ndim, const char* op);

}  // namespace weft
