// Tests of engine/report/canvas.h and figure.h: text lands where it is asked to, ticks are
// round numbers, and every figure saves a PNG that decodes to its canvas size and is not blank.
#include <catch2/catch.hpp>

#include <limits>
#include <set>

#include <stb/stb_image.h>

#include "data_test_util.h"
#include "engine/report/figure.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::report;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

Decoded decode_png(const std::string& path) {
  const std::string bytes = io::read_file(path);
  Decoded d;
  int channels = 0;
  unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                            static_cast<int>(bytes.size()), &d.width, &d.height,
                                            &channels, 3);
  REQUIRE(px != nullptr);
  d.rgb.assign(px, px + static_cast<size_t>(d.width) * d.height * 3);
  stbi_image_free(px);
  return d;
}

// Save, decode, and check the size and that the picture has content in several colours.
void check_figure(const Canvas& canvas, const std::string& path, int min_colors = 3) {
  canvas.save_png(path);
  const Decoded d = decode_png(path);
  CHECK(d.width == canvas.width());
  CHECK(d.height == canvas.height());
  CHECK(d.rgb == canvas.pixels());
  int64_t non_white = 0;
  std::set<uint32_t> colors;
  for (size_t p = 0; p < d.rgb.size(); p += 3) {
    non_white += !(d.rgb[p] == 255 && d.rgb[p + 1] == 255 && d.rgb[p + 2] == 255);
    colors.insert((uint32_t{d.rgb[p]} << 16) | (uint32_t{d.rgb[p + 1]} << 8) | d.rgb[p + 2]);
  }
  CHECK(non_white > static_cast<int64_t>(d.width) * d.height / 50);
  CHECK(static_cast<int>(colors.size()) >= min_colors);
}

}  // namespace

TEST_CASE("canvas text is drawn at scale inside its measured box", "[report][figure]") {
  Canvas canvas(200, 60);
  const int w = Canvas::text_width("Hello", 2);
  CHECK(w > 30);
  CHECK(Canvas::text_width("Hello", 1) * 2 == w);
  CHECK(Canvas::text_height("a\nb", 2) == 48);
  canvas.text(10, 10, "Hello", colors::black, 2);
  int min_x = 1000, max_x = -1, min_y = 1000, max_y = -1;
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = 0; x < canvas.width(); ++x) {
      const Color c = canvas.at(x, y);
      if (c.r == 0) {
        min_x = std::min(min_x, x);
        max_x = std::max(max_x, x);
        min_y = std::min(min_y, y);
        max_y = std::max(max_y, y);
      }
    }
  }
  CHECK(min_x == 10);
  CHECK(max_x == 10 + w - 1);
  CHECK(min_y == 10);
  CHECK(max_y == 10 + 14 - 1);  // capitals and "llo" are 7 font units tall
  // Text turned upwards occupies a tall, narrow box.
  Canvas up(60, 200);
  up.text_up(10, 150, "Hello", colors::black, 2);
  int top = 1000, bottom = -1;
  for (int y = 0; y < up.height(); ++y) {
    for (int x = 0; x < up.width(); ++x) {
      if (up.at(x, y).r == 0) {
        top = std::min(top, y);
        bottom = std::max(bottom, y);
      }
    }
  }
  CHECK(bottom - top + 1 == w);
}

TEST_CASE("nice ticks are round steps covering the range", "[report][figure]") {
  const Ticks unit = nice_ticks(0, 1, 6);
  CHECK(unit.step == Approx(0.2));
  CHECK(unit.values.size() == 6);
  CHECK(unit.decimals == 1);
  const Ticks loss = nice_ticks(0.23, 0.91, 6);
  CHECK(loss.step == Approx(0.2));
  CHECK(loss.low == Approx(0.2));
  CHECK(loss.high == Approx(1.0));
  const Ticks counts = nice_ticks(0, 6000, 6);
  CHECK(counts.step == Approx(2000));
  CHECK(counts.decimals == 0);
}

TEST_CASE("figures save PNGs that decode to the canvas and are not blank", "[report][figure]") {
  weft::test::TempDir dir;
  // Sample grid of 5 gradient images, 1 and 3 channels.
  std::vector<uint8_t> gray(5 * 28 * 28);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i % 251);
  const Tensor images = Tensor::from_vector(gray, {5, 1, 28, 28});
  SampleGridOptions grid;
  grid.columns = 3;
  grid.title = "Samples";
  grid.caption_colors = {colors::good, colors::bad, colors::good, colors::good, colors::bad};
  const Canvas samples =
      sample_grid(images, {"Shirt", "Bag / Coat", "Sneaker", "Dress", "Ankle boot"}, grid);
  CHECK(samples.width() > 3 * 84);
  check_figure(samples, dir.file("samples.png"));
  CHECK_THROWS_WITH(sample_grid(images, {"one"}), Catch::Contains("1 captions for 5 images"));

  check_figure(class_distribution({"Casual", "Formal", "Smart Casual"}, {37360, 2560, 80}),
               dir.file("classes.png"));

  TrainingHistory history;
  for (int e = 0; e < 12; ++e) {
    history.train_loss.push_back(1.0 / (e + 1));
    history.validation_loss.push_back(1.1 / (e + 1) + 0.02 * e);
    history.train_accuracy.push_back(0.6 + 0.03 * e);
    history.validation_accuracy.push_back(0.58 + 0.025 * e);
  }
  check_figure(training_curves(history, "Fashion-MNIST"), dir.file("curves.png"));
  check_figure(line_chart({{"loss", {3, 2, 1.5}, palette(2), false}}, {"Loss", "epoch", "loss"}),
               dir.file("line.png"));

  const ConfusionMatrix matrix = {{50, 3, 0}, {4, 40, 6}, {0, 10, 37}};
  const Canvas heatmap = confusion_heatmap(matrix, {"Shirt", "T-shirt/top", "Pullover"});
  check_figure(heatmap, dir.file("confusion.png"), 5);
  CHECK_THROWS_WITH(confusion_heatmap(matrix, {"a", "b"}), Catch::Contains("2 class names"));
  CHECK_THROWS_WITH(heatmap.save_png(dir.path() + "/no/such/dir/x.png"),
                    Catch::Contains("no/such/dir/x.png"));
}

TEST_CASE("bar chart bars are as long as their values, a missing value draws none",
          "[report][figure]") {
  weft::test::TempDir dir;
  const double missing = std::numeric_limits<double>::quiet_NaN();
  const std::vector<BarGroup> groups = {{"conv1 b512", {10, 5}}, {"conv2 b512", {missing, 20}}};
  const BarChartOptions options{"GFLOP/s per layer", "GFLOP/s", {"hand", "vendor"}};
  const Canvas chart = bar_chart(groups, options);
  check_figure(chart, dir.file("bars.png"));

  // Pixels of each series' colour: its bars plus one legend swatch of the same size in both.
  auto count = [&](Color c) {
    int64_t n = 0;
    for (int y = 0; y < chart.height(); ++y) {
      for (int x = 0; x < chart.width(); ++x) {
        const Color p = chart.at(x, y);
        n += p.r == c.r && p.g == c.g && p.b == c.b;
      }
    }
    return n;
  };
  const int64_t swatch = 16 * 16;
  const double hand = static_cast<double>(count(palette(0)) - swatch);     // the bar of 10
  const double vendor = static_cast<double>(count(palette(1)) - swatch);   // bars of 5 and 20
  REQUIRE(hand > 0);
  CHECK(vendor / hand == Approx(2.5).epsilon(0.02));

  CHECK_THROWS_WITH(bar_chart({{"x", {1}}}, options), Catch::Contains("1 values for 2 series"));
  CHECK_THROWS_WITH(bar_chart({{"x", {1, -2}}}, options), Catch::Contains(">= 0"));
}
