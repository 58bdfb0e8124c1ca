// Tests of engine/data/product_styles.h: Fashion Product Images' styles.csv + images/<id>.jpg
// layout, with the file's real quirks (commas inside the product name, empty usage values, CRLF
// line ends, other usage values, rows without an image), undecodable images as bad images, and
// the errors that name the file and line.
#include <catch2/catch.hpp>

#include <filesystem>

#include "data_test_util.h"
#include "engine_test_util.h"
#include "engine/data/product_styles.h"
#include "kernels/error.h"

using namespace weft;
using namespace weft::data;
using weft::testing::TempDir;

namespace {

const char* const kHeader =
    "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,"
    "productDisplayName\r\n";

// styles.csv with `rows` after the header, and a JPEG of grey `id * 10` for each id in `images`.
void write_layout(const TempDir& dir, const std::string& rows, const std::vector<int>& images) {
  testing::write_text(dir.file("shop/styles.csv"), std::string(kHeader) + rows);
  for (const int id : images) {
    testing::write_jpg(dir.file("shop/images/" + std::to_string(id) + ".jpg"), 12, 16, 3, id * 10);
  }
}

ProductStylesOptions seed_options(BadImages bad = BadImages::fail) {
  ProductStylesOptions options;
  options.folder.image = {8, 8, 3, Fit::pad, 0};
  options.folder.bad_images = bad;
  options.folder.threads = 2;
  options.classes = {"Casual", "Formal", "Smart Casual"};
  return options;
}

const std::string kRows =
    "1,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt\r\n"
    "2,Men,Apparel,Bottomwear,Trousers,Black,Summer,2012,Formal,Peter England Men, Party, "
    "Black Trousers\r\n"  // commas inside the product name: 12 fields
    "3,Women,Apparel,Topwear,Tops,Pink,Summer,2012,Sports,Nike Women Pink Top\r\n"
    "4,Women,Footwear,Shoes,Heels,Black,Winter,2016,,Catwalk Women Black Heels\r\n"
    "\r\n"
    "5,Men,Apparel,Topwear,Shirts,White,Fall,2011,Smart Casual,Wrangler Men White Shirt\r\n"
    "6,Women,Apparel,Topwear,Kurtas,Red,Summer,2012,Casual,Kurta\r\n";

}  // namespace

TEST_CASE("product styles: classes from the usage column, other and empty values left out, "
          "commas in product names",
          "[data][product_styles]") {
  TempDir dir;
  write_layout(dir, kRows, {1, 2, 3, 4, 5, 6});
  CHECK(has_product_styles(dir.path() + "/shop"));
  CHECK_FALSE(has_product_styles(dir.path()));
  const ProductStyles data = load_product_styles(dir.path() + "/shop", seed_options());
  CHECK(data.class_names == std::vector<std::string>{"Casual", "Formal", "Smart Casual"});
  CHECK(data.rows == 6);
  CHECK(data.other_rows == 2);  // Sports, and the empty usage
  REQUIRE(data.size() == 4);
  CHECK(data.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 0});
  CHECK_THAT(data.paths[1], Catch::EndsWith("shop/images/2.jpg"));
  CHECK(data.decode.files == 4);
  // Each image decoded from its own file: the centre of image k is grey ids[k] * 10.
  const std::vector<int> ids = {1, 2, 5, 6};
  const uint8_t* px = data.images.data<uint8_t>();
  for (size_t k = 0; k < ids.size(); ++k) {
    CHECK(std::abs(px[k * 3 * 64 + 4 * 8 + 4] - ids[k] * 10) <= 3);
  }

  // The listing alone: the same files, classes and counts, nothing decoded.
  const ProductStylesListing listing = list_product_styles(dir.path() + "/shop", seed_options());
  CHECK(listing.paths == data.paths);
  CHECK(listing.labels == data.labels.to_vector<int32_t>());
  CHECK(listing.class_names == data.class_names);
  CHECK(listing.rows == 6);
  CHECK(listing.other_rows == 2);

  // Every value as a class when none are named.
  ProductStylesOptions all = seed_options();
  all.classes.clear();
  const ProductStyles every = load_product_styles(dir.path() + "/shop", all);
  CHECK(every.class_names ==
        std::vector<std::string>{"Casual", "Formal", "Smart Casual", "Sports"});
  CHECK(every.other_rows == 1);
  // Another column.
  all.column = "articleType";
  CHECK(load_product_styles(dir.path() + "/shop", all).class_names.size() == 6);
}

TEST_CASE("product styles: rows without an image file are left out and listed, up to 1%",
          "[data][product_styles]") {
  TempDir dir;
  const std::string root = dir.path() + "/shop";
  // 120 Casual and Formal rows, images for all but ids 7 (0.8%: left out, listed).
  std::string rows;
  std::vector<int> images;
  for (int id = 1; id <= 120; ++id) {
    rows += std::to_string(id) + ",Men,Apparel,Topwear,Shirts,White,Fall,2011," +
            (id % 2 == 0 ? "Casual" : "Formal") + ",Shirt\n";
    if (id != 7) images.push_back(id);
  }
  ProductStylesOptions two = seed_options();
  two.classes = {"Casual", "Formal"};
  write_layout(dir, rows, images);
  const ProductStyles data = load_product_styles(root, two);
  CHECK(data.size() == 119);
  CHECK(data.missing_images == std::vector<std::string>{"7"});
  CHECK(data.skipped.empty());
  CHECK(data.class_names == std::vector<std::string>{"Casual", "Formal"});

  // Two missing of 120 (1.7%) looks like an incomplete copy: a BadImage naming the folder, the
  // count and the ids, unless bad images are skipped.
  std::filesystem::remove(dir.file("shop/images/8.jpg"));
  CHECK_THROWS_AS(load_product_styles(root, two), BadImage);
  CHECK_THAT(weft::test::error_message([&] { load_product_styles(root, two); }),
             Catch::Contains("shop/images: 2 of the 120 images that") &&
                 Catch::Contains("styles.csv names are missing (7, 8): an incomplete copy?"));
  two.folder.bad_images = BadImages::skip;
  CHECK(load_product_styles(root, two).missing_images == std::vector<std::string>{"7", "8"});

  // A class whose every row lacks its image is an error, not a class that quietly vanishes.
  for (int id = 1; id <= 120; id += 2) {
    std::filesystem::remove(dir.file("shop/images/" + std::to_string(id) + ".jpg"));
  }
  CHECK_THAT(weft::test::error_message([&] { load_product_styles(root, two); }),
             Catch::Contains("shop/images: none of the 60 images of class 'Formal' that") &&
                 Catch::Contains("styles.csv names is there"));

  // No image at all: the folder and the expected name, whatever the policy.
  std::filesystem::remove_all(dir.file("shop/images"));
  CHECK_THAT(weft::test::error_message([&] { load_product_styles(root, two); }),
             Catch::Contains("shop/images: none of the 120 images that") &&
                 Catch::Contains("shop/images/<id>.jpg, e.g. ") &&
                 Catch::Contains("shop/images/1.jpg)"));
}

TEST_CASE("product styles: an image that cannot be decoded stops the load naming it, or is "
          "skipped and listed",
          "[data][product_styles]") {
  TempDir dir;
  write_layout(dir, kRows, {1, 2, 5, 6});
  testing::write_text(dir.file("shop/images/6.jpg"), "not a JPEG");
  const std::string root = dir.path() + "/shop";
  CHECK_THROWS_AS(load_product_styles(root, seed_options()), BadImage);
  CHECK_THAT(weft::test::error_message([&] { load_product_styles(root, seed_options()); }),
             Catch::Contains("shop/images/6.jpg: "));
  const ProductStyles data = load_product_styles(root, seed_options(BadImages::skip));
  CHECK(data.size() == 3);
  CHECK(data.missing_images.empty());
  REQUIRE(data.skipped.size() == 1);
  CHECK_THAT(data.skipped[0].path, Catch::EndsWith("shop/images/6.jpg"));
}

TEST_CASE("product styles: malformed files are errors naming the file and line",
          "[data][product_styles]") {
  TempDir dir;
  const std::string root = dir.path() + "/shop";
  const auto error = [&](const std::string& header, const std::string& rows,
                         const ProductStylesOptions& options) {
    testing::write_text(dir.file("shop/styles.csv"), header + rows);
    return weft::test::error_message([&] { load_product_styles(root, options); });
  };
  CHECK_THAT(error(kHeader, "7,Men,Apparel,Topwear,Tshirts,Casual\r\n", seed_options()),
             Catch::Contains("shop/styles.csv: line 2: 6 fields, expected 10 as in the header"));
  CHECK_THAT(error("id,gender,masterCategory,year\n", "1,Men,Apparel,2011\n", seed_options()),
             Catch::Contains("styles.csv: line 1: no column 'usage' in the header "
                             "(id,gender,masterCategory,year)"));
  CHECK_THAT(error(kHeader, "1,Men,Apparel,Topwear,Tshirts,Navy,Fall,2011,Casual,Shirt\n",
                   seed_options()),
             Catch::Contains("styles.csv: no row has usage 'Formal' (its values: Casual (1))"));
  ProductStylesOptions one = seed_options();
  one.classes = {"Casual"};
  CHECK_THAT(error(kHeader, "../x,Men,Apparel,Topwear,Tshirts,Navy,Fall,2011,Casual,Shirt\n", one),
             Catch::Contains("styles.csv: line 2: id '../x' is not a file name"));
  CHECK_THAT(error("", "", one), Catch::Contains("styles.csv: empty file"));
}
