// Field handling the dataset readers share (image_folder.cpp's label CSV, product_styles.cpp's
// styles.csv): blanks trimmed from a field, a line split on a separator.
#pragma once

#include <string>
#include <vector>

namespace weft::data {

// `text` without leading and trailing spaces and tabs.
inline std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  const size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

// The parts of `text` between separators (n separators give n + 1 parts, empty ones included).
inline std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

}  // namespace weft::data
