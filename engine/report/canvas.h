// A small RGB raster canvas for the report figures (figure.h): rectangles, thick lines, text
// and image tiles, saved as PNG.
//
// Text is stb_easy_font's vector font: each character is a handful of axis-aligned quads,
// which we rasterise straight into the pixels, scaled by an integer factor (2 by default, so
// capitals are 14 pixels tall and readable on a screen). Only printable ASCII is drawn; other
// bytes show as '?'. At scale s a line is 12*s pixels high: capitals occupy the top 7*s pixels
// of it, descenders reach about 9*s.
//
// PNGs are encoded in memory (stbi_write_png_to_func) and written with
// io::write_file_atomic, so a reader never sees half a figure.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace weft::report {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
};

namespace colors {
constexpr Color white{255, 255, 255};
constexpr Color black{0, 0, 0};
constexpr Color grid{225, 225, 225};
constexpr Color axis{60, 60, 60};
constexpr Color text{30, 30, 30};
constexpr Color good{30, 140, 50};
constexpr Color bad{200, 40, 40};
}  // namespace colors

// Matplotlib's "tab10" cycle: blue, orange, green, red, purple, brown, pink, grey, olive, cyan.
Color palette(int index);

enum class Align { left, center, right };

class Canvas {
 public:
  Canvas(int width, int height, Color background = colors::white);

  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }  // RGB, row-major
  Color at(int x, int y) const;

  void set(int x, int y, Color color);  // ignores points outside
  void fill_rect(int x, int y, int w, int h, Color color);
  void outline_rect(int x, int y, int w, int h, Color color, int thickness = 1);
  void line(int x0, int y0, int x1, int y1, Color color, int thickness = 1);
  // Connected segments through `points` (x, y); with dash > 0, drawn `dash` steps on and `dash`
  // steps off, the pattern running on across the corners.
  void polyline(const std::vector<std::pair<int, int>>& points, Color color, int thickness = 1,
                int dash = 0);

  // Text with its first line's top at y; x is the left edge, centre or right edge by `align`.
  // '\n' starts a new line.
  void text(int x, int y, const std::string& text, Color color, int scale = 2,
            Align align = Align::left);
  // Text turned 90 degrees counter-clockwise (reading upwards), one line; (x, y) is where the
  // text starts: its bottom end, on its top side (the side the glyph tops face, the left).
  void text_up(int x, int y, const std::string& text, Color color, int scale = 2);
  static int text_width(const std::string& text, int scale = 2);  // widest line
  static int text_height(const std::string& text, int scale = 2);  // lines * 12 * scale

  // Paste a uint8 [channels, h, w] image (1 or 3 channels) with its top-left at (x, y),
  // each pixel drawn as a zoom x zoom block.
  void blit(const uint8_t* image, int channels, int h, int w, int x, int y, int zoom = 1);

  std::string encode_png() const;
  void save_png(const std::string& path) const;  // atomic; weft::Error naming the path

 private:
  int width_;
  int height_;
  std::vector<uint8_t> pixels_;
};

}  // namespace weft::report
