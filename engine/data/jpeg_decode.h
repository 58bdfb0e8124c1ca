// JPEG decoding with libjpeg-turbo (Debian's libjpeg62-turbo, the decoder Pillow and torchvision
// use): SIMD colour conversion and IDCTs, and decoding at a reduced scale straight from the DCT
// coefficients, which a photo far larger than the network's input needs (a 1,800 x 2,400 product
// photo for a 224 x 224 ResNet input decodes at a quarter of each side; bench/bench_images.cpp).
//
// Corrupt or truncated data is an error, not a grey or garbled picture: libjpeg reports damaged
// entropy-coded data (a bad Huffman code, a premature end of a segment or of the file, a lost
// restart marker) as warnings and carries on; here those warnings end the decode. Warnings that
// leave the pixels intact (extra bytes before a marker, an unknown JFIF revision or Adobe
// transform) are ignored, as Pillow ignores them. A progressive file may have at most kMaxScans
// scans and the decoder at most kMaxMemory bytes of working memory (the whole-image coefficient
// buffers of progressive files): both bound what a small crafted file can cost, as TurboJPEG's
// own limits do. Sides above max_side pixels are refused from the header, before decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::data::jpeg {

constexpr int kMaxScans = 500;
constexpr long kMaxMemory = 1L << 30;

// Interleaved pixels [height, width, channels].
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// Decode JPEG bytes to `channels` (1: a grey file's grey, or the luma of a colour file's RGB
// pixels as Pillow's convert("L") computes it; 3: RGB; CMYK files converted as stb_image did) into
// `out`. With min_width and min_height above 0 the file is decoded at the smallest of libjpeg's
// scales M/8 (M = 1..8) whose output is at least that large, full size when none is smaller.
// Returns "" on success, otherwise why the file cannot be decoded.
std::string decode(const unsigned char* data, size_t size, int channels, int min_width,
                   int min_height, int max_side, Image& out);

}  // namespace weft::data::jpeg
