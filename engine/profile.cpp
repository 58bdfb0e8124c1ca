// The op profile (profile.h): the rows, the dispatch's per-call hook and the tables.
#include "engine/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "kernels/error.h"

namespace weft::profile {
namespace {

std::atomic<bool> recording_now{false};
std::mutex rows_mutex;
Profile current;
std::map<std::string, size_t> row_index;  // op | implementation | shape -> row

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "(conv2d_forward_kernel<Tile64, DenseOutput>)" as WEFT_LAUNCH spells a template: without the
// parentheses the macro needed.
std::string kernel_name(const std::string& launched) {
  if (launched.size() >= 2 && launched.front() == '(' && launched.back() == ')') {
    return launched.substr(1, launched.size() - 2);
  }
  return launched;
}

std::string milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds * 1e3);
  return text;
}

std::string per_step(int64_t count, int steps) {
  char text[32];
  if (count % steps == 0) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(count / steps));
  } else {
    std::snprintf(text, sizeof text, "%.2f", static_cast<double>(count) / steps);
  }
  return text;
}

std::string percent(double part, double whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return text;
}

// A table cell: '|' would end the cell.
std::string cell(std::string text) {
  std::replace(text.begin(), text.end(), '|', '/');
  return text;
}

}  // namespace

double Profile::seconds() const {
  double sum = 0;
  for (const OpRow& row : rows) sum += row.seconds;
  return sum;
}

double Profile::device_seconds() const {
  double sum = 0;
  for (const OpRow& row : rows) sum += row.device_seconds;
  return sum;
}

bool Profile::device_clock() const {
  return std::any_of(rows.begin(), rows.end(), [](const OpRow& row) { return row.device_clock; });
}

void start() {
  std::lock_guard<std::mutex> lock(rows_mutex);
  WEFT_CHECK(!recording_now.load(), "profile::start: a profile is already recording");
  current = Profile{};
  row_index.clear();
  recording_now = true;
}

Profile stop() {
  std::lock_guard<std::mutex> lock(rows_mutex);
  recording_now = false;
  Profile out = std::move(current);
  current = Profile{};
  row_index.clear();
  return out;
}

bool recording() {
  return recording_now.load(std::memory_order_relaxed);
}

Timed::Timed(const char* family, const char* op, const char* implementation, std::string shape,
             const std::function<void()>& synchronize, const DeviceClock& clock)
    : family_(family),
      op_(op),
      implementation_(implementation),
      shape_(std::move(shape)),
      synchronize_(synchronize),
      clock_(clock) {
  if (!recording() || count::capturing()) return;
  synchronize_();
  active_ = true;
  outer_trace_ = count::trace_launches(&kernels_);
  before_ = runtime_counters();
  start_ = now_seconds();
  if (clock_) clock_.start();
}

Timed::~Timed() {
  // An op that threw: its trace goes back to where it was, and no row is recorded.
  if (active_) count::trace_launches(outer_trace_);
}

void Timed::finish() {
  if (!active_) return;
  active_ = false;
  count::trace_launches(outer_trace_);
  if (outer_trace_ != nullptr) {
    outer_trace_->insert(outer_trace_->end(), kernels_.begin(), kernels_.end());
  }
  if (clock_) clock_.stop();
  synchronize_();  // an error of the op's kernels surfaces here, as the caller's exception
  const double seconds = now_seconds() - start_;
  const double device_seconds = clock_ ? clock_.seconds() : 0.0;
  const RuntimeCounters counted = runtime_counters() - before_;
  std::lock_guard<std::mutex> lock(rows_mutex);
  if (!recording_now.load()) return;
  const std::string key = std::string(op_) + "|" + implementation_ + "|" + shape_;
  auto [where, added] = row_index.emplace(key, current.rows.size());
  if (added) {
    OpRow row;
    row.op = op_;
    row.family = family_;
    row.implementation = implementation_;
    row.shape = shape_;
    current.rows.push_back(std::move(row));
  }
  OpRow& row = current.rows[where->second];
  row.calls += 1;
  row.seconds += seconds;
  row.device_seconds += device_seconds;
  row.device_clock = row.device_clock || static_cast<bool>(clock_);
  row.launches += counted.launches;
  row.library_calls += counted.library_calls;
  for (const std::string& launched : kernels_) {
    const std::string name = kernel_name(launched);
    auto known = std::find_if(row.kernels.begin(), row.kernels.end(),
                              [&](const auto& entry) { return entry.first == name; });
    if (known == row.kernels.end()) {
      row.kernels.emplace_back(name, 1);
    } else {
      known->second += 1;
    }
  }
}

std::string format_table(const Profile& profile, int steps, double wall_seconds) {
  WEFT_CHECK(steps > 0, "profile::format_table: steps must be positive, got ", steps);
  std::vector<const OpRow*> rows;
  for (const OpRow& row : profile.rows) rows.push_back(&row);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const OpRow* a, const OpRow* b) { return a->seconds > b->seconds; });
  const double total = profile.seconds();
  // With a device clock, a column of each op's device time beside its time on an idle device.
  const bool device = profile.device_clock();
  std::string out =
      device ? "| op | on | shape | calls | ms | device ms | share | launches | library calls | "
               "kernels |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|\n"
             : "| op | on | shape | calls | ms | share | launches | library calls | kernels |\n"
               "|---|---|---|---:|---:|---:|---:|---:|---|\n";
  const auto device_cell = [&](double seconds) {
    return device ? milliseconds(seconds / steps) + " | " : std::string();
  };
  int64_t launches = 0, library_calls = 0, calls = 0;
  for (const OpRow* row : rows) {
    std::string kernels;
    for (const auto& [name, count] : row->kernels) {
      if (!kernels.empty()) kernels += ", ";
      kernels += name;
      if (count != row->calls) kernels += " x" + per_step(count, steps);
    }
    out += "| " + row->op + " | " + row->implementation + " | " + cell(row->shape) + " | " +
           per_step(row->calls, steps) + " | " + milliseconds(row->seconds / steps) + " | " +
           device_cell(row->device_seconds) + percent(row->seconds, total) + " | " +
           per_step(row->launches, steps) + " | " + per_step(row->library_calls, steps) + " | " +
           cell(kernels) + " |\n";
    launches += row->launches;
    library_calls += row->library_calls;
    calls += row->calls;
  }
  out += "| all ops | | | " + per_step(calls, steps) + " | " + milliseconds(total / steps) +
         " | " + device_cell(profile.device_seconds()) + "100% | " + per_step(launches, steps) +
         " | " + per_step(library_calls, steps) + " | |\n";
  if (wall_seconds > 0) {
    out += "| outside the ops | | | | " + milliseconds((wall_seconds - total) / steps) + " | " +
           (device ? " | " : "") + percent(wall_seconds - total, wall_seconds) +
           " of the step | | | |\n";
  }
  return out;
}

std::string format_summary(const Profile& profile, int steps) {
  WEFT_CHECK(steps > 0, "profile::format_summary: steps must be positive, got ", steps);
  std::vector<OpRow> ops;
  for (const OpRow& row : profile.rows) {
    auto known = std::find_if(ops.begin(), ops.end(),
                              [&](const OpRow& op) { return op.op == row.op; });
    if (known == ops.end()) {
      OpRow op = row;
      op.implementation.clear();
      op.shape.clear();
      op.kernels.clear();
      ops.push_back(std::move(op));
    } else {
      known->calls += row.calls;
      known->seconds += row.seconds;
      known->device_seconds += row.device_seconds;
      known->launches += row.launches;
      known->library_calls += row.library_calls;
    }
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const OpRow& a, const OpRow& b) { return a.seconds > b.seconds; });
  const double total = profile.seconds();
  std::string out = "| op | calls | ms | share | launches | library calls |\n"
                    "|---|---:|---:|---:|---:|---:|\n";
  for (const OpRow& op : ops) {
    out += "| " + op.op + " | " + per_step(op.calls, steps) + " | " +
           milliseconds(op.seconds / steps) + " | " + percent(op.seconds, total) + " | " +
           per_step(op.launches, steps) + " | " + per_step(op.library_calls, steps) + " |\n";
  }
  return out;
}

std::string format_json(const Profile& profile, int steps, double wall_seconds) {
  WEFT_CHECK(steps > 0, "profile::format_json: steps must be positive, got ", steps);
  const double per = 1.0 / steps;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const OpRow& row : profile.rows) {
    nlohmann::ordered_json kernels = nlohmann::ordered_json::object();
    for (const auto& [name, count] : row.kernels) kernels[name] = count * per;
    nlohmann::ordered_json entry = {{"op", row.op},
                                    {"family", row.family},
                                    {"implementation", row.implementation},
                                    {"shape", row.shape},
                                    {"calls", row.calls * per},
                                    {"ms", row.seconds * 1e3 * per}};
    if (row.device_clock) entry["device_ms"] = row.device_seconds * 1e3 * per;
    entry["launches"] = row.launches * per;
    entry["library_calls"] = row.library_calls * per;
    entry["kernels"] = kernels;
    rows.push_back(std::move(entry));
  }
  nlohmann::ordered_json out = {{"steps", steps}, {"ops_ms", profile.seconds() * 1e3 * per}};
  if (profile.device_clock()) out["device_ops_ms"] = profile.device_seconds() * 1e3 * per;
  if (wall_seconds > 0) out["wall_ms"] = wall_seconds * 1e3 * per;
  out["rows"] = rows;
  return out.dump(1);
}

}  // namespace weft::profile
