// Tensor creation, host access, device moves and the shape operations (see tensor.h).
#include "engine/tensor.h"

#include <cstring>
#include <optional>
#include <sstream>
#include <string>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/profile.h"
#include "kernels/error.h"

namespace weft {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

int normalize_axis(int axis, int ndim, const char* op) {
  const int normalized = axis < 0 ? axis + ndim : axis;
  WEFT_CHECK(normalized >= 0 && normalized < ndim, op, ": axis ", axis,
             " is out of range for a tensor with ", ndim, " dimensions");
  return normalized;
}

Storage::Storage(Device device_, size_t bytes_) : bytes(bytes_), device(device_) {
  data = device_allocate(device, bytes);
}

Storage::~Storage() { device_free(device, data, bytes); }

// ---- creation ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) {
    WEFT_CHECK(d >= 0, "cannot create a tensor of shape ", shape_str(shape),
               ": negative dimension");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage =
      std::make_shared<Storage>(device, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::f32, device);
  t.fill_(value);
  return t;
}

namespace {
template <typename T>
Tensor tensor_from_vector(const std::vector<T>& values, const Shape& shape) {
  WEFT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  return tensor_from_vector(values, shape);
}
Tensor Tensor::from_vector(const std::vector<int32_t>& values, const Shape& shape) {
  return tensor_from_vector(values, shape);
}
Tensor Tensor::from_vector(const std::vector<uint8_t>& values, const Shape& shape) {
  return tensor_from_vector(values, shape);
}

Tensor Tensor::empty_like(const Tensor& other) {
  return empty(other.shape(), other.dtype(), other.device());
}

Tensor Tensor::zeros_like(const Tensor& other) {
  return zeros(other.shape(), other.dtype(), other.device());
}

// ---- properties ----

const Shape& Tensor::shape() const {
  WEFT_CHECK(defined(), "shape() of an undefined tensor");
  return impl_->shape;
}

int Tensor::ndim() const { return static_cast<int>(shape().size()); }

int64_t Tensor::dim(int axis) const { return shape()[normalize_axis(axis, ndim(), "dim")]; }

int64_t Tensor::numel() const { return shape_numel(shape()); }

DType Tensor::dtype() const {
  WEFT_CHECK(defined(), "dtype() of an undefined tensor");
  return impl_->dtype;
}

Device Tensor::device() const {
  WEFT_CHECK(defined(), "device() of an undefined tensor");
  return impl_->storage->device;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor" + shape_str(shape()) + " " + dtype_name(dtype()) + " " + device().str();
}

void* Tensor::raw_data() const {
  WEFT_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(impl_->storage->data) +
         impl_->offset * static_cast<int64_t>(dtype_size(impl_->dtype));
}

template <typename T>
T* Tensor::data() const {
  WEFT_CHECK(dtype() == dtype_of<T>(), "tensor ", str(), " accessed as ",
             dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template int32_t* Tensor::data<int32_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;
template int64_t* Tensor::data<int64_t>() const;

template <typename T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> values(static_cast<size_t>(numel()));
  copy_bytes(Device::cpu(), values.data(), device(), data<T>(), values.size() * sizeof(T));
  return values;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

float Tensor::item() const {
  WEFT_CHECK(numel() == 1, "item() needs a one-element tensor, got ", str());
  return to_vector<float>()[0];
}

// ---- devices and copies ----

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor out = empty(shape(), dtype(), target);
  copy_bytes(target, out.raw_data(), device(), raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype()));
  if (dtype() == DType::f32) {
    const Device source = device();
    record(out, "to", {*this}, [source](const Tensor& grad) {
      return std::vector<Tensor>{grad.to(source)};
    });
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

void Tensor::move_to_(Device target) {
  if (device() == target) return;
  const size_t bytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  auto storage = std::make_shared<Storage>(target, bytes);
  copy_bytes(target, storage->data, device(), raw_data(), bytes);
  impl_->storage = std::move(storage);
  impl_->offset = 0;
  if (impl_->grad.defined()) impl_->grad.move_to_(target);
}

void Tensor::copy_(const Tensor& source) {
  WEFT_CHECK(source.shape() == shape() && source.dtype() == dtype(), "copy_: source ",
             source.str(), " does not match destination ", str());
  copy_bytes(device(), raw_data(), source.device(), source.raw_data(),
             static_cast<size_t>(numel()) * dtype_size(dtype()));
}

void Tensor::zero_() {
  zero_bytes(device(), raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype()));
}

void Tensor::fill_(float value) {
  WEFT_CHECK(dtype() == DType::f32, "fill_ needs a float tensor, got ", str());
  dispatch(device()).fill(numel(), value, data<float>());
}

// ---- shape views and copies ----

Tensor Tensor::reshape(const Shape& requested) const {
  Shape shape_out = requested;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape_out.size(); ++i) {
    if (shape_out[i] == -1) {
      WEFT_CHECK(infer < 0, "reshape ", str(), " to ", shape_str(requested),
                 ": only one dimension may be -1");
      infer = static_cast<int>(i);
    } else {
      known *= shape_out[i];
    }
  }
  if (infer >= 0) {
    WEFT_CHECK(known > 0 && numel() % known == 0, "reshape ", str(), " to ",
               shape_str(requested), ": sizes do not divide");
    shape_out[infer] = numel() / known;
  }
  WEFT_CHECK(shape_numel(shape_out) == numel(), "reshape ", str(), " to ", shape_str(requested),
             ": ", numel(), " elements do not fit");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = shape_out;
  impl->dtype = impl_->dtype;
  Tensor out(std::move(impl));
  const Shape original = shape();
  record(out, "reshape", {*this}, [original](const Tensor& grad) {
    return std::vector<Tensor>{grad.reshape(original)};
  });
  return out;
}

Tensor Tensor::flatten(int start_axis) const {
  const int start = normalize_axis(start_axis, ndim(), "flatten");
  Shape shape_out(shape().begin(), shape().begin() + start);
  shape_out.push_back(-1);
  return reshape(shape_out);
}

namespace {
// View a tensor as [outer, axis, inner] around `axis` for slice and concat.
struct AxisSplit {
  int64_t outer = 1, length = 1, inner = 1;
};
AxisSplit split_at(const Shape& shape, int axis) {
  AxisSplit s;
  for (int i = 0; i < axis; ++i) s.outer *= shape[i];
  s.length = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) s.inner *= shape[i];
  return s;
}

// Copy rows of `count` elements: dst block (o, dst_begin..) <- src block (o, src_begin..) for
// every outer index o. A copy is no backend op, but a step makes them (the pair models' photos
// stacked, say): while an op profile records (engine/profile.h) each is a row of its own,
// "copy_rows" of family "copy" on the device's label, timed as the dispatch times an op.
void copy_blocks(const Tensor& dst, int64_t dst_length, int64_t dst_begin, const Tensor& src,
                 int64_t src_length, int64_t src_begin, int64_t count, const AxisSplit& s) {
  WEFT_CHECK(dst.device() == src.device(), "copy between ", src.device().str(), " and ",
             dst.device().str(), " inside slice/concat");
  const size_t element = dtype_size(src.dtype());
  const size_t inner_bytes = static_cast<size_t>(s.inner) * element;
  std::optional<profile::Timed> timed;
  if (profile::recording()) {
    const DispatchDevice& d = dispatch(dst.device()).dispatch_device();
    timed.emplace("copy", "copy_rows", d.label.c_str(),
                  "rows=" + std::to_string(s.outer) + " row_bytes=" +
                      std::to_string(static_cast<size_t>(count) * inner_bytes),
                  d.synchronize, d.clock);
  }
  copy_rows(dst.device(), static_cast<char*>(dst.raw_data()) + dst_begin * inner_bytes,
            static_cast<size_t>(dst_length) * inner_bytes,
            static_cast<const char*>(src.raw_data()) + src_begin * inner_bytes,
            static_cast<size_t>(src_length) * inner_bytes,
            static_cast<size_t>(count) * inner_bytes, static_cast<size_t>(s.outer));
  if (timed) timed->finish();
}
}  // namespace

Tensor Tensor::slice(int axis_in, int64_t begin, int64_t end) const {
  const int axis = normalize_axis(axis_in, ndim(), "slice");
  const int64_t length = shape()[axis];
  WEFT_CHECK(0 <= begin && begin <= end && end <= length, "slice [", begin, ", ", end,
             ") along axis ", axis, " is out of range for ", str());
  Shape shape_out = shape();
  shape_out[axis] = end - begin;
  Tensor out = empty(shape_out, dtype(), device());
  const AxisSplit s = split_at(shape(), axis);
  copy_blocks(out, end - begin, 0, *this, length, begin, end - begin, s);
  const Shape original = shape();
  record(out, "slice", {*this}, [original, axis, begin, end, s](const Tensor& grad) {
    Tensor full_grad = Tensor::zeros(original, DType::f32, grad.device());
    copy_blocks(full_grad, original[axis], begin, grad, end - begin, 0, end - begin, s);
    return std::vector<Tensor>{full_grad};
  });
  return out;
}

Tensor concat(const std::vector<Tensor>& tensors, int axis_in) {
  WEFT_CHECK(!tensors.empty(), "concat of an empty list");
  const Tensor& first = tensors.front();
  const int axis = normalize_axis(axis_in, first.ndim(), "concat");
  Shape shape_out = first.shape();
  shape_out[axis] = 0;
  std::vector<int64_t> lengths;
  for (const Tensor& t : tensors) {
    WEFT_CHECK(t.ndim() == first.ndim() && t.dtype() == first.dtype() &&
                   t.device() == first.device(),
               "concat: ", t.str(), " does not match ", first.str());
    for (int d = 0; d < first.ndim(); ++d) {
      WEFT_CHECK(d == axis || t.shape()[d] == first.shape()[d], "concat along axis ", axis,
                 ": ", t.str(), " does not match ", first.str());
    }
    lengths.push_back(t.shape()[axis]);
    shape_out[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::empty(shape_out, first.dtype(), first.device());
  const AxisSplit s = split_at(shape_out, axis);
  int64_t begin = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    copy_blocks(out, s.length, begin, tensors[i], lengths[i], 0, lengths[i], s);
    begin += lengths[i];
  }
  record(out, "concat", tensors, [lengths, axis](const Tensor& grad) {
    std::vector<Tensor> grads;
    int64_t offset = 0;
    for (int64_t length : lengths) {
      grads.push_back(grad.detach().slice(axis, offset, offset + length));
      offset += length;
    }
    return grads;
  });
  return out;
}

// ---- autograd ----

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  WEFT_CHECK(!on || dtype() == DType::f32, "only float tensors can require gradients, got ",
             str());
  WEFT_CHECK(!on || !impl_->grad_fn, "set_requires_grad on a non-leaf tensor; use detach()");
  impl_->requires_grad = on;
  return *this;
}

const Tensor& Tensor::grad() const {
  WEFT_CHECK(defined(), "grad() of an undefined tensor");
  return impl_->grad;
}

Tensor& Tensor::mutable_grad() {
  WEFT_CHECK(defined(), "grad() of an undefined tensor");
  return impl_->grad;
}

void Tensor::zero_grad() {
  if (defined()) impl_->grad = Tensor();
}

void Tensor::retain_grad() {
  WEFT_CHECK(defined(), "retain_grad() of an undefined tensor");
  impl_->retains_grad = true;
}

std::shared_ptr<Node> Tensor::grad_fn() const { return defined() ? impl_->grad_fn : nullptr; }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& gradient) const { run_backward(*this, gradient); }

}  // namespace weft
