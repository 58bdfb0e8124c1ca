// Weight initialisers (see init.h). Values are drawn on the host and copied to the tensor's
// device: initialisation happens once, so simplicity wins over speed here.
#include "engine/nn/init.h"

#include <cmath>
#include <cstring>

#include "engine/allocator.h"
#include "kernels/error.h"

namespace weft::nn::init {
namespace {

Generator& pick(Generator* g) { return g != nullptr ? *g : default_generator(); }

void write(Tensor& t, const std::vector<float>& values) {
  WEFT_CHECK(t.dtype() == DType::f32, "initialiser on a non-float tensor ", t.str());
  copy_bytes(t.device(), t.raw_data(), Device::cpu(), values.data(),
             values.size() * sizeof(float));
}

int64_t receptive_field(const Tensor& w) {
  int64_t field = 1;
  for (int d = 2; d < w.ndim(); ++d) field *= w.dim(d);
  return field;
}

float relu_gain(float a) { return std::sqrt(2.0f / (1.0f + a * a)); }

int64_t fan(const Tensor& t, FanMode mode) {
  return mode == FanMode::fan_in ? fan_in(t) : fan_out(t);
}

}  // namespace

int64_t fan_in(const Tensor& w) {
  WEFT_CHECK(w.ndim() >= 2, "fan_in of a tensor with fewer than 2 dimensions: ", w.str());
  return w.dim(1) * receptive_field(w);
}

int64_t fan_out(const Tensor& w) {
  WEFT_CHECK(w.ndim() >= 2, "fan_out of a tensor with fewer than 2 dimensions: ", w.str());
  return w.dim(0) * receptive_field(w);
}

void uniform_(Tensor& t, float low, float high, Generator* g) {
  write(t, pick(g).uniform(t.numel(), low, high));
}

void normal_(Tensor& t, float mean, float stddev, Generator* g) {
  write(t, pick(g).normal(t.numel(), mean, stddev));
}

void constant_(Tensor& t, float value) { t.fill_(value); }

void kaiming_uniform_(Tensor& t, float a, FanMode mode, Generator* g) {
  const float bound = relu_gain(a) * std::sqrt(3.0f / static_cast<float>(fan(t, mode)));
  uniform_(t, -bound, bound, g);
}

void kaiming_normal_(Tensor& t, float a, FanMode mode, Generator* g) {
  normal_(t, 0.0f, relu_gain(a) / std::sqrt(static_cast<float>(fan(t, mode))), g);
}

void xavier_uniform_(Tensor& t, float gain, Generator* g) {
  const float bound = gain * std::sqrt(6.0f / static_cast<float>(fan_in(t) + fan_out(t)));
  uniform_(t, -bound, bound, g);
}

void xavier_normal_(Tensor& t, float gain, Generator* g) {
  normal_(t, 0.0f, gain * std::sqrt(2.0f / static_cast<float>(fan_in(t) + fan_out(t))), g);
}

void pytorch_default_(Tensor& weight, Tensor& bias, Generator* g) {
  kaiming_uniform_(weight, std::sqrt(5.0f), FanMode::fan_in, g);
  if (bias.defined()) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in(weight)));
    uniform_(bias, -bound, bound, g);
  }
}

void he_normal_keras_(Tensor& t, Generator* g) {
  Generator& rng = pick(g);
  const float stddev = std::sqrt(2.0f / static_cast<float>(fan_in(t))) / 0.87962566f;
  std::vector<float> values(static_cast<size_t>(t.numel()));
  for (float& v : values) {
    do {
      v = rng.normal(1, 0.0f, 1.0f)[0];
    } while (std::fabs(v) > 2.0f);
    v *= stddev;
  }
  write(t, values);
}

}  // namespace weft::nn::init
