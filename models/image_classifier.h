// Choosing an image classifier by name, for the apps that offer several (--model):
//   simple    models/simple_cnn.h, seed 002's first model (2 conv + 2 dense)
//   resnet18  models/resnet.h, torchvision's ResNet-18
//   resnet50  models/resnet.h, torchvision's ResNet-50
// For the ResNets, images of 64 pixels or less get the small-input stem (conv1 3x3 stride 1, no
// max-pool: resnet.h explains), larger ones torchvision's own, whose conv1 ImageNet weights fit.
// Grad-CAM needs the model cut into features and head: classifier_parts() gives both.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace weft::models {

struct ImageClassifierSpec {
  std::string name = "simple";  // simple, resnet18, resnet50
  int in_channels = 3;
  int image_size = 64;  // square images, side in pixels
  int classes = 2;
};

// The names make_image_classifier knows.
const std::vector<std::string>& image_classifier_names();

// weft::Error naming the choices for an unknown name or an image too small for the model.
std::shared_ptr<nn::Module> make_image_classifier(const ImageClassifierSpec& spec);

// The model as features (images -> the last convolution block's activation) and head
// (activation -> logits). For SimpleCnn the features end at the second conv's ReLU, before its
// max-pool; for a ResNet they are ResNet::features.
struct ClassifierParts {
  std::function<Tensor(const Tensor&)> features, head;
};
ClassifierParts classifier_parts(const std::shared_ptr<nn::Module>& model);

// The parameter-name prefixes of the classifier head, replaced in transfer learning: "fc." for
// a ResNet, "classifier." for SimpleCnn.
std::vector<std::string> head_prefixes(const nn::Module& model);

// Transfer learning builds the model with the new class count (its head freshly initialised)
// and loads a backbone file without the head (app::load_backbone with head_prefixes). Then
// freeze_backbone(model, true) leaves only the head trainable and freeze_backbone(model, false)
// makes everything trainable again. (Frozen BatchNorm layers still update their running
// statistics in train mode, as in PyTorch.)
void freeze_backbone(nn::Module& model, bool frozen);

}  // namespace weft::models
