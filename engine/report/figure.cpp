// Report figures drawn on a Canvas (see figure.h). Layout constants are in pixels; text is
// stb_easy_font at scale 2, so a text line is 24 pixels high and capitals 14.
#include "engine/report/figure.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kernels/error.h"

namespace weft::report {

namespace {

constexpr int kScale = 2;               // text scale
constexpr int kLine = 12 * kScale;      // text line height
constexpr int kCapital = 7 * kScale;    // capital letter height
constexpr int kMargin = 16;
constexpr int kTitleHeight = 44;

std::string format(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

// Blues colour map (matplotlib's, sampled at 0, 0.25, 0.5, 0.75, 1), interpolated linearly.
Color blues(double t) {
  static const std::array<Color, 5> stops = {
      Color{247, 251, 255}, Color{198, 219, 239}, Color{107, 174, 214}, Color{33, 113, 181},
      Color{8, 48, 107}};
  t = std::clamp(t, 0.0, 1.0) * (stops.size() - 1);
  const size_t i = std::min<size_t>(static_cast<size_t>(t), stops.size() - 2);
  const double f = t - static_cast<double>(i);
  auto mix = [&](uint8_t a, uint8_t b) {
    return static_cast<uint8_t>(std::lround(a + (b - a) * f));
  };
  return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g),
          mix(stops[i].b, stops[i + 1].b)};
}

void draw_title(Canvas& canvas, int center_x, int top, const std::string& title) {
  if (!title.empty()) canvas.text(center_x, top + 12, title, colors::text, kScale, Align::center);
}

struct Rect {
  int x, y, w, h;
};

// A chart of `series` inside `area` of `canvas`: title, axes with ticks, grid, lines, legend.
void draw_line_chart(Canvas& canvas, Rect area, const std::vector<Series>& series,
                     const LineChartOptions& options) {
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  size_t points = 0;
  for (const Series& s : series) {
    points = std::max(points, s.y.size());
    for (double v : s.y) {
      if (!std::isfinite(v)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (!std::isfinite(low)) {  // nothing to draw: an empty frame
    low = 0;
    high = 1;
  }
  if (high - low < 1e-12) {
    const double pad = std::max(std::abs(low) * 0.1, 0.5);
    low -= pad;
    high += pad;
  } else {
    const double pad = (high - low) * 0.05;
    low -= pad;
    high += pad;
  }
  const Ticks y_ticks = nice_ticks(low, high, 6);
  const double x_last = std::max<double>(2, static_cast<double>(points));
  Ticks x_ticks = nice_ticks(1, x_last, 10);
  if (x_ticks.step < 1) x_ticks = nice_ticks(1, x_last, static_cast<int>(x_last));
  // A little room on both sides so the first and last points do not sit on the frame.
  const double x_margin = 0.03 * (x_last - 1);
  const double x_low = 1 - x_margin, x_high = x_last + x_margin;

  int tick_label_width = 0;
  for (double v : y_ticks.values) {
    tick_label_width = std::max(tick_label_width,
                                Canvas::text_width(format(v, y_ticks.decimals), kScale));
  }
  const int title_height = options.title.empty() ? 16 : kTitleHeight;
  const int left = area.x + kMargin + (options.y_label.empty() ? 0 : kLine + 8) +
                   tick_label_width + 12;
  const int right = area.x + area.w - kMargin - 8;
  const int top = area.y + title_height;
  const int bottom = area.y + area.h - kMargin - (options.x_label.empty() ? 0 : kLine + 4) -
                     kLine - 10;
  WEFT_CHECK(right - left > 40 && bottom - top > 40, "line chart: ", area.w, "x", area.h,
             " pixels is too small for the axes");
  auto px = [&](double x) {
    return left + static_cast<int>(std::lround((x - x_low) / (x_high - x_low) * (right - left)));
  };
  auto py = [&](double y) {
    return bottom -
           static_cast<int>(std::lround((y - y_ticks.low) / (y_ticks.high - y_ticks.low) *
                                        (bottom - top)));
  };

  draw_title(canvas, (left + right) / 2, area.y, options.title);
  // Grid and tick labels.
  for (double v : y_ticks.values) {
    const int y = py(v);
    canvas.line(left, y, right, y, colors::grid);
    canvas.line(left - 5, y, left, y, colors::axis);
    canvas.text(left - 10, y - kCapital / 2, format(v, y_ticks.decimals), colors::text, kScale,
                Align::right);
  }
  for (double v : x_ticks.values) {
    if (v < x_low - 1e-9 || v > x_high + 1e-9) continue;
    const int x = px(v);
    canvas.line(x, top, x, bottom, colors::grid);
    canvas.line(x, bottom, x, bottom + 5, colors::axis);
    canvas.text(x, bottom + 10, format(v, x_ticks.decimals), colors::text, kScale,
                Align::center);
  }
  canvas.line(left, top, left, bottom, colors::axis, 2);
  canvas.line(left, bottom, right, bottom, colors::axis, 2);
  if (!options.x_label.empty()) {
    canvas.text((left + right) / 2, bottom + 10 + kLine + 4, options.x_label, colors::text,
                kScale, Align::center);
  }
  if (!options.y_label.empty()) {
    const int label_width = Canvas::text_width(options.y_label, kScale);
    canvas.text_up(area.x + kMargin, (top + bottom) / 2 + label_width / 2, options.y_label,
                   colors::text, kScale);
  }

  // The series, with a marker on each point when there are few.
  std::vector<std::vector<std::pair<int, int>>> placed;
  for (const Series& s : series) {
    std::vector<std::pair<int, int>> line;
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (std::isfinite(s.y[i])) line.push_back({px(static_cast<double>(i + 1)), py(s.y[i])});
    }
    canvas.polyline(line, s.color, 2, s.dashed ? 6 : 0);
    if (points <= 40) {
      for (const auto& [x, y] : line) canvas.fill_rect(x - 3, y - 3, 7, 7, s.color);
    }
    placed.push_back(line);
  }

  // Legend in the plot corner that covers the fewest points.
  if (series.empty()) return;
  int legend_text = 0;
  for (const Series& s : series) legend_text = std::max(legend_text, Canvas::text_width(s.name));
  const int legend_w = 12 + 36 + 8 + legend_text + 12;
  const int legend_h = 8 + static_cast<int>(series.size()) * kLine + 4;
  const std::array<std::pair<int, int>, 4> corners = {
      std::pair{right - legend_w - 8, top + 8}, std::pair{left + 8, top + 8},
      std::pair{right - legend_w - 8, bottom - legend_h - 8},
      std::pair{left + 8, bottom - legend_h - 8}};
  size_t best = 0;
  int64_t best_covered = std::numeric_limits<int64_t>::max();
  for (size_t c = 0; c < corners.size(); ++c) {
    int64_t covered = 0;
    for (const auto& line : placed) {
      for (const auto& [x, y] : line) {
        covered += x >= corners[c].first - 4 && x <= corners[c].first + legend_w + 4 &&
                   y >= corners[c].second - 4 && y <= corners[c].second + legend_h + 4;
      }
    }
    if (covered < best_covered) {
      best_covered = covered;
      best = c;
    }
  }
  const auto [lx, ly] = corners[best];
  canvas.fill_rect(lx, ly, legend_w, legend_h, colors::white);
  canvas.outline_rect(lx, ly, legend_w, legend_h, Color{180, 180, 180});
  for (size_t k = 0; k < series.size(); ++k) {
    const int row_y = ly + 8 + static_cast<int>(k) * kLine;
    const int mid = row_y + kCapital / 2;
    canvas.polyline({{lx + 12, mid}, {lx + 48, mid}}, series[k].color, 2,
                    series[k].dashed ? 6 : 0);
    canvas.text(lx + 56, row_y, series[k].name, colors::text, kScale);
  }
}

}  // namespace

Ticks nice_ticks(double low, double high, int max_ticks) {
  WEFT_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high && max_ticks >= 2,
             "nice_ticks: bad range [", low, ", ", high, "] or tick count ", max_ticks);
  if (high - low < 1e-12) high = low + 1;
  const double rough = (high - low) / (max_ticks - 1);
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  Ticks t;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    t.step = factor * power;
    t.low = std::floor(low / t.step + 1e-9) * t.step;
    t.high = std::ceil(high / t.step - 1e-9) * t.step;
    if ((t.high - t.low) / t.step + 1 <= max_ticks + 1e-9) break;
  }
  for (double v = t.low; v <= t.high + t.step * 1e-6; v += t.step) {
    t.values.push_back(std::abs(v) < t.step * 1e-9 ? 0.0 : v);
  }
  t.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(t.step) + 1e-9)));
  return t;
}

Canvas sample_grid(const Tensor& images, const std::vector<std::string>& captions,
                   const SampleGridOptions& options) {
  WEFT_CHECK(images.defined() && images.device().is_cpu() && images.dtype() == DType::u8 &&
                 images.ndim() == 4 && (images.dim(1) == 1 || images.dim(1) == 3),
             "sample_grid: expected uint8 [N, 1 or 3, H, W] images on the CPU, got ",
             images.defined() ? images.str() : "none");
  const int n = static_cast<int>(images.dim(0));
  WEFT_CHECK(n > 0, "sample_grid: no images");
  WEFT_CHECK(static_cast<int>(captions.size()) == n, "sample_grid: ", captions.size(),
             " captions for ", n, " images");
  WEFT_CHECK(options.caption_colors.empty() || static_cast<int>(options.caption_colors.size()) == n,
             "sample_grid: ", options.caption_colors.size(), " caption colours for ", n, " images");
  const int channels = static_cast<int>(images.dim(1));
  const int h = static_cast<int>(images.dim(2));
  const int w = static_cast<int>(images.dim(3));
  const int zoom = std::max(1, (options.min_tile + w - 1) / w);
  int caption_w = 0, caption_h = 0;
  for (const std::string& caption : captions) {
    caption_w = std::max(caption_w, Canvas::text_width(caption, kScale));
    caption_h = std::max(caption_h, Canvas::text_height(caption, kScale));
  }
  const int tile_w = std::max(w * zoom, caption_w) + 2 * kMargin;
  const int tile_h = h * zoom + 8 + caption_h + kMargin;
  const int columns = std::max(1, std::min(options.columns, n));
  const int rows = (n + columns - 1) / columns;
  const int title_h = options.title.empty() ? kMargin : kTitleHeight;
  Canvas canvas(columns * tile_w + 2 * kMargin, title_h + rows * tile_h + kMargin);
  draw_title(canvas, canvas.width() / 2, 0, options.title);
  const uint8_t* pixels = images.data<uint8_t>();
  const int64_t elements = int64_t{channels} * h * w;
  for (int i = 0; i < n; ++i) {
    const int tile_x = kMargin + (i % columns) * tile_w;
    const int tile_y = title_h + (i / columns) * tile_h;
    const int image_x = tile_x + (tile_w - w * zoom) / 2;
    canvas.blit(pixels + i * elements, channels, h, w, image_x, tile_y, zoom);
    canvas.outline_rect(image_x - 1, tile_y - 1, w * zoom + 2, h * zoom + 2, Color{190, 190, 190});
    const Color color = options.caption_colors.empty() ? colors::text
                                                        : options.caption_colors[static_cast<size_t>(i)];
    canvas.text(tile_x + tile_w / 2, tile_y + h * zoom + 8, captions[static_cast<size_t>(i)],
                color, kScale, Align::center);
  }
  return canvas;
}

void save_sample_grid(const std::string& path, const Tensor& images,
                      const std::vector<std::string>& captions, const SampleGridOptions& options) {
  sample_grid(images, captions, options).save_png(path);
}

Canvas class_distribution(const std::vector<std::string>& class_names,
                          const std::vector<int64_t>& counts, const std::string& title) {
  WEFT_CHECK(!counts.empty() && class_names.size() == counts.size(), "class_distribution: ",
             class_names.size(), " names for ", counts.size(), " counts");
  int64_t total = 0, largest = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    WEFT_CHECK(counts[c] >= 0, "class_distribution: count of '", class_names[c], "' is ",
               counts[c]);
    total += counts[c];
    largest = std::max(largest, counts[c]);
  }
  const Ticks ticks = nice_ticks(0, static_cast<double>(std::max<int64_t>(largest, 1)), 6);
  auto value_label = [&](int64_t count) {
    const double percent = total == 0 ? 0.0 : 100.0 * static_cast<double>(count) / total;
    return std::to_string(count) + " (" + format(percent, 1) + "%)";
  };
  int name_w = 0, value_w = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    name_w = std::max(name_w, Canvas::text_width(class_names[c], kScale));
    value_w = std::max(value_w, Canvas::text_width(value_label(counts[c]), kScale));
  }
  constexpr int kBar = 26, kGap = 12, kPlotWidth = 560;
  const int left = kMargin + name_w + 14;
  const int right = left + kPlotWidth;
  const int top = kTitleHeight;
  const int rows = static_cast<int>(counts.size());
  const int bottom = top + rows * (kBar + kGap) + kGap;
  const int width = right + value_w + 2 * kMargin;
  const int height = bottom + 10 + kLine + 4 + kLine + kMargin;
  Canvas canvas(width, height);
  draw_title(canvas, (left + right) / 2, 0, title + " (" + std::to_string(total) + " images)");
  auto px = [&](double v) {
    return left + static_cast<int>(std::lround(v / ticks.high * kPlotWidth));
  };
  for (double v : ticks.values) {
    const int x = px(v);
    canvas.line(x, top, x, bottom, colors::grid);
    canvas.line(x, bottom, x, bottom + 5, colors::axis);
    canvas.text(x, bottom + 10, format(v, ticks.decimals), colors::text, kScale, Align::center);
  }
  for (int c = 0; c < rows; ++c) {
    const int y = top + kGap + c * (kBar + kGap);
    const int64_t count = counts[static_cast<size_t>(c)];
    const int end = px(static_cast<double>(count));
    canvas.fill_rect(left, y, end - left, kBar, palette(0));
    canvas.text(left - 10, y + (kBar - kCapital) / 2, class_names[static_cast<size_t>(c)],
                colors::text, kScale, Align::right);
    canvas.text(end + 8, y + (kBar - kCapital) / 2, value_label(count), colors::text, kScale);
  }
  canvas.line(left, top, left, bottom, colors::axis, 2);
  canvas.line(left, bottom, right, bottom, colors::axis, 2);
  canvas.text((left + right) / 2, bottom + 10 + kLine + 4, "images", colors::text, kScale,
              Align::center);
  return canvas;
}

void save_class_distribution(const std::string& path, const std::vector<std::string>& class_names,
                             const std::vector<int64_t>& counts, const std::string& title) {
  class_distribution(class_names, counts, title).save_png(path);
}

Canvas line_chart(const std::vector<Series>& series, const LineChartOptions& options) {
  Canvas canvas(options.width, options.height);
  draw_line_chart(canvas, {0, 0, options.width, options.height}, series, options);
  return canvas;
}

void save_line_chart(const std::string& path, const std::vector<Series>& series,
                     const LineChartOptions& options) {
  line_chart(series, options).save_png(path);
}

Canvas training_curves(const TrainingHistory& history, const std::string& title) {
  constexpr int kPanelW = 680, kPanelH = 460;
  const int title_h = title.empty() ? 0 : kTitleHeight;
  Canvas canvas(2 * kPanelW, title_h + kPanelH);
  draw_title(canvas, canvas.width() / 2, 0, title);
  auto panel = [&](int index, const std::string& name, const std::vector<double>& train,
                   const std::vector<double>& validation) {
    std::vector<Series> series;
    if (!train.empty()) series.push_back({"train", train, palette(0), false});
    if (!validation.empty()) series.push_back({"validation", validation, palette(1), true});
    LineChartOptions options;
    options.title = name;
    options.y_label = name == "Accuracy" ? "accuracy" : "loss";
    draw_line_chart(canvas, {index * kPanelW, title_h, kPanelW, kPanelH}, series, options);
  };
  panel(0, "Accuracy", history.train_accuracy, history.validation_accuracy);
  panel(1, "Loss", history.train_loss, history.validation_loss);
  return canvas;
}

void save_training_curves(const std::string& path, const TrainingHistory& history,
                          const std::string& title) {
  training_curves(history, title).save_png(path);
}

Canvas confusion_heatmap(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                         const std::string& title) {
  const int k = static_cast<int>(matrix.size());
  WEFT_CHECK(k > 0 && static_cast<int>(class_names.size()) == k, "confusion_heatmap: ",
             class_names.size(), " class names for a ", k, "x", k, " matrix");
  int64_t largest = 0;
  for (int r = 0; r < k; ++r) {
    WEFT_CHECK(static_cast<int>(matrix[static_cast<size_t>(r)].size()) == k,
               "confusion_heatmap: row ", r, " has ", matrix[static_cast<size_t>(r)].size(),
               " entries, expected ", k);
    for (int64_t v : matrix[static_cast<size_t>(r)]) largest = std::max(largest, v);
  }
  int name_w = 0;
  for (const std::string& name : class_names) {
    name_w = std::max(name_w, Canvas::text_width(name, kScale));
  }
  // Cells fit the largest count; a small matrix is enlarged so that the rotated axis titles
  // beside it fit in its height.
  const int min_grid = Canvas::text_width("fraction of row", kScale) + 40;
  const int cell = std::max({56, Canvas::text_width(std::to_string(largest), kScale) + 14,
                             (min_grid + k - 1) / k});
  const int left = kMargin + kLine + 12 + name_w + 10;  // axis title, names, gap
  const int top = kTitleHeight;
  const int grid = k * cell;
  const int scale_x = left + grid + 24;  // colour scale bar
  const int width = scale_x + 20 + 10 + Canvas::text_width("1.0", kScale) + kMargin +
                    kLine + 8;
  const int height = top + grid + 10 + name_w + 12 + kLine + kMargin;
  Canvas canvas(width, height);
  draw_title(canvas, left + grid / 2, 0, title);

  for (int r = 0; r < k; ++r) {
    const std::vector<int64_t>& row = matrix[static_cast<size_t>(r)];
    int64_t row_total = 0;
    for (int64_t v : row) row_total += v;
    for (int c = 0; c < k; ++c) {
      const int64_t count = row[static_cast<size_t>(c)];
      const double fraction =
          row_total == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(row_total);
      const int x = left + c * cell, y = top + r * cell;
      canvas.fill_rect(x, y, cell, cell, blues(fraction));
      const std::string text = std::to_string(count);
      const int text_scale = Canvas::text_width(text, kScale) + 6 <= cell ? kScale : 1;
      canvas.text(x + cell / 2, y + (cell - 7 * text_scale) / 2, text,
                  fraction > 0.5 ? colors::white : colors::text, text_scale, Align::center);
    }
  }
  for (int i = 0; i <= k; ++i) {  // cell borders
    canvas.line(left + i * cell, top, left + i * cell, top + grid, Color{200, 200, 200});
    canvas.line(left, top + i * cell, left + grid, top + i * cell, Color{200, 200, 200});
  }
  canvas.outline_rect(left, top, grid + 1, grid + 1, colors::axis, 2);
  for (int i = 0; i < k; ++i) {
    const std::string& name = class_names[static_cast<size_t>(i)];
    canvas.text(left - 10, top + i * cell + (cell - kCapital) / 2, name, colors::text, kScale,
                Align::right);
    const int name_width = Canvas::text_width(name, kScale);
    canvas.text_up(left + i * cell + (cell - kCapital) / 2, top + grid + 10 + name_width, name,
                   colors::text, kScale);
  }
  const int true_w = Canvas::text_width("true class", kScale);
  canvas.text_up(kMargin, top + grid / 2 + true_w / 2, "true class", colors::text, kScale);
  canvas.text(left + grid / 2, top + grid + 10 + name_w + 12, "predicted class", colors::text,
              kScale, Align::center);

  // Colour scale: fraction of the true class's row, 1 at the top.
  for (int y = 0; y < grid; ++y) {
    canvas.fill_rect(scale_x, top + y, 20, 1, blues(1.0 - static_cast<double>(y) / (grid - 1)));
  }
  canvas.outline_rect(scale_x, top, 20, grid, colors::axis);
  for (double v : {0.0, 0.5, 1.0}) {
    const int y = top + static_cast<int>(std::lround((1.0 - v) * (grid - 1)));
    canvas.line(scale_x + 20, y, scale_x + 25, y, colors::axis);
    canvas.text(scale_x + 30, y - kCapital / 2, format(v, 1), colors::text, kScale);
  }
  const int scale_label_w = Canvas::text_width("fraction of row", kScale);
  canvas.text_up(width - kMargin - kLine + 4, top + grid / 2 + scale_label_w / 2,
                 "fraction of row", colors::text, kScale);
  return canvas;
}

void save_confusion_heatmap(const std::string& path, const ConfusionMatrix& matrix,
                            const std::vector<std::string>& class_names, const std::string& title) {
  confusion_heatmap(matrix, class_names, title).save_png(path);
}

// Layout, top to bottom: title, legend (one swatch per series), then per group a block of
// series bars with the group label left of the block, then the value axis.
Canvas bar_chart(const std::vector<BarGroup>& groups, const BarChartOptions& options) {
  const size_t series = options.series.size();
  WEFT_CHECK(!groups.empty() && series > 0, "bar_chart: ", groups.size(), " groups, ", series,
             " series");
  double largest = 0;
  for (const BarGroup& group : groups) {
    WEFT_CHECK(group.values.size() == series, "bar_chart: group '", group.label, "' has ",
               group.values.size(), " values for ", series, " series");
    for (double v : group.values) {
      if (std::isnan(v)) continue;
      WEFT_CHECK(std::isfinite(v) && v >= 0, "bar_chart: value ", v, " in group '", group.label,
                 "' (bars need finite values >= 0)");
      largest = std::max(largest, v);
    }
  }
  const Ticks ticks = nice_ticks(0, largest > 0 ? largest : 1, 6);
  auto value_text = [](double v) {
    if (std::isnan(v)) return std::string("n/a");
    const int decimals = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
    return format(v, decimals);
  };
  int label_w = 0, value_w = 0, legend_w = 0;
  for (const BarGroup& group : groups) {
    label_w = std::max(label_w, Canvas::text_width(group.label, kScale));
    for (double v : group.values) value_w = std::max(value_w, Canvas::text_width(value_text(v)));
  }
  constexpr int kBar = 20, kGroupGap = 14, kSwatch = 16;
  for (const std::string& name : options.series) {
    legend_w += kSwatch + 6 + Canvas::text_width(name, kScale) + 20;
  }
  const int left = kMargin + label_w + 14;
  const int right = left + options.plot_width;
  const int legend_top = kTitleHeight;
  const int top = legend_top + kLine + 12;
  const int group_h = static_cast<int>(series) * kBar + kGroupGap;
  const int bottom = top + static_cast<int>(groups.size()) * group_h + kGroupGap;
  const int width = std::max(right + value_w + 12, left + legend_w) + kMargin;
  const int height = bottom + 10 + kLine + 4 + kLine + kMargin;
  Canvas canvas(width, height);
  draw_title(canvas, width / 2, 0, options.title);

  int legend_x = left;
  for (size_t s = 0; s < series; ++s) {
    canvas.fill_rect(legend_x, legend_top + (kLine - kSwatch) / 2, kSwatch, kSwatch,
                     palette(static_cast<int>(s)));
    legend_x += kSwatch + 6;
    canvas.text(legend_x, legend_top + (kLine - kCapital) / 2, options.series[s], colors::text,
                kScale);
    legend_x += Canvas::text_width(options.series[s], kScale) + 20;
  }
  auto px = [&](double v) {
    return left + static_cast<int>(std::lround(v / ticks.high * options.plot_width));
  };
  for (double v : ticks.values) {
    const int x = px(v);
    canvas.line(x, top, x, bottom, colors::grid);
    canvas.line(x, bottom, x, bottom + 5, colors::axis);
    canvas.text(x, bottom + 10, format(v, ticks.decimals), colors::text, kScale, Align::center);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const int y0 = top + kGroupGap + static_cast<int>(g) * group_h;
    canvas.text(left - 10, y0 + (static_cast<int>(series) * kBar - kCapital) / 2,
                groups[g].label, colors::text, kScale, Align::right);
    for (size_t s = 0; s < series; ++s) {
      const double v = groups[g].values[s];
      const int y = y0 + static_cast<int>(s) * kBar;
      const int end = std::isnan(v) ? left : px(v);
      if (end > left) {
        canvas.fill_rect(left, y + 1, end - left, kBar - 2, palette(static_cast<int>(s)));
      }
      canvas.text(end + 6, y + (kBar - kCapital) / 2, value_text(v), colors::text, kScale);
    }
  }
  canvas.line(left, top, left, bottom, colors::axis, 2);
  canvas.line(left, bottom, right, bottom, colors::axis, 2);
  canvas.text((left + right) / 2, bottom + 10 + kLine + 4, options.value_label, colors::text,
              kScale, Align::center);
  return canvas;
}

void save_bar_chart(const std::string& path, const std::vector<BarGroup>& groups,
                    const BarChartOptions& options) {
  bar_chart(groups, options).save_png(path);
}

}  // namespace weft::report
