// Fuzz target: Fashion-MNIST's IDX files, gzipped or not (engine/data/fashion_mnist.h load_idx),
// as `--data` meets a folder of them. The input holds both files: its first byte's low bits pick
// where the images file ends (a fraction of the rest, in 256ths), the labels file follows.
#include <cstdint>
#include <string>

#include "engine/data/fashion_mnist.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t rest = size - 1;
  const size_t images_size = rest * data[0] / 255;
  const std::string images = weft::fuzz::write_scratch("images-idx3-ubyte", data + 1, images_size);
  const std::string labels = weft::fuzz::write_scratch("labels-idx1-ubyte", data + 1 + images_size,
                                                       rest - images_size);
  // An error names one of the two files; both lie in the scratch folder.
  weft::fuzz::expect_clean_errors(weft::fuzz::scratch_dir(), [&] {
    const weft::data::LabeledImages set = weft::data::load_idx(images, labels);
    if (set.images.numel() != set.size() * set.images.dim(2) * set.images.dim(3)) std::abort();
  });
  return 0;
}
