// Decoding image files into uint8 [C, H, W] pixels of one fixed size: the piece that the image
// folder, multi-label and shoe-pair loaders (image_folder.h, pairs.h) share.
//
// Files are read whole and decoded - JPEG (baseline, progressive, CMYK) with libjpeg-turbo
// (jpeg_decode.h), PNG, BMP and binary PGM/PPM with stb_image (stb_decode.h); the loaders take
// files with those extensions - converted to grayscale or RGB, then fitted to the requested size.
// A JPEG much larger than the target is decoded at a reduced scale first (1/8 to 7/8 of each
// side, keeping at least twice the target's sides), which is most of a large photo's cost:
//
//   Fit::pad      letterbox: the image is resized to fit inside the target, aspect ratio kept,
//                 and centred on it with pad_value around
//   Fit::crop     the largest centred window of the target's aspect ratio, then resized
//                 (seed 000's square crops of 136x102 Zappos photos)
//   Fit::stretch  resized straight to the target, aspect ratio not kept
//
// Resizing is resize.h's (Mitchell filter when shrinking, Catmull-Rom when enlarging, as
// stb_image_resize's defaults).
// A height/width of 0 keeps the decoded size; every image of a dataset must then have the
// same size, and one that differs is reported as a bad image.
//
// A JPEG must end with its end-of-image marker, so a half-copied file is reported as truncated
// by name; damaged data inside a JPEG is an error too, never a partly grey or garbled picture
// (jpeg_decode.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/error.h"

namespace weft::data {

enum class Fit { pad, crop, stretch };

struct ImageOptions {
  int height = 0;  // 0 with width 0: keep the decoded size
  int width = 0;
  int channels = 3;  // 1: grayscale (luma), 3: RGB
  Fit fit = Fit::pad;
  uint8_t pad_value = 0;
};

// What to do with an image that cannot be used (corrupt, truncated, unreadable, wrong size).
enum class BadImages {
  fail,  // throw BadImage (a weft::Error) naming the file and the reason
  skip,  // leave it out and list it in the result's `skipped`
};

// The error of a load that BadImages::fail stopped: the apps add how to skip such files.
class BadImage : public Error {
 public:
  using Error::Error;
};

struct SkippedImage {
  std::string path;
  std::string reason;
};

// Decode one file to uint8 [C, H, W] at options' size; weft::Error naming the file otherwise.
// `out` is resized to C*H*W; height and width report the size produced.
void decode_image_file(const std::string& path, const ImageOptions& options,
                       std::vector<uint8_t>& out, int& height, int& width);

// The image extensions the loaders accept (lower case, with the dot).
bool has_image_extension(const std::string& path);

// What decoding a load's files took, for the apps' one line about it.
struct DecodeStats {
  int64_t files = 0;    // files given
  double seconds = 0;   // wall time, reading and decoding
  int threads = 0;      // decoding threads used
};

struct DecodedImages {
  Tensor images;              // uint8 [M, C, H, W]: the files that decoded, in input order
  std::vector<int64_t> kept;  // per image: its position in the input path list
  std::vector<SkippedImage> skipped;
  DecodeStats stats;
};

// A long decode's progress, for a headless run's log: `report` is called on the calling thread
// with the files done so far and the total, each time `every_seconds` have passed since the
// start or the last call (never at the end, which DecodeStats tells).
struct DecodeProgress {
  std::function<void(int64_t done, int64_t total)> report;
  double every_seconds = 10.0;
};

// Decode many files on `threads` threads (0: all cores). Results keep the input order whatever
// the thread count. With BadImages::fail the first bad file in input order is reported.
DecodedImages decode_images(const std::vector<std::string>& paths, const ImageOptions& options,
                            BadImages bad_images, int threads = 0,
                            const DecodeProgress& progress = {});

// Rows `indices` (along axis 0) of a CPU tensor of any dtype, copied in that order.
Tensor gather_rows(const Tensor& tensor, const std::vector<int64_t>& indices);

}  // namespace weft::data
