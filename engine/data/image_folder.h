// Image datasets read from folders of image files: single-label (ImageFolder) and multi-label
// (labels from folder names, or from a CSV).
//
// ImageFolder layout (as torchvision's ImageFolder and Keras' image_dataset_from_directory):
//
//   root/<class>/**/<image>.jpg|.jpeg|.png|.bmp|.pgm|.ppm
//
// Classes are the folders directly under root (names starting with "." are ignored); class
// index = position in the byte-wise sorted list of folder names. Each class folder is walked
// recursively, so UT Zappos50K's Category/SubCategory/Brand tree gives the four categories as
// classes; `class_depth` 2 makes "Boots/Ankle" a class instead. Files with other extensions
// are ignored; a class folder with no image file at all is an error that names it.
//
// A corrupt or truncated image either fails the load (BadImages::fail, the default) or is left
// out and listed in `skipped` with its reason (BadImages::skip). Class indices come from the
// folder list, never from the images that decoded, so skipping never shifts a label.
//
// Every image is decoded once, at load time, into one uint8 [N, C, H, W] tensor in memory; an
// epoch reads that tensor and never decodes again. Memory is N*C*H*W bytes (Zappos50K at
// 128x128 RGB: 2.5 GB; at 64x64: 0.6 GB).
//
// Multi-label from folders (seed 003): `black_dress/` holds images labelled {black, dress};
// label names are the sorted distinct parts of all folder names split on '_'.
// Multi-label from a CSV: one row per image, `file,label1;label2;...` with the file relative
// to the CSV's folder (or to `image_root`); the first row is a header when its first field is
// not an image file name; an empty label field means "no label". Errors name the CSV and row.
#pragma once

#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"
#include "engine/data/image_io.h"
#include "engine/data/splits.h"

namespace weft::data {

struct ImageFolderOptions {
  ImageOptions image;                   // size, channels, pad / crop / stretch
  BadImages bad_images = BadImages::fail;
  int class_depth = 1;                  // folder levels below root that name the class
  int threads = 0;                      // decoding threads, 0: all cores
  DecodeProgress progress;              // a long load's progress lines (none by default)
};

// LabeledImages (uint8 [N, C, H, W] images, int32 [N] labels, class names) plus where each
// image came from and which files were left out.
struct ImageFolder : LabeledImages {
  std::vector<std::string> paths;     // per image
  std::vector<SkippedImage> skipped;  // bad images left out (BadImages::skip)
  DecodeStats decode;
};

ImageFolder load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

// The classes and image files an ImageFolder load would use, without decoding anything:
// class_names sorted, files[c] the sorted image paths of class c.
struct FolderListing {
  std::vector<std::string> class_names;
  std::vector<std::vector<std::string>> files;
};
FolderListing list_image_folder(const std::string& root, int class_depth = 1);

// Choosing before decoding. A split or a --limit needs only the labels, so a caller that keeps
// a few thousand of 44,000 photos lists the files with their labels (nothing read but folder
// names or a CSV), chooses by label, and decodes only what it kept (decode_parts): the same
// images, in the same order, as decoding everything and choosing afterwards, as long as every
// file decodes. A bad file left out under BadImages::skip is then missing from its own part,
// where a load that decodes first leaves it out before choosing.
struct LabeledFiles {
  std::vector<std::string> paths;
  std::vector<int32_t> labels;  // per file: an index into class_names
  std::vector<std::string> class_names;
  int64_t size() const { return static_cast<int64_t>(paths.size()); }
};

// The files and labels load_image_folder would decode, in its order.
LabeledFiles list_labeled_files(const std::string& root, int class_depth = 1);

// The files of the classes `selection` kept (classes_with_at_least over files.labels), in their
// order, labels renumbered to the kept classes' new ids and class_names cut to match (weft-shoes'
// --min-count).
LabeledFiles keep_classes(const LabeledFiles& files, const ClassSelection& selection);

// The decoding half of a single-label load, for readers that find their files and labels some
// other way (product_styles.h): decode every file of `files` with options' size and bad-image
// policy; the kept files keep their labels and paths. weft::Error naming `source` when none of
// them decodes.
ImageFolder decode_labeled_files(const LabeledFiles& files, const ImageFolderOptions& options,
                                 const std::string& source);

// Parts of a listing decoded in one pass over their files (options' size, bad-image policy,
// threads and progress). parts[p] holds the files of index list p (positions in `files`) that
// decoded, in that list's order, with their labels and paths; skipped and decode cover every
// part. weft::Error naming `source` when none of the files decodes.
struct DecodedParts {
  std::vector<ImageFolder> parts;  // each with images, labels, class_names, paths
  std::vector<SkippedImage> skipped;
  DecodeStats decode;
};
DecodedParts decode_parts(const LabeledFiles& files, const std::vector<std::vector<int64_t>>& parts,
                          const ImageFolderOptions& options, const std::string& source);

struct MultiLabelImages {
  Tensor images;                        // uint8 [N, C, H, W]
  Tensor targets;                       // float [N, L] multi-hot
  std::vector<std::string> label_names;  // L names, sorted
  // The distinct label sets (a folder, or a CSV row's sorted labels joined by ';') and each
  // image's index among them: what a stratified split of multi-label data stratifies on.
  std::vector<std::string> label_set_names;
  std::vector<int32_t> label_set;
  std::vector<std::string> paths;
  std::vector<SkippedImage> skipped;
  DecodeStats decode;
  int64_t size() const { return targets.defined() ? targets.dim(0) : 0; }
};

MultiLabelImages load_multilabel_folder(const std::string& root,
                                        const ImageFolderOptions& options = {},
                                        char separator = '_');

MultiLabelImages load_multilabel_csv(const std::string& csv_path,
                                     const ImageFolderOptions& options = {},
                                     const std::string& image_root = "");

// Rows `indices` of a multi-label dataset, in that order.
MultiLabelImages select(const MultiLabelImages& data, const std::vector<int64_t>& indices);

// The multi-label loads' listings (see LabeledFiles above): files, each file's labels and label
// set, without decoding anything.
struct MultiLabelFiles {
  std::vector<std::string> paths;
  std::vector<std::vector<int32_t>> labels;  // per file: indices into label_names, ascending
  std::vector<std::string> label_names;      // sorted
  std::vector<std::string> label_set_names;  // sorted
  std::vector<int32_t> label_set;            // per file: an index into label_set_names
  int64_t size() const { return static_cast<int64_t>(paths.size()); }
};

MultiLabelFiles list_multilabel_folder(const std::string& root, int class_depth = 1,
                                       char separator = '_');
// options.bad_images decides whether a row naming no file is an error (fail) or goes on to the
// decoding, which leaves it out (skip).
MultiLabelFiles list_multilabel_csv(const std::string& csv_path,
                                    const ImageFolderOptions& options = {},
                                    const std::string& image_root = "");

struct DecodedMultiLabelParts {
  std::vector<MultiLabelImages> parts;  // each with images, targets, names, label sets, paths
  std::vector<SkippedImage> skipped;
  DecodeStats decode;
};
DecodedMultiLabelParts decode_parts(const MultiLabelFiles& files,
                                    const std::vector<std::vector<int64_t>>& parts,
                                    const ImageFolderOptions& options, const std::string& source);

}  // namespace weft::data
