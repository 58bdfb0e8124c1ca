// Fashion-MNIST readers: the original IDX files (gzipped or not, as Debian's
// dataset-fashion-mnist installs them) and the Kaggle CSV layout (header row, then
// `label,pixel1,...,pixel784` per image).
//
// IDX: big-endian; images file magic 0x00000803 then count, rows, cols, then count*rows*cols
// bytes; labels file magic 0x00000801 then count, then count bytes. Every field is checked and
// a wrong one is reported with the file name and what was expected.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace weft::data {

// Images as uint8 [N, 1, H, W] and labels as int32 [N], on the CPU.
struct LabeledImages {
  Tensor images;
  Tensor labels;
  std::vector<std::string> class_names;
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

extern const std::vector<std::string> kFashionMnistClasses;  // "T-shirt/top", ... "Ankle boot"

// Default location of Debian's dataset-fashion-mnist package.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

LabeledImages load_idx(const std::string& images_path, const std::string& labels_path,
                       int num_classes = 10);

// `split` is "train" or "test": reads <dir>/train-images-idx3-ubyte[.gz] and its labels, or the
// t10k files; or, when <dir> holds fashion-mnist_train.csv / fashion-mnist_test.csv (Kaggle),
// those.
LabeledImages load_fashion_mnist(const std::string& dir, const std::string& split);

LabeledImages load_fashion_mnist_csv(const std::string& path, int rows = 28, int cols = 28,
                                     int num_classes = 10);

// Rows `indices` of a dataset, in that order (for splits and subsets).
LabeledImages select(const LabeledImages& data, const std::vector<int64_t>& indices);

}  // namespace weft::data
