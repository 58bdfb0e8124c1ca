// The report figures, drawn by the engine onto a Canvas (canvas.h) and written as PNG:
//
//   sample_grid          images in a grid, each with its caption (e.g. "true / predicted",
//                        green when right, red when wrong)
//   class_distribution   horizontal bar chart of images per class, counts at the bar ends
//   line_chart           one or more series against epochs, axes with ticks, grid and legend
//   training_curves      accuracy and loss side by side, train solid vs validation dashed
//   confusion_heatmap    counts in a class x class grid, shaded by the fraction of the row
//                        (the true class), with class names on both axes and a colour scale
//   bar_chart            grouped horizontal bars: one group per row label, one bar per series
//                        (e.g. GFLOP/s of one layer shape for the CPU, hand and vendor kernels)
//
// Each function renders a Canvas (so a caller can combine or test it) and has a `save_...`
// twin that writes the PNG atomically. Text is stb_easy_font at scale 2.
#pragma once

#include <string>
#include <vector>

#include "engine/report/canvas.h"
#include "engine/report/metrics.h"
#include "engine/tensor.h"

namespace weft::report {

struct SampleGridOptions {
  int columns = 8;
  int min_tile = 84;  // images are enlarged by a whole factor until at least this wide
  std::string title;
  std::vector<Color> caption_colors;  // per image (optional): e.g. colors::good / colors::bad
};

// images: uint8 [N, C, H, W] (C = 1 or 3) on the CPU; captions: one per image (may hold '\n').
Canvas sample_grid(const Tensor& images, const std::vector<std::string>& captions,
                   const SampleGridOptions& options = {});
void save_sample_grid(const std::string& path, const Tensor& images,
                      const std::vector<std::string>& captions,
                      const SampleGridOptions& options = {});

Canvas class_distribution(const std::vector<std::string>& class_names,
                          const std::vector<int64_t>& counts,
                          const std::string& title = "Class distribution");
void save_class_distribution(const std::string& path, const std::vector<std::string>& class_names,
                             const std::vector<int64_t>& counts,
                             const std::string& title = "Class distribution");

struct Series {
  std::string name;
  std::vector<double> y;  // the values at x = 1, 2, ... (epochs)
  Color color = palette(0);
  bool dashed = false;
};

struct LineChartOptions {
  std::string title;
  std::string x_label = "epoch";
  std::string y_label;
  int width = 720;
  int height = 480;
};

Canvas line_chart(const std::vector<Series>& series, const LineChartOptions& options = {});
void save_line_chart(const std::string& path, const std::vector<Series>& series,
                     const LineChartOptions& options = {});

// Per-epoch history; empty validation vectors are simply not drawn.
struct TrainingHistory {
  std::vector<double> train_loss, validation_loss;
  std::vector<double> train_accuracy, validation_accuracy;
};

Canvas training_curves(const TrainingHistory& history, const std::string& title = "");
void save_training_curves(const std::string& path, const TrainingHistory& history,
                          const std::string& title = "");

Canvas confusion_heatmap(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                         const std::string& title = "Confusion matrix");
void save_confusion_heatmap(const std::string& path, const ConfusionMatrix& matrix,
                            const std::vector<std::string>& class_names,
                            const std::string& title = "Confusion matrix");

// One row of a bar chart: its label and one value per series (NaN: no bar, "n/a" is written).
struct BarGroup {
  std::string label;
  std::vector<double> values;
};

struct BarChartOptions {
  std::string title;
  std::string value_label;          // the x axis, e.g. "GFLOP/s"
  std::vector<std::string> series;  // legend names, one per value of each group
  int plot_width = 560;
};

// Bars start at zero, so values must be >= 0; each bar's value is written at its end.
Canvas bar_chart(const std::vector<BarGroup>& groups, const BarChartOptions& options);
void save_bar_chart(const std::string& path, const std::vector<BarGroup>& groups,
                    const BarChartOptions& options);

// Tick positions for an axis covering [low, high]: a step of 1, 2 or 5 times a power of ten
// giving at most `max_ticks` ticks; the range is widened to whole steps. Exposed for tests.
struct Ticks {
  double low = 0, high = 1, step = 1;
  std::vector<double> values;
  int decimals = 0;  // enough to tell the ticks apart
};
Ticks nice_ticks(double low, double high, int max_ticks = 6);

}  // namespace weft::report
