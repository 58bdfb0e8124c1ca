// What the file readers' fuzz targets share (tests/fuzz/README.md): the rule every target checks
// and a scratch file for readers that take a path.
//
// The rule: a reader given any bytes either succeeds or throws weft::Error, whose message names
// the file. Anything else - another exception type (std::out_of_range from a container, a JSON
// library's own error, std::bad_alloc from a size read off the file), a crash, a hang, or a read
// out of bounds (AddressSanitizer in the fuzzing build) - is a bug the target reports by aborting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "kernels/error.h"

namespace weft::fuzz {

// Runs `read`; weft::Error must name `file` (the path or source name the reader was given).
template <typename Read>
void expect_clean_errors(const std::string& file, Read&& read) {
  try {
    read();
  } catch (const weft::Error& e) {
    if (std::string_view(e.what()).find(file) == std::string_view::npos) {
      std::fprintf(stderr, "fuzz: weft::Error without the file name %s: %s\n", file.c_str(),
                   e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: %s escaped as a non-weft exception: %s\n", file.c_str(),
                 e.what());
    std::abort();
  }
}

// A scratch folder of this process (under TMPDIR or /tmp), made on first use; fuzz inputs are
// written to files in it for the readers that open a path.
const std::string& scratch_dir();

// Writes `size` bytes at `data` to scratch_dir()/name and returns the path.
std::string write_scratch(const std::string& name, const uint8_t* data, size_t size);

}  // namespace weft::fuzz
