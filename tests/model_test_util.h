// Helpers shared by the model tests (test_models_*.cpp): the names in a state dict, the tensor
// stored under one name, the mean and spread of a tensor's values, and random images.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/random.h"

namespace weft::test {

inline std::vector<std::string> names_of(const nn::NamedTensors& entries) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : entries) names.push_back(name);
  return names;
}

// The tensor stored under `name` in the module's state dict; fails the test when it is missing.
inline Tensor entry(const nn::Module& module, const std::string& name) {
  for (const auto& [entry_name, tensor] : module.state_dict()) {
    if (entry_name == name) return tensor;
  }
  FAIL("no state_dict entry named " << name);
  return {};
}

inline Shape shape_of(const nn::Module& module, const std::string& name) {
  return entry(module, name).shape();
}

// Parameters whose gradients are on (what an optimizer would update).
inline std::vector<std::string> trainable_names(const nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : module.named_parameters()) {
    if (tensor.requires_grad()) names.push_back(name);
  }
  return names;
}

struct Spread {
  double mean = 0.0, stddev = 0.0, largest = 0.0;  // largest |value|
};
inline Spread spread_of(const Tensor& t) {
  const std::vector<float> values = t.to_vector<float>();
  Spread s;
  for (float v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  for (float v : values) {
    s.stddev += (v - s.mean) * (v - s.mean);
    s.largest = std::max(s.largest, static_cast<double>(std::fabs(v)));
  }
  s.stddev = std::sqrt(s.stddev / static_cast<double>(values.size()));
  return s;
}

// Uniform(-1, 1) values of the given shape, from a seeded generator.
inline Tensor random_images(const Shape& shape, uint64_t seed) {
  Generator rng(seed);
  return Tensor::from_vector(rng.uniform(shape_numel(shape), -1.0f, 1.0f), shape);
}

}  // namespace weft::test
