// Affine augmentation by inverse mapping with bilinear sampling (see augment.h).
#include "engine/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "kernels/error.h"

namespace weft::data {

namespace {

double radians(double degrees) { return degrees * std::numbers::pi / 180.0; }

// Where index i (possibly outside 0..n-1) reads from, or -1 for "use the fill value".
int64_t source_index(int64_t i, int64_t n, FillMode fill) {
  if (i >= 0 && i < n) return i;
  switch (fill) {
    case FillMode::constant:
      return -1;
    case FillMode::nearest:
      return i < 0 ? 0 : n - 1;
    case FillMode::reflect: {
      // Half-sample symmetric: period 2n, the second half mirrored (-1 -> 0, n -> n-1).
      const int64_t period = 2 * n;
      int64_t k = i % period;
      if (k < 0) k += period;
      return k < n ? k : period - 1 - k;
    }
    case FillMode::wrap: {
      int64_t k = i % n;
      return k < 0 ? k + n : k;
    }
  }
  return -1;
}

// A sampling position within 1e-6 of a pixel centre is taken as that centre, so maps that are
// exact in theory (90-degree turns, flips) copy pixels exactly despite rounding in cos/sin.
double snap(double coordinate) {
  const double nearest = std::round(coordinate);
  return std::abs(coordinate - nearest) < 1e-6 ? nearest : coordinate;
}

bool is_identity(const AugmentParams& p) {
  return !p.flip_horizontal && !p.flip_vertical && p.rotation_degrees == 0 &&
         p.shear_degrees == 0 && p.zoom_x == 1 && p.zoom_y == 1 && p.shift_x == 0 &&
         p.shift_y == 0;
}

}  // namespace

bool AugmentOptions::any() const {
  return horizontal_flip || vertical_flip || rotation_degrees != 0 || shear_degrees != 0 ||
         width_shift != 0 || height_shift != 0 || zoom != 0 || crop_padding != 0;
}

bool whole_pixel_moves(const AugmentOptions& options) {
  return options.rotation_degrees == 0 && options.shear_degrees == 0 && options.width_shift == 0 &&
         options.height_shift == 0 && options.zoom == 0;
}

AugmentParams draw_params(const AugmentOptions& options, int height, int width,
                          Generator& generator) {
  WEFT_CHECK(options.zoom >= 0 && options.zoom < 1, "augment: zoom range ", options.zoom,
             " must be in [0, 1)");
  WEFT_CHECK(options.crop_padding >= 0, "augment: crop padding ", options.crop_padding,
             " must not be negative");
  auto symmetric = [&](float range) { return range * (2.0f * generator.uniform() - 1.0f); };
  AugmentParams p;
  if (options.horizontal_flip) p.flip_horizontal = generator.uniform() < 0.5f;
  if (options.vertical_flip) p.flip_vertical = generator.uniform() < 0.5f;
  if (options.rotation_degrees != 0) p.rotation_degrees = symmetric(options.rotation_degrees);
  if (options.shear_degrees != 0) p.shear_degrees = symmetric(options.shear_degrees);
  if (options.width_shift != 0) p.shift_x = symmetric(options.width_shift) * width;
  if (options.height_shift != 0) p.shift_y = symmetric(options.height_shift) * height;
  if (options.crop_padding != 0) {
    // Padding by p and cropping at offset o in [0, 2p] moves the content by p - o pixels.
    const int64_t span = 2 * int64_t{options.crop_padding} + 1;
    p.shift_x += static_cast<float>(options.crop_padding - generator.randint(span));
    p.shift_y += static_cast<float>(options.crop_padding - generator.randint(span));
  }
  if (options.zoom != 0) {
    p.zoom_x = 1.0f + symmetric(options.zoom);
    p.zoom_y = 1.0f + symmetric(options.zoom);
  }
  return p;
}

AffineMap inverse_map(const AugmentParams& p, int height, int width) {
  // Forward: out = centre + M * (in - centre) + shift, with M = Zoom * Shear * Rotation * Flip.
  const double cx = (width - 1) / 2.0;
  const double cy = (height - 1) / 2.0;
  const double theta = radians(p.rotation_degrees);
  const double cos_t = std::cos(theta);
  const double sin_t = std::sin(theta);
  // Counter-clockwise on screen with y pointing down: (1, 0) -> (cos, -sin).
  double m00 = cos_t, m01 = sin_t, m10 = -sin_t, m11 = cos_t;
  if (p.flip_horizontal) {  // flip first: negate the x column
    m00 = -m00;
    m10 = -m10;
  }
  if (p.flip_vertical) {
    m01 = -m01;
    m11 = -m11;
  }
  const double shear = std::tan(radians(p.shear_degrees));  // x += shear * y
  m00 += shear * m10;
  m01 += shear * m11;
  m00 *= p.zoom_x;
  m01 *= p.zoom_x;
  m10 *= p.zoom_y;
  m11 *= p.zoom_y;

  const double det = m00 * m11 - m01 * m10;
  WEFT_CHECK(std::abs(det) > 1e-12, "augment: the transform is singular (shear ",
             p.shear_degrees, " degrees, zoom ", p.zoom_x, " x ", p.zoom_y, ")");
  // in = centre + M^-1 * (out - centre - shift)
  const double a00 = m11 / det, a01 = -m01 / det, a10 = -m10 / det, a11 = m00 / det;
  const double ox = cx + p.shift_x;
  const double oy = cy + p.shift_y;
  AffineMap map;
  map.m[0] = a00;
  map.m[1] = a01;
  map.m[2] = cx - (a00 * ox + a01 * oy);
  map.m[3] = a10;
  map.m[4] = a11;
  map.m[5] = cy - (a10 * ox + a11 * oy);
  return map;
}

namespace {

// One output pixel (all channels) sampled at (sx, sy), any position: each neighbour's source by
// the fill mode. The reference for the interior fast path in warp_affine, which gives the same
// bits where it applies.
void sample_anywhere(const float* src, float* dst, int64_t plane, int channels, int height,
                     int width, double sx, double sy, FillMode fill, float fill_value) {
  sx = snap(sx);
  sy = snap(sy);
  const double fx0 = std::floor(sx);
  const double fy0 = std::floor(sy);
  const float wx = static_cast<float>(sx - fx0);
  const float wy = static_cast<float>(sy - fy0);
  // Positions far outside would overflow int64 on the way; they read as a far-away index.
  const int64_t x0 = static_cast<int64_t>(std::clamp(fx0, -1e9, 1e9));
  const int64_t y0 = static_cast<int64_t>(std::clamp(fy0, -1e9, 1e9));
  const int64_t xs[2] = {source_index(x0, width, fill), source_index(x0 + 1, width, fill)};
  const int64_t ys[2] = {source_index(y0, height, fill), source_index(y0 + 1, height, fill)};
  const float weights[2][2] = {{(1 - wy) * (1 - wx), (1 - wy) * wx}, {wy * (1 - wx), wy * wx}};
  for (int c = 0; c < channels; ++c) {
    const float* image = src + c * plane;
    float value = 0;
    for (int j = 0; j < 2; ++j) {
      for (int i = 0; i < 2; ++i) {
        const float w = weights[j][i];
        if (w == 0) continue;  // skips neighbours beyond the edge when exactly on a pixel
        const float sample = (xs[i] < 0 || ys[j] < 0) ? fill_value : image[ys[j] * width + xs[i]];
        value += w * sample;
      }
    }
    dst[c * plane] = value;
  }
}

// floor(v) for |v| < 2^52 without a library call.
inline double floor_near(double v) {
  const double t = static_cast<double>(static_cast<int64_t>(v));
  return t > v ? t - 1.0 : t;
}

// snap() for |v| < 2^51: the nearest integer taken as floor(v + 0.5), which differs from
// std::round only half-way between integers, where neither snaps.
inline double snap_near(double v) {
  const double nearest = floor_near(v + 0.5);
  return std::abs(v - nearest) < 1e-6 ? nearest : v;
}

}  // namespace

// Per output pixel: the inverse-mapped position, then for positions whose four neighbours all
// lie inside the image (all but a band along the edges), and with FillMode::nearest for every
// position within 1e9 pixels, the bilinear sum straight from the (clamped) neighbours, in the
// same order and with the same zero-weight skips as sample_anywhere; every other position goes
// to sample_anywhere. The same bits either way, at a fraction of the work (no fill-mode
// lookups, no library calls for floor and round: bench/bench_loader.cpp).
void warp_affine(const float* src, float* dst, int channels, int height, int width,
                 const AffineMap& map, FillMode fill, float fill_value) {
  const int64_t plane = int64_t{height} * width;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double sx = map.m[0] * x + map.m[1] * y + map.m[2];
      const double sy = map.m[3] * x + map.m[4] * y + map.m[5];
      float* out = dst + int64_t{y} * width + x;
      if (!(std::abs(sx) < 1e9 && std::abs(sy) < 1e9)) {
        sample_anywhere(src, out, plane, channels, height, width, sx, sy, fill, fill_value);
        continue;
      }
      const double px = snap_near(sx), py = snap_near(sy);
      const double fx0 = floor_near(px), fy0 = floor_near(py);
      const auto x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
      const bool inside = x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height;
      if (!inside && fill != FillMode::nearest) {
        sample_anywhere(src, out, plane, channels, height, width, sx, sy, fill, fill_value);
        continue;
      }
      // Inside, the four neighbours; outside with `nearest` (Keras' default), the clamped ones,
      // which is what source_index gives for that mode.
      const int64_t xa = std::clamp<int64_t>(x0, 0, width - 1);
      const int64_t xb = std::clamp<int64_t>(x0 + 1, 0, width - 1);
      const int64_t ya = std::clamp<int64_t>(y0, 0, height - 1) * width;
      const int64_t yb = std::clamp<int64_t>(y0 + 1, 0, height - 1) * width;
      const float wx = static_cast<float>(px - fx0);
      const float wy = static_cast<float>(py - fy0);
      const float w00 = (1 - wy) * (1 - wx), w01 = (1 - wy) * wx;
      const float w10 = wy * (1 - wx), w11 = wy * wx;
      const float* image = src;
      for (int c = 0; c < channels; ++c, image += plane) {
        float value = 0;
        if (w00 != 0) value += w00 * image[ya + xa];
        if (w01 != 0) value += w01 * image[ya + xb];
        if (w10 != 0) value += w10 * image[yb + xa];
        if (w11 != 0) value += w11 * image[yb + xb];
        out[c * plane] = value;
      }
    }
  }
}

void apply_augmentation(const AugmentParams& params, const float* src, float* dst, int channels,
                        int height, int width, FillMode fill, float fill_value) {
  if (is_identity(params)) {
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(channels) * height * width);
    return;
  }
  warp_affine(src, dst, channels, height, width, inverse_map(params, height, width), fill,
              fill_value);
}

void augment_image(const AugmentOptions& options, const float* src, float* dst, int channels,
                   int height, int width, Generator& generator) {
  const AugmentParams params = draw_params(options, height, width, generator);
  apply_augmentation(params, src, dst, channels, height, width, options.fill_mode,
                     options.fill_value);
}

Tensor augment(const Tensor& images, const AugmentOptions& options, Generator& generator) {
  WEFT_CHECK(images.device().is_cpu() && images.dtype() == DType::f32 &&
                 (images.ndim() == 3 || images.ndim() == 4),
             "augment: expected a float [C, H, W] or [N, C, H, W] CPU tensor, got ",
             images.str());
  const bool batched = images.ndim() == 4;
  const int64_t count = batched ? images.dim(0) : 1;
  const int channels = static_cast<int>(images.dim(-3));
  const int height = static_cast<int>(images.dim(-2));
  const int width = static_cast<int>(images.dim(-1));
  const int64_t image_elements = int64_t{channels} * height * width;
  Tensor out = Tensor::empty(images.shape());
  const float* src = images.data<float>();
  float* dst = out.data<float>();
  for (int64_t n = 0; n < count; ++n) {
    augment_image(options, src + n * image_elements, dst + n * image_elements, channels, height,
                  width, generator);
  }
  return out;
}

void normalize_in_place(const Normalize& normalize, float* pixels, int channels,
                        int64_t pixels_per_channel) {
  auto pick = [&](const std::vector<float>& values, int c, float fallback, const char* what) {
    if (values.empty()) return fallback;
    if (values.size() == 1) return values[0];
    WEFT_CHECK(static_cast<int>(values.size()) == channels, "normalize: ", values.size(), " ",
               what, " values for ", channels, " channels (give 1 or ", channels, ")");
    return values[static_cast<size_t>(c)];
  };
  for (int c = 0; c < channels; ++c) {
    const float mean = pick(normalize.mean, c, 0.0f, "mean");
    const float stddev = pick(normalize.std, c, 1.0f, "std");
    WEFT_CHECK(stddev != 0, "normalize: std of channel ", c, " is zero");
    const float scale = normalize.scale / stddev;
    const float shift = -mean / stddev;
    float* plane = pixels + c * pixels_per_channel;
    for (int64_t i = 0; i < pixels_per_channel; ++i) plane[i] = plane[i] * scale + shift;
  }
}

}  // namespace weft::data
