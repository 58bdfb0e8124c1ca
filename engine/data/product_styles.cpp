// Fashion Product Images' styles.csv + images/ layout (see product_styles.h).
#include "engine/data/product_styles.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "engine/data/csv_fields.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft::data {

namespace fs = std::filesystem;

namespace {

// The header's position of `name`; weft::Error naming the file and the columns otherwise.
size_t column_of(const std::vector<std::string>& header, const std::string& name,
                 const std::string& csv) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (trim(header[i]) == name) return i;
  }
  std::string columns;
  for (const std::string& h : header) {
    if (!columns.empty()) columns += ',';
    columns += trim(h);
  }
  throw Error(csv + ": line 1: no column '" + name + "' in the header (" + columns + ")");
}

// "a, b, c and 12 more" of the first few ids.
std::string some_ids(const std::vector<std::string>& ids) {
  constexpr size_t kShown = 5;
  std::string text;
  for (size_t i = 0; i < ids.size() && i < kShown; ++i) {
    if (i != 0) text += ", ";
    text += ids[i];
  }
  if (ids.size() > kShown) text += " and " + std::to_string(ids.size() - kShown) + " more";
  return text;
}

}  // namespace

bool has_product_styles(const std::string& root) {
  std::error_code error;
  return fs::is_regular_file(fs::path(root) / "styles.csv", error);
}

ProductStylesListing list_product_styles(const std::string& root,
                                         const ProductStylesOptions& options) {
  const std::string csv = (fs::path(root) / "styles.csv").string();
  std::string text = io::read_file(csv);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte-order mark
  std::vector<std::string> lines = split(text, '\n');
  for (std::string& line : lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF line ends
  }
  WEFT_CHECK(!lines.empty() && !trim(lines[0]).empty(), csv, ": empty file (expected a header ",
             "id,...,", options.column, ",... and one row per product)");
  const std::vector<std::string> header = split(lines[0], ',');
  const size_t id_at = column_of(header, "id", csv);
  const size_t label_at = column_of(header, options.column, csv);
  const size_t last = header.size() - 1;

  const std::set<std::string> wanted(options.classes.begin(), options.classes.end());
  ProductStylesListing out;
  std::vector<std::string>& paths = out.paths;
  std::vector<std::string> values;  // per kept row, its class name
  std::map<std::string, int64_t> found;  // every value in the column, for the error below
  std::map<std::string, int64_t> rows_of;  // per class, its rows (with an image or not)
  for (size_t l = 1; l < lines.size(); ++l) {
    if (trim(lines[l]).empty()) continue;
    std::vector<std::string> fields = split(lines[l], ',');
    WEFT_CHECK(fields.size() >= header.size(), csv, ": line ", l + 1, ": ", fields.size(),
               " fields, expected ", header.size(), " as in the header");
    if (fields.size() > header.size()) {  // commas inside the last column (a product name)
      for (size_t f = header.size(); f < fields.size(); ++f) {
        fields[last] += ',';
        fields[last] += fields[f];
      }
      fields.resize(header.size());
    }
    ++out.rows;
    const std::string value = trim(fields[label_at]);
    if (!value.empty()) ++found[value];
    if (value.empty() || (!wanted.empty() && wanted.count(value) == 0)) {
      ++out.other_rows;
      continue;
    }
    const std::string id = trim(fields[id_at]);
    WEFT_CHECK(!id.empty() && id.find('/') == std::string::npos && id != "." && id != "..", csv,
               ": line ", l + 1, ": id '", id, "' is not a file name (expected e.g. 15970)");
    const fs::path image = fs::path(root) / "images" / (id + ".jpg");
    std::error_code error;  // a path that cannot be looked at goes on to the decoder's error
    ++rows_of[value];
    if (!fs::exists(image, error) && !error) {
      out.missing_images.push_back(id);
      continue;
    }
    paths.push_back(image.string());
    values.push_back(value);
  }
  for (const std::string& name : options.classes) {
    if (found.count(name) != 0) continue;
    std::string seen;
    for (const auto& [value, count] : found) {
      if (!seen.empty()) seen += ", ";
      seen += value;
      seen += " (" + std::to_string(count) + ")";
    }
    throw Error(csv + ": no row has " + options.column + " '" + name + "' (its values: " +
                (seen.empty() ? "none" : seen) + ")");
  }
  const int64_t kept = static_cast<int64_t>(paths.size() + out.missing_images.size());
  WEFT_CHECK(kept != 0, csv, ": no row has a value in column '", options.column, "'");
  const std::string images = (fs::path(root) / "images").string();
  WEFT_CHECK(!paths.empty(), images, ": none of the ", kept, " images that ", csv,
             " names is there (expected ", images, "/<id>.jpg, e.g. ", images, "/",
             out.missing_images.front(), ".jpg)");
  const auto missing = static_cast<int64_t>(out.missing_images.size());
  if (options.folder.bad_images != BadImages::skip &&
      static_cast<double>(missing) > kMissingImagesAllowed * static_cast<double>(kept)) {
    throw BadImage(images + ": " + std::to_string(missing) + " of the " + std::to_string(kept) +
                   " images that " + csv + " names are missing (" +
                   some_ids(out.missing_images) + "): an incomplete copy?");
  }
  std::vector<std::string> class_names;  // every class with a row, so none vanishes unseen
  for (const auto& [name, count] : rows_of) {
    WEFT_CHECK(std::count(values.begin(), values.end(), name) != 0, images, ": none of the ",
               count, " images of class '", name, "' that ", csv, " names is there");
    class_names.push_back(name);
  }
  for (const std::string& value : values) {
    const auto at = std::lower_bound(class_names.begin(), class_names.end(), value);
    out.labels.push_back(static_cast<int32_t>(at - class_names.begin()));
  }
  out.class_names = class_names;
  return out;
}

ProductStyles load_product_styles(const std::string& root, const ProductStylesOptions& options) {
  const ProductStylesListing listing = list_product_styles(root, options);
  ProductStyles out;
  static_cast<ProductStylesRows&>(out) = listing;
  static_cast<ImageFolder&>(out) =
      decode_labeled_files(listing, options.folder, (fs::path(root) / "styles.csv").string());
  return out;
}

}  // namespace weft::data
