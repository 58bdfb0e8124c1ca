// Training the shoe-pair models as weft-shoe-pairs does (models/pair_training.h): seed 001's
// sanity check - trained and validated on the same few pairs, every model must exceed 90% -
// and what evaluation reports (accuracy on positives and negatives, ROC AUC).
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/data/pairs.h"
#include "engine/data/shoe_standin.h"
#include "engine/optim/optimizer.h"
#include "models/pair_training.h"
#include "pairs_test_util.h"

using namespace weft;

namespace {

struct FewPairs {
  data::PairedImages photos;
  std::vector<data::PairExample> examples;
};

// 12 stand-in pairs (4 owners of 3) and their 24 examples, half positive.
FewPairs few_pairs() {
  Generator rng(8);
  FewPairs few;
  few.photos = data::mirrored_shoe_pairs(test::rectangle_shoes(2, 6, 16, 9), {}, rng);
  few.examples = data::make_pairs(few.photos, {}, rng);
  return few;
}

}  // namespace

TEST_CASE("pairs sanity: each model learns the few pairs it trains on, above 90%",
          "[pairs][sanity]") {
  const FewPairs few = few_pairs();
  REQUIRE(few.examples.size() == 24);
  for (const char* name : {"cnn", "channel", "siamese"}) {
    SECTION(name) {
      manual_seed(1);
      models::PairCnnConfig config = std::string(name) == "cnn"       ? models::stacked_cnn_config(16, 16)
                                     : std::string(name) == "channel" ? models::channel_cnn_config(16, 16)
                                                                      : models::siamese_config(16, 16);
      config.image_channels = 1;
      auto model = models::make_pair_model(config);
      optim::Adam optimizer(model->parameters(), {.lr = 1e-3f, .weight_decay = 1e-4f});
      Generator shuffle(2);
      for (int epoch = 0; epoch < 30; ++epoch) {
        models::pair_train_epoch(*model, optimizer, few.photos, few.examples, 8, Device::cpu(), shuffle);
      }
      const models::PairEvaluation seen =
          models::evaluate_pairs(*model, few.photos, few.examples, 256, Device::cpu());
      INFO(name << ": accuracy " << seen.accuracy);
      CHECK(seen.accuracy > 0.9);
      CHECK(seen.positives == 12);
      CHECK(seen.negatives == 12);
    }
  }
}

TEST_CASE("pairs evaluation: accuracy on positives and negatives, ROC AUC", "[pairs]") {
  const FewPairs few = few_pairs();
  manual_seed(4);
  auto model = models::make_pair_model([] {
    models::PairCnnConfig config = models::channel_cnn_config(16, 16);
    config.image_channels = 1;
    return config;
  }());
  const models::PairEvaluation e = models::evaluate_pairs(*model, few.photos, few.examples, 5, Device::cpu());
  REQUIRE(e.scores.size() == few.examples.size());
  REQUIRE(e.predicted.size() == few.examples.size());
  int64_t right = 0, right_positive = 0, right_negative = 0;
  for (size_t i = 0; i < few.examples.size(); ++i) {
    CHECK((e.scores[i] >= 0.0f && e.scores[i] <= 1.0f));
    CHECK(e.predicted[i] == (e.scores[i] > 0.5f ? 1 : 0));
    const bool ok = e.predicted[i] == few.examples[i].target;
    right += ok;
    (few.examples[i].target ? right_positive : right_negative) += ok;
  }
  CHECK(e.accuracy == Approx(right / 24.0));
  CHECK(e.positive_accuracy == Approx(right_positive / 12.0));
  CHECK(e.negative_accuracy == Approx(right_negative / 12.0));
  CHECK((e.roc_auc >= 0.0 && e.roc_auc <= 1.0));
  CHECK(std::isfinite(e.loss));
  // Batches of 5 or of all examples give the same answers (eval mode: no batch statistics).
  const models::PairEvaluation whole = models::evaluate_pairs(*model, few.photos, few.examples, 256, Device::cpu());
  for (size_t i = 0; i < e.scores.size(); ++i) CHECK(whole.scores[i] == Approx(e.scores[i]).margin(1e-6));
}
