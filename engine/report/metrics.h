// Evaluation metrics and their text / JSON reports.
//
// Single-label classification: accuracy, the confusion matrix (rows = true class, columns =
// predicted class), per-class precision / recall / F1 with support, and their macro average
// (plain mean over classes) and weighted average (weighted by support), as scikit-learn's
// classification_report prints them. A ratio with a zero denominator (a class never predicted,
// or absent from the truth) counts as 0, scikit-learn's zero_division=0.
//
// Multi-label (seed 003): scores are thresholded (0.5 by default) per label; per-label
// precision / recall / F1 and 2x2 confusion (tp, fp, fn, tn); micro F1 (counts pooled over all
// labels), macro F1 (mean of the per-label F1s), Hamming loss (fraction of wrong label
// decisions) and subset accuracy (rows with every label right).
//
// Binary scores: ROC AUC = the probability that a random positive scores above a random
// negative, ties counting one half (the Mann-Whitney statistic), computed from average ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace weft::report {

using ConfusionMatrix = std::vector<std::vector<int64_t>>;  // [true][predicted]

double accuracy(const std::vector<int32_t>& truth, const std::vector<int32_t>& predicted);

// Labels must lie in 0..num_classes-1; an entry outside is an error naming it.
ConfusionMatrix confusion_matrix(const std::vector<int32_t>& truth,
                                 const std::vector<int32_t>& predicted, int num_classes);

struct ClassMetrics {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;  // true members of the class
};

struct ClassificationReport {
  std::vector<std::string> class_names;
  ConfusionMatrix confusion;
  std::vector<ClassMetrics> per_class;
  double accuracy = 0;
  ClassMetrics macro;     // unweighted mean over classes
  ClassMetrics weighted;  // mean weighted by support
  int64_t total = 0;

  // scikit-learn's layout: one row per class, then accuracy, macro avg, weighted avg.
  std::string table(int digits = 4) const;
  // {"accuracy", "classes": [{"name", "precision", "recall", "f1", "support"}], "macro_avg",
  //  "weighted_avg", "confusion_matrix", "total"}
  nlohmann::json to_json() const;
};

// class_names gives the number of classes; empty means 1 + the largest label seen, named by
// number.
ClassificationReport classification_report(const std::vector<int32_t>& truth,
                                           const std::vector<int32_t>& predicted,
                                           const std::vector<std::string>& class_names = {});

struct LabelConfusion {
  int64_t true_positive = 0, false_positive = 0, false_negative = 0, true_negative = 0;
};

struct MultiLabelReport {
  std::vector<std::string> label_names;
  std::vector<ClassMetrics> per_label;
  std::vector<LabelConfusion> confusion;  // per label
  ClassMetrics micro;
  ClassMetrics macro;
  double hamming_loss = 0;
  double subset_accuracy = 0;
  double threshold = 0.5;  // NaN when each label has its own (apps/common/reports.h)
  int64_t samples = 0;

  std::string table(int digits = 4) const;
  nlohmann::json to_json() const;
};

// truth: [samples * labels] 0/1 values, row-major; scores: the same layout, a label is
// predicted when its score >= threshold.
MultiLabelReport multilabel_report(const std::vector<float>& truth,
                                   const std::vector<float>& scores, int64_t samples,
                                   const std::vector<std::string>& label_names,
                                   double threshold = 0.5);

// truth: 0 or 1 per sample; needs at least one of each.
double roc_auc(const std::vector<int32_t>& truth, const std::vector<float>& scores);

// Ratio with 0 for a zero denominator, and F1 from precision and recall.
double safe_ratio(double numerator, double denominator);

// A class or label name as the text tables print it: control characters escaped (a line break as
// \n, others as \xHH), so a folder named with one cannot break a table's rows. The JSON reports
// keep the name as it is.
std::string table_name(const std::string& name);
double f1_score(double precision, double recall);

}  // namespace weft::report
