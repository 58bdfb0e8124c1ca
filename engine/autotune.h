// The measuring half of the `auto` kernel choice: given a key (an op group and its shapes, with
// the device and the precision) and the candidates that could run it, time each candidate a few
// times and keep the fastest, as cudnn.benchmark does. The dispatch (engine/dispatch.h) builds
// the keys and the candidates' trial runs on scratch buffers; this file owns the timing, the
// cache in memory and on disk, and the report table.
//
// The disk cache is one JSON file per device and driver (default_autotune_cache_path()):
//
//   {"format": "weft-autotune", "version": 1, "device": "...", "driver": "...",
//    "entries": {"<key>": {"pick": "cuda-vendor",
//                          "seconds": {"cuda-hand": 0.00123, "cuda-vendor": 0.00041}}}}
//
// It is read on first use and written after every new measurement: under an exclusive lock on
// "<file>.lock", the file on disk is read again (unless it is still the one this process wrote
// last), merged with this process's entries and replaced atomically (engine/io/atomic_file.h),
// so two processes tuning at once lose nothing and never leave a torn file. A file that cannot
// be read, is not this format, has another version or belongs to another device or driver gives
// one warning and is measured anew (and overwritten at the next save). WEFT_AUTOTUNE_CACHE=off
// keeps the cache in memory only; WEFT_AUTOTUNE_CACHE=<path> names the file.
//
// Tests inject the clock, the synchronisation and the candidates (tests/test_autotune.cpp).
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace weft {

// One candidate for a key: a name ("cuda-hand") and one trial run of the op group on scratch
// buffers, queued on the device (the timer synchronises around it).
struct AutotuneCandidate {
  std::string name;
  std::function<void()> run;
};

// One row of the table: what was measured (or read from the cache) for a key, and the pick.
struct AutotuneEntry {
  std::string key;
  std::vector<std::pair<std::string, double>> seconds;  // candidate -> seconds per trial
  std::string pick;
  bool from_disk = false;  // read from the cache file rather than measured by this process
  bool from_checkpoint = false;  // restored from a checkpoint or rank 0 (adopt()); no times
};

class Autotuner {
 public:
  struct Options {
    std::string device;      // the device's name, recorded in the cache file ("NVIDIA H200", "cpu")
    std::string driver;      // the driver or library versions that make timings comparable
    std::string cache_path;  // empty: in memory only
    std::function<double()> clock;      // seconds, monotonic; a steady clock when empty
    std::function<void()> synchronize;  // waits for queued work; nothing when empty
    int warmup = 1;                     // untimed runs per candidate (first-call set-up, caches)
    int repetitions = 3;                // timed runs per candidate; the time is the fastest
    // Warnings (a bad cache file, a failed save); stderr when empty.
    std::function<void(const std::string&)> warn;
  };

  explicit Autotuner(Options options);

  // The name of the candidate to run for `key`: the cached pick when it names one of
  // `candidates`, otherwise each candidate is timed now and the fastest kept (and saved). Ties
  // go to the earlier candidate. A candidate whose trial throws is left out of the race (its
  // error is kept in the table as an infinite time); if every one throws, the first error is
  // rethrown.
  std::string pick(const std::string& key, const std::vector<AutotuneCandidate>& candidates);

  // The cached pick for `key`, if any (memory or disk), without measuring. A pick read from the
  // disk enters the table. The caller checks that it names one of its candidates (pick() does,
  // and measures anew when it does not).
  std::optional<std::string> cached(const std::string& key);

  // Enters `pick` for `key` in the table as restored from a checkpoint or from rank 0 of a
  // data-parallel run (the dispatch takes such
  // picks before this tuner: engine/dispatch.h, restore_kernel_picks). Nothing is measured or
  // saved to the cache file.
  void adopt(const std::string& key, const std::string& pick);

  // Every key this process has picked for, in the order of first use.
  std::vector<AutotuneEntry> table() const;

  const Options& options() const { return options_; }

 private:
  void load_once();  // caller holds mutex_
  // The entry for `key` this process used, or the cache file's (then entered in the table);
  // null when neither has it. The caller holds mutex_.
  const AutotuneEntry* known(const std::string& key);
  void save();       // caller holds mutex_

  Options options_;
  mutable std::mutex mutex_;
  bool loaded_ = false;
  std::vector<AutotuneEntry> disk_;   // entries read from the cache file
  std::vector<AutotuneEntry> used_;   // keys this process picked for, in order
  std::vector<AutotuneEntry> fresh_;  // entries this process measured (to save)
  // What this process last wrote to the cache file, and the file's identity right after (device,
  // inode, size, modification and change times, taken under the lock). The next save reuses the
  // entries instead of parsing the file again when the identity is unchanged, i.e. no other
  // process has replaced it since: with thousands of entries the parse was most of a save's
  // 28 ms. Empty identity: parse.
  std::vector<AutotuneEntry> written_;
  std::vector<long long> written_identity_;
};

// "<cache dir>/weft/autotune/<device>-<driver>.json" (no "-<driver>" when it is empty) with the
// cache dir from XDG_CACHE_HOME or HOME/.cache, names reduced to [A-Za-z0-9._-];
// WEFT_AUTOTUNE_CACHE overrides it ("off": "").
// Empty when there is nowhere to put it.
std::string default_autotune_cache_path(const std::string& device, const std::string& driver);

// The table as text: key, each candidate's time, the pick, and where it came from.
std::string format_autotune_table(const std::vector<AutotuneEntry>& entries);

}  // namespace weft
