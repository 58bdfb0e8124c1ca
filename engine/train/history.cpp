// Metrics, exact number formatting and the metrics.csv / metrics.jsonl files (see history.h).
#include "engine/train/history.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/distributed/communicator.h"
#include "engine/io/atomic_file.h"
#include "kernels/error.h"

namespace weft::train {

// ---- Metrics ------------------------------------------------------------------------------

Metrics::Metrics(std::initializer_list<std::pair<std::string, double>> entries) {
  for (const auto& [name, value] : entries) set(name, value);
}

void Metrics::set(const std::string& name, double value) {
  for (auto& [existing, old_value] : entries_) {
    if (existing == name) {
      old_value = value;
      return;
    }
  }
  entries_.emplace_back(name, value);
}

void Metrics::merge(const Metrics& other) {
  for (const auto& [name, value] : other.entries_) set(name, value);
}

bool Metrics::contains(const std::string& name) const { return find(name).has_value(); }

std::optional<double> Metrics::find(const std::string& name) const {
  for (const auto& [existing, value] : entries_) {
    if (existing == name) return value;
  }
  return std::nullopt;
}

double Metrics::at(const std::string& name) const {
  const std::optional<double> value = find(name);
  WEFT_CHECK(value.has_value(), "no metric named '", name, "' this epoch; there are: ",
             empty() ? std::string("none") : names());
  return *value;
}

std::string Metrics::names() const {
  std::string out;
  for (const auto& [name, value] : entries_) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// ---- numbers ------------------------------------------------------------------------------

std::string format_double(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  WEFT_CHECK(error == std::errc(), "cannot format a number");
  return std::string(buffer, end);
}

double parse_double(const std::string& text, const std::string& what) {
  double value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(first, last, value);
  WEFT_CHECK(error == std::errc() && end == last && !text.empty(), what, ": '", text,
             "' is not a number");
  return value;
}

// ---- files --------------------------------------------------------------------------------

namespace {

using OrderedJson = nlohmann::ordered_json;

// The columns every row has besides the metrics.
bool is_bookkeeping_key(const std::string& key) {
  return key == "epoch" || key == "lr" || key == "train_seconds" || key == "seconds";
}

// The learning rate is the optimizer's float: written as the shortest text of that float
// ("0.001", not 0.0010000000474974513) and read back through float, which restores it exactly.
std::string format_lr(double lr) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(lr));
  WEFT_CHECK(error == std::errc(), "cannot format a learning rate");
  return std::string(buffer, end);
}

double round_to_float(double value) { return static_cast<double>(static_cast<float>(value)); }

OrderedJson number_or_null(double value) {
  return std::isfinite(value) ? OrderedJson(value) : OrderedJson(nullptr);
}

double number_from_json(const OrderedJson& value, const std::string& where) {
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  WEFT_CHECK(value.is_number(), where, " is not a number");
  return value.get<double>();
}

void append_to_file(const std::string& path, const std::string& text) {
  if (!dist::is_main()) return;  // rank 0 alone writes the run's files
  std::ofstream out(path, std::ios::app | std::ios::binary);
  WEFT_CHECK(out.good(), "cannot open ", path, " for appending");
  out << text;
  out.flush();
  WEFT_CHECK(out.good(), "cannot append to ", path);
}

}  // namespace

MetricsFiles::MetricsFiles(const std::string& run_dir)
    : csv_path_(run_dir + "/metrics.csv"), jsonl_path_(run_dir + "/metrics.jsonl") {}

void MetricsFiles::start_fresh() {
  io::write_file_atomic(csv_path_, "");
  io::write_file_atomic(jsonl_path_, "");
  have_columns_ = false;
  csv_metric_columns_.clear();
}

std::vector<EpochRecord> MetricsFiles::resume(int last_epoch) {
  std::vector<EpochRecord> kept;
  resume_notes_.clear();
  std::string text;
  {
    std::ifstream in(jsonl_path_, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // A last line without its newline is what a kill during an append leaves; if it is not a
  // whole row it is dropped, with a note.
  const bool last_line_open = !text.empty() && text.back() != '\n';
  std::istringstream in(text);
  std::string line;
  int dropped_later = 0;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    if (line.empty()) continue;
    const std::string where = jsonl_path_ + " line " + std::to_string(line_number);
    OrderedJson row;
    try {
      row = OrderedJson::parse(line);
    } catch (const nlohmann::json::exception& e) {
      if (last_line_open && in.peek() == std::char_traits<char>::eof()) {
        resume_notes_.push_back(where + ": dropped a torn last line (an append was interrupted)");
        break;
      }
      throw Error(where + ": not a JSON object (" + e.what() + ")");
    }
    WEFT_CHECK(row.is_object() && row.contains("epoch") && row["epoch"].is_number_integer(),
               where, ": expected an object with an integer \"epoch\"");
    const int64_t epoch = row["epoch"].get<int64_t>();
    if (epoch > last_epoch) {
      ++dropped_later;
      continue;
    }
    // The rows kept must be epochs of 1 and up in increasing order (found by fuzzing: an
    // "epoch": 0 row was kept as if it were a real epoch). They need not start at 1: a run
    // resumed into another folder (--resume A --out B) starts B's files at its next epoch.
    const int64_t after = kept.empty() ? 0 : kept.back().epoch;
    WEFT_CHECK(epoch > after, where, ": epoch ", epoch, " after ",
               kept.empty() ? std::string("the start") : "epoch " + std::to_string(after),
               " (rows run in increasing epochs from 1, up to the checkpoint's epoch ", last_epoch,
               ")");
    EpochRecord record;
    record.epoch = static_cast<int>(epoch);
    for (const auto& [key, value] : row.items()) {
      const double number = number_from_json(value, where + " \"" + key + "\"");
      if (key == "lr") {
        record.lr = round_to_float(number);
      } else if (key == "train_seconds") {
        record.train_seconds = number;
      } else if (key == "seconds") {
        record.seconds = number;
      } else if (key != "epoch") {
        record.metrics.set(key, number);
      }
    }
    kept.push_back(record);
  }

  if (dropped_later > 0) {
    resume_notes_.push_back(jsonl_path_ + ": dropped " + std::to_string(dropped_later) +
                            " row(s) after epoch " + std::to_string(last_epoch) +
                            ", the checkpoint's (epochs that were not saved)");
  }
  have_columns_ = false;
  csv_metric_columns_.clear();
  std::string csv, jsonl;
  for (const EpochRecord& record : kept) {
    if (!have_columns_) {
      for (const auto& [name, value] : record.metrics.entries()) csv_metric_columns_.push_back(name);
      have_columns_ = true;
      csv += csv_header();
    }
    csv += csv_row(record);
    jsonl += jsonl_row(record);
  }
  io::write_file_atomic(csv_path_, csv);
  io::write_file_atomic(jsonl_path_, jsonl);
  return kept;
}

void MetricsFiles::append(const EpochRecord& record) {
  std::string csv;
  if (!have_columns_) {
    for (const auto& [name, value] : record.metrics.entries()) {
      WEFT_CHECK(!is_bookkeeping_key(name), "metric name '", name,
                 "' is reserved for the trainer's own columns");
      csv_metric_columns_.push_back(name);
    }
    have_columns_ = true;
    csv += csv_header();
  }
  csv += csv_row(record);
  append_to_file(csv_path_, csv);
  append_to_file(jsonl_path_, jsonl_row(record));
}

std::string MetricsFiles::csv_header() const {
  std::string header = "epoch";
  for (const std::string& name : csv_metric_columns_) header += "," + name;
  return header + ",lr,train_seconds,seconds\n";
}

std::string MetricsFiles::csv_row(const EpochRecord& record) const {
  std::string row = std::to_string(record.epoch);
  auto add = [&row](const std::string& cell) {
    row += ',';
    row += cell;
  };
  for (const std::string& name : csv_metric_columns_) {
    const std::optional<double> value = record.metrics.find(name);
    add(value ? format_double(*value) : std::string());
  }
  add(format_lr(record.lr));
  add(format_double(record.train_seconds));
  add(format_double(record.seconds));
  row += '\n';
  return row;
}

std::string MetricsFiles::jsonl_row(const EpochRecord& record) {
  OrderedJson row;
  row["epoch"] = record.epoch;
  for (const auto& [name, value] : record.metrics.entries()) row[name] = number_or_null(value);
  row["lr"] = number_or_null(std::stod(format_lr(record.lr)));
  row["train_seconds"] = number_or_null(record.train_seconds);
  row["seconds"] = number_or_null(record.seconds);
  return row.dump() + "\n";
}

}  // namespace weft::train
