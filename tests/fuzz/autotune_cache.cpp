// Fuzz target: auto's cache file (engine/autotune.h), which lives in the user's cache folder and
// may be torn, stale or edited by hand. The rule here is stricter than the others': a bad file
// gives a warning and is measured anew, so nothing at all may be thrown.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include "engine/autotune.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = weft::fuzz::write_scratch("autotune.json", data, size);
  weft::Autotuner::Options options;
  options.device = "cpu";
  options.driver = "fuzz";
  options.cache_path = path;
  options.warn = [](const std::string&) {};
  weft::Autotuner tuner(options);
  try {
    (void)tuner.cached("conv2d forward x=[2,3,8,8]");
    (void)weft::format_autotune_table(tuner.table());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: reading %s threw: %s\n", path.c_str(), e.what());
    std::abort();
  }
  return 0;
}
