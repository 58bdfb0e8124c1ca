// Classification and multi-label reports with their figures (see reports.h).
#include "apps/common/reports.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/io/atomic_file.h"
#include "engine/report/figure.h"
#include "kernels/error.h"

namespace weft::app {

namespace fs = std::filesystem;

namespace {

std::string in_folder(const std::string& run_dir, const std::string& name) {
  return (fs::path(run_dir) / name).string();
}

std::string pad_left(const std::string& text, size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string pad_right(const std::string& text, size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

// The confusion matrix as a text table, class indices as column heads (names can be long).
std::string confusion_text(const report::ConfusionMatrix& matrix,
                           const std::vector<std::string>& names) {
  size_t name_width = 4;
  for (const std::string& name : names) {
    name_width = std::max(name_width, report::table_name(name).size() + 4);
  }
  int64_t largest = 0;
  for (const auto& row : matrix) {
    for (int64_t v : row) largest = std::max(largest, v);
  }
  const size_t cell = std::max<size_t>(6, std::to_string(largest).size() + 2);
  std::string out = "confusion matrix (rows: true class, columns: predicted class)\n";
  out += std::string(name_width, ' ');
  for (size_t c = 0; c < matrix.size(); ++c) out += pad_left(std::to_string(c), cell);
  out += "\n";
  for (size_t r = 0; r < matrix.size(); ++r) {
    out += pad_right(pad_left(std::to_string(r), 2) + " " + report::table_name(names[r]),
                     name_width);
    for (int64_t v : matrix[r]) out += pad_left(std::to_string(v), cell);
    out += "\n";
  }
  return out;
}

// A label as part of a file name: letters and digits kept, anything else '_'.
std::string file_safe(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

std::vector<double> column(const std::vector<train::EpochRecord>& history,
                           const std::string& name) {
  std::vector<double> values;
  for (const train::EpochRecord& row : history) {
    const std::optional<double> value = row.metrics.find(name);
    if (!value) return {};
    values.push_back(*value);
  }
  return values;
}

}  // namespace

bool save_metric_curve(const std::string& path, const std::vector<train::EpochRecord>& history,
                       const std::string& name, const std::string& title) {
  std::vector<report::Series> series;
  const std::vector<double> train = column(history, name);
  const std::vector<double> validation = column(history, "val_" + name);
  if (!train.empty()) series.push_back({"train", train, report::palette(0), false});
  if (!validation.empty()) series.push_back({"validation", validation, report::palette(1), true});
  if (series.empty()) return false;
  report::LineChartOptions options;
  options.title = title;
  options.y_label = name;
  report::save_line_chart(path, series, options);
  return true;
}

nlohmann::ordered_json write_classifier_report(const std::string& run_dir,
                                               const ClassifierReportInput& in) {
  const report::ClassificationReport r =
      report::classification_report(in.truth, in.predicted, in.class_names);
  std::vector<std::string> files;
  auto write = [&](const std::string& name, const std::string& text) {
    io::write_file_atomic(in_folder(run_dir, name), text);
    files.push_back(name);
  };
  write("classification_report.txt", (in.title.empty() ? "" : in.title + "\n\n") + r.table() +
                                         "\n" + confusion_text(r.confusion, in.class_names));
  write("classification_report.json", r.to_json().dump(2) + "\n");

  if (in.sample_images.defined() && in.sample_images.dim(0) > 0) {
    std::vector<std::string> captions;
    report::SampleGridOptions grid;
    grid.title = in.title + ": true / predicted";
    for (size_t i = 0; i < in.sample_truth.size(); ++i) {
      const int32_t t = in.sample_truth[i], p = in.sample_predicted[i];
      captions.push_back(in.class_names[static_cast<size_t>(t)] + "\n" +
                         in.class_names[static_cast<size_t>(p)]);
      grid.caption_colors.push_back(t == p ? report::colors::good : report::colors::bad);
    }
    report::save_sample_grid(in_folder(run_dir, "figures/samples.png"), in.sample_images,
                             captions, grid);
    files.push_back("figures/samples.png");
  }
  if (!in.train_counts.empty()) {
    report::save_class_distribution(in_folder(run_dir, "figures/class_distribution.png"),
                                    in.class_names, in.train_counts,
                                    in.title + ": training images per class");
    files.push_back("figures/class_distribution.png");
  }
  if (save_metric_curve(in_folder(run_dir, "figures/accuracy_curve.png"), in.history, "accuracy",
                        in.title + ": accuracy")) {
    files.push_back("figures/accuracy_curve.png");
  }
  if (save_metric_curve(in_folder(run_dir, "figures/loss_curve.png"), in.history, "loss",
                        in.title + ": loss")) {
    files.push_back("figures/loss_curve.png");
  }
  report::save_confusion_heatmap(in_folder(run_dir, "figures/confusion_matrix.png"), r.confusion,
                                 in.class_names, in.title);
  files.push_back("figures/confusion_matrix.png");

  nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
  for (size_t c = 0; c < r.per_class.size(); ++c) {
    const report::ClassMetrics& m = r.per_class[c];
    per_class.push_back({{"name", in.class_names[c]},
                         {"precision", m.precision},
                         {"recall", m.recall},
                         {"f1", m.f1},
                         {"support", m.support}});
  }
  nlohmann::ordered_json summary;
  summary["accuracy"] = r.accuracy;
  summary["macro_f1"] = r.macro.f1;
  summary["weighted_f1"] = r.weighted.f1;
  summary["per_class"] = per_class;
  summary["confusion_matrix"] = r.confusion;
  summary["files"] = files;
  return summary;
}

report::MultiLabelReport multilabel_report_at(const std::vector<float>& truth,
                                              const std::vector<float>& probabilities,
                                              int64_t samples,
                                              const std::vector<std::string>& label_names,
                                              const std::vector<float>& thresholds) {
  const size_t labels = label_names.size();
  WEFT_CHECK(thresholds.size() == labels, "multilabel_report_at: ", thresholds.size(),
             " thresholds for ", labels, " labels");
  WEFT_CHECK(probabilities.size() == static_cast<size_t>(samples) * labels,
             "multilabel_report_at: expected ", samples, " x ", labels, " probabilities, got ",
             probabilities.size());
  // The per-label decisions as 0/1 scores, judged at 0.5 by the shared metric code.
  std::vector<float> decisions(probabilities.size());
  for (size_t i = 0; i < probabilities.size(); ++i) {
    decisions[i] = probabilities[i] >= thresholds[i % labels] ? 1.0f : 0.0f;
  }
  report::MultiLabelReport r = report::multilabel_report(truth, decisions, samples, label_names);
  const bool uniform = std::all_of(thresholds.begin(), thresholds.end(),
                                   [&](float t) { return t == thresholds.front(); });
  r.threshold = uniform ? thresholds.front() : std::nan("");
  return r;
}

std::vector<float> tune_thresholds(const std::vector<float>& truth,
                                   const std::vector<float>& probabilities, int64_t samples,
                                   int64_t labels) {
  WEFT_CHECK(truth.size() == probabilities.size() &&
                 truth.size() == static_cast<size_t>(samples * labels),
             "tune_thresholds: expected ", samples, " x ", labels, " truth values and "
             "probabilities, got ", truth.size(), " and ", probabilities.size());
  std::vector<float> chosen(static_cast<size_t>(labels), 0.5f);
  for (int64_t l = 0; l < labels; ++l) {
    double best_f1 = -1;
    for (int step = 1; step <= 19; ++step) {
      const float t = 0.05f * static_cast<float>(step);
      int64_t tp = 0, fp = 0, fn = 0;
      for (int64_t s = 0; s < samples; ++s) {
        const size_t at = static_cast<size_t>(s * labels + l);
        const bool actual = truth[at] >= 0.5f, predicted = probabilities[at] >= t;
        tp += actual && predicted;
        fp += !actual && predicted;
        fn += actual && !predicted;
      }
      if (tp + fn == 0) break;  // no positives: nothing to tune on
      const double f1 = report::safe_ratio(2.0 * static_cast<double>(tp),
                                           static_cast<double>(2 * tp + fp + fn));
      const float current = chosen[static_cast<size_t>(l)];
      const bool closer = std::fabs(t - 0.5f) < std::fabs(current - 0.5f);
      if (f1 > best_f1 + 1e-12 || (std::fabs(f1 - best_f1) <= 1e-12 && closer)) {
        best_f1 = f1;
        chosen[static_cast<size_t>(l)] = t;
      }
    }
  }
  return chosen;
}

nlohmann::ordered_json write_multilabel_report(const std::string& run_dir,
                                               const MultiLabelReportInput& in) {
  const report::MultiLabelReport& r = in.report;
  std::vector<std::string> files;
  std::string thresholds = "thresholds:";
  for (size_t l = 0; l < r.label_names.size(); ++l) {
    char value[32];
    std::snprintf(value, sizeof(value), " %.2f", static_cast<double>(in.thresholds[l]));
    thresholds += ' ';
    thresholds += report::table_name(r.label_names[l]);
    thresholds += value;
  }
  io::write_file_atomic(in_folder(run_dir, "multilabel_report.txt"),
                        (in.title.empty() ? "" : in.title + "\n\n") + r.table() + thresholds +
                            "\n");
  files.push_back("multilabel_report.txt");
  nlohmann::json json = r.to_json();
  json["thresholds"] = in.thresholds;
  io::write_file_atomic(in_folder(run_dir, "multilabel_report.json"), json.dump(2) + "\n");
  files.push_back("multilabel_report.json");

  if (in.sample_images.defined() && in.sample_images.dim(0) > 0) {
    report::SampleGridOptions grid;
    grid.title = in.title + ": true / predicted labels";
    grid.caption_colors = in.sample_colors;
    report::save_sample_grid(in_folder(run_dir, "figures/samples.png"), in.sample_images,
                             in.sample_captions, grid);
    files.push_back("figures/samples.png");
  }
  if (!in.train_label_counts.empty()) {
    report::save_class_distribution(in_folder(run_dir, "figures/label_distribution.png"),
                                    r.label_names, in.train_label_counts,
                                    in.title + ": training images per label");
    files.push_back("figures/label_distribution.png");
  }
  if (save_metric_curve(in_folder(run_dir, "figures/loss_curve.png"), in.history, "loss",
                        in.title + ": binary cross-entropy")) {
    files.push_back("figures/loss_curve.png");
  }
  if (save_metric_curve(in_folder(run_dir, "figures/micro_f1_curve.png"), in.history, "micro_f1",
                        in.title + ": micro F1 at 0.5")) {
    files.push_back("figures/micro_f1_curve.png");
  }
  nlohmann::ordered_json per_label = nlohmann::ordered_json::array();
  for (size_t l = 0; l < r.label_names.size(); ++l) {
    const report::LabelConfusion& c = r.confusion[l];
    // [[tn, fp], [fn, tp]]: rows true "no" / "yes", columns predicted "no" / "yes".
    const report::ConfusionMatrix matrix = {{c.true_negative, c.false_positive},
                                            {c.false_negative, c.true_positive}};
    const std::string name = "figures/confusion_" + file_safe(r.label_names[l]) + ".png";
    report::save_confusion_heatmap(in_folder(run_dir, name), matrix,
                                   {"not " + r.label_names[l], r.label_names[l]},
                                   in.title + ": " + r.label_names[l]);
    files.push_back(name);
    const report::ClassMetrics& m = r.per_label[l];
    per_label.push_back({{"name", r.label_names[l]},
                         {"f1", m.f1},
                         {"precision", m.precision},
                         {"recall", m.recall},
                         {"support", m.support},
                         {"threshold", in.thresholds[l]},
                         {"confusion",
                          {{"tp", c.true_positive},
                           {"fp", c.false_positive},
                           {"fn", c.false_negative},
                           {"tn", c.true_negative}}}});
  }
  nlohmann::ordered_json summary;
  summary["micro_f1"] = r.micro.f1;
  summary["macro_f1"] = r.macro.f1;
  summary["hamming_loss"] = r.hamming_loss;
  summary["subset_accuracy"] = r.subset_accuracy;
  summary["per_label"] = per_label;
  summary["files"] = files;
  return summary;
}

}  // namespace weft::app
