// Image classifiers by name, their features/head split and head prefixes (see image_classifier.h).
#include "models/image_classifier.h"

#include <algorithm>

#include "engine/ops.h"
#include "kernels/error.h"
#include "models/resnet.h"
#include "models/simple_cnn.h"

namespace weft::models {

namespace {

constexpr int kLargestSmallInput = 64;  // images up to this side get the small-input stem

}  // namespace

const std::vector<std::string>& image_classifier_names() {
  static const std::vector<std::string> names = {"simple", "resnet18", "resnet50"};
  return names;
}

std::shared_ptr<nn::Module> make_image_classifier(const ImageClassifierSpec& spec) {
  if (spec.name == "simple") {
    SimpleCnnConfig config;
    config.in_channels = spec.in_channels;
    config.height = config.width = spec.image_size;
    config.classes = spec.classes;
    return std::make_shared<SimpleCnn>(config);
  }
  ResNetOptions options;
  options.in_channels = spec.in_channels;
  options.num_classes = spec.classes;
  options.small_input = spec.image_size <= kLargestSmallInput;
  if (spec.name == "resnet18") return resnet18(options);
  if (spec.name == "resnet50") return resnet50(options);
  throw Error("--model " + spec.name + ": no such model (simple, resnet18, resnet50)");
}

ClassifierParts classifier_parts(const std::shared_ptr<nn::Module>& model) {
  if (auto resnet = std::dynamic_pointer_cast<ResNet>(model)) {
    return {[resnet](const Tensor& x) { return resnet->features(x); },
            [resnet](const Tensor& a) { return resnet->head(a); }};
  }
  if (auto simple = std::dynamic_pointer_cast<SimpleCnn>(model)) {
    // features = conv, ReLU, pool, conv, ReLU (children 0-4); the head starts at the last pool.
    return {[simple](const Tensor& x) {
              Tensor a = x;
              for (size_t i = 0; i < 5; ++i) a = simple->features->at(i)->forward(a);
              return a;
            },
            [simple](const Tensor& a) {
              return simple->classifier->forward(simple->features->at(5)->forward(a));
            }};
  }
  throw Error("classifier_parts: no features/head split known for a " + model->type_name());
}

std::vector<std::string> head_prefixes(const nn::Module& model) {
  if (dynamic_cast<const ResNet*>(&model)) return {"fc."};
  if (dynamic_cast<const SimpleCnn*>(&model)) return {"classifier.3."};
  throw Error("head_prefixes: no classifier head known for a " + model.type_name());
}

void freeze_backbone(nn::Module& model, bool frozen) {
  const std::vector<std::string> head = head_prefixes(model);
  for (auto& [name, tensor] : model.named_parameters()) {
    const bool in_head = std::any_of(head.begin(), head.end(), [&](const std::string& prefix) {
      return name.rfind(prefix, 0) == 0;
    });
    Tensor parameter = tensor;
    parameter.set_requires_grad(in_head || !frozen);
    if (!in_head && frozen) parameter.zero_grad();
  }
}

}  // namespace weft::models
