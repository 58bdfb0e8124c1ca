// Image augmentation on the CPU: random flips, rotation, shear, translation, zoom and random
// crop with padding (the ImageDataGenerator / torchvision set the seed projects use), plus
// per-channel normalisation.
//
// Every geometric augmentation is one affine map. The random parameters of one image are drawn
// into an AugmentParams (forward terms: "rotate the content 30 degrees counter-clockwise"), the
// forward map is built about the image centre and inverted, and each output pixel is then
// sampled from the input at its inverse-mapped position with bilinear interpolation. Positions
// that fall outside the input are filled as Keras' `fill_mode` does:
//
//   constant  kkkk|abcd|kkkk   (k = fill_value)
//   nearest   aaaa|abcd|dddd
//   reflect   dcba|abcd|dcba   (the edge pixel is repeated: Keras / scipy "reflect")
//   wrap      abcd|abcd|abcd
//
// Coordinates: x is the column (0 at the left), y the row (0 at the top), pixel centres at
// integers, the centre of rotation at ((W-1)/2, (H-1)/2). A positive rotation turns the content
// counter-clockwise as it appears on screen. Images here are float [C, H, W] in pixel units
// (0..255 for images that came from bytes); normalisation runs after augmentation.
//
// Randomness comes only from the Generator passed in, so a (seed, offset) pair fixes every draw;
// the loader (loader.h) gives each sample its own generator so batches do not depend on threads.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace weft::data {

enum class FillMode { constant, nearest, reflect, wrap };

// The ranges random parameters are drawn from (all off by default). Keras names in brackets.
struct AugmentOptions {
  bool horizontal_flip = false;  // mirror left-right with probability 1/2 [horizontal_flip]
  bool vertical_flip = false;    // mirror top-bottom with probability 1/2 [vertical_flip]
  float rotation_degrees = 0;    // angle uniform in [-r, r] [rotation_range]
  float shear_degrees = 0;       // horizontal shear angle uniform in [-s, s] [shear_range]
  float width_shift = 0;         // shift uniform in [-f, f] * width [width_shift_range]
  float height_shift = 0;        // shift uniform in [-f, f] * height [height_shift_range]
  float zoom = 0;                // magnification uniform in [1-z, 1+z], x and y drawn apart
                                 // [zoom_range; Keras' factor is our 1/factor]
  int crop_padding = 0;          // pad by p, then crop back at a random offset: a whole-pixel
                                 // shift uniform in [-p, p] (torchvision RandomCrop(padding=p))
  FillMode fill_mode = FillMode::nearest;  // Keras' default
  float fill_value = 0;                     // used by FillMode::constant [cval]

  bool any() const;  // whether anything at all is switched on
};

// One draw of the random parameters, in forward terms.
struct AugmentParams {
  bool flip_horizontal = false;
  bool flip_vertical = false;
  float rotation_degrees = 0;  // counter-clockwise on screen
  float shear_degrees = 0;     // x moves by tan(shear) * (y - centre_y)
  float zoom_x = 1;            // > 1 magnifies
  float zoom_y = 1;
  float shift_x = 0;  // pixels, positive moves the content right
  float shift_y = 0;  // pixels, positive moves the content down
};

// Whether every draw of `options` only mirrors and moves the image by whole pixels (flips and
// crop_padding, nothing else), so that a device kernel can apply it exactly
// (gather_augment_u8_to_f32 in engine/ops.h, used by train::train_epoch).
bool whole_pixel_moves(const AugmentOptions& options);

// The inverse map: an output pixel (x, y) samples the input at
//   x_in = m[0] * x + m[1] * y + m[2],   y_in = m[3] * x + m[4] * y + m[5].
// Kept in double so that exact maps (a 90-degree turn, a flip) land exactly on pixel centres.
struct AffineMap {
  double m[6] = {1, 0, 0, 0, 1, 0};
};

// Draw one set of parameters for an image of height x width (flips first, then rotation,
// shear, shifts, crop offset, zoom; the same options and generator state give the same draw).
AugmentParams draw_params(const AugmentOptions& options, int height, int width,
                          Generator& generator);

// The output-to-input map of `params` for an image of height x width: forward, the content is
// flipped, rotated, sheared and zoomed about the centre, then shifted.
AffineMap inverse_map(const AugmentParams& params, int height, int width);

// dst[c, y, x] = bilinear sample of src[c] at map(x, y), with `fill` for outside positions.
// src and dst are float [channels, height, width] and must not overlap.
void warp_affine(const float* src, float* dst, int channels, int height, int width,
                 const AffineMap& map, FillMode fill, float fill_value);

// warp_affine with the map of `params` (a plain copy when params change nothing).
void apply_augmentation(const AugmentParams& params, const float* src, float* dst, int channels,
                        int height, int width, FillMode fill, float fill_value);

// Draw parameters and apply them: one float [C, H, W] image from src into dst.
void augment_image(const AugmentOptions& options, const float* src, float* dst, int channels,
                   int height, int width, Generator& generator);

// Tensor convenience for notebooks and tests: a float [C, H, W] or [N, C, H, W] CPU tensor,
// each image of a batch with its own draw.
Tensor augment(const Tensor& images, const AugmentOptions& options, Generator& generator);

// out = (pixel * scale - mean[c]) / std[c], for each channel c. Empty mean / std mean 0 / 1; a
// single value applies to every channel. Seed 001's "/255 - 0.5" is {1/255, {0.5}, {1}}.
struct Normalize {
  float scale = 1.0f / 255.0f;
  std::vector<float> mean;
  std::vector<float> std;
};

// Normalise float [channels, height*width] pixels in place.
void normalize_in_place(const Normalize& normalize, float* pixels, int channels,
                        int64_t pixels_per_channel);

}  // namespace weft::data
