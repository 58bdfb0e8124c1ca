// The report an app writes into its run folder after evaluating a model: numbers as text and
// JSON, and the figures the seed projects show.
//
// Single-label classifiers (write_classifier_report):
//   classification_report.txt    scikit-learn's per-class precision / recall / F1 table and the
//                                confusion matrix (rows = true class, columns = predicted)
//   classification_report.json   the same numbers
//   figures/samples.png          test images with "true / predicted" captions, green or red
//   figures/class_distribution.png   training images per class
//   figures/accuracy_curve.png   train and validation accuracy per epoch
//   figures/loss_curve.png       train and validation loss per epoch
//   figures/confusion_matrix.png the confusion matrix as a heatmap
//
// Multi-label taggers (write_multilabel_report):
//   multilabel_report.txt/.json  per-label precision / recall / F1 with their 2x2 confusion
//                                counts, micro and macro averages, Hamming loss, thresholds
//   figures/samples.png, figures/label_distribution.png, figures/loss_curve.png,
//   figures/micro_f1_curve.png, figures/confusion_<label>.png (one 2x2 heatmap per label)
//
// The numbers come from engine/report/metrics.h, the drawings from engine/report/figure.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/report/canvas.h"
#include "engine/report/metrics.h"
#include "engine/tensor.h"
#include "engine/train/history.h"

namespace weft::app {

struct ClassifierReportInput {
  std::string title;  // heads the figures, e.g. "Fashion-MNIST seed64-dropout"
  std::vector<std::string> class_names;
  std::vector<int32_t> truth, predicted;  // the evaluated split, one entry per image
  std::vector<int64_t> train_counts;      // training images per class (empty: no figure)
  Tensor sample_images;                   // uint8 [N, C, H, W] from the evaluated split
  std::vector<int32_t> sample_truth, sample_predicted;
  std::vector<train::EpochRecord> history;  // empty (evaluation only): no curves
};

// Writes the files listed above and returns the summary for report.json:
//   {"accuracy", "macro_f1", "weighted_f1", "per_class": [{name, precision, recall, f1,
//    support}], "confusion_matrix", "files": [...]}
nlohmann::ordered_json write_classifier_report(const std::string& run_dir,
                                               const ClassifierReportInput& input);

// A multi-label evaluation where label l counts as predicted when its probability is at least
// thresholds[l]. truth and probabilities are [samples, labels] row-major.
report::MultiLabelReport multilabel_report_at(const std::vector<float>& truth,
                                              const std::vector<float>& probabilities,
                                              int64_t samples,
                                              const std::vector<std::string>& label_names,
                                              const std::vector<float>& thresholds);

// Per label, the threshold among 0.05, 0.10, ..., 0.95 that gives the best F1 on these
// samples (a validation split); ties go to the threshold closest to 0.5, and a label with no
// positive sample keeps 0.5.
std::vector<float> tune_thresholds(const std::vector<float>& truth,
                                   const std::vector<float>& probabilities, int64_t samples,
                                   int64_t labels);

struct MultiLabelReportInput {
  std::string title;
  report::MultiLabelReport report;  // from multilabel_report_at
  std::vector<float> thresholds;    // the ones the report used
  std::vector<int64_t> train_label_counts;  // training images carrying each label
  Tensor sample_images;                     // uint8 [N, C, H, W]
  std::vector<std::string> sample_captions;
  std::vector<report::Color> sample_colors;
  std::vector<train::EpochRecord> history;
};

// Writes the files listed above and returns the summary for report.json:
//   {"micro_f1", "macro_f1", "hamming_loss", "subset_accuracy", "per_label": [{name, f1,
//    precision, recall, support, threshold, confusion: {tp, fp, fn, tn}}], "files": [...]}
nlohmann::ordered_json write_multilabel_report(const std::string& run_dir,
                                               const MultiLabelReportInput& input);

// A line chart of metric `name` over the epochs: "train" from `name`, "validation" from
// "val_<name>" (each drawn when present). Returns false (and draws nothing) when neither is.
bool save_metric_curve(const std::string& path, const std::vector<train::EpochRecord>& history,
                       const std::string& name, const std::string& title);

}  // namespace weft::app
