// A temporary folder for tests that write files: created fresh under the system's temporary
// directory, removed with everything in it when the TempDir goes out of scope. One class for
// the whole suite (the data, report, training and checkpoint tests).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace weft::test {

class TempDir {
 public:
  // The folder is named weft_test_<tag>_<process>_<count>, so a test's leftovers (if it is
  // killed) say where they came from.
  explicit TempDir(const std::string& tag = "data") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("weft_test_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The folder itself.
  std::string path() const { return path_.string(); }
  // The path of `relative` inside the folder, its parent folders created.
  std::string file(const std::string& relative) const {
    const std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }
  // The folder `relative` inside this one, created.
  std::string dir(const std::string& relative) const {
    const std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p);
    return p.string();
  }
  // The path of `relative` inside the folder, nothing created: for tests of what weft does when
  // a folder is missing.
  std::string path_of(const std::string& relative) const { return (path_ / relative).string(); }
  // The names in the folder, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace weft::test
