// Loading weights into every app's model through the shared --weights path
// (apps/common/app_common.h): a saved model.safetensors and a training checkpoint load back
// exactly; a file of another model or shape is rejected with the file named and the first
// mismatches listed; transfer learning loads everything but the head and freezes the rest.
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/app_common.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "engine/train/trainer.h"
#include "engine_test_util.h"
#include "model_test_util.h"
#include "models/apparel_cnn.h"
#include "models/fashion_cnn.h"
#include "models/fashion_resnet.h"
#include "models/image_classifier.h"
#include "train_test_util.h"

namespace {

using weft::Tensor;
using weft::nn::Module;

using Factory = std::function<std::shared_ptr<Module>()>;

struct AppModel {
  const char* app;
  Factory make;
};

// The models behind the apps' --weights, at small sizes.
std::vector<AppModel> app_models() {
  using namespace weft::models;
  return {
      {"fashion-mnist (seed CNN)", [] { return std::make_shared<FashionCnn>(FashionCnnConfig{32, 0.3f, 32, 10}); }},
      {"fashion-mnist (strong)", [] { return std::make_shared<FashionResNet>(); }},
      {"shoes / clothing (simple)", [] { return make_image_classifier({"simple", 1, 28, 3}); }},
      {"clothing (resnet18)", [] { return make_image_classifier({"resnet18", 3, 32, 3}); }},
      {"apparel", [] { return std::make_shared<ApparelCnn>(ApparelCnnConfig{3, 24, 6}); }},
  };
}

// The same shape, type and bytes.
bool same_tensor(const Tensor& a, const Tensor& b) {
  const Tensor x = a.cpu(), y = b.cpu();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(),
                     static_cast<size_t>(x.numel()) * weft::dtype_size(x.dtype())) == 0;
}

// Every tensor of the two state dicts holds the same values.
bool same_state(const Module& a, const Module& b) {
  const auto left = a.state_dict(), right = b.state_dict();
  if (left.size() != right.size()) return false;
  for (size_t i = 0; i < left.size(); ++i) {
    if (left[i].first != right[i].first || !same_tensor(left[i].second, right[i].second)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("app weights: each app's model loads its saved model.safetensors back exactly",
          "[app][weights]") {
  weft::test::TempDir dir("app_weights");
  for (const AppModel& entry : app_models()) {
    INFO(entry.app);
    weft::manual_seed(1);
    const std::shared_ptr<Module> trained = entry.make();
    const std::string path = dir.file("model.safetensors");
    weft::app::save_model(path, *trained, "test", {"a", "b", "c"}, {{"size", "24"}});
    weft::manual_seed(2);
    const std::shared_ptr<Module> fresh = entry.make();
    REQUIRE_FALSE(same_state(*trained, *fresh));
    const weft::app::WeightsMetadata metadata = weft::app::load_weights(*fresh, path);
    CHECK(same_state(*trained, *fresh));
    CHECK(metadata.at("model") == trained->type_name());
    CHECK(metadata.at("size") == "24");
    CHECK(weft::app::class_names_from(metadata, {}, path) ==
          std::vector<std::string>{"a", "b", "c"});
  }
}

TEST_CASE("app weights: malformed metadata entries are errors naming the file and the entry",
          "[app][weights]") {
  const std::string file = "w.safetensors";
  const weft::app::WeightsMetadata metadata = {{"class_names", "[\"a\", 3]"},
                                               {"thresholds", "[0.5, 1e999999]"},
                                               {"size", "24"}};
  CHECK(weft::app::class_names_from({}, {"x"}, file) == std::vector<std::string>{"x"});
  CHECK_THROWS_WITH(weft::app::class_names_from(metadata, {"x"}, file),
                    "w.safetensors: the metadata entry \"class_names\" is not a JSON list of "
                    "strings");
  CHECK_THROWS_WITH(weft::app::metadata_value<std::vector<float>>(metadata, "thresholds", file,
                                                                  "a JSON list of numbers"),
                    "w.safetensors: the metadata entry \"thresholds\" is not a JSON list of "
                    "numbers");
  CHECK(weft::app::metadata_value<int>(metadata, "size", file, "an integer") == 24);
  CHECK_FALSE(weft::app::metadata_value<int>(metadata, "epochs", file, "an integer").has_value());
}

TEST_CASE("app weights: a training checkpoint (last.safetensors) loads as weights too",
          "[app][weights]") {
  weft::test::TempDir dir("app_checkpoint");
  weft::manual_seed(3);
  weft::models::FashionCnn trained({16, 0.0f, 8, 10});
  weft::optim::Adam optimizer(trained.parameters(), {1e-3f});
  weft::train::TrainerOptions options;
  options.run_dir = dir.path();
  weft::train::Trainer trainer(trained, optimizer, options);
  trainer.save_checkpoint(dir.file("last.safetensors"));
  weft::manual_seed(4);
  weft::models::FashionCnn fresh({16, 0.0f, 8, 10});
  weft::app::load_weights(fresh, dir.file("last.safetensors"));
  CHECK(same_state(trained, fresh));
}

TEST_CASE("app weights: a file that does not fit is rejected, naming the file and the mismatches",
          "[app][weights]") {
  weft::test::TempDir dir("app_mismatch");
  const std::string path = dir.file("other.safetensors");

  SECTION("another model") {
    weft::models::FashionCnn cnn({32, 0.0f, 32, 10});
    weft::app::save_model(path, cnn, "test", {});
    weft::models::FashionResNet resnet;
    const std::string message =
        weft::test::error_message([&] { weft::app::load_weights(resnet, path); });
    CHECK_THAT(message, Catch::Contains(path) && Catch::Contains("does not fit this FashionResNet") &&
                            Catch::Contains("missing (conv1.weight [32, 1, 3, 3], bn1.weight") &&
                            Catch::Contains("6 unexpected (classifier.2.bias [32]") &&
                            Catch::Contains("more"));
  }
  SECTION("the same model with other sizes") {
    weft::models::FashionCnn narrow({32, 0.0f, 32, 10});
    weft::app::save_model(path, narrow, "test", {});
    weft::models::FashionCnn wide({64, 0.0f, 32, 10});
    const std::string message =
        weft::test::error_message([&] { weft::app::load_weights(wide, path); });
    CHECK_THAT(message, Catch::Contains(path) &&
                            Catch::Contains("3 of another shape (features.0.weight is [32, 1, 3, "
                                            "3] F32, the model's [64, 1, 3, 3] F32"));
  }
  SECTION("no such file, or not safetensors") {
    weft::models::FashionCnn model;
    CHECK_THAT(weft::test::error_message([&] { weft::app::load_weights(model, dir.file("none")); }),
               Catch::Contains(dir.file("none")) && Catch::Contains("no such file"));
    weft::io::save_safetensors(path, {});
    std::FILE* file = std::fopen(path.c_str(), "wb");
    std::fputs("not a safetensors file", file);
    std::fclose(file);
    CHECK_THAT(weft::test::error_message([&] { weft::app::load_weights(model, path); }),
               Catch::Contains(path));
  }
}

TEST_CASE("app weights: transfer loads the backbone without the head, then freezing leaves the "
          "head trainable", "[app][weights][transfer]") {
  weft::test::TempDir dir("app_backbone");
  for (const char* name : {"simple", "resnet18"}) {
    INFO(name);
    weft::manual_seed(5);
    const auto source = weft::models::make_image_classifier({name, 1, 28, 7});
    const std::string path = dir.file(std::string(name) + ".safetensors");
    weft::app::save_model(path, *source, "pretrain", {});
    weft::manual_seed(6);
    const auto target = weft::models::make_image_classifier({name, 1, 28, 3});
    const std::vector<std::string> head = weft::models::head_prefixes(*target);
    const std::string head_weight = head.front() + "weight";
    const Tensor head_before = weft::test::entry(*target, head_weight).clone();
    const int64_t loaded = weft::app::load_backbone(*target, path, head);
    CHECK(loaded == static_cast<int64_t>(source->state_dict().size()) - 2);  // all but weight, bias
    for (const auto& [entry, tensor] : target->state_dict()) {
      if (entry.rfind(head.front(), 0) == 0) continue;
      CHECK(same_tensor(tensor, weft::test::entry(*source, entry)));
    }
    CHECK(same_tensor(weft::test::entry(*target, head_weight), head_before));

    weft::models::freeze_backbone(*target, true);
    for (const auto& [entry, tensor] : target->named_parameters()) {
      CHECK(tensor.requires_grad() == (entry.rfind(head.front(), 0) == 0));
    }
    weft::models::freeze_backbone(*target, false);
    for (const auto& [entry, tensor] : target->named_parameters()) CHECK(tensor.requires_grad());
  }

  // A backbone of another architecture is still rejected.
  const auto simple = weft::models::make_image_classifier({"simple", 1, 28, 7});
  const std::string path = dir.file("simple.safetensors");
  const auto resnet = weft::models::make_image_classifier({"resnet18", 1, 28, 3});
  CHECK_THAT(weft::test::error_message([&] {
               weft::app::load_backbone(*resnet, path, weft::models::head_prefixes(*resnet));
             }),
             Catch::Contains(path) && Catch::Contains("does not fit this ResNet"));
}
