// The scratch folder of the fuzz targets (fuzz_util.h): one per process, removed at exit.
#include "fuzz_util.h"

#include <filesystem>
#include <fstream>
#include <vector>

namespace weft::fuzz {

namespace {

void remove_scratch() {
  std::error_code ignored;
  std::filesystem::remove_all(scratch_dir(), ignored);
}

}  // namespace

const std::string& scratch_dir() {
  // Never destroyed: remove_scratch runs at exit, after the destructors of statics made before
  // it was registered, and needs the name then.
  static const std::string& dir = *new std::string([] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/weft-fuzz-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (mkdtemp(name.data()) == nullptr) {
      std::fprintf(stderr, "fuzz: cannot make a scratch folder %s\n", pattern.c_str());
      std::abort();
    }
    std::atexit(remove_scratch);
    return std::string(name.data());
  }());
  return dir;
}

std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace weft::fuzz
