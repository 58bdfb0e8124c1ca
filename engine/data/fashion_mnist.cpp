// Fashion-MNIST IDX and CSV readers (see fashion_mnist.h). zlib's gzread reads both gzipped
// and plain files, so one code path serves both.
#include "engine/data/fashion_mnist.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "kernels/error.h"

namespace weft::data {

const std::vector<std::string> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

namespace {

// The whole (decompressed) content of a file.
std::string read_maybe_gzipped(const std::string& path) {
  WEFT_CHECK(std::filesystem::exists(path), path, ": no such file");
  gzFile file = gzopen(path.c_str(), "rb");
  WEFT_CHECK(file != nullptr, path, ": cannot open");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      throw Error(path + ": read failed (" + message + ") - corrupt or truncated gzip data?");
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

uint32_t big_endian_u32(const std::string& bytes, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 3]));
}

std::string hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08X", value);
  return text;
}

// Check a file's size against what its header promised.
void check_size(const std::string& path, size_t actual, uint64_t expected, const char* what) {
  WEFT_CHECK(actual >= expected, path, ": truncated: header promises ", what, " (", expected,
             " bytes in all) but the file has ", actual, " bytes");
  WEFT_CHECK(actual == expected, path, ": ", actual - expected,
             " unexpected bytes after the ", what);
}

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return {};
}

}  // namespace

LabeledImages load_idx(const std::string& images_path, const std::string& labels_path,
                       int num_classes) {
  const std::string images = read_maybe_gzipped(images_path);
  WEFT_CHECK(images.size() >= 16, images_path, ": ", images.size(),
             " bytes is too short for an IDX image header (16 bytes)");
  const uint32_t image_magic = big_endian_u32(images, 0);
  WEFT_CHECK(image_magic == 0x00000803, images_path, ": IDX magic is ", hex(image_magic),
             ", expected 0x00000803 (unsigned bytes, 3 dimensions)");
  const uint32_t count = big_endian_u32(images, 4);
  const uint32_t rows = big_endian_u32(images, 8);
  const uint32_t cols = big_endian_u32(images, 12);
  WEFT_CHECK(rows > 0 && cols > 0 && rows <= 4096 && cols <= 4096, images_path,
             ": image size ", rows, "x", cols, " is not plausible");
  check_size(images_path, images.size(), 16 + uint64_t{count} * rows * cols,
             (std::to_string(count) + " images of " + std::to_string(rows) + "x" +
              std::to_string(cols))
                 .c_str());

  const std::string labels = read_maybe_gzipped(labels_path);
  WEFT_CHECK(labels.size() >= 8, labels_path, ": ", labels.size(),
             " bytes is too short for an IDX label header (8 bytes)");
  const uint32_t label_magic = big_endian_u32(labels, 0);
  WEFT_CHECK(label_magic == 0x00000801, labels_path, ": IDX magic is ", hex(label_magic),
             ", expected 0x00000801 (unsigned bytes, 1 dimension)");
  const uint32_t label_count = big_endian_u32(labels, 4);
  WEFT_CHECK(label_count == count, labels_path, ": ", label_count, " labels but ", images_path,
             " has ", count, " images");
  check_size(labels_path, labels.size(), 8 + uint64_t{count},
             (std::to_string(count) + " labels").c_str());

  LabeledImages out;
  out.images = Tensor::empty({count, 1, rows, cols}, DType::u8);
  std::memcpy(out.images.raw_data(), images.data() + 16, static_cast<size_t>(count) * rows * cols);
  out.labels = Tensor::empty({count}, DType::i32);
  int32_t* label_data = out.labels.data<int32_t>();
  for (uint32_t i = 0; i < count; ++i) {
    const int label = static_cast<uint8_t>(labels[8 + i]);
    WEFT_CHECK(label < num_classes, labels_path, ": label ", label, " of image ", i,
               " is outside 0..", num_classes - 1);
    label_data[i] = label;
  }
  out.class_names = num_classes == 10 ? kFashionMnistClasses : std::vector<std::string>{};
  return out;
}

LabeledImages load_fashion_mnist_csv(const std::string& path, int rows, int cols,
                                     int num_classes) {
  std::ifstream in(path);
  WEFT_CHECK(in.good(), path, ": cannot open");
  const int pixels = rows * cols;
  std::string line;
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line_number == 1 && line.rfind("label", 0) == 0) continue;  // header row
    std::vector<int> values;
    size_t start = 0;
    while (start <= line.size()) {
      size_t comma = line.find(',', start);
      if (comma == std::string::npos) comma = line.size();
      const std::string field = line.substr(start, comma - start);
      char* end = nullptr;
      const long value = std::strtol(field.c_str(), &end, 10);
      WEFT_CHECK(!field.empty() && end != nullptr && *end == '\0', path, ": line ", line_number,
                 ", column ", values.size() + 1, ": '", field, "' is not an integer");
      values.push_back(static_cast<int>(value));
      start = comma + 1;
    }
    WEFT_CHECK(static_cast<int>(values.size()) == pixels + 1, path, ": line ", line_number,
               " has ", values.size(), " columns, expected ", pixels + 1, " (label + ", pixels,
               " pixels)");
    WEFT_CHECK(values[0] >= 0 && values[0] < num_classes, path, ": line ", line_number,
               ": label ", values[0], " is outside 0..", num_classes - 1);
    labels.push_back(values[0]);
    for (int p = 1; p <= pixels; ++p) {
      WEFT_CHECK(values[p] >= 0 && values[p] <= 255, path, ": line ", line_number, ", column ",
                 p + 1, ": pixel ", values[p], " is outside 0..255");
      images.push_back(static_cast<uint8_t>(values[p]));
    }
  }
  WEFT_CHECK(!labels.empty(), path, ": no data rows");
  const int64_t n = static_cast<int64_t>(labels.size());
  LabeledImages out;
  out.images = Tensor::from_vector(images, {n, 1, rows, cols});
  out.labels = Tensor::from_vector(labels, {n});
  out.class_names = num_classes == 10 ? kFashionMnistClasses : std::vector<std::string>{};
  return out;
}

LabeledImages load_fashion_mnist(const std::string& dir, const std::string& split) {
  WEFT_CHECK(split == "train" || split == "test", "split must be train or test, got '", split,
             "'");
  WEFT_CHECK(std::filesystem::is_directory(dir), dir, ": no such directory");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  if (!images.empty() && !labels.empty()) return load_idx(images, labels);
  const std::string csv = dir + "/fashion-mnist_" + split + ".csv";
  if (std::filesystem::exists(csv)) return load_fashion_mnist_csv(csv);
  throw Error(dir + ": no Fashion-MNIST " + split + " data: expected " + prefix +
              "-images-idx3-ubyte[.gz] and " + prefix + "-labels-idx1-ubyte[.gz], or " +
              "fashion-mnist_" + split + ".csv");
}

LabeledImages select(const LabeledImages& data, const std::vector<int64_t>& indices) {
  const Shape& shape = data.images.shape();
  const int64_t image_bytes = data.images.numel() / std::max<int64_t>(1, shape[0]);
  Shape image_shape = shape;
  image_shape[0] = static_cast<int64_t>(indices.size());
  LabeledImages out;
  out.images = Tensor::empty(image_shape, DType::u8);
  out.labels = Tensor::empty({static_cast<int64_t>(indices.size())}, DType::i32);
  out.class_names = data.class_names;
  const uint8_t* src = data.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  const int32_t* src_labels = data.labels.data<int32_t>();
  int32_t* dst_labels = out.labels.data<int32_t>();
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t j = indices[i];
    WEFT_CHECK(j >= 0 && j < data.size(), "select: index ", j, " outside the dataset of ",
               data.size());
    std::memcpy(dst + i * image_bytes, src + j * image_bytes, static_cast<size_t>(image_bytes));
    dst_labels[i] = src_labels[j];
  }
  return out;
}

}  // namespace weft::data
