// Autotuner (autotune.h): timing candidates, the in-memory and on-disk cache, the table.
#include "engine/autotune.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft {
namespace {

constexpr const char* kFormat = "weft-autotune";
constexpr int kVersion = 1;

double steady_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

const AutotuneEntry* find(const std::vector<AutotuneEntry>& entries, const std::string& key) {
  for (const AutotuneEntry& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool names_one_of(const std::string& pick, const std::vector<AutotuneCandidate>& candidates) {
  return std::any_of(candidates.begin(), candidates.end(),
                     [&](const AutotuneCandidate& c) { return c.name == pick; });
}

// The string `j[key]`, or "" when it is missing or not a string (json::value would throw then).
std::string string_field(const nlohmann::json& j, const char* key) {
  const auto found = j.find(key);
  return found != j.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Parses a cache file's text. Returns the entries, or an explanation of what is wrong.
struct Parsed {
  std::vector<AutotuneEntry> entries;
  std::string problem;  // empty when the file is usable
};

Parsed parse_cache(const std::string& text, const std::string& device, const std::string& driver) {
  Parsed out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception&) {
    out.problem = "it is not valid JSON";
    return out;
  }
  if (!j.is_object() || string_field(j, "format") != kFormat) {
    out.problem = std::string("it is not a \"") + kFormat + "\" file";
    return out;
  }
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion) {
    out.problem = "it has version " + (j.contains("version") ? j["version"].dump() : "none") +
                  ", this weft reads version " + std::to_string(kVersion);
    return out;
  }
  if (string_field(j, "device") != device || string_field(j, "driver") != driver) {
    out.problem = "it was measured on \"" + string_field(j, "device") + "\" with \"" +
                  string_field(j, "driver") + "\"";
    return out;
  }
  if (!j.contains("entries") || !j["entries"].is_object()) {
    out.problem = "it has no \"entries\" object";
    return out;
  }
  for (const auto& [key, value] : j["entries"].items()) {
    if (!value.is_object() || !value.contains("pick") || !value["pick"].is_string() ||
        !value.contains("seconds") || !value["seconds"].is_object()) {
      out.entries.clear();
      out.problem = "entry \"" + key + "\" needs a \"pick\" string and a \"seconds\" object";
      return out;
    }
    AutotuneEntry e;
    e.key = key;
    e.pick = value["pick"].get<std::string>();
    e.from_disk = true;
    for (const auto& [name, seconds] : value["seconds"].items()) {
      if (!seconds.is_number() && !seconds.is_null()) {
        out.entries.clear();
        out.problem = "entry \"" + key + "\": the time of \"" + name + "\" is not a number";
        return out;
      }
      e.seconds.emplace_back(name, seconds.is_null() ? std::numeric_limits<double>::infinity()
                                                     : seconds.get<double>());
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

nlohmann::json entry_json(const AutotuneEntry& e) {
  nlohmann::json seconds = nlohmann::json::object();
  for (const auto& [name, s] : e.seconds) {
    seconds[name] = std::isfinite(s) ? nlohmann::json(s) : nlohmann::json(nullptr);
  }
  return {{"pick", e.pick}, {"seconds", seconds}};
}

// Holds an exclusive flock on "<path>.lock" for its lifetime (no lock if the file cannot be
// opened: the atomic rename still keeps the cache file whole).
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// The file's identity: device, inode, size, modification and change times (ns). A replacement by
// another process's atomic rename changes it; empty if the file cannot be stat'ed.
std::vector<long long> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<long long>(st.st_dev),         static_cast<long long>(st.st_ino),
          static_cast<long long>(st.st_size),        static_cast<long long>(st.st_mtim.tv_sec),
          static_cast<long long>(st.st_mtim.tv_nsec), static_cast<long long>(st.st_ctim.tv_sec),
          static_cast<long long>(st.st_ctim.tv_nsec)};
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out += keep ? c : '_';
  }
  return out;
}

}  // namespace

Autotuner::Autotuner(Options options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = steady_seconds;
  if (!options_.synchronize) options_.synchronize = [] {};
  if (!options_.warn) {
    options_.warn = [](const std::string& m) { std::fprintf(stderr, "weft: %s\n", m.c_str()); };
  }
  options_.warmup = std::max(options_.warmup, 0);
  options_.repetitions = std::max(options_.repetitions, 1);
}

void Autotuner::load_once() {
  if (loaded_) return;
  loaded_ = true;
  if (options_.cache_path.empty() || !std::filesystem::exists(options_.cache_path)) return;
  std::string text;
  try {
    text = io::read_file(options_.cache_path);
  } catch (const std::exception& e) {
    options_.warn(std::string("autotune cache: ") + e.what() + "; measuring anew");
    return;
  }
  Parsed parsed = parse_cache(text, options_.device, options_.driver);
  if (!parsed.problem.empty()) {
    options_.warn("autotune cache " + options_.cache_path + " is not usable (" + parsed.problem +
                  "); measuring anew, and it will be replaced");
    return;
  }
  disk_ = std::move(parsed.entries);
}

const AutotuneEntry* Autotuner::known(const std::string& key) {
  load_once();
  if (const AutotuneEntry* e = find(used_, key)) return e;
  if (const AutotuneEntry* e = find(disk_, key)) {
    used_.push_back(*e);
    return &used_.back();
  }
  return nullptr;
}

std::optional<std::string> Autotuner::cached(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (const AutotuneEntry* e = known(key)) return e->pick;
  return std::nullopt;
}

std::string Autotuner::pick(const std::string& key,
                            const std::vector<AutotuneCandidate>& candidates) {
  if (candidates.empty()) throw Error("autotune: no candidate for " + key);
  std::lock_guard<std::mutex> lock(mutex_);
  if (const AutotuneEntry* e = known(key); e != nullptr && names_one_of(e->pick, candidates)) {
    return e->pick;
  }

  AutotuneEntry entry;
  entry.key = key;
  double best = std::numeric_limits<double>::infinity();
  std::exception_ptr first_error;
  for (const AutotuneCandidate& c : candidates) {
    double seconds = std::numeric_limits<double>::infinity();
    try {
      for (int i = 0; i < options_.warmup; ++i) c.run();
      options_.synchronize();
      // The fastest of the timed runs: on a shared machine a run can only be slowed down
      // (descheduled threads, another process's cache traffic), so the minimum is the estimate
      // that other load disturbs least; a mean let one slowed run flip a choice.
      for (int i = 0; i < options_.repetitions; ++i) {
        const double start = options_.clock();
        c.run();
        options_.synchronize();
        seconds = std::min(seconds, options_.clock() - start);
      }
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
      options_.synchronize();
    }
    entry.seconds.emplace_back(c.name, seconds);
    if (seconds < best) {  // strictly: a tie keeps the earlier candidate
      best = seconds;
      entry.pick = c.name;
    }
  }
  if (entry.pick.empty()) std::rethrow_exception(first_error);

  // Replace any stale entry for the key (one whose pick is no longer a candidate).
  used_.erase(std::remove_if(used_.begin(), used_.end(),
                             [&](const AutotuneEntry& e) { return e.key == key; }),
              used_.end());
  used_.push_back(entry);
  fresh_.erase(std::remove_if(fresh_.begin(), fresh_.end(),
                              [&](const AutotuneEntry& e) { return e.key == key; }),
               fresh_.end());
  fresh_.push_back(entry);
  save();
  return entry.pick;
}

void Autotuner::adopt(const std::string& key, const std::string& pick) {
  std::lock_guard<std::mutex> lock(mutex_);
  used_.erase(std::remove_if(used_.begin(), used_.end(),
                             [&](const AutotuneEntry& e) { return e.key == key; }),
              used_.end());
  AutotuneEntry entry;
  entry.key = key;
  entry.pick = pick;
  entry.from_checkpoint = true;
  used_.push_back(std::move(entry));
}

void Autotuner::save() {
  if (options_.cache_path.empty()) return;
  try {
    // A bare file name ("picks.json") has no folder to create.
    const std::filesystem::path folder = std::filesystem::path(options_.cache_path).parent_path();
    if (!folder.empty()) std::filesystem::create_directories(folder);
    FileLock lock(options_.cache_path);
    // Merge with what other processes saved since we read the file: parse it again unless it is
    // still the file this process wrote last.
    std::vector<AutotuneEntry> merged;
    if (!written_identity_.empty() && file_identity(options_.cache_path) == written_identity_) {
      merged = std::move(written_);
    } else if (std::filesystem::exists(options_.cache_path)) {
      Parsed current =
          parse_cache(io::read_file(options_.cache_path), options_.device, options_.driver);
      if (current.problem.empty()) merged = std::move(current.entries);
    }
    written_identity_.clear();
    for (const AutotuneEntry& e : fresh_) {
      merged.erase(std::remove_if(merged.begin(), merged.end(),
                                  [&](const AutotuneEntry& m) { return m.key == e.key; }),
                   merged.end());
      merged.push_back(e);
    }
    nlohmann::json entries = nlohmann::json::object();
    for (const AutotuneEntry& e : merged) entries[e.key] = entry_json(e);
    const nlohmann::json file = {{"format", kFormat},
                                 {"version", kVersion},
                                 {"device", options_.device},
                                 {"driver", options_.driver},
                                 {"entries", entries}};
    io::write_file_atomic(options_.cache_path, file.dump(1) + "\n");
    written_ = std::move(merged);
    written_identity_ = file_identity(options_.cache_path);  // still under the lock
  } catch (const std::exception& e) {
    options_.warn(std::string("autotune cache not saved: ") + e.what());
    options_.cache_path.clear();  // one warning, not one per key
  }
}

std::vector<AutotuneEntry> Autotuner::table() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

std::string default_autotune_cache_path(const std::string& device, const std::string& driver) {
  if (const char* path = std::getenv("WEFT_AUTOTUNE_CACHE")) {
    const std::string value = path;
    if (value == "off" || value == "0" || value.empty()) return "";
    return value;
  }
  std::filesystem::path dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    dir = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    dir = std::filesystem::path(home) / ".cache";
  } else {
    return "";
  }
  const std::string file = slug(device) + (driver.empty() ? "" : "-" + slug(driver)) + ".json";
  return (dir / "weft" / "autotune" / file).string();
}

std::string format_autotune_table(const std::vector<AutotuneEntry>& entries) {
  std::ostringstream out;
  if (entries.empty()) return "autotune: no shape was measured (no op had two candidates)\n";
  out << "autotune: " << entries.size() << (entries.size() == 1 ? " shape" : " shapes") << "\n";
  for (const AutotuneEntry& e : entries) {
    out << "  " << e.key << "\n    ";
    for (const auto& [name, seconds] : e.seconds) {
      out << name << " ";
      if (std::isfinite(seconds)) {
        out << std::fixed << std::setprecision(3) << seconds * 1e3 << " ms";
      } else {
        out << "failed";
      }
      out << (name == e.pick ? " *  " : "    ");
    }
    const char* source = e.from_checkpoint ? " (restored: a checkpoint's or rank 0's pick)"
                         : e.from_disk     ? " (from the cache file)"
                                           : " (measured)";
    out << "-> " << e.pick << source << "\n";
  }
  return out.str();
}

}  // namespace weft
