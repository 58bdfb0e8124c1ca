// Fuzz target: a run folder's metrics.jsonl as a resumed run reads it back
// (engine/train/history.h MetricsFiles::resume): rows up to the checkpoint's epoch are kept, a
// torn last line is dropped, anything else wrong is an error naming the file. The first byte is
// the checkpoint's epoch (0-15); the rest is the file.
#include <cstdint>
#include <string>

#include "engine/train/history.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int last_epoch = data[0] % 16;
  const std::string path = weft::fuzz::write_scratch("metrics.jsonl", data + 1, size - 1);
  weft::train::MetricsFiles files(weft::fuzz::scratch_dir());
  weft::fuzz::expect_clean_errors(path, [&] {
    const auto rows = files.resume(last_epoch);
    if (rows.size() > static_cast<size_t>(last_epoch)) std::abort();
    for (const auto& row : rows) {
      if (row.epoch < 1 || row.epoch > last_epoch) std::abort();
    }
  });
  return 0;
}
