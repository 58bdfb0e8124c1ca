// Weight initialisers, named and defined as in torch.nn.init. fan_in of a conv weight
// [O, C, KH, KW] is C*KH*KW and fan_out is O*KH*KW; of a linear weight [out, in], in and out.
// All draw from a Generator (the default one when null) and overwrite the tensor (any device).
#pragma once

#include "engine/random.h"
#include "engine/tensor.h"

namespace weft::nn::init {

enum class FanMode { fan_in, fan_out };

int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

void uniform_(Tensor& t, float low, float high, Generator* g = nullptr);
void normal_(Tensor& t, float mean, float stddev, Generator* g = nullptr);
void constant_(Tensor& t, float value);

// gain for ReLU-family nonlinearities: sqrt(2 / (1 + a^2)) with a the negative slope.
// Kaiming uniform: bound = gain * sqrt(3 / fan); Kaiming normal: std = gain / sqrt(fan).
void kaiming_uniform_(Tensor& t, float a = 0.0f, FanMode mode = FanMode::fan_in,
                      Generator* g = nullptr);
void kaiming_normal_(Tensor& t, float a = 0.0f, FanMode mode = FanMode::fan_in,
                     Generator* g = nullptr);
// Xavier/Glorot: bound = gain * sqrt(6 / (fan_in + fan_out)), std = gain * sqrt(2 / (...)).
void xavier_uniform_(Tensor& t, float gain = 1.0f, Generator* g = nullptr);
void xavier_normal_(Tensor& t, float gain = 1.0f, Generator* g = nullptr);

// PyTorch's default for Conv and Linear layers: weight kaiming_uniform_(a = sqrt(5)), which is
// uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias uniform with the same bound.
void pytorch_default_(Tensor& weight, Tensor& bias, Generator* g = nullptr);

// Keras' he_normal (the seed-003 model): truncated normal, std = sqrt(2 / fan_in), values
// redrawn beyond two standard deviations (Keras' VarianceScaling, whose stddev is divided by
// 0.8796 so the truncated distribution keeps the variance).
void he_normal_keras_(Tensor& t, Generator* g = nullptr);

// DCGAN (Radford et al.): weights normal(0, 0.02).
inline void dcgan_normal_(Tensor& t, Generator* g = nullptr) { normal_(t, 0.0f, 0.02f, g); }

}  // namespace weft::nn::init
