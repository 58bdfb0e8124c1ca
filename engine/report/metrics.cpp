// Classification metrics, their text tables and JSON (see metrics.h).
#include "engine/report/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <utility>

#include "kernels/error.h"

namespace weft::report {

namespace {

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

std::string pad_left(const std::string& text, size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

// One table row: a name column (its control characters escaped), then right-aligned number
// columns.
std::string row(const std::string& name, size_t name_width, const std::vector<std::string>& cells,
                size_t cell_width) {
  std::string line = pad_left(table_name(name), name_width);
  for (const std::string& cell : cells) line += pad_left(cell, cell_width);
  return line + "\n";
}

std::vector<std::string> metric_cells(const ClassMetrics& m, int digits) {
  return {fixed(m.precision, digits), fixed(m.recall, digits), fixed(m.f1, digits),
          std::to_string(m.support)};
}

nlohmann::json metric_json(const ClassMetrics& m) {
  return {{"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}};
}

ClassMetrics from_counts(int64_t tp, int64_t fp, int64_t fn) {
  ClassMetrics m;
  m.precision = safe_ratio(static_cast<double>(tp), static_cast<double>(tp + fp));
  m.recall = safe_ratio(static_cast<double>(tp), static_cast<double>(tp + fn));
  m.f1 = f1_score(m.precision, m.recall);
  m.support = tp + fn;
  return m;
}

void check_lengths(size_t truth, size_t predicted, const char* who) {
  WEFT_CHECK(truth == predicted, who, ": ", truth, " true labels but ", predicted,
             " predictions");
}

}  // namespace

std::string table_name(const std::string& name) {
  std::string out;
  for (const char ch : name) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte != 0x7F) {
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\r') {
      out += "\\r";
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
      out += escaped;
    }
  }
  return out;
}

double safe_ratio(double numerator, double denominator) {
  return denominator == 0 ? 0.0 : numerator / denominator;
}

double f1_score(double precision, double recall) {
  return safe_ratio(2 * precision * recall, precision + recall);
}

double accuracy(const std::vector<int32_t>& truth, const std::vector<int32_t>& predicted) {
  check_lengths(truth.size(), predicted.size(), "accuracy");
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) correct += truth[i] == predicted[i];
  return safe_ratio(static_cast<double>(correct), static_cast<double>(truth.size()));
}

ConfusionMatrix confusion_matrix(const std::vector<int32_t>& truth,
                                 const std::vector<int32_t>& predicted, int num_classes) {
  check_lengths(truth.size(), predicted.size(), "confusion_matrix");
  ConfusionMatrix matrix(static_cast<size_t>(num_classes),
                         std::vector<int64_t>(static_cast<size_t>(num_classes), 0));
  for (size_t i = 0; i < truth.size(); ++i) {
    WEFT_CHECK(truth[i] >= 0 && truth[i] < num_classes, "confusion_matrix: true label of entry ",
               i, " is ", truth[i], ", expected 0..", num_classes - 1);
    WEFT_CHECK(predicted[i] >= 0 && predicted[i] < num_classes, "confusion_matrix: prediction ",
               "of entry ", i, " is ", predicted[i], ", expected 0..", num_classes - 1);
    ++matrix[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
  }
  return matrix;
}

ClassificationReport classification_report(const std::vector<int32_t>& truth,
                                           const std::vector<int32_t>& predicted,
                                           const std::vector<std::string>& class_names) {
  check_lengths(truth.size(), predicted.size(), "classification_report");
  ClassificationReport r;
  r.class_names = class_names;
  if (r.class_names.empty()) {
    int32_t largest = 0;
    for (int32_t v : truth) largest = std::max(largest, v);
    for (int32_t v : predicted) largest = std::max(largest, v);
    for (int32_t c = 0; c <= largest; ++c) r.class_names.push_back(std::to_string(c));
  }
  const int classes = static_cast<int>(r.class_names.size());
  r.confusion = confusion_matrix(truth, predicted, classes);
  r.total = static_cast<int64_t>(truth.size());
  r.accuracy = accuracy(truth, predicted);
  for (int c = 0; c < classes; ++c) {
    const size_t k = static_cast<size_t>(c);
    const int64_t tp = r.confusion[k][k];
    int64_t predicted_as_c = 0;
    for (int t = 0; t < classes; ++t) predicted_as_c += r.confusion[static_cast<size_t>(t)][k];
    const int64_t support =
        std::accumulate(r.confusion[k].begin(), r.confusion[k].end(), int64_t{0});
    r.per_class.push_back(from_counts(tp, predicted_as_c - tp, support - tp));
  }
  for (const ClassMetrics& m : r.per_class) {
    const double weight = safe_ratio(static_cast<double>(m.support), static_cast<double>(r.total));
    r.macro.precision += m.precision / classes;
    r.macro.recall += m.recall / classes;
    r.macro.f1 += m.f1 / classes;
    r.weighted.precision += m.precision * weight;
    r.weighted.recall += m.recall * weight;
    r.weighted.f1 += m.f1 * weight;
  }
  r.macro.support = r.weighted.support = r.total;
  return r;
}

std::string ClassificationReport::table(int digits) const {
  size_t name_width = std::string("weighted avg").size();
  for (const std::string& name : class_names) {
    name_width = std::max(name_width, table_name(name).size());
  }
  const size_t cell = static_cast<size_t>(std::max(10, digits + 6));
  std::string out = row("", name_width, {"precision", "recall", "f1-score", "support"}, cell);
  out += "\n";
  for (size_t c = 0; c < per_class.size(); ++c) {
    out += row(class_names[c], name_width, metric_cells(per_class[c], digits), cell);
  }
  out += "\n";
  out += row("accuracy", name_width, {"", "", fixed(accuracy, digits), std::to_string(total)},
             cell);
  out += row("macro avg", name_width, metric_cells(macro, digits), cell);
  out += row("weighted avg", name_width, metric_cells(weighted, digits), cell);
  return out;
}

nlohmann::json ClassificationReport::to_json() const {
  nlohmann::json classes = nlohmann::json::array();
  for (size_t c = 0; c < per_class.size(); ++c) {
    nlohmann::json entry = metric_json(per_class[c]);
    entry["name"] = class_names[c];
    classes.push_back(entry);
  }
  return {{"accuracy", accuracy},        {"total", total},
          {"classes", classes},          {"macro_avg", metric_json(macro)},
          {"weighted_avg", metric_json(weighted)}, {"confusion_matrix", confusion}};
}

MultiLabelReport multilabel_report(const std::vector<float>& truth,
                                   const std::vector<float>& scores, int64_t samples,
                                   const std::vector<std::string>& label_names,
                                   double threshold) {
  const int64_t labels = static_cast<int64_t>(label_names.size());
  WEFT_CHECK(labels > 0, "multilabel_report: no label names");
  WEFT_CHECK(static_cast<int64_t>(truth.size()) == samples * labels &&
                 truth.size() == scores.size(),
             "multilabel_report: expected ", samples, " x ", labels, " = ", samples * labels,
             " truth values and scores, got ", truth.size(), " and ", scores.size());
  MultiLabelReport r;
  r.label_names = label_names;
  r.threshold = threshold;
  r.samples = samples;
  r.confusion.resize(static_cast<size_t>(labels));
  int64_t wrong = 0, exact_rows = 0;
  for (int64_t s = 0; s < samples; ++s) {
    bool row_right = true;
    for (int64_t l = 0; l < labels; ++l) {
      const size_t at = static_cast<size_t>(s * labels + l);
      WEFT_CHECK(truth[at] == 0.0f || truth[at] == 1.0f, "multilabel_report: truth of sample ",
                 s, ", label '", label_names[static_cast<size_t>(l)], "' is ", truth[at],
                 ", expected 0 or 1");
      const bool actual = truth[at] == 1.0f;
      const bool predicted = scores[at] >= threshold;
      LabelConfusion& c = r.confusion[static_cast<size_t>(l)];
      c.true_positive += actual && predicted;
      c.false_positive += !actual && predicted;
      c.false_negative += actual && !predicted;
      c.true_negative += !actual && !predicted;
      if (actual != predicted) {
        ++wrong;
        row_right = false;
      }
    }
    exact_rows += row_right;
  }
  int64_t tp = 0, fp = 0, fn = 0;
  for (const LabelConfusion& c : r.confusion) {
    r.per_label.push_back(from_counts(c.true_positive, c.false_positive, c.false_negative));
    tp += c.true_positive;
    fp += c.false_positive;
    fn += c.false_negative;
  }
  r.micro = from_counts(tp, fp, fn);
  for (const ClassMetrics& m : r.per_label) {
    r.macro.precision += m.precision / static_cast<double>(labels);
    r.macro.recall += m.recall / static_cast<double>(labels);
    r.macro.f1 += m.f1 / static_cast<double>(labels);
    r.macro.support += m.support;
  }
  r.hamming_loss = safe_ratio(static_cast<double>(wrong), static_cast<double>(samples * labels));
  r.subset_accuracy = safe_ratio(static_cast<double>(exact_rows), static_cast<double>(samples));
  return r;
}

std::string MultiLabelReport::table(int digits) const {
  size_t name_width = std::string("micro avg").size();
  for (const std::string& name : label_names) {
    name_width = std::max(name_width, table_name(name).size());
  }
  const size_t cell = static_cast<size_t>(std::max(10, digits + 6));
  std::string out = row("", name_width,
                        {"precision", "recall", "f1-score", "support", "tp", "fp", "fn", "tn"},
                        cell);
  out += "\n";
  for (size_t l = 0; l < per_label.size(); ++l) {
    std::vector<std::string> cells = metric_cells(per_label[l], digits);
    const LabelConfusion& c = confusion[l];
    for (int64_t v : {c.true_positive, c.false_positive, c.false_negative, c.true_negative}) {
      cells.push_back(std::to_string(v));
    }
    out += row(label_names[l], name_width, cells, cell);
  }
  out += "\n";
  out += row("micro avg", name_width, metric_cells(micro, digits), cell);
  out += row("macro avg", name_width, metric_cells(macro, digits), cell);
  out += "\n";
  const std::pair<const char*, std::string> totals[] = {
      {"hamming loss", fixed(hamming_loss, digits)},
      {"subset acc", fixed(subset_accuracy, digits)},
      {"threshold", std::isnan(threshold) ? std::string("per label") : fixed(threshold, 2)}};
  for (const auto& [name, value] : totals) {
    out += pad_left(name, name_width);
    out += pad_left(value, cell);
    out += "\n";
  }
  return out;
}

nlohmann::json MultiLabelReport::to_json() const {
  nlohmann::json labels = nlohmann::json::array();
  for (size_t l = 0; l < per_label.size(); ++l) {
    nlohmann::json entry = metric_json(per_label[l]);
    entry["name"] = label_names[l];
    const LabelConfusion& c = confusion[l];
    entry["confusion"] = {{"tp", c.true_positive},
                          {"fp", c.false_positive},
                          {"fn", c.false_negative},
                          {"tn", c.true_negative}};
    labels.push_back(entry);
  }
  return {{"labels", labels},
          {"micro_avg", metric_json(micro)},
          {"macro_avg", metric_json(macro)},
          {"hamming_loss", hamming_loss},
          {"subset_accuracy", subset_accuracy},
          {"threshold", threshold},
          {"samples", samples}};
}

double roc_auc(const std::vector<int32_t>& truth, const std::vector<float>& scores) {
  WEFT_CHECK(truth.size() == scores.size(), "roc_auc: ", truth.size(), " labels but ",
             scores.size(), " scores");
  int64_t positives = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    WEFT_CHECK(truth[i] == 0 || truth[i] == 1, "roc_auc: label of entry ", i, " is ", truth[i],
               ", expected 0 or 1");
    WEFT_CHECK(std::isfinite(scores[i]), "roc_auc: score of entry ", i, " is not finite");
    positives += truth[i];
  }
  const int64_t negatives = static_cast<int64_t>(truth.size()) - positives;
  WEFT_CHECK(positives > 0 && negatives > 0, "roc_auc: needs both classes, got ", positives,
             " positives and ", negatives, " negatives");
  std::vector<size_t> order(truth.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) positive_rank_sum += truth[order[k]] * average_rank;
    i = j;
  }
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2.0) / (p * static_cast<double>(negatives));
}

}  // namespace weft::report
