// Tests of engine/data/fashion_mnist.h with tiny IDX (plain and gzipped) and Kaggle-CSV files
// the tests write: correct reads, and every malformed input reported with the file, the line
// or field, and what was expected.
#include <catch2/catch.hpp>
#include <zlib.h>

#include "data_test_util.h"
#include "engine/data/fashion_mnist.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

std::string big_endian(uint32_t value) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[static_cast<size_t>(i)] = static_cast<char>(value >> (24 - 8 * i));
  return out;
}

// `count` images of rows x cols, image i filled with i + 1.
std::string idx_images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols) {
  std::string bytes = big_endian(magic) + big_endian(count) + big_endian(rows) + big_endian(cols);
  for (uint32_t i = 0; i < count; ++i) bytes.append(rows * cols, static_cast<char>(i + 1));
  return bytes;
}

std::string idx_labels(uint32_t magic, const std::vector<uint8_t>& labels) {
  std::string bytes = big_endian(magic) + big_endian(static_cast<uint32_t>(labels.size()));
  for (uint8_t label : labels) bytes.push_back(static_cast<char>(label));
  return bytes;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  gzclose(file);
}

}  // namespace

TEST_CASE("IDX files load plain or gzipped", "[data][fashion_mnist]") {
  TempDir dir;
  write_gzip(dir.file("train-images-idx3-ubyte.gz"), idx_images(0x803, 3, 2, 2));
  testing::write_text(dir.file("train-labels-idx1-ubyte"), idx_labels(0x801, {9, 0, 4}));
  const LabeledImages data = load_fashion_mnist(dir.path(), "train");
  CHECK(data.images.shape() == Shape{3, 1, 2, 2});
  CHECK(data.images.to_vector<uint8_t>() ==
        std::vector<uint8_t>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{9, 0, 4});
  CHECK(data.class_names[9] == "Ankle boot");
  const LabeledImages picked = select(data, {2, 0});
  CHECK(picked.labels.to_vector<int32_t>() == std::vector<int32_t>{4, 9});
  CHECK_THROWS_WITH(select(data, {3}), Catch::Contains("index 3 outside the dataset of 3"));
}

TEST_CASE("malformed IDX files are reported with the file and what was expected",
          "[data][fashion_mnist]") {
  TempDir dir;
  const std::string images = dir.file("images"), labels = dir.file("labels");
  testing::write_text(labels, idx_labels(0x801, {1, 2, 3}));

  testing::write_text(images, idx_images(0x802, 3, 2, 2));
  CHECK_THROWS_WITH(load_idx(images, labels),
                    Catch::Contains("images: IDX magic is 0x00000802, expected 0x00000803"));
  std::string cut = idx_images(0x803, 3, 2, 2);
  cut.resize(cut.size() - 3);
  testing::write_text(images, cut);
  CHECK_THROWS_WITH(load_idx(images, labels),
                    Catch::Contains("images: truncated: header promises 3 images of 2x2"));
  testing::write_text(images, idx_images(0x803, 3, 2, 2) + "xx");
  CHECK_THROWS_WITH(load_idx(images, labels), Catch::Contains("2 unexpected bytes after"));
  testing::write_text(images, "abc");
  CHECK_THROWS_WITH(load_idx(images, labels), Catch::Contains("too short for an IDX image header"));

  testing::write_text(images, idx_images(0x803, 3, 2, 2));
  testing::write_text(labels, idx_labels(0x801, {1, 2}));
  CHECK_THROWS_WITH(load_idx(images, labels), Catch::Contains("labels: 2 labels but"));
  testing::write_text(labels, idx_labels(0x801, {1, 12, 3}));
  CHECK_THROWS_WITH(load_idx(images, labels),
                    Catch::Contains("label 12 of image 1 is outside 0..9"));
  CHECK_THROWS_WITH(load_idx(dir.path() + "/none", labels), Catch::Contains("none: no such file"));

  write_gzip(dir.file("broken.gz"), idx_images(0x803, 3, 2, 2));
  testing::truncate_file(dir.file("broken.gz"), 0.6);
  CHECK_THROWS_WITH(load_idx(dir.file("broken.gz"), labels), Catch::Contains("broken.gz"));

  CHECK_THROWS_WITH(load_fashion_mnist(dir.path() + "/nowhere", "train"),
                    Catch::Contains("nowhere: no such directory"));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.path(), "test"),
                    Catch::Contains("no Fashion-MNIST test data: expected t10k-images-idx3-ubyte"));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.path(), "validation"),
                    Catch::Contains("split must be train or test"));
}

TEST_CASE("Kaggle CSV rows load; bad rows name the line and column", "[data][fashion_mnist]") {
  TempDir dir;
  const std::string good = dir.file("good.csv");
  testing::write_text(good, "label,pixel1,pixel2,pixel3,pixel4\n3,0,1,2,3\r\n7,255,0,0,9\n");
  const LabeledImages data = load_fashion_mnist_csv(good, 2, 2);
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{3, 7});
  CHECK(data.images.to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 2, 3, 255, 0, 0, 9});

  const std::string columns = dir.file("columns.csv");
  testing::write_text(columns, "label,p1,p2,p3,p4\n3,0,1,2,3\n4,0,1,2\n");
  CHECK_THROWS_WITH(load_fashion_mnist_csv(columns, 2, 2),
                    Catch::Contains("columns.csv: line 3 has 4 columns, expected 5"));
  const std::string text = dir.file("text.csv");
  testing::write_text(text, "label,p1,p2,p3,p4\n3,0,x,2,3\n");
  CHECK_THROWS_WITH(load_fashion_mnist_csv(text, 2, 2),
                    Catch::Contains("text.csv: line 2, column 3: 'x' is not an integer"));
  const std::string range = dir.file("range.csv");
  testing::write_text(range, "3,0,300,2,3\n");
  CHECK_THROWS_WITH(load_fashion_mnist_csv(range, 2, 2),
                    Catch::Contains("line 1, column 3: pixel 300 is outside 0..255"));
  const std::string label = dir.file("label.csv");
  testing::write_text(label, "10,0,0,0,0\n");
  CHECK_THROWS_WITH(load_fashion_mnist_csv(label, 2, 2),
                    Catch::Contains("label 10 is outside 0..9"));
  const std::string empty = dir.file("empty.csv");
  testing::write_text(empty, "label,p1,p2,p3,p4\n");
  CHECK_THROWS_WITH(load_fashion_mnist_csv(empty, 2, 2), Catch::Contains("no data rows"));
  CHECK_THROWS_WITH(load_fashion_mnist_csv(dir.path() + "/gone.csv"),
                    Catch::Contains("gone.csv: cannot open"));
}
