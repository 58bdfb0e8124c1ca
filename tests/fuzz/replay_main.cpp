// The fuzz targets' main in the normal build (tests/fuzz/README.md): runs LLVMFuzzerTestOneInput
// once on every file named, or on every file in a folder named, and says how many it ran. ctest
// runs each target on its corpus in tests/fuzz/corpus/<target>/ - seeds and every input a
// fuzzing run ever found failing - so the readers keep their clean errors in every build,
// without clang or libFuzzer. `--write-seed FILE` asks a target for a valid input of its own.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// A target that can write a valid input of its own (checkpoint.cpp) defines this; others don't.
extern "C" int weft_fuzz_write_seed(const char* path) __attribute__((weak));

namespace {

std::vector<uint8_t> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  if (std::string(argv[1]) == "--write-seed") {
    if (argc != 3 || weft_fuzz_write_seed == nullptr) {
      std::fprintf(stderr, "%s: --write-seed FILE is for targets that write their own seed\n",
                   argv[0]);
      return 2;
    }
    return weft_fuzz_write_seed(argv[2]);
  }
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path());
      }
    } else if (std::filesystem::is_regular_file(arg)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs in the folders named\n");
    return 2;
  }
  for (const auto& path : inputs) {
    std::printf("input %s\n", path.c_str());  // the last line printed names a failing input
    std::fflush(stdout);
    const std::vector<uint8_t> bytes = read_all(path);
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("ran %zu inputs\n", inputs.size());
  return 0;
}
