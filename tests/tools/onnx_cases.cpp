// weft_onnx_cases OUT_DIR [FASHION_MNIST_DIR]: the weft side of the ONNX Runtime check
// (tests/onnx/check_onnx_export.py). For every seed model, at a small input size, it builds the
// model with seeded random weights and random batch-norm running statistics (so that
// BatchNormalization does real work), exports it with models::export_onnx, runs weft's own
// eval-mode forward on two input sets - random normal inputs (batch 3) and real Fashion-MNIST
// test images (batch 4, resized and repeated to the model's channels and normalised as the
// metadata says) - and writes the inputs and weft's outputs as raw little-endian files with a
// manifest, OUT_DIR/cases.json:
//   {"cases": [{"name", "onnx", "sets": [{"name", "inputs": {name: {"file", "dtype", "shape"}},
//                                          "outputs": {name: {...}}}]}]}
// The two batch sizes differ from each other, so the export's symbolic batch dimension is used.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/data/fashion_mnist.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/error.h"
#include "models/apparel_cnn.h"
#include "models/dcgan.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/image_classifier.h"
#include "models/onnx_export.h"
#include "models/pair_cnn.h"

namespace {

using namespace weft;
using Json = nlohmann::ordered_json;

// Runs the model on its inputs (in onnx_inputs order) and returns its one output.
using Forward = std::function<Tensor(nn::Module&, const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  std::shared_ptr<nn::Module> model;
  models::OnnxExportOptions options;
  Forward forward;
  bool real_images = true;  // false: the generator, whose input is noise
};

Tensor single(nn::Module& model, const std::vector<Tensor>& inputs) {
  return model.forward(inputs.at(0));
}

// Random running statistics (mean N(0, 0.2), variance in [0.5, 1.5]) and affine parameters for
// every batch norm, through load_state_dict.
void randomise_batch_norms(nn::Module& model, Generator& generator) {
  std::map<std::string, Tensor> state;
  for (const auto& [name, tensor] : model.state_dict()) {
    const auto ends_with = [&](const std::string& suffix) {
      return name.size() > suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    Tensor value = tensor;
    if (ends_with("running_mean")) {
      value = Tensor::from_vector(generator.normal(tensor.numel(), 0.0f, 0.2f), tensor.shape());
    } else if (ends_with("running_var")) {
      std::vector<float> v = generator.normal(tensor.numel(), 0.0f, 1.0f);
      for (float& x : v) x = 1.0f + 0.5f * std::tanh(x);
      value = Tensor::from_vector(v, tensor.shape());
    }
    state[name] = value;
  }
  model.load_state_dict(state);
}

// Nearest-neighbour resize of 28x28 grey images to side x side with `channels` copies, then
// (pixel * scale - mean) / std.
Tensor fashion_images(const data::LabeledImages& test, int64_t first, int64_t count,
                      const std::vector<int64_t>& shape, const data::Normalize& normalize) {
  const int64_t channels = shape[0], height = shape[1], width = shape[2];
  const std::vector<uint8_t> pixels = test.images.to_vector<uint8_t>();
  const float mean = normalize.mean.empty() ? 0.0f : normalize.mean[0];
  const float stddev = normalize.std.empty() ? 1.0f : normalize.std[0];
  std::vector<float> out;
  for (int64_t n = 0; n < count; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x) {
          const int64_t sy = y * 28 / height, sx = x * 28 / width;
          const float pixel = pixels[static_cast<size_t>((first + n) * 784 + sy * 28 + sx)];
          out.push_back((pixel * normalize.scale - mean) / stddev);
        }
  return Tensor::from_vector(out, {count, channels, height, width});
}

void write_raw(const std::string& path, const void* data, size_t bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!file) throw Error(path + ": cannot write");
}

Json float_entry(const std::string& dir, const std::string& file, const Tensor& tensor) {
  const std::vector<float> values = tensor.to(Device::cpu()).to_vector<float>();
  write_raw(dir + "/" + file, values.data(), values.size() * sizeof(float));
  return {{"file", file}, {"dtype", "float32"}, {"shape", tensor.shape()}};
}

Json labels_entry(const std::string& dir, const std::string& file,
                  const std::vector<int64_t>& labels) {
  write_raw(dir + "/" + file, labels.data(), labels.size() * sizeof(int64_t));
  return {{"file", file}, {"dtype", "int64"}, {"shape", {labels.size()}}};
}

// One input set: builds the inputs, runs weft, writes both.
Json run_set(const Case& c, const std::string& dir, const std::string& set, int64_t batch,
             Generator& generator, const data::LabeledImages* test) {
  const std::vector<models::OnnxInput> inputs = models::onnx_inputs(*c.model, c.options);
  std::vector<Tensor> tensors;
  Json entries = Json::object();
  int64_t first_image = 0;
  for (const models::OnnxInput& input : inputs) {
    const std::string file = c.name + "." + set + "." + input.name + ".bin";
    if (input.type == onnx::ElementType::i64) {
      std::vector<int64_t> labels;
      std::vector<int32_t> labels32;
      const int64_t classes = input.name == "labels" ? 3 : 1;
      for (int64_t n = 0; n < batch; ++n) {
        labels.push_back((n + (set == "real" ? 1 : 0)) % classes);
        labels32.push_back(static_cast<int32_t>(labels.back()));
      }
      tensors.push_back(Tensor::from_vector(labels32, {batch}));
      entries[input.name] = labels_entry(dir, file, labels);
      continue;
    }
    std::vector<int64_t> shape = {batch};
    shape.insert(shape.end(), input.shape.begin(), input.shape.end());
    Tensor x;
    if (test && input.shape.size() == 3) {
      x = fashion_images(*test, first_image, batch, input.shape, c.options.normalize);
      first_image += batch;  // the second photo of a pair is another image
    } else {
      x = Tensor::from_vector(generator.normal(shape_numel(shape), 0.0f, 1.0f), shape);
    }
    tensors.push_back(x);
    entries[input.name] = float_entry(dir, file, x);
  }
  NoGradGuard no_grad;
  const Tensor output = c.forward(*c.model, tensors);
  const std::string output_name = models::to_onnx(*c.model, c.options).outputs.at(0).name;
  Json outputs = {{output_name, float_entry(dir, c.name + "." + set + ".out.bin", output)}};
  return {{"name", set}, {"inputs", entries}, {"outputs", outputs}};
}

std::vector<Case> seed_cases() {
  using namespace weft::models;
  const data::Normalize plain{};  // pixel / 255
  const data::Normalize centred{.scale = 1.0f / 255.0f, .mean = {0.5f}, .std = {0.5f}};
  const data::Normalize pairs{.scale = 1.0f / 255.0f, .mean = {0.5f}, .std = {1.0f}};
  std::vector<Case> cases;
  const auto classifier = [&](const std::string& name, std::shared_ptr<nn::Module> model,
                              int image_size, std::vector<std::string> classes) {
    Case c{name, std::move(model), {}, single};
    c.options.image_size = image_size;
    c.options.class_names = std::move(classes);
    c.options.normalize = plain;
    cases.push_back(c);
  };
  const std::vector<std::string> shoes = {"Sandal", "Sneaker", "Ankle boot"};
  classifier("fashion_cnn", std::make_shared<FashionCnn>(FashionCnnConfig{}), 28,
             data::kFashionMnistClasses);
  classifier("fashion_cnn_seed32", std::make_shared<FashionCnn>(FashionCnnConfig{32, 0.0f}), 28,
             data::kFashionMnistClasses);
  classifier("fashion_resnet", std::make_shared<FashionResNet>(), 28, data::kFashionMnistClasses);
  classifier("shoe_cnn", make_image_classifier({"simple", 3, 32, 3}), 32, shoes);
  classifier("resnet18", make_image_classifier({"resnet18", 3, 72, 3}), 72, shoes);
  classifier("resnet50", make_image_classifier({"resnet50", 3, 32, 3}), 32, shoes);

  Case apparel{"apparel_cnn", std::make_shared<ApparelCnn>(ApparelCnnConfig{3, 24, 6}), {},
               [](nn::Module& m, const std::vector<Tensor>& in) { return sigmoid(m.forward(in[0])); }};
  apparel.options.class_names = {"black", "blue", "dress", "pants", "shirt", "shoes"};
  cases.push_back(apparel);

  const Forward conditional_g = [](nn::Module& m, const std::vector<Tensor>& in) {
    return dynamic_cast<DcganGenerator&>(m).forward(in[0], in[1]);
  };
  const Forward conditional_d = [](nn::Module& m, const std::vector<Tensor>& in) {
    return dynamic_cast<DcganDiscriminator&>(m).forward(in[0], in[1]);
  };
  DcganConfig gan = dcgan32_gray(3);
  gan.generator_features = gan.discriminator_features = 16;
  cases.push_back({"dcgan_generator", std::make_shared<DcganGenerator>(gan),
                   {.normalize = centred}, conditional_g, false});
  cases.push_back({"dcgan_discriminator", std::make_shared<DcganDiscriminator>(gan),
                   {.normalize = centred}, conditional_d});
  DcganConfig plain_gan = dcgan32_gray(0);
  plain_gan.generator_features = plain_gan.discriminator_features = 16;
  cases.push_back({"dcgan_generator_unconditional", std::make_shared<DcganGenerator>(plain_gan),
                   {.normalize = centred}, single, false});
  cases.push_back({"dcgan_discriminator_unconditional",
                   std::make_shared<DcganDiscriminator>(plain_gan), {.normalize = centred}, single});

  const Forward pair = [](nn::Module& m, const std::vector<Tensor>& in) {
    return dynamic_cast<PairModel&>(m).forward_pair(in[0], in[1]);
  };
  cases.push_back({"pair_stacked", make_pair_model(stacked_cnn_config(32, 32)),
                   {.normalize = pairs}, pair});
  cases.push_back({"pair_channels", make_pair_model(channel_cnn_config(32, 32)),
                   {.normalize = pairs}, pair});
  cases.push_back({"pair_siamese", make_pair_model(siamese_config(32, 32)),
                   {.normalize = pairs}, pair});
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: weft_onnx_cases OUT_DIR [FASHION_MNIST_DIR]\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    const data::LabeledImages test =
        data::load_fashion_mnist(argc == 3 ? argv[2] : data::kFashionMnistDir, "test");
    manual_seed(7);
    Generator generator(11);
    Json cases = Json::array();
    for (Case& c : seed_cases()) {
      randomise_batch_norms(*c.model, generator);
      c.model->eval();
      const std::string onnx_file = c.name + ".onnx";
      models::export_onnx(*c.model, dir + "/" + onnx_file, c.options);
      Json sets = Json::array();
      sets.push_back(run_set(c, dir, "random", 3, generator, nullptr));
      if (c.real_images) sets.push_back(run_set(c, dir, "real", 4, generator, &test));
      cases.push_back({{"name", c.name}, {"onnx", onnx_file}, {"sets", sets}});
      std::printf("%s: exported %s\n", c.name.c_str(), onnx_file.c_str());
    }
    const Json manifest = {{"cases", cases}};
    std::ofstream(dir + "/cases.json") << manifest.dump(1) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft_onnx_cases: error: %s\n", e.what());
    return 1;
  }
}
