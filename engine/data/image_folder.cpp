// Folder-tree and CSV image datasets (see image_folder.h).
#include "engine/data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/data/csv_fields.h"
#include "kernels/error.h"

namespace weft::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kExtensions = ".jpg, .jpeg, .png, .bmp, .pgm, .ppm";

bool hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// Folders exactly `depth` levels below `dir`, as paths relative to `base`, sorted.
void class_folders(const fs::path& base, const fs::path& dir, int depth,
                   std::vector<std::string>& out) {
  std::vector<fs::path> children;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && !hidden(entry.path())) children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());
  for (const fs::path& child : children) {
    if (depth == 1) {
      out.push_back(fs::relative(child, base).generic_string());
    } else {
      class_folders(base, child, depth - 1, out);
    }
  }
}

// Image files anywhere below `dir` (hidden files and folders skipped), sorted.
std::vector<std::string> image_files_below(const fs::path& dir) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && has_image_extension(it->path().string())) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}


// The per-file label lists of a multi-label listing as label names, label sets and indices.
MultiLabelFiles describe_multilabel(std::vector<std::string> paths,
                                    const std::vector<std::vector<std::string>>& labels_per_file) {
  MultiLabelFiles out;
  out.paths = std::move(paths);
  std::set<std::string> names;
  for (const auto& labels : labels_per_file) names.insert(labels.begin(), labels.end());
  out.label_names.assign(names.begin(), names.end());
  // Label sets, sorted by their joined name.
  std::vector<std::string> set_of_file;
  for (auto labels : labels_per_file) {
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    std::string joined;
    std::vector<int32_t> indices;
    for (const std::string& label : labels) {
      joined += (joined.empty() ? "" : ";") + label;
      const auto at = std::lower_bound(out.label_names.begin(), out.label_names.end(), label);
      indices.push_back(static_cast<int32_t>(at - out.label_names.begin()));
    }
    set_of_file.push_back(joined);
    out.labels.push_back(indices);
  }
  const std::set<std::string> sets(set_of_file.begin(), set_of_file.end());
  out.label_set_names.assign(sets.begin(), sets.end());
  for (const std::string& joined : set_of_file) {
    const auto at =
        std::lower_bound(out.label_set_names.begin(), out.label_set_names.end(), joined);
    out.label_set.push_back(static_cast<int32_t>(at - out.label_set_names.begin()));
  }
  return out;
}

// Every part's files decoded by one decode_images call. rows[p] are part p's rows of
// decoded.images and files[p] their positions in the listing, both in the part's order.
struct PartsDecoded {
  DecodedImages decoded;
  std::vector<std::vector<int64_t>> rows, files;
};

PartsDecoded decode_listed(const std::vector<std::string>& paths,
                           const std::vector<std::vector<int64_t>>& parts,
                           const ImageFolderOptions& options, const std::string& source) {
  std::vector<std::string> chosen;
  std::vector<int64_t> file_of;
  std::vector<size_t> part_of;
  for (size_t p = 0; p < parts.size(); ++p) {
    for (const int64_t i : parts[p]) {
      WEFT_CHECK(i >= 0 && i < static_cast<int64_t>(paths.size()), source, ": file index ", i,
                 " is outside the listing of ", paths.size(), " files");
      chosen.push_back(paths[static_cast<size_t>(i)]);
      file_of.push_back(i);
      part_of.push_back(p);
    }
  }
  WEFT_CHECK(!chosen.empty(), source, ": no image files to decode");
  PartsDecoded out;
  out.decoded = decode_images(chosen, options.image, options.bad_images, options.threads,
                              options.progress);
  WEFT_CHECK(!out.decoded.kept.empty(), source, ": none of the ", chosen.size(),
             " images could be used; first: ", out.decoded.skipped.at(0).path, ": ",
             out.decoded.skipped.at(0).reason);
  out.rows.resize(parts.size());
  out.files.resize(parts.size());
  for (size_t row = 0; row < out.decoded.kept.size(); ++row) {
    const auto k = static_cast<size_t>(out.decoded.kept[row]);
    out.rows[part_of[k]].push_back(static_cast<int64_t>(row));
    out.files[part_of[k]].push_back(file_of[k]);
  }
  return out;
}

// Rows of the decoded images; the tensor itself when they are all of it, in order.
Tensor rows_of(const Tensor& images, const std::vector<int64_t>& rows) {
  return static_cast<int64_t>(rows.size()) == images.dim(0) ? images : gather_rows(images, rows);
}

std::vector<std::vector<int64_t>> everything(int64_t count) {
  std::vector<int64_t> all(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) all[static_cast<size_t>(i)] = i;
  return {all};
}

}  // namespace

FolderListing list_image_folder(const std::string& root, int class_depth) {
  WEFT_CHECK(class_depth >= 1, root, ": class_depth must be at least 1, got ", class_depth);
  WEFT_CHECK(fs::exists(root), root, ": no such directory");
  WEFT_CHECK(fs::is_directory(root), root, ": is not a directory (expected root/<class>/...)");
  FolderListing listing;
  try {
    class_folders(root, root, class_depth, listing.class_names);
    WEFT_CHECK(!listing.class_names.empty(), root, ": no class folders (expected ",
               class_depth == 1 ? "root/<class>/<images>" : "class folders at depth ",
               class_depth == 1 ? "" : std::to_string(class_depth), ")");
    for (size_t c = 0; c < listing.class_names.size(); ++c) {
      const fs::path dir = fs::path(root) / listing.class_names[c];
      listing.files.push_back(image_files_below(dir));
      WEFT_CHECK(!listing.files.back().empty(), dir.string(), ": empty class folder (class ", c,
                 " '", listing.class_names[c], "'): no image files (", kExtensions,
                 ") in it or below it");
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(root + ": cannot list the folder tree: " + e.what());
  }
  return listing;
}

LabeledFiles keep_classes(const LabeledFiles& files, const ClassSelection& selection) {
  LabeledFiles kept;
  for (const int32_t c : selection.kept) {
    WEFT_CHECK(c >= 0 && static_cast<size_t>(c) < files.class_names.size(), "keep_classes: class ",
               c, " of ", files.class_names.size());
    kept.class_names.push_back(files.class_names[static_cast<size_t>(c)]);
  }
  for (const int64_t i : selection.indices) {
    WEFT_CHECK(i >= 0 && i < files.size(), "keep_classes: file ", i, " of ", files.size());
    const size_t at = static_cast<size_t>(i);
    kept.paths.push_back(files.paths[at]);
    kept.labels.push_back(selection.new_label[static_cast<size_t>(files.labels[at])]);
  }
  return kept;
}

LabeledFiles list_labeled_files(const std::string& root, int class_depth) {
  const FolderListing listing = list_image_folder(root, class_depth);
  LabeledFiles out;
  out.class_names = listing.class_names;
  for (size_t c = 0; c < listing.files.size(); ++c) {
    for (const std::string& file : listing.files[c]) {
      out.paths.push_back(file);
      out.labels.push_back(static_cast<int32_t>(c));
    }
  }
  return out;
}

ImageFolder load_image_folder(const std::string& root, const ImageFolderOptions& options) {
  const LabeledFiles files = list_labeled_files(root, options.class_depth);
  return decode_labeled_files(files, options, root);
}

ImageFolder decode_labeled_files(const LabeledFiles& files, const ImageFolderOptions& options,
                                 const std::string& source) {
  DecodedParts decoded = decode_parts(files, everything(files.size()), options, source);
  ImageFolder out = std::move(decoded.parts[0]);
  out.skipped = std::move(decoded.skipped);
  out.decode = decoded.decode;
  return out;
}

DecodedParts decode_parts(const LabeledFiles& files, const std::vector<std::vector<int64_t>>& parts,
                          const ImageFolderOptions& options, const std::string& source) {
  WEFT_CHECK(files.labels.size() == files.paths.size(), source, ": ", files.labels.size(),
             " labels for ", files.paths.size(), " files");
  PartsDecoded all = decode_listed(files.paths, parts, options, source);
  DecodedParts out;
  for (size_t p = 0; p < parts.size(); ++p) {
    ImageFolder part;
    part.class_names = files.class_names;
    part.images = rows_of(all.decoded.images, all.rows[p]);
    std::vector<int32_t> labels;
    for (const int64_t file : all.files[p]) {
      labels.push_back(files.labels[static_cast<size_t>(file)]);
      part.paths.push_back(files.paths[static_cast<size_t>(file)]);
    }
    part.labels = Tensor::from_vector(labels, {static_cast<int64_t>(labels.size())});
    out.parts.push_back(std::move(part));
  }
  out.skipped = std::move(all.decoded.skipped);
  out.decode = all.decoded.stats;
  return out;
}

MultiLabelFiles list_multilabel_folder(const std::string& root, int class_depth, char separator) {
  const FolderListing listing = list_image_folder(root, class_depth);
  std::vector<std::string> paths;
  std::vector<std::vector<std::string>> labels_per_file;
  for (size_t c = 0; c < listing.files.size(); ++c) {
    const std::string& folder = listing.class_names[c];
    std::vector<std::string> labels = split(folder, separator);
    for (const std::string& label : labels) {
      WEFT_CHECK(!label.empty(), root, "/", folder, ": folder name has an empty label when split",
                 " on '", separator, "' (expected e.g. black", separator, "dress)");
    }
    for (const std::string& file : listing.files[c]) {
      paths.push_back(file);
      labels_per_file.push_back(labels);
    }
  }
  return describe_multilabel(std::move(paths), labels_per_file);
}

MultiLabelImages load_multilabel_folder(const std::string& root,
                                        const ImageFolderOptions& options, char separator) {
  const MultiLabelFiles files = list_multilabel_folder(root, options.class_depth, separator);
  DecodedMultiLabelParts decoded = decode_parts(files, everything(files.size()), options, root);
  MultiLabelImages out = std::move(decoded.parts[0]);
  out.skipped = std::move(decoded.skipped);
  out.decode = decoded.decode;
  return out;
}

DecodedMultiLabelParts decode_parts(const MultiLabelFiles& files,
                                    const std::vector<std::vector<int64_t>>& parts,
                                    const ImageFolderOptions& options, const std::string& source) {
  WEFT_CHECK(files.labels.size() == files.paths.size() &&
                 files.label_set.size() == files.paths.size(),
             source, ": labels for ", files.labels.size(), " and label sets for ",
             files.label_set.size(), " of ", files.paths.size(), " files");
  PartsDecoded all = decode_listed(files.paths, parts, options, source);
  const auto num_labels = static_cast<int64_t>(files.label_names.size());
  DecodedMultiLabelParts out;
  for (size_t p = 0; p < parts.size(); ++p) {
    MultiLabelImages part;
    part.label_names = files.label_names;
    part.label_set_names = files.label_set_names;
    part.images = rows_of(all.decoded.images, all.rows[p]);
    const auto n = static_cast<int64_t>(all.files[p].size());
    part.targets = Tensor::zeros({n, num_labels});
    float* targets = part.targets.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const auto file = static_cast<size_t>(all.files[p][static_cast<size_t>(i)]);
      part.paths.push_back(files.paths[file]);
      for (const int32_t label : files.labels[file]) targets[i * num_labels + label] = 1.0f;
      part.label_set.push_back(files.label_set[file]);
    }
    out.parts.push_back(std::move(part));
  }
  out.skipped = std::move(all.decoded.skipped);
  out.decode = all.decoded.stats;
  return out;
}

MultiLabelFiles list_multilabel_csv(const std::string& csv_path, const ImageFolderOptions& options,
                                    const std::string& image_root) {
  WEFT_CHECK(fs::is_regular_file(csv_path), csv_path, ": no such file");
  std::ifstream in(csv_path);
  WEFT_CHECK(in.good(), csv_path, ": cannot open");
  const fs::path base = image_root.empty() ? fs::path(csv_path).parent_path() : fs::path(image_root);
  std::vector<std::string> paths;
  std::vector<std::vector<std::string>> labels_per_file;
  std::string line;
  int64_t line_number = 0;
  bool first_row = true;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (trim(line).empty()) continue;
    const std::vector<std::string> fields = split(line, ',');
    WEFT_CHECK(fields.size() == 2, csv_path, ": line ", line_number, ": expected 2 columns ",
               "(file,label1;label2;...), found ", fields.size());
    const std::string file = trim(fields[0]);
    if (first_row && !has_image_extension(file)) {  // a header row
      first_row = false;
      continue;
    }
    first_row = false;
    WEFT_CHECK(has_image_extension(file), csv_path, ": line ", line_number, ": '", file,
               "' is not an image file name (", kExtensions, ")");
    std::vector<std::string> labels;
    const std::string label_field = trim(fields[1]);
    if (!label_field.empty()) {
      for (const std::string& part : split(label_field, ';')) {
        const std::string label = trim(part);
        WEFT_CHECK(!label.empty(), csv_path, ": line ", line_number, ": empty label in '",
                   label_field, "' (expected label1;label2;...)");
        labels.push_back(label);
      }
    }
    const fs::path file_path(file);
    paths.push_back((file_path.is_absolute() ? file_path : base / file_path).string());
    // A missing file is the CSV's mistake: say which line names it (skipped images are listed
    // by the decoding like any other unreadable one).
    std::error_code error;
    WEFT_CHECK(options.bad_images == BadImages::skip || fs::is_regular_file(paths.back(), error),
               csv_path, ": line ", line_number, ": '", file, "' names no file (looked for ",
               paths.back(), ")");
    labels_per_file.push_back(labels);
  }
  WEFT_CHECK(!paths.empty(), csv_path, ": no data rows (expected file,label1;label2;...)");
  return describe_multilabel(std::move(paths), labels_per_file);
}

MultiLabelImages load_multilabel_csv(const std::string& csv_path,
                                     const ImageFolderOptions& options,
                                     const std::string& image_root) {
  const MultiLabelFiles files = list_multilabel_csv(csv_path, options, image_root);
  DecodedMultiLabelParts decoded = decode_parts(files, everything(files.size()), options, csv_path);
  MultiLabelImages out = std::move(decoded.parts[0]);
  out.skipped = std::move(decoded.skipped);
  out.decode = decoded.decode;
  return out;
}

MultiLabelImages select(const MultiLabelImages& data, const std::vector<int64_t>& indices) {
  MultiLabelImages out;
  out.images = gather_rows(data.images, indices);
  out.targets = gather_rows(data.targets, indices);
  out.label_names = data.label_names;
  out.label_set_names = data.label_set_names;
  for (int64_t i : indices) {
    out.label_set.push_back(data.label_set[static_cast<size_t>(i)]);
    if (!data.paths.empty()) out.paths.push_back(data.paths[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace weft::data
