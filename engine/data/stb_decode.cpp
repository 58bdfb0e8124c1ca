// stb_decode.h's functions: Debian's stb_image.h (libstb-dev) compiled for BMP and PGM/PPM only,
// its own functions static to this file. Built without weft's warnings (the file is stb's code;
// CMakeLists.txt says so beside it).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 15)
#include <stb/stb_image.h>

#include <climits>

#include "engine/data/stb_decode.h"

namespace weft::data::stb {

static_assert(kMaxImageSide == STBI_MAX_DIMENSIONS);

unsigned char* load(const unsigned char* data, size_t size, int* width, int* height,
                    int* file_channels, int channels) {
  if (size > static_cast<size_t>(INT_MAX)) {
    stbi__err("file too large", "File too large");
    return nullptr;
  }
  return stbi_load_from_memory(data, static_cast<int>(size), width, height, file_channels,
                               channels);
}

void free_pixels(unsigned char* pixels) { stbi_image_free(pixels); }

const char* failure_reason() { return stbi_failure_reason(); }

bool info(const unsigned char* data, size_t size, int* width, int* height, int* channels) {
  if (size > static_cast<size_t>(INT_MAX)) return false;
  return stbi_info_from_memory(data, static_cast<int>(size), width, height, channels) == 1;
}

}  // namespace weft::data::stb
