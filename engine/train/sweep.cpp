// Grid sweeps and their results table (see sweep.h).
#include "engine/train/sweep.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "engine/io/atomic_file.h"
#include "engine/train/interrupt.h"
#include "kernels/error.h"

namespace weft::train {

namespace {

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\n") - first + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(trim(text.substr(start, end - start)));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// "64" -> 64, "1e-3" -> 0.001, "relu" -> "relu".
nlohmann::json parse_value(const std::string& text) {
  try {
    size_t used = 0;
    const long long integer = std::stoll(text, &used);
    if (used == text.size()) return integer;
  } catch (const std::logic_error&) {
  }
  try {
    size_t used = 0;
    const double number = std::stod(text, &used);
    if (used == text.size()) return number;
  } catch (const std::logic_error&) {
  }
  return text;
}

// A setting's value as table text: numbers as JSON writes them, strings without quotes.
std::string value_text(const nlohmann::ordered_json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// The result columns: every metric name, in the order first seen.
std::vector<std::string> result_columns(const std::vector<SweepRow>& rows) {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (const SweepRow& row : rows) {
    for (const auto& [name, value] : row.results.entries()) {
      if (seen.insert(name).second) columns.push_back(name);
    }
  }
  return columns;
}

// A CSV field, quoted when it holds a separator, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Markdown cells cannot hold '|' or line breaks.
std::string markdown_cell(std::string text) {
  for (char& c : text) {
    if (c == '|' || c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

std::vector<SweepAxis> parse_sweep_grid(const std::string& text) {
  std::vector<SweepAxis> grid;
  for (const std::string& part : split(text, ';')) {
    if (part.empty()) continue;
    const size_t equals = part.find('=');
    WEFT_CHECK(equals != std::string::npos, "sweep grid '", text, "': '", part,
               "' should read name=value,value,...");
    SweepAxis axis{trim(part.substr(0, equals)), {}};
    WEFT_CHECK(!axis.name.empty(), "sweep grid '", text, "': a setting has no name");
    for (const SweepAxis& existing : grid) {
      WEFT_CHECK(existing.name != axis.name, "sweep grid '", text, "': '", axis.name,
                 "' is given twice");
    }
    for (const std::string& value : split(part.substr(equals + 1), ',')) {
      WEFT_CHECK(!value.empty(), "sweep grid '", text, "': '", axis.name, "' has an empty value");
      axis.values.push_back(parse_value(value));
    }
    grid.push_back(std::move(axis));
  }
  WEFT_CHECK(!grid.empty(), "sweep grid '", text, "' names no settings");
  uint64_t points = 1;
  for (const SweepAxis& axis : grid) {
    points *= axis.values.size();
    WEFT_CHECK(points <= kMaxSweepPoints, "sweep grid '", text, "' has more than ",
               kMaxSweepPoints, " points (the product of its axes' value counts)");
  }
  return grid;
}

std::vector<SweepPoint> sweep_points(const std::vector<SweepAxis>& grid) {
  std::vector<SweepPoint> points = {SweepPoint::object()};
  for (const SweepAxis& axis : grid) {
    WEFT_CHECK(!axis.values.empty(), "sweep axis '", axis.name, "' has no values");
    std::vector<SweepPoint> extended;
    for (const SweepPoint& point : points) {
      for (const nlohmann::json& value : axis.values) {
        SweepPoint next = point;
        next[axis.name] = nlohmann::ordered_json::parse(value.dump());
        extended.push_back(std::move(next));
      }
    }
    points = std::move(extended);
  }
  return points;
}

std::string point_label(const SweepPoint& point) {
  std::string label;
  for (const auto& [name, value] : point.items()) {
    label += (label.empty() ? "" : " ") + name + "=" + value_text(value);
  }
  return label;
}

void write_sweep_table(const std::vector<SweepAxis>& grid, const std::vector<SweepRow>& rows,
                       const std::string& out_dir, const std::string& name) {
  const std::vector<std::string> results = result_columns(rows);
  std::vector<std::string> header = {"#"};
  for (const SweepAxis& axis : grid) header.push_back(axis.name);
  header.insert(header.end(), results.begin(), results.end());
  header.push_back("seconds");
  header.push_back("error");

  std::string markdown = "|";
  std::string rule = "|";
  for (const std::string& column : header) {
    markdown += " " + column + " |";
    rule += "---|";
  }
  markdown += "\n" + rule + "\n";
  std::string csv;
  for (size_t i = 0; i < header.size(); ++i) csv += (i ? "," : "") + csv_field(header[i]);
  csv += "\n";
  nlohmann::ordered_json json = nlohmann::ordered_json::array();

  char number[32];
  for (const SweepRow& row : rows) {
    std::vector<std::string> md_cells = {std::to_string(row.index)};
    std::vector<std::string> csv_cells = {std::to_string(row.index)};
    nlohmann::ordered_json entry;
    entry["index"] = row.index;
    entry["settings"] = row.settings;
    for (const SweepAxis& axis : grid) {
      const std::string text = row.settings.contains(axis.name) ? value_text(row.settings[axis.name]) : "";
      md_cells.push_back(text);
      csv_cells.push_back(text);
    }
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    for (const std::string& column : results) {
      const std::optional<double> value = row.results.find(column);
      if (value) {
        // Counts (epochs) as integers, everything else with four decimals.
        const bool whole = *value == std::floor(*value) && std::abs(*value) < 1e9;
        std::snprintf(number, sizeof(number), whole ? "%.0f" : "%.4f", *value);
      }
      md_cells.push_back(value ? number : "");
      csv_cells.push_back(value ? format_double(*value) : "");
      if (value) values[column] = *value;
    }
    entry["results"] = values;
    std::snprintf(number, sizeof(number), "%.1f", row.seconds);
    md_cells.push_back(number);
    csv_cells.push_back(format_double(row.seconds));
    entry["seconds"] = row.seconds;
    md_cells.push_back(row.error);
    csv_cells.push_back(row.error);
    entry["error"] = row.error;

    markdown += "|";
    for (const std::string& cell : md_cells) markdown += " " + markdown_cell(cell) + " |";
    markdown += "\n";
    for (size_t i = 0; i < csv_cells.size(); ++i) csv += (i ? "," : "") + csv_field(csv_cells[i]);
    csv += "\n";
    json.push_back(entry);
  }

  std::filesystem::create_directories(out_dir);
  const std::string base = (std::filesystem::path(out_dir) / name).string();
  io::write_file_atomic(base + ".md", markdown);
  io::write_file_atomic(base + ".csv", csv);
  io::write_file_atomic(base + ".json", json.dump(2) + "\n");
}

SweepResult run_sweep(const std::vector<SweepAxis>& grid, const SweepFunction& run,
                      const std::string& out_dir, const std::string& name, std::FILE* log) {
  WEFT_CHECK(static_cast<bool>(run), "run_sweep: the run function is empty");
  const std::vector<SweepPoint> points = sweep_points(grid);
  SweepResult result;
  clear_stop_request();
  StopOnSignals signals;
  for (size_t i = 0; i < points.size(); ++i) {
    const int index = static_cast<int>(i);
    if (log) {
      std::fprintf(log, "%s: point %d/%zu: %s\n", name.c_str(), index + 1, points.size(),
                   point_label(points[i]).c_str());
      std::fflush(log);
    }
    SweepRow row;
    row.index = index;
    row.settings = points[i];
    const auto start = std::chrono::steady_clock::now();
    try {
      row.results = run(points[i], index);
    } catch (const Error& e) {
      row.error = e.what();
      if (log) std::fprintf(log, "%s: point %d failed: %s\n", name.c_str(), index + 1, e.what());
    }
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (stop_requested() && row.error.empty()) row.error = "interrupted";
    result.rows.push_back(std::move(row));
    write_sweep_table(grid, result.rows, out_dir, name);
    if (stop_requested()) {
      result.interrupted = true;
      if (log) std::fprintf(log, "%s: stopped after point %d of %zu\n", name.c_str(), index + 1, points.size());
      break;
    }
  }
  return result;
}

}  // namespace weft::train
