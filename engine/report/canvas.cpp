// RGB canvas with stb_easy_font text and PNG output (see canvas.h). stb_image_write is
// compiled in Debian's libstb (linked by weft_engine); stb_easy_font is header-only, its
// functions static, so it is included here and nowhere else.
#include "engine/report/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft::report {

namespace {

// An axis-aligned rectangle of one glyph stroke, in font units relative to the text origin.
struct Stroke {
  float x0, y0, x1, y1;
};

// The strokes of one line of text (printable ASCII only; stb_easy_font indexes a table by
// character - 32, so anything else becomes '?').
std::vector<Stroke> strokes(const std::string& line) {
  std::string printable = line;
  for (char& c : printable) {
    if (c < 32 || c > 126) c = '?';
  }
  std::vector<char> buffer(printable.size() * 64 * 16 + 64);  // generous: ~16 quads per glyph
  const int quads = stb_easy_font_print(0, 0, printable.data(), nullptr, buffer.data(),
                                        static_cast<int>(buffer.size()));
  std::vector<Stroke> out;
  for (int q = 0; q < quads; ++q) {
    float corners[4][2];
    for (int v = 0; v < 4; ++v) {
      std::memcpy(corners[v], buffer.data() + (q * 4 + v) * 16, 2 * sizeof(float));
    }
    Stroke s{corners[0][0], corners[0][1], corners[0][0], corners[0][1]};
    for (const auto& corner : corners) {
      s.x0 = std::min(s.x0, corner[0]);
      s.y0 = std::min(s.y0, corner[1]);
      s.x1 = std::max(s.x1, corner[0]);
      s.y1 = std::max(s.y1, corner[1]);
    }
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return lines;
    start = end + 1;
  }
}

// The drawn width of one line in font units: where its rightmost stroke ends. (stb_easy_font's
// own width adds the last glyph's advance, which includes the gap after it.)
int line_width(const std::string& line) {
  float right = 0;
  for (const Stroke& s : strokes(line)) right = std::max(right, s.x1);
  return static_cast<int>(std::ceil(right));
}

}  // namespace

Color palette(int index) {
  static const Color tab10[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                  {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                  {188, 189, 34},  {23, 190, 207}};
  return tab10[((index % 10) + 10) % 10];
}

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  WEFT_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, "Canvas: size ",
             width, "x", height, " must be 1..16384 on each side");
  pixels_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t p = 0; p < pixels_.size(); p += 3) {
    pixels_[p] = background.r;
    pixels_[p + 1] = background.g;
    pixels_[p + 2] = background.b;
  }
}

Color Canvas::at(int x, int y) const {
  WEFT_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_, "Canvas::at(", x, ", ", y,
             ") is outside ", width_, "x", height_);
  const size_t p = (static_cast<size_t>(y) * width_ + x) * 3;
  return {pixels_[p], pixels_[p + 1], pixels_[p + 2]};
}

void Canvas::set(int x, int y, Color color) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const size_t p = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[p] = color.r;
  pixels_[p + 1] = color.g;
  pixels_[p + 2] = color.b;
}

void Canvas::fill_rect(int x, int y, int w, int h, Color color) {
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(width_, x + w), y1 = std::min(height_, y + h);
  for (int yy = y0; yy < y1; ++yy) {
    for (int xx = x0; xx < x1; ++xx) set(xx, yy, color);
  }
}

void Canvas::outline_rect(int x, int y, int w, int h, Color color, int thickness) {
  fill_rect(x, y, w, thickness, color);
  fill_rect(x, y + h - thickness, w, thickness, color);
  fill_rect(x, y, thickness, h, color);
  fill_rect(x + w - thickness, y, thickness, h, color);
}

void Canvas::line(int x0, int y0, int x1, int y1, Color color, int thickness) {
  polyline({{x0, y0}, {x1, y1}}, color, thickness);
}

void Canvas::polyline(const std::vector<std::pair<int, int>>& points, Color color, int thickness,
                      int dash) {
  // Bresenham along each segment, stamping a thickness x thickness square centred on each
  // point; `step` counts points over the whole polyline for the dash pattern.
  const int half = (thickness - 1) / 2;
  if (points.size() == 1) {
    fill_rect(points[0].first - half, points[0].second - half, thickness, thickness, color);
    return;
  }
  int64_t step = 0;
  for (size_t k = 0; k + 1 < points.size(); ++k) {
    auto [x0, y0] = points[k];
    const auto [x1, y1] = points[k + 1];
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    while (true) {
      if (dash <= 0 || (step / dash) % 2 == 0) {
        fill_rect(x0 - half, y0 - half, thickness, thickness, color);
      }
      if (x0 == x1 && y0 == y1) break;
      ++step;
      const int e2 = 2 * error;
      if (e2 >= dy) {
        error += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        error += dx;
        y0 += sy;
      }
    }
  }
}

int Canvas::text_width(const std::string& text, int scale) {
  int widest = 0;
  for (const std::string& line : lines_of(text)) widest = std::max(widest, line_width(line));
  return widest * scale;
}

int Canvas::text_height(const std::string& text, int scale) {
  return static_cast<int>(lines_of(text).size()) * 12 * scale;
}

void Canvas::text(int x, int y, const std::string& text, Color color, int scale, Align align) {
  int line_top = y;
  for (const std::string& line : lines_of(text)) {
    const int w = line_width(line) * scale;
    const int left = align == Align::left ? x : (align == Align::center ? x - w / 2 : x - w);
    for (const Stroke& s : strokes(line)) {
      fill_rect(left + static_cast<int>(s.x0) * scale, line_top + static_cast<int>(s.y0) * scale,
                static_cast<int>(s.x1 - s.x0) * scale, static_cast<int>(s.y1 - s.y0) * scale,
                color);
    }
    line_top += 12 * scale;
  }
}

void Canvas::text_up(int x, int y, const std::string& text, Color color, int scale) {
  // Font point (u, v) (u along the text, v down the glyph) goes to (x + v, y - u).
  for (const Stroke& s : strokes(text)) {
    const int u0 = static_cast<int>(s.x0) * scale, u1 = static_cast<int>(s.x1) * scale;
    const int v0 = static_cast<int>(s.y0) * scale, v1 = static_cast<int>(s.y1) * scale;
    fill_rect(x + v0, y - u1, v1 - v0, u1 - u0, color);
  }
}

void Canvas::blit(const uint8_t* image, int channels, int h, int w, int x, int y, int zoom) {
  WEFT_CHECK(channels == 1 || channels == 3, "Canvas::blit: ", channels,
             " channels, expected 1 or 3");
  const size_t plane = static_cast<size_t>(h) * w;
  for (int r = 0; r < h; ++r) {
    for (int c = 0; c < w; ++c) {
      const size_t p = static_cast<size_t>(r) * w + c;
      const Color color = channels == 1 ? Color{image[p], image[p], image[p]}
                                        : Color{image[p], image[plane + p], image[2 * plane + p]};
      fill_rect(x + c * zoom, y + r * zoom, zoom, zoom, color);
    }
  }
}

std::string Canvas::encode_png() const {
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<size_t>(size));
  };
  const int ok = stbi_write_png_to_func(append, &bytes, width_, height_, 3, pixels_.data(),
                                        width_ * 3);
  WEFT_CHECK(ok != 0 && !bytes.empty(), "PNG encoding of a ", width_, "x", height_,
             " canvas failed");
  return bytes;
}

void Canvas::save_png(const std::string& path) const { io::write_file_atomic(path, encode_png()); }

}  // namespace weft::report
