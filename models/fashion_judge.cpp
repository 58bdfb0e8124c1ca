// The Fashion-MNIST classifier as a judge of generated images (see fashion_judge.h).
#include "models/fashion_judge.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "engine/autograd.h"
#include "engine/data/shoe_standin.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/train/classification.h"
#include "kernels/error.h"

namespace weft::models {

FashionJudge FashionJudge::load(const std::string& path, Device device) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = path + "/model.safetensors";
  WEFT_CHECK(std::filesystem::is_regular_file(file), "judge ", file, ": no such file (give ",
             "weft-fashion-mnist's model.safetensors, a checkpoint of it, or its run folder)");
  const io::SafetensorsContents contents = io::load_safetensors(file);

  // A training checkpoint names the model's tensors model.*; a model file names them plainly.
  std::map<std::string, Tensor> state;
  const bool checkpoint = contents.tensors.count("model.features.0.weight") != 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (!checkpoint) {
      state[name] = tensor;
    } else if (name.rfind("model.", 0) == 0) {
      state[name.substr(6)] = tensor;
    }
  }
  auto shape_of = [&](const std::string& name) {
    auto found = state.find(name);
    WEFT_CHECK(found != state.end() && found->second.ndim() >= 2, "judge ", file,
               " is not a FashionCnn (weft-fashion-mnist's model): it has no ", name);
    return found->second.shape();
  };
  const Shape conv = shape_of("features.0.weight");
  const Shape hidden = shape_of("classifier.2.weight");
  const Shape output = shape_of("classifier.4.weight");
  FashionCnnConfig config;
  config.filters = static_cast<int>(conv[0]);
  config.hidden = static_cast<int>(hidden[0]);
  config.classes = static_cast<int>(output[0]);
  config.dropout = 0.0f;  // eval mode anyway

  FashionJudge judge;
  judge.model_ = std::make_shared<FashionCnn>(config);
  try {
    judge.model_->load_state_dict(state);
  } catch (const Error& e) {
    throw Error("judge " + file + " does not fit a FashionCnn: " + e.what());
  }
  judge.model_->to(device);
  judge.model_->eval();
  judge.path_ = file;
  judge.device_ = device;
  return judge;
}

Judgement FashionJudge::judge(const Tensor& images, int64_t batch_size) const {
  WEFT_CHECK(images.ndim() == 4 && images.dtype() == DType::u8 && images.dim(1) == 1 &&
                 images.dim(2) == images.dim(3) && images.dim(2) >= 28,
             "the judge takes uint8 [N, 1, 28, 28] or larger square grayscale images, got ",
             images.str());
  const Tensor input = images.dim(2) == 28 ? images : data::crop_images(images, 28);
  const int64_t n = input.dim(0);
  const auto& layers = model_->classifier->children();

  Judgement out;
  out.count = n;
  out.dim = model_->config.hidden;
  NoGradGuard no_grad;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    Tensor h = model_->features->forward(
        u8_to_f32(input.slice(0, begin, end).to(device_), 1.0f / 255.0f, 0.0f));
    // Every classifier layer but the last gives the features; the last gives the logits.
    for (size_t i = 0; i + 1 < layers.size(); ++i) h = layers[i].second->forward(h);
    const std::vector<float> features = h.to_vector<float>();
    out.features.insert(out.features.end(), features.begin(), features.end());
    const Tensor logits = layers.back().second->forward(h);
    const std::vector<int32_t> predicted =
        train::argmax_rows(logits.to_vector<float>(), end - begin, logits.dim(1));
    out.predicted.insert(out.predicted.end(), predicted.begin(), predicted.end());
  }
  return out;
}

}  // namespace weft::models
