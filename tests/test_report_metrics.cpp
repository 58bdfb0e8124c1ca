// Tests of engine/report/metrics.h on inputs small enough to compute by hand.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/report/metrics.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::report;

namespace {

// 10 samples, 3 classes. Confusion (rows true, columns predicted):
//   [3 1 0]   class 0: P 3/3, R 3/4, F1 6/7
//   [0 1 1]   class 1: P 1/3, R 1/2, F1 2/5
//   [0 1 3]   class 2: P 3/4, R 3/4, F1 3/4
const std::vector<int32_t> kTruth = {0, 0, 0, 1, 1, 2, 2, 2, 2, 0};
const std::vector<int32_t> kPredicted = {0, 1, 0, 1, 2, 2, 2, 1, 2, 0};

}  // namespace

TEST_CASE("accuracy and confusion matrix on a known example", "[report][metrics]") {
  CHECK(accuracy(kTruth, kPredicted) == Approx(0.7));
  CHECK(confusion_matrix(kTruth, kPredicted, 3) ==
        ConfusionMatrix{{3, 1, 0}, {0, 1, 1}, {0, 1, 3}});
  CHECK_THROWS_WITH(confusion_matrix({0, 3}, {0, 0}, 3),
                    Catch::Contains("true label of entry 1 is 3, expected 0..2"));
  CHECK_THROWS_WITH(accuracy({0, 1}, {0}), Catch::Contains("2 true labels but 1 predictions"));
}

TEST_CASE("per-class precision, recall, F1 and their averages", "[report][metrics]") {
  const ClassificationReport r = classification_report(kTruth, kPredicted, {"a", "b", "c"});
  REQUIRE(r.per_class.size() == 3);
  CHECK(r.per_class[0].precision == Approx(1.0));
  CHECK(r.per_class[0].recall == Approx(0.75));
  CHECK(r.per_class[0].f1 == Approx(6.0 / 7.0));
  CHECK(r.per_class[1].precision == Approx(1.0 / 3.0));
  CHECK(r.per_class[1].recall == Approx(0.5));
  CHECK(r.per_class[1].f1 == Approx(0.4));
  CHECK(r.per_class[2].f1 == Approx(0.75));
  CHECK(r.per_class[2].support == 4);
  CHECK(r.macro.f1 == Approx((6.0 / 7.0 + 0.4 + 0.75) / 3.0));
  CHECK(r.macro.precision == Approx((1.0 + 1.0 / 3.0 + 0.75) / 3.0));
  CHECK(r.weighted.f1 == Approx((4 * 6.0 / 7.0 + 2 * 0.4 + 4 * 0.75) / 10.0));
  CHECK(r.accuracy == Approx(0.7));

  const std::string table = r.table(2);
  CHECK_THAT(table, Catch::Contains("precision") && Catch::Contains("weighted avg"));
  CHECK_THAT(table, Catch::Contains("0.40"));  // class b's F1
  const nlohmann::json json = r.to_json();
  CHECK(json["classes"][1]["name"] == "b");
  CHECK(json["classes"][1]["f1"].get<double>() == Approx(0.4));
  CHECK(json["confusion_matrix"][2][1] == 1);
  CHECK(json["accuracy"].get<double>() == Approx(0.7));
}

TEST_CASE("a class never predicted has precision 0, not NaN", "[report][metrics]") {
  const ClassificationReport r = classification_report({0, 1, 2}, {0, 0, 0});
  CHECK(r.class_names == std::vector<std::string>{"0", "1", "2"});
  CHECK(r.per_class[1].precision == 0.0);
  CHECK(r.per_class[1].f1 == 0.0);
  CHECK(r.per_class[0].precision == Approx(1.0 / 3.0));
}

TEST_CASE("text tables escape control characters in names; JSON keeps them", "[report][metrics]") {
  CHECK(table_name("plain name") == "plain name");
  CHECK(table_name("two\nlines\tand\x01") == "two\\nlines\\tand\\x01");
  const ClassificationReport r = classification_report(kTruth, kPredicted, {"a", "b\nc", "d"});
  const std::string table = r.table();
  // A header, one row per class, accuracy and two averages (and blank lines): no extra row.
  CHECK(std::count(table.begin(), table.end(), '\n') == 9);
  CHECK(table.find("b\\nc") != std::string::npos);
  CHECK(r.to_json()["classes"][1]["name"] == "b\nc");
  const MultiLabelReport m =
      multilabel_report({1, 0, 0, 1}, {0.9f, 0.1f, 0.7f, 0.8f}, 2, {"x\ty", "z"});
  CHECK(m.table().find("x\\ty") != std::string::npos);
}

TEST_CASE("multi-label F1, Hamming loss and per-label confusion", "[report][metrics]") {
  // Predictions at 0.5: [1 1] [0 1] [0 0] [0 0] against truth [1 0] [1 1] [0 1] [0 0].
  const std::vector<float> truth = {1, 0, 1, 1, 0, 1, 0, 0};
  const std::vector<float> scores = {0.9f, 0.5f, 0.4f, 0.7f, 0.1f, 0.2f, 0.1f, 0.1f};
  const MultiLabelReport r = multilabel_report(truth, scores, 4, {"black", "dress"});
  CHECK(r.confusion[0].true_positive == 1);
  CHECK(r.confusion[0].false_negative == 1);
  CHECK(r.confusion[0].true_negative == 2);
  CHECK(r.confusion[1].false_positive == 1);  // score exactly 0.5 counts as predicted
  CHECK(r.per_label[0].f1 == Approx(2.0 / 3.0));
  CHECK(r.per_label[1].f1 == Approx(0.5));
  CHECK(r.micro.precision == Approx(2.0 / 3.0));
  CHECK(r.micro.recall == Approx(0.5));
  CHECK(r.micro.f1 == Approx(4.0 / 7.0));
  CHECK(r.macro.f1 == Approx((2.0 / 3.0 + 0.5) / 2.0));
  CHECK(r.hamming_loss == Approx(3.0 / 8.0));
  CHECK(r.subset_accuracy == Approx(0.25));
  CHECK_THAT(r.table(), Catch::Contains("hamming loss") && Catch::Contains("dress"));
  CHECK(r.to_json()["labels"][1]["confusion"]["fp"] == 1);
  CHECK(r.to_json()["hamming_loss"].get<double>() == Approx(0.375));
  CHECK_THROWS_WITH(multilabel_report({1, 2}, {0, 0}, 1, {"a", "b"}),
                    Catch::Contains("truth of sample 0, label 'b' is 2"));
  CHECK_THROWS_WITH(multilabel_report({1}, {0}, 1, {"a", "b"}),
                    Catch::Contains("expected 1 x 2 = 2"));
}

TEST_CASE("ROC AUC of known rankings, ties counting one half", "[report][metrics]") {
  CHECK(roc_auc({0, 0, 1, 1}, {0.1f, 0.4f, 0.35f, 0.8f}) == Approx(0.75));
  CHECK(roc_auc({0, 1, 0, 1}, {0.1f, 0.9f, 0.2f, 0.8f}) == Approx(1.0));
  CHECK(roc_auc({1, 0}, {0.1f, 0.9f}) == Approx(0.0));
  CHECK(roc_auc({0, 1, 1}, {0.5f, 0.5f, 0.9f}) == Approx(0.75));
  CHECK_THROWS_WITH(roc_auc({1, 1}, {0.1f, 0.2f}), Catch::Contains("needs both classes"));
  CHECK_THROWS_WITH(roc_auc({0, 2}, {0.1f, 0.2f}), Catch::Contains("label of entry 1 is 2"));
}
