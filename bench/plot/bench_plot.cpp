// bench_plot: draws Google Benchmark JSON results as a grouped horizontal bar chart (PNG), the
// plots of docs/benchmarks.md. One group per benchmark (one layer shape, one model), one bar
// per series: an input file, or the backend named by the benchmark's last path component.
//
//   bench_plot --out conv.png --counter GFLOP/s --filter '^conv2d' cpu=cpu.json
//       one series (cpu), a group per conv2d benchmark
//   bench_plot --out gpu_conv.png --counter GFLOP/s --filter '^conv2d' --series-from-name gpu.json
//       conv2d_fwd/fashion_cnn.conv1/b512/hand and .../vendor become one group, two series
//   bench_plot --out models.png --counter images_per_second --series-from-name models.json
//   bench_plot --out cpu_conv.png --counter GFLOP/s --filter '^conv2d_' --series-part 0 cpu.json
//       conv2d_fwd/x/b512, conv2d_bwd_data/x/b512, ... : one group per layer, a bar per pass
//
// --counter is a user counter of the JSON (GFLOP/s, GB/s, images_per_second, ...) or "time"
// (real time per iteration in milliseconds). With --benchmark_repetitions the median aggregate is
// used; otherwise the single run. Benchmarks without the counter are left out (a GB/s kernel in
// a GFLOP/s plot); when no benchmark has it, that is an error, so a typo never yields an empty
// plot.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "engine/report/figure.h"
#include "kernels/error.h"

namespace {

using weft::Error;
using nlohmann::json;

struct Result {
  std::string group;   // the benchmark name, less the series part
  std::string series;  // the input's label, or the name's last component
  double value = 0;
};

double milliseconds(double time, const std::string& unit) {
  if (unit == "ns") return time * 1e-6;
  if (unit == "us") return time * 1e-3;
  if (unit == "ms") return time;
  if (unit == "s") return time * 1e3;
  throw Error("time_unit '" + unit + "': expected ns, us, ms or s");
}

// "conv2d_fwd/x/b512/hand/manual_time" -> "conv2d_fwd/x/b512/hand": Google Benchmark appends the
// timing mode to the name.
std::string without_time_suffix(std::string name) {
  for (const char* suffix : {"/real_time", "/manual_time"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      name.resize(name.size() - s.size());
    }
  }
  return name;
}

// Splits "a/b/c" at '/'.
std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash - start));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

// series_part: which component of a name is its series (negative: from the end, -1 the last),
// or no value: the whole name is the group and the input's label the series.
std::vector<Result> read_results(const std::string& label, const std::string& path,
                                 const std::string& counter, const std::regex& filter,
                                 std::optional<int> series_part) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the benchmark JSON");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array()) {
    throw Error(path + ": expected Google Benchmark JSON with a \"benchmarks\" array");
  }
  const json& entries = doc["benchmarks"];
  bool has_medians = false;
  for (const json& e : entries) {
    has_medians |= e.value("run_type", "") == "aggregate" && e.value("aggregate_name", "") == "median";
  }
  std::vector<Result> results;
  for (const json& e : entries) {
    const bool aggregate = e.value("run_type", "iteration") == "aggregate";
    if (has_medians ? !(aggregate && e.value("aggregate_name", "") == "median") : aggregate) {
      continue;
    }
    if (!e.contains("run_name") && !e.contains("name")) {
      throw Error(path + ": a benchmark entry has no name");
    }
    const std::string name = without_time_suffix(e.value("run_name", e.value("name", "")));
    if (!std::regex_search(name, filter)) continue;
    const auto where = path + ": benchmark '" + name + "'";
    double value = 0;
    try {
      if (counter == "time") {
        value = milliseconds(e.at("real_time").get<double>(), e.value("time_unit", "ns"));
      } else {
        if (!e.contains(counter)) continue;  // another kind of benchmark (GB/s, not GFLOP/s)
        value = e.at(counter).get<double>();
      }
    } catch (const json::exception& error) {
      throw Error(where + ": " + error.what());
    } catch (const Error& error) {
      throw Error(where + " " + error.what());
    }
    Result r;
    r.value = value;
    if (series_part) {
      std::vector<std::string> parts = components(name);
      const int count = static_cast<int>(parts.size());
      const int index = *series_part < 0 ? count + *series_part : *series_part;
      if (count < 2 || index < 0 || index >= count) {
        throw Error(where + ": has no name component " + std::to_string(*series_part) +
                    " to take a series from");
      }
      r.series = label.empty() ? parts[static_cast<size_t>(index)]
                               : label + " " + parts[static_cast<size_t>(index)];
      parts.erase(parts.begin() + index);
      for (const std::string& part : parts) r.group += (r.group.empty() ? "" : "/") + part;
    } else {
      r.group = name;
      r.series = label;
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Draw Google Benchmark JSON results as a grouped bar chart (PNG)."};
  std::string out, counter, title, filter_text = ".*";
  bool series_from_name = false;
  int series_part = 0;
  std::vector<std::string> inputs;
  cli.add_option("--out", out, "the PNG to write")->required();
  cli.add_option("--counter", counter,
                 "a user counter (GFLOP/s, GB/s, images_per_second, ...) or \"time\" (ms)")
      ->required();
  cli.add_option("--title", title, "the chart's title (default: the counter)");
  cli.add_option("--filter", filter_text, "regular expression on benchmark names")
      ->capture_default_str();
  cli.add_flag("--series-from-name", series_from_name,
               "the last component of each benchmark name (cpu, hand, vendor, ...) is its series");
  CLI::Option* part_option = cli.add_option(
      "--series-part", series_part,
      "this component of each benchmark name is its series (0 the first, -1 the last)");
  part_option->excludes("--series-from-name");
  cli.add_option("inputs", inputs, "LABEL=FILE.json or FILE.json (label: the file name)")
      ->required();
  CLI11_PARSE(cli, argc, argv);

  try {
    std::regex filter;
    try {
      filter = std::regex(filter_text);
    } catch (const std::regex_error& e) {
      throw Error("--filter '" + filter_text + "': not a regular expression (" + e.what() + ")");
    }
    std::vector<std::string> group_order, series_order;
    std::map<std::pair<std::string, std::string>, double> values;
    for (const std::string& input : inputs) {
      const size_t eq = input.find('=');
      std::string label = eq == std::string::npos ? "" : input.substr(0, eq);
      const std::string path = eq == std::string::npos ? input : input.substr(eq + 1);
      std::optional<int> part;
      if (series_from_name) part = -1;
      if (part_option->count() > 0) part = series_part;
      if (label.empty() && !part) label = path;
      for (const Result& r : read_results(label, path, counter, filter, part)) {
        if (std::find(group_order.begin(), group_order.end(), r.group) == group_order.end()) {
          group_order.push_back(r.group);
        }
        if (std::find(series_order.begin(), series_order.end(), r.series) == series_order.end()) {
          series_order.push_back(r.series);
        }
        values[{r.group, r.series}] = r.value;
      }
    }
    if (group_order.empty()) {
      throw Error("no benchmark in the inputs matches --filter '" + filter_text +
                  "' and has the counter '" + counter + "'");
    }
    std::vector<weft::report::BarGroup> groups;
    for (const std::string& group : group_order) {
      weft::report::BarGroup g{group, {}};
      for (const std::string& series : series_order) {
        const auto it = values.find({group, series});
        g.values.push_back(it == values.end() ? std::numeric_limits<double>::quiet_NaN()
                                              : it->second);
      }
      groups.push_back(g);
    }
    const std::string axis = counter == "time" ? "milliseconds per iteration" : counter;
    weft::report::save_bar_chart(out, groups, {title.empty() ? axis : title, axis, series_order});
    std::printf("wrote %s: %zu groups x %zu series\n", out.c_str(), groups.size(),
                series_order.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_plot: %s\n", e.what());
    return 1;
  }
}
