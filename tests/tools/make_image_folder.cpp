// weft_make_image_folder: writes Fashion-MNIST test images as PNG files into an ImageFolder
// (root/<class>/<n>.png), so the app smoke tests (tests/CMakeLists.txt) can run the apps on
// real image files without shipping any.
//
//   weft_make_image_folder OUT_DIR CLASSES PER_CLASS [rgb]
//     CLASSES    comma-separated Fashion-MNIST class indices, e.g. 5,7,9
//     PER_CLASS  images written per class (the first ones of the test file)
//     rgb        write 3-channel images (the grey value tinted), else grayscale
#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "engine/data/fashion_mnist.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: weft_make_image_folder OUT_DIR CLASSES PER_CLASS [rgb]\n");
    return 2;
  }
  try {
    const std::filesystem::path root = argv[1];
    std::vector<int> classes;
    std::stringstream list(argv[2]);
    for (std::string item; std::getline(list, item, ',');) classes.push_back(std::stoi(item));
    const int per_class = std::stoi(argv[3]);
    const bool rgb = argc > 4 && std::string(argv[4]) == "rgb";
    const weft::data::LabeledImages test =
        weft::data::load_fashion_mnist(weft::data::kFashionMnistDir, "test");
    const std::vector<int32_t> labels = test.labels.to_vector<int32_t>();
    const uint8_t* pixels = test.images.data<uint8_t>();
    for (int c : classes) {
      std::string name = weft::data::kFashionMnistClasses.at(static_cast<size_t>(c));
      for (char& ch : name) ch = ch == '/' ? '_' : ch;
      std::filesystem::create_directories(root / name);
      int written = 0;
      for (size_t i = 0; i < labels.size() && written < per_class; ++i) {
        if (labels[i] != c) continue;
        const uint8_t* image = pixels + i * 28 * 28;
        std::vector<uint8_t> out;
        for (int p = 0; p < 28 * 28; ++p) {
          out.push_back(image[p]);
          if (rgb) {
            out.push_back(image[p]);
            out.push_back(static_cast<uint8_t>(255 - image[p]));
          }
        }
        const std::string file = (root / name / (std::to_string(i) + ".png")).string();
        if (!stbi_write_png(file.c_str(), 28, 28, rgb ? 3 : 1, out.data(), 28 * (rgb ? 3 : 1))) {
          std::fprintf(stderr, "weft_make_image_folder: cannot write %s\n", file.c_str());
          return 1;
        }
        ++written;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft_make_image_folder: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
