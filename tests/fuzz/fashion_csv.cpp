// Fuzz target: the Kaggle CSV layout of Fashion-MNIST (engine/data/fashion_mnist.h
// load_fashion_mnist_csv), read as 2 x 2 images so that short inputs can be whole, valid files:
// a header row, then `label,p1,p2,p3,p4` per image.
#include <cstdint>
#include <string>

#include "engine/data/fashion_mnist.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = weft::fuzz::write_scratch("fashion-mnist_train.csv", data, size);
  weft::fuzz::expect_clean_errors(path, [&] {
    const weft::data::LabeledImages set = weft::data::load_fashion_mnist_csv(path, 2, 2, 10);
    if (set.images.numel() != set.size() * 4) std::abort();
  });
  return 0;
}
