// resize.h's separable resize: per axis a table of taps (input index, weight) for every output
// index, then a vertical pass (whole rows: out_row = sum_t w_t * in_row[index_t]) and a
// horizontal pass (per output pixel and channel, sum over its taps), in the cheaper order.
#include "engine/data/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/error.h"

namespace weft::data {

namespace {

double mitchell(double x) {  // B = C = 1/3
  x = std::abs(x);
  if (x < 1.0) return (16.0 + x * x * (21.0 * x - 36.0)) / 18.0;
  if (x < 2.0) return (32.0 + x * (-60.0 + x * (36.0 - 7.0 * x))) / 18.0;
  return 0.0;
}

double catmull_rom(double x) {  // B = 0, C = 1/2
  x = std::abs(x);
  if (x < 1.0) return 1.0 - x * x * (2.5 - 1.5 * x);
  if (x < 2.0) return 2.0 - x * (4.0 + x * (0.5 * x - 2.5));
  return 0.0;
}

// The taps of one axis: output index o reads the `count[o]` consecutive input indices from
// start[o], with weights weight[o * width + t]. Taps past the image's edge have had their weight
// added to the edge pixel's (clamping), so every window lies inside the image.
struct Taps {
  int width = 0;
  std::vector<int> start;
  std::vector<int> count;
  std::vector<float> weight;
};

Taps axis_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(out_size) / in_size;
  const bool shrink = scale < 1.0;
  const double stretch = shrink ? 1.0 / scale : 1.0;  // the filter's width in input pixels / 2
  const int span = static_cast<int>(std::ceil(2.0 * stretch)) * 2 + 1;  // taps that may be nonzero
  Taps taps;
  taps.width = std::min(span, in_size);
  taps.start.assign(static_cast<size_t>(out_size), 0);
  taps.count.assign(static_cast<size_t>(out_size), 0);
  taps.weight.assign(static_cast<size_t>(out_size) * taps.width, 0.0f);
  std::vector<double> w(static_cast<size_t>(in_size));
  for (int o = 0; o < out_size; ++o) {
    const double centre = (o + 0.5) / scale;
    const int first = static_cast<int>(std::floor(centre - 2.0 * stretch - 0.5)) + 1;
    // Weights by input index, those past the edges added to the edge pixels (the clamped index
    // never decreases with t, so the window grows at its high end only).
    int lo = -1, hi = -1;
    double total = 0.0;
    for (int t = 0; t < span; ++t) {
      const double x = (first + t + 0.5 - centre) / stretch;
      const double weight = shrink ? mitchell(x) : catmull_rom(x);
      if (weight == 0.0) continue;
      const int i = std::clamp(first + t, 0, in_size - 1);
      if (lo < 0) {
        lo = hi = i;
        w[static_cast<size_t>(i)] = 0.0;
      }
      while (hi < i) w[static_cast<size_t>(++hi)] = 0.0;
      w[static_cast<size_t>(i)] += weight;
      total += weight;
    }
    taps.start[static_cast<size_t>(o)] = lo;
    taps.count[static_cast<size_t>(o)] = hi - lo + 1;
    for (int i = lo; i <= hi; ++i) {
      taps.weight[static_cast<size_t>(o) * taps.width + (i - lo)] =
          static_cast<float>(w[static_cast<size_t>(i)] / total);
    }
  }
  return taps;
}

// A filtered value as the output type: float between the passes, or the final byte (rounded
// to nearest, saturated to 0..255, as stb_image_resize writes it).
inline void store(float value, float& out) { out = value; }
inline void store(float value, uint8_t& out) {
  out = static_cast<uint8_t>(std::min(std::max(value, 0.0f), 255.0f) + 0.5f);
}

// Scratch rows of floats, one buffer per thread and use, kept between calls: the loaders resize
// thousands of images of one size, and fresh buffers of that size cost page faults every time.
// A buffer grown past kKeptScratch floats (a huge picture's rows) is released after its call.
constexpr size_t kKeptScratch = size_t{16} << 20;
thread_local std::vector<float> scratch_buffers[2];

float* scratch(int which, size_t count) {
  std::vector<float>& buffer = scratch_buffers[which];
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

void release_large_scratch() {
  for (std::vector<float>& buffer : scratch_buffers) {
    if (buffer.size() > kKeptScratch) std::vector<float>().swap(buffer);
  }
}

// Rows: out[r] = sum_t w_t * in[start + t] over whole rows of `row` values.
template <class In, class Out>
void vertical(const In* in, size_t row, const Taps& taps, int out_rows, Out* out) {
  float* sum = scratch(1, row);
  for (int r = 0; r < out_rows; ++r) {
    std::fill(sum, sum + row, 0.0f);
    const float* weights = &taps.weight[static_cast<size_t>(r) * taps.width];
    const In* first = in + static_cast<size_t>(taps.start[static_cast<size_t>(r)]) * row;
    for (int t = 0; t < taps.count[static_cast<size_t>(r)]; ++t) {
      const float w = weights[t];
      const In* source = first + static_cast<size_t>(t) * row;
      for (size_t i = 0; i < row; ++i) sum[i] += w * static_cast<float>(source[i]);
    }
    Out* target = out + static_cast<size_t>(r) * row;
    for (size_t i = 0; i < row; ++i) store(sum[i], target[i]);
  }
}

// Columns: for each of `rows` rows of in_width pixels of C channels, out pixel o = sum_t w_t *
// in pixel start + t, all channels at once.
template <int C, class In, class Out>
void horizontal(const In* in, int in_width, int rows, const Taps& taps, int out_width,
                Out* out) {
  for (int r = 0; r < rows; ++r) {
    const In* source = in + static_cast<size_t>(r) * in_width * C;
    Out* target = out + static_cast<size_t>(r) * out_width * C;
    for (int o = 0; o < out_width; ++o) {
      const float* weights = &taps.weight[static_cast<size_t>(o) * taps.width];
      const In* pixel = source + static_cast<size_t>(taps.start[static_cast<size_t>(o)]) * C;
      float sum[C] = {};
      for (int t = 0; t < taps.count[static_cast<size_t>(o)]; ++t) {
        for (int c = 0; c < C; ++c) sum[c] += weights[t] * static_cast<float>(pixel[t * C + c]);
      }
      for (int c = 0; c < C; ++c) store(sum[c], target[o * C + c]);
    }
  }
}

template <class In, class Out>
void horizontal(const In* in, int in_width, int rows, int channels, const Taps& taps,
                int out_width, Out* out) {
  if (channels == 1) {
    horizontal<1>(in, in_width, rows, taps, out_width, out);
  } else if (channels == 3) {
    horizontal<3>(in, in_width, rows, taps, out_width, out);
  } else {
    WEFT_CHECK(channels == 4, "resize: 1, 3 or 4 channels, got ", channels);
    horizontal<4>(in, in_width, rows, taps, out_width, out);
  }
}

}  // namespace

void resize_pixels(const uint8_t* in, int in_width, int in_height, int channels, uint8_t* out,
                   int out_width, int out_height) {
  if (in_width == out_width && in_height == out_height) {
    std::memcpy(out, in, static_cast<size_t>(out_width) * out_height * channels);
    return;
  }
  const bool resize_x = in_width != out_width, resize_y = in_height != out_height;
  const Taps x_taps = resize_x ? axis_taps(in_width, out_width) : Taps{};
  const Taps y_taps = resize_y ? axis_taps(in_height, out_height) : Taps{};
  const size_t in_row = static_cast<size_t>(in_width) * channels;
  const size_t out_row = static_cast<size_t>(out_width) * channels;
  if (!resize_x) {
    vertical(in, in_row, y_taps, out_height, out);
    release_large_scratch();
    return;
  }
  if (!resize_y) {
    horizontal(in, in_width, in_height, channels, x_taps, out_width, out);
    return;
  }
  // Multiply-adds of each order: vertical first filters in_width-wide rows, then out_height of
  // them horizontally; horizontal first filters all in_height rows, then out_width-wide ones.
  const double vertical_first = static_cast<double>(out_height) * in_width * y_taps.width +
                                static_cast<double>(out_height) * out_width * x_taps.width;
  const double horizontal_first = static_cast<double>(in_height) * out_width * x_taps.width +
                                  static_cast<double>(out_height) * out_width * y_taps.width;
  if (vertical_first <= horizontal_first) {
    float* rows = scratch(0, static_cast<size_t>(out_height) * in_row);
    vertical(in, in_row, y_taps, out_height, rows);
    horizontal(rows, in_width, out_height, channels, x_taps, out_width, out);
  } else {
    float* columns = scratch(0, static_cast<size_t>(in_height) * out_row);
    horizontal(in, in_width, in_height, channels, x_taps, out_width, columns);
    vertical(columns, out_row, y_taps, out_height, out);
  }
  release_large_scratch();
}

}  // namespace weft::data
