// Tests of engine/data/image_io.h and image_folder.h with small image trees the tests write
// themselves: class order, recursion, fitting, grayscale, bad images (skipped or fatal, labels
// never shifting), empty class folders, missing paths, multi-label folders and CSVs, and parts
// of a listing decoded after choosing (the same rows as a whole load).
#include <catch2/catch.hpp>

#include <algorithm>

#include "data_test_util.h"
#include "engine_test_util.h"
#include "engine/data/image_folder.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

ImageFolderOptions sized(int h, int w, int channels = 3) {
  ImageFolderOptions options;
  options.image.height = h;
  options.image.width = w;
  options.image.channels = channels;
  options.threads = 2;
  return options;
}

// A tree with classes "boots" (2 images, one nested two levels down), "sandals" (1) and
// "shoes" (3, a JPEG, a BMP-less PGM and a PNG), plus files that are not images.
void write_tree(const TempDir& dir) {
  testing::write_png(dir.file("root/shoes/a.png"), 8, 6, 3, 10);
  testing::write_jpg(dir.file("root/shoes/b.jpg"), 8, 6, 3, 200);
  testing::write_pgm(dir.file("root/shoes/c.pgm"), 8, 6, 90);
  testing::write_png(dir.file("root/boots/Ankle/BrandX/x.png"), 8, 6, 3, 30);
  testing::write_png(dir.file("root/boots/y.PNG"), 8, 6, 3, 40);
  testing::write_png(dir.file("root/sandals/s.png"), 8, 6, 3, 50);
  testing::write_text(dir.file("root/shoes/notes.txt"), "not an image");
  testing::write_text(dir.file("root/README"), "ignored");
  testing::write_png(dir.file("root/.hidden/z.png"), 8, 6, 3, 0);
}

// The message of the weft::Error that decoding `path` throws (a failed check when it decodes).
std::string decode_error(const std::string& path, const ImageOptions& options = {}) {
  return weft::test::error_message([&] {
    std::vector<uint8_t> out;
    int h = 0, w = 0;
    decode_image_file(path, options, out, h, w);
  });
}

}  // namespace

TEST_CASE("ImageFolder: sorted class folders, walked recursively", "[data][image_folder]") {
  TempDir dir;
  write_tree(dir);
  const ImageFolder data = load_image_folder(dir.file("root"), sized(6, 8));
  CHECK(data.class_names == std::vector<std::string>{"boots", "sandals", "shoes"});
  REQUIRE(data.size() == 6);
  CHECK(data.images.shape() == Shape{6, 3, 6, 8});
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 1, 2, 2, 2});
  CHECK(data.skipped.empty());
  // Pixels: the first boots image (nested) is all 30; the PGM comes out grey in all channels.
  const std::vector<uint8_t> px = data.images.to_vector<uint8_t>();
  CHECK(px[0] == 30);
  const int64_t image = 3 * 6 * 8;
  const auto pgm = std::find_if(data.paths.begin(), data.paths.end(),
                                [](const std::string& p) { return p.find("c.pgm") != std::string::npos; });
  REQUIRE(pgm != data.paths.end());
  const int64_t at = (pgm - data.paths.begin()) * image;
  CHECK(px[static_cast<size_t>(at)] == 90);
  CHECK(px[static_cast<size_t>(at + image - 1)] == 90);
  // The JPEG decodes close to its flat colour.
  const auto jpg = std::find_if(data.paths.begin(), data.paths.end(),
                                [](const std::string& p) { return p.find("b.jpg") != std::string::npos; });
  CHECK(std::abs(px[static_cast<size_t>((jpg - data.paths.begin()) * image)] - 200) <= 3);
}

TEST_CASE("ImageFolder: class_depth 2 makes subfolders the classes", "[data][image_folder]") {
  TempDir dir;
  testing::write_png(dir.file("root/Boots/Ankle/a.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("root/Boots/Knee/b.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("root/Shoes/Flats/brand/c.png"), 4, 4, 3, 1);
  ImageFolderOptions options = sized(4, 4);
  options.class_depth = 2;
  const ImageFolder data = load_image_folder(dir.file("root"), options);
  CHECK(data.class_names == std::vector<std::string>{"Boots/Ankle", "Boots/Knee", "Shoes/Flats"});
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2});
}

TEST_CASE("image fitting: pad letterboxes, crop cuts the centre, grayscale has one channel",
          "[data][image_folder]") {
  TempDir dir;
  // 8 wide x 4 high, value 200.
  const std::string wide = dir.file("wide.png");
  testing::write_png(wide, 8, 4, 3, 200);
  std::vector<uint8_t> out;
  int h = 0, w = 0;
  ImageOptions pad;
  pad.height = pad.width = 8;
  pad.pad_value = 7;
  decode_image_file(wide, pad, out, h, w);
  CHECK((h == 8 && w == 8));
  REQUIRE(out.size() == 3 * 64);
  // Resized to 8 x 4 first, then centred: rows 0-1 and 6-7 are padding, rows 2-5 the image,
  // with no blend between them.
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 8; ++y) {
      INFO("channel " << c << ", row " << y);
      const uint8_t expected = y >= 2 && y < 6 ? 200 : 7;
      CHECK(std::all_of(out.begin() + (c * 8 + y) * 8, out.begin() + (c * 8 + y + 1) * 8,
                        [&](uint8_t v) { return v == expected; }));
    }
  }
  ImageOptions crop = pad;
  crop.fit = Fit::crop;
  decode_image_file(wide, crop, out, h, w);
  CHECK(std::all_of(out.begin(), out.end(), [](uint8_t v) { return v == 200; }));
  ImageOptions gray;
  gray.channels = 1;
  decode_image_file(wide, gray, out, h, w);
  CHECK((h == 4 && w == 8));
  CHECK(out.size() == 32);
  ImageOptions stretch = pad;
  stretch.fit = Fit::stretch;
  stretch.height = 2;
  stretch.width = 3;
  decode_image_file(wide, stretch, out, h, w);
  CHECK((h == 2 && w == 3 && out.size() == 18 && out[0] == 200));
}

TEST_CASE("ImageFolder: bad images fail the load with the file name, or are skipped and "
          "listed without shifting labels",
          "[data][image_folder]") {
  TempDir dir;
  write_tree(dir);
  // A truncated PNG in "boots", a truncated JPEG and a text file posing as PNG in "sandals".
  const std::string broken_png = dir.file("root/boots/broken.png");
  testing::write_png(broken_png, 32, 32, 3, -1);
  testing::truncate_file(broken_png, 0.5);
  const std::string broken_jpg = dir.file("root/sandals/broken.jpg");
  testing::write_jpg(broken_jpg, 32, 32, 3, -1);
  testing::truncate_file(broken_jpg, 0.6);
  testing::write_text(dir.file("root/sandals/fake.png"), "hello");

  ImageFolderOptions options = sized(6, 8);
  CHECK_THROWS_WITH(load_image_folder(dir.file("root"), options),
                    Catch::Contains("broken.png: corrupt or truncated PNG") &&
                        Catch::Contains("2 more bad images: " + broken_jpg + ": ") &&
                        Catch::Contains("; " + dir.file("root/sandals/fake.png") +
                                        ": not a JPEG, PNG"));

  options.bad_images = BadImages::skip;
  const ImageFolder data = load_image_folder(dir.file("root"), options);
  REQUIRE(data.skipped.size() == 3);
  CHECK(data.skipped[0].path == broken_png);
  CHECK(data.skipped[1].path == broken_jpg);
  CHECK_THAT(data.skipped[1].reason, Catch::Contains("JPEG"));
  CHECK_THAT(data.skipped[2].reason, Catch::Contains("not a JPEG, PNG"));
  // Same labels as without the bad files.
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 1, 2, 2, 2});
  CHECK(data.class_names.size() == 3);
}

TEST_CASE("ImageFolder: a failed load names up to ten more bad images and counts the rest",
          "[data][image_folder]") {
  TempDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 13; ++i) {
    paths.push_back(dir.file("fake" + std::to_string(10 + i) + ".png"));
    testing::write_text(paths.back(), "not an image");
  }
  ImageOptions sized;  // a size to fit to, as the apps give (else the first image sets it)
  sized.height = sized.width = 8;
  const std::string message = weft::test::error_message(
      [&] { decode_images(paths, sized, BadImages::fail, 1); });
  CHECK_THAT(message, Catch::StartsWith(paths[0] + ": not a JPEG, PNG"));
  CHECK_THAT(message, Catch::Contains("(and 12 more bad images: " + paths[1] + ": "));
  CHECK_THAT(message, Catch::Contains("; " + paths[10] + ": not a JPEG, PNG") &&
                          Catch::EndsWith("; 2 not listed)"));
  CHECK_THAT(message, !Catch::Contains(paths[11]) && !Catch::Contains(paths[12]));
}

TEST_CASE("decode_images reports progress on the calling thread, none for a short load",
          "[data][image_folder]") {
  TempDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 12; ++i) {
    paths.push_back(dir.file("image" + std::to_string(i) + ".png"));
    testing::write_png(paths.back(), 10, 6, 3, i);
  }
  ImageOptions sized;
  sized.height = sized.width = 8;
  std::vector<std::pair<int64_t, int64_t>> calls;
  DecodeProgress every_file;  // every_seconds 0: a call before each of the thread's files
  every_file.every_seconds = 0;
  every_file.report = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  const DecodedImages decoded = decode_images(paths, sized, BadImages::fail, 1, every_file);
  CHECK(decoded.kept.size() == 12);
  REQUIRE(calls.size() == 12);
  for (size_t i = 0; i < calls.size(); ++i) {
    CHECK(calls[i] == std::pair<int64_t, int64_t>{static_cast<int64_t>(i), 12});
  }
  calls.clear();
  DecodeProgress rarely = every_file;
  rarely.every_seconds = 3600;
  decode_images(paths, sized, BadImages::fail, 2, rarely);
  CHECK(calls.empty());
}

TEST_CASE("a JPEG cut before its end marker is reported as truncated", "[data][image_folder]") {
  TempDir dir;
  const std::string path = dir.file("cut.jpg");
  testing::write_jpg(path, 16, 16, 3, -1);
  std::string bytes = io::read_file(path);
  bytes.resize(bytes.size() - 2);  // only the FF D9 marker missing
  io::write_file_atomic(path, bytes);
  CHECK_THAT(decode_error(path), Catch::Contains("cut.jpg: truncated JPEG"));
}

TEST_CASE("a BMP shorter than its header says is refused, not decoded from zeros (found by "
          "fuzzing)",
          "[data][image_folder]") {
  TempDir dir;
  const std::string path = dir.file("cut.bmp");
  // A 2 x 2 24-bit BMP: file header, 40-byte info header, two rows of 6 bytes padded to 8.
  const auto le32 = [](uint32_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8),
                       static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  };
  const std::string row("\x00\x00\xFF\x00\xFF\x00\x00\x00", 8);  // red, green (BGR)
  std::string bmp = "BM" + le32(54 + 16) + le32(0) + le32(54);
  bmp += le32(40) + le32(2) + le32(2) + std::string("\x01\x00\x18\x00", 4) + le32(0) +
         le32(16) + le32(2835) + le32(2835) + le32(0) + le32(0);
  bmp += row + row;
  io::write_file_atomic(path, bmp);
  std::vector<uint8_t> out;
  int h = 0, w = 0;
  decode_image_file(path, {}, out, h, w);
  CHECK((h == 2 && w == 2 && out[0] == 255 && out[1] == 0));  // R plane: red, then green
  io::write_file_atomic(path, bmp.substr(0, bmp.size() - 4));
  CHECK_THAT(decode_error(path),
             Catch::Contains("cut.bmp: truncated BMP: 2 x 2 at 24 bits need 70 bytes, "
                             "the file has 66"));
  // Cut inside its header: stb reads the missing fields as zeros (found by fuzzing: 30 bytes
  // decoded as 23,040 x 23,308 pixels in 16 s).
  io::write_file_atomic(path, bmp.substr(0, 30));
  CHECK_THAT(decode_error(path), Catch::Contains("cut.bmp: truncated BMP: 2 x 2 at 24 bits need "
                                                 "70 bytes, the file has 30"));
}

TEST_CASE("a folder given as an image file is reported as a folder", "[data][image_folder]") {
  TempDir dir;
  CHECK_THAT(decode_error(dir.path()),
             Catch::Contains(dir.path() + ": is a folder, not an image file"));
  CHECK_THROWS_WITH(io::read_file(dir.path()), Catch::Contains(": is a folder, not a file"));
}

TEST_CASE("an image of no pixels is reported, not resized (found by fuzzing)",
          "[data][image_folder]") {
  TempDir dir;
  const std::string path = dir.file("flat.pgm");
  io::write_file_atomic(path, std::string("P5\n2 0\n255\n", 11));
  ImageOptions options;
  options.height = options.width = 8;
  CHECK_THAT(decode_error(path, options),
             Catch::Contains("flat.pgm: PGM/PPM of 2 x 0 pixels: no pixels to read"));
}

TEST_CASE("PGM/PPM files stb_image would misread are refused: 16-bit, truncated, no header "
          "(found by fuzzing)",
          "[data][image_folder]") {
  TempDir dir;
  const std::string path = dir.file("deep.pgm");
  io::write_file_atomic(path, "P5\n# a comment\n2 2\n65535\n" + std::string(8, '\x40'));
  std::vector<uint8_t> out;
  int h = 0, w = 0;
  CHECK_THAT(decode_error(path),
             Catch::Contains("deep.pgm: PGM/PPM of 16-bit samples (maximum value 65535)"));
  // stb_image decoded one like this (880,000 x 503) from uninitialised memory, after 15 s.
  io::write_file_atomic(path, "P6 8800 503 255\n" + std::string(16, '\x40'));
  CHECK_THAT(decode_error(path),
             Catch::Contains("deep.pgm: truncated PGM/PPM: 8800 x 503 pixels need "
                             "13279200 bytes, the file has 16"));
  io::write_file_atomic(path, "P6 880000 503 255\n" + std::string(16, '\x40'));
  CHECK_THAT(decode_error(path),
             Catch::Contains("deep.pgm: PGM/PPM of 880000 x 503 pixels, more than weft "
                             "decodes (32768 per side)"));
  io::write_file_atomic(path, "P5\n14801732220 2 255\n");  // stb's reading overflowed int
  CHECK_THAT(decode_error(path), Catch::Contains("deep.pgm: PGM/PPM header does not read"));
  io::write_file_atomic(path, "P6880000\r\r503\x0f");
  CHECK_THAT(decode_error(path), Catch::Contains("deep.pgm: PGM/PPM header does not read"));
  io::write_file_atomic(path, "P5\n2 2\n255\n" + std::string(4, '\x40'));
  decode_image_file(path, {}, out, h, w);
  CHECK((h == 2 && w == 2 && out.size() == 12 && out[0] == 0x40));
}

TEST_CASE("a PNG whose compressed data cannot hold the picture it announces is refused before "
          "the decoder allocates it",
          "[data][image_folder]") {
  TempDir dir;
  const std::string path = dir.file("small.png");
  testing::write_png(path, 64, 48, 3, -1);
  std::string png = io::read_file(path);
  std::vector<uint8_t> out;
  int h = 0, w = 0;
  decode_image_file(path, {}, out, h, w);  // the real file passes the check
  CHECK((h == 48 && w == 64));
  // The same file announcing 30,000 x 30,000 (2.7 GB of RGB) with its few hundred bytes of data.
  png.replace(16, 8, std::string("\0\0\x75\x30\0\0\x75\x30", 8));
  io::write_file_atomic(path, png);
  CHECK_THAT(decode_error(path),
             Catch::Contains("small.png: truncated PNG: 30000 x 30000 pixels need more than the ") &&
                 Catch::Contains(" bytes of compressed data the file has"));
  // A large flat picture compresses about 1,000 to 1 and is not refused.
  testing::write_png(path, 2000, 1500, 1, 7);
  decode_image_file(path, {}, out, h, w);
  CHECK((h == 1500 && w == 2000 && out[0] == 7));
}

TEST_CASE("ImageFolder: empty class folders, missing paths and size mismatches are errors",
          "[data][image_folder]") {
  TempDir dir;
  testing::write_png(dir.file("root/a/1.png"), 4, 4, 3, 1);
  dir.dir("root/b/sub");  // nothing but an empty subfolder
  testing::write_text(dir.file("root/b/sub/readme.txt"), "x");
  CHECK_THROWS_WITH(load_image_folder(dir.file("root")),
                    Catch::Contains("empty class folder (class 1 'b')"));
  CHECK_THROWS_WITH(load_image_folder(dir.path() + "/nowhere"),
                    Catch::Contains("nowhere: no such directory"));
  CHECK_THROWS_WITH(load_image_folder(dir.file("root/a/1.png")),
                    Catch::Contains("is not a directory"));
  const std::string no_classes = dir.dir("flat");
  testing::write_png(dir.file("flat/x.png"), 4, 4, 3, 1);
  CHECK_THROWS_WITH(load_image_folder(no_classes), Catch::Contains("no class folders"));

  // Keeping the decoded size: a differently sized image is a bad image.
  testing::write_png(dir.file("sizes/a/1.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("sizes/a/2.png"), 5, 4, 3, 1);
  CHECK_THROWS_WITH(load_image_folder(dir.file("sizes")),
                    Catch::Contains("2.png: is 5x4 pixels, expected 4x4"));
  ImageFolderOptions bad_options;
  bad_options.image.channels = 2;
  CHECK_THROWS_WITH(load_image_folder(dir.file("sizes"), bad_options),
                    Catch::Contains("channels must be 1 (grayscale) or 3 (RGB)"));
}

TEST_CASE("ImageFolder: decoding gives the same result on one thread or several",
          "[data][image_folder]") {
  TempDir dir;
  for (int i = 0; i < 12; ++i) {
    testing::write_png(dir.file("root/c" + std::to_string(i % 3) + "/" + std::to_string(i) + ".png"),
                       6 + i, 5, 3, -1);
  }
  ImageFolderOptions one = sized(5, 5);
  one.threads = 1;
  ImageFolderOptions many = sized(5, 5);
  many.threads = 4;
  const ImageFolder a = load_image_folder(dir.file("root"), one);
  const ImageFolder b = load_image_folder(dir.file("root"), many);
  CHECK(a.paths == b.paths);
  CHECK(a.images.to_vector<uint8_t>() == b.images.to_vector<uint8_t>());
}

TEST_CASE("multi-label from folder names split on '_'", "[data][multilabel]") {
  TempDir dir;
  testing::write_png(dir.file("root/black_dress/1.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("root/black_dress/2.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("root/blue_shirt/3.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("root/red_dress/4.png"), 4, 4, 3, 1);
  const MultiLabelImages data = load_multilabel_folder(dir.file("root"), sized(4, 4));
  CHECK(data.label_names ==
        std::vector<std::string>{"black", "blue", "dress", "red", "shirt"});
  REQUIRE(data.targets.shape() == Shape{4, 5});
  CHECK(data.targets.to_vector<float>() ==
        std::vector<float>{1, 0, 1, 0, 0,  //
                           1, 0, 1, 0, 0,  //
                           0, 1, 0, 0, 1,  //
                           0, 0, 1, 1, 0});
  CHECK(data.label_set == std::vector<int32_t>{0, 0, 1, 2});
  CHECK(data.label_set_names == std::vector<std::string>{"black;dress", "blue;shirt", "dress;red"});

  testing::write_png(dir.file("bad/black__dress/1.png"), 4, 4, 3, 1);
  CHECK_THROWS_WITH(load_multilabel_folder(dir.file("bad"), sized(4, 4)),
                    Catch::Contains("black__dress: folder name has an empty label"));
}

TEST_CASE("multi-label from a CSV, header optional; errors name the file and line",
          "[data][multilabel]") {
  TempDir dir;
  testing::write_png(dir.file("set/img/a.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("set/img/b.png"), 4, 4, 3, 1);
  testing::write_png(dir.file("set/img/c.png"), 4, 4, 3, 1);
  const std::string with_header = dir.file("set/labels.csv");
  testing::write_text(with_header, "file,labels\nimg/a.png,shirt;blue\r\n\nimg/b.png,\nimg/c.png, pants \n");
  const MultiLabelImages data = load_multilabel_csv(with_header, sized(4, 4));
  CHECK(data.label_names == std::vector<std::string>{"blue", "pants", "shirt"});
  CHECK(data.targets.to_vector<float>() == std::vector<float>{1, 0, 1, 0, 0, 0, 0, 1, 0});
  CHECK(data.label_set_names == std::vector<std::string>{"", "blue;shirt", "pants"});

  const std::string no_header = dir.file("set/plain.csv");
  testing::write_text(no_header, "\xEF\xBB\xBFimg/a.png,x\nimg/b.png,y\n");  // with a UTF-8 BOM
  CHECK(load_multilabel_csv(no_header, sized(4, 4)).size() == 2);

  const std::string columns = dir.file("set/columns.csv");
  testing::write_text(columns, "file,labels\nimg/a.png,x,extra\n");
  CHECK_THROWS_WITH(load_multilabel_csv(columns, sized(4, 4)),
                    Catch::Contains("columns.csv: line 2: expected 2 columns") &&
                        Catch::Contains("found 3"));
  const std::string empty_label = dir.file("set/empty.csv");
  testing::write_text(empty_label, "img/a.png,x;;y\n");
  CHECK_THROWS_WITH(load_multilabel_csv(empty_label, sized(4, 4)),
                    Catch::Contains("empty.csv: line 1: empty label"));
  const std::string not_image = dir.file("set/notimage.csv");
  testing::write_text(not_image, "file,labels\nimg/a.txt,x\n");
  CHECK_THROWS_WITH(load_multilabel_csv(not_image, sized(4, 4)),
                    Catch::Contains("notimage.csv: line 2: 'img/a.txt' is not an image"));
  const std::string missing = dir.file("set/missing.csv");
  testing::write_text(missing, "img/a.png,x\nimg/gone.png,y\n");
  CHECK_THROWS_WITH(load_multilabel_csv(missing, sized(4, 4)),
                    Catch::Contains("missing.csv: line 2: 'img/gone.png' names no file (looked "
                                    "for " + dir.file("set/img/gone.png") + ")"));
  ImageFolderOptions skip = sized(4, 4);
  skip.bad_images = BadImages::skip;
  const MultiLabelImages kept = load_multilabel_csv(missing, skip);
  CHECK(kept.size() == 1);
  CHECK(kept.label_names == std::vector<std::string>{"x", "y"});  // labels never shift
  CHECK_THROWS_WITH(load_multilabel_csv(dir.path() + "/none.csv"),
                    Catch::Contains("none.csv: no such file"));
}

TEST_CASE("select picks multi-label rows in order", "[data][multilabel]") {
  TempDir dir;
  testing::write_png(dir.file("root/a_b/1.png"), 2, 2, 1, 10);
  testing::write_png(dir.file("root/c/2.png"), 2, 2, 1, 20);
  const MultiLabelImages data = load_multilabel_folder(dir.file("root"), sized(2, 2, 1));
  const MultiLabelImages picked = select(data, {1, 0, 1});
  CHECK(picked.targets.to_vector<float>() ==
        std::vector<float>{0, 0, 1, 1, 1, 0, 0, 0, 1});
  CHECK(picked.images.to_vector<uint8_t>()[0] == 20);
  CHECK(picked.label_set == std::vector<int32_t>{1, 0, 1});
}

TEST_CASE("choosing before decoding: a listing's parts decode to the rows a whole load gives",
          "[data][image_folder]") {
  TempDir dir;
  write_tree(dir);
  const ImageFolder whole = load_image_folder(dir.file("root"), sized(6, 8));
  const LabeledFiles files = list_labeled_files(dir.file("root"));
  CHECK(files.paths == whole.paths);
  CHECK(files.labels == whole.labels.to_vector<int32_t>());
  CHECK(files.class_names == whole.class_names);

  const std::vector<std::vector<int64_t>> parts = {{5, 0, 3}, {}, {2}};
  const DecodedParts decoded = decode_parts(files, parts, sized(6, 8), "root");
  REQUIRE(decoded.parts.size() == 3);
  CHECK(decoded.decode.files == 4);  // the chosen files only
  CHECK(decoded.skipped.empty());
  const std::vector<int32_t> labels = whole.labels.to_vector<int32_t>();
  for (size_t p = 0; p < parts.size(); ++p) {
    const ImageFolder& part = decoded.parts[p];
    REQUIRE(part.size() == static_cast<int64_t>(parts[p].size()));
    CHECK(part.class_names == whole.class_names);
    CHECK(part.images.to_vector<uint8_t>() ==
          gather_rows(whole.images, parts[p]).to_vector<uint8_t>());
    for (size_t i = 0; i < parts[p].size(); ++i) {
      const auto file = static_cast<size_t>(parts[p][i]);
      CHECK(part.paths[i] == whole.paths[file]);
      CHECK(part.labels.to_vector<int32_t>()[i] == labels[file]);
    }
  }
  CHECK_THROWS_WITH(decode_parts(files, {{0, 6}}, sized(6, 8), "root"),
                    Catch::Contains("root: file index 6 is outside the listing of 6 files"));
  CHECK_THROWS_WITH(decode_parts(files, {{}, {}}, sized(6, 8), "root"),
                    Catch::Contains("root: no image files to decode"));
}

TEST_CASE("choosing before decoding: a bad file chosen fails the load, or leaves its own part",
          "[data][image_folder]") {
  TempDir dir;
  for (int i = 0; i < 4; ++i) {
    testing::write_png(dir.file("root/a/" + std::to_string(i) + ".png"), 4, 4, 3, i);
  }
  testing::write_text(dir.file("root/a/2.png"), "not a png");
  const LabeledFiles files = list_labeled_files(dir.file("root"));
  ImageFolderOptions options = sized(4, 4);
  // A bad file that is not chosen is never read.
  CHECK(decode_parts(files, {{0, 1}, {3}}, options, "root").parts[1].size() == 1);
  CHECK_THROWS_WITH(decode_parts(files, {{0, 1}, {2, 3}}, options, "root"),
                    Catch::Contains("2.png"));
  options.bad_images = BadImages::skip;
  const DecodedParts decoded = decode_parts(files, {{0, 1}, {2, 3}}, options, "root");
  CHECK(decoded.parts[0].size() == 2);
  REQUIRE(decoded.parts[1].size() == 1);
  CHECK(decoded.parts[1].paths[0] == files.paths[3]);
  REQUIRE(decoded.skipped.size() == 1);
  CHECK(decoded.skipped[0].path == files.paths[2]);
}

TEST_CASE("choosing before decoding: multi-label listings decode as the whole loads do",
          "[data][multilabel]") {
  TempDir dir;
  for (int i = 0; i < 6; ++i) {
    const std::string folder = i % 3 == 0 ? "black_dress" : (i % 3 == 1 ? "blue_shirt" : "red");
    testing::write_png(dir.file("root/" + folder + "/" + std::to_string(i) + ".png"), 5, 4, 3,
                       10 * i + 5);
  }
  testing::write_text(dir.file("labels.csv"),
                      "file,labels\nroot/red/2.png,red;dress\nroot/blue_shirt/1.png,blue\n"
                      "root/black_dress/0.png,\nroot/red/5.png,red\n");
  const auto same = [](const MultiLabelImages& a, const MultiLabelImages& b) {
    CHECK(a.paths == b.paths);
    CHECK(a.images.to_vector<uint8_t>() == b.images.to_vector<uint8_t>());
    CHECK(a.targets.to_vector<float>() == b.targets.to_vector<float>());
    CHECK(a.label_names == b.label_names);
    CHECK(a.label_set_names == b.label_set_names);
    CHECK(a.label_set == b.label_set);
  };
  const MultiLabelImages whole = load_multilabel_folder(dir.file("root"), sized(4, 5));
  const MultiLabelFiles files = list_multilabel_folder(dir.file("root"));
  CHECK(files.label_set == whole.label_set);
  const std::vector<std::vector<int64_t>> parts = {{4, 1}, {0, 2, 5}};
  const DecodedMultiLabelParts decoded = decode_parts(files, parts, sized(4, 5), "root");
  for (size_t p = 0; p < parts.size(); ++p) same(decoded.parts[p], select(whole, parts[p]));

  const MultiLabelImages csv = load_multilabel_csv(dir.file("labels.csv"), sized(4, 5));
  const MultiLabelFiles csv_files = list_multilabel_csv(dir.file("labels.csv"), sized(4, 5));
  CHECK(csv_files.labels == std::vector<std::vector<int32_t>>{{1, 2}, {0}, {}, {2}});
  same(decode_parts(csv_files, {{3, 0}}, sized(4, 5), "csv").parts[0], select(csv, {3, 0}));
}
