// Fashion Product Images (Param Aggarwal, Kaggle 2019: the data of seed 002, the clothing
// classifier) read in the layout Kaggle ships it, full-size or small edition alike:
//
//   root/styles.csv     id,gender,masterCategory,subCategory,articleType,baseColour,season,year,
//                       usage,productDisplayName   (a header, then one row per product)
//   root/images/<id>.jpg
//
// Each row's class is the value of one column (`usage` by default: Casual, Formal, Smart Casual,
// Sports, Ethnic, ... as the seed used it), and only the rows whose value is one of `classes` are
// kept (all non-empty values when `classes` is empty); class indices follow the byte-wise sorted
// class names, as an ImageFolder's do. The file's known quirk is handled: a product name holding
// commas (the last column, unquoted) gives its row more fields than the header, and those are
// joined back into the last column; a row with fewer fields than the header is an error naming
// the file and line. A row whose image cannot be decoded is a bad image (BadImages::fail stops
// the load naming it, BadImages::skip leaves it out and lists it), as in an ImageFolder.
//
// A row whose image file is absent is the file's other known quirk: Kaggle's copy names five
// products (among 44,446) with no image. Such rows are left out and their ids listed in
// `missing_images`, as long as they are at most kMissingImagesAllowed of the kept rows; more
// than that looks like an incomplete copy of the images and stops the load (weft::Error naming
// the folder, the count and the first ids) unless BadImages::skip is asked for. When no kept
// row has its image the load fails whatever the policy.
#pragma once

#include <string>
#include <vector>

#include "engine/data/image_folder.h"

namespace weft::data {

struct ProductStylesOptions {
  ImageFolderOptions folder;         // image size, channels, fit, bad images, threads
  std::string column = "usage";      // the styles.csv column that names the class
  std::vector<std::string> classes;  // the values kept as classes; empty: every value
};

// The share of kept rows that may lack their image file before the load stops (see above).
constexpr double kMissingImagesAllowed = 0.01;

// What styles.csv says beside the images.
struct ProductStylesRows {
  int64_t rows = 0;        // data rows in styles.csv
  int64_t other_rows = 0;  // rows left out: their value is empty or not one of the classes
  std::vector<std::string> missing_images;  // ids of kept rows with no images/<id>.jpg
};

struct ProductStyles : ImageFolder, ProductStylesRows {};

// The rows' image files and classes without decoding any (image_folder.h, "Choosing before
// decoding"): every check above but the decoding's.
struct ProductStylesListing : LabeledFiles, ProductStylesRows {};

// Whether root holds the layout above (root/styles.csv is a file).
bool has_product_styles(const std::string& root);

ProductStylesListing list_product_styles(const std::string& root,
                                         const ProductStylesOptions& options);
ProductStyles load_product_styles(const std::string& root, const ProductStylesOptions& options);

}  // namespace weft::data
