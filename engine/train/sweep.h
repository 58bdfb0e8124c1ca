// Sweeps: run one training setup over a small grid of settings - learning rate, batch size,
// kernel size, epochs, what seed 001 tuned by hand - and collect one table of results.
//
//   auto grid = train::parse_sweep_grid("lr=1e-3,3e-4;batch_size=64,128");
//   train::run_sweep(grid, [&](const train::SweepPoint& p, int index) {
//     Options o = base;  o.lr = p["lr"];  o.batch_size = p["batch_size"];
//     return train_and_test(o);   // Metrics, e.g. {"val_accuracy", ...}, {"test_accuracy", ...}
//   }, "runs/sweep");
//
// writes runs/sweep/sweep.md (a markdown table to read), sweep.csv and sweep.json (to load),
// one row per grid point, rewritten atomically after every point so that a sweep stopped
// half-way still leaves a whole table of the points it finished. A point whose run throws
// weft::Error gets its message in the error column and the sweep goes on; Ctrl-C stops the
// sweep after the point in progress (whose own trainer saves and stops cleanly).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/train/history.h"

namespace weft::train {

struct SweepAxis {
  std::string name;
  std::vector<nlohmann::json> values;  // numbers or strings
};

// One grid point: setting name -> value, in the grid's order.
using SweepPoint = nlohmann::ordered_json;

// "lr=1e-3,3e-4;batch_size=64,128": axes separated by ';', values by ','. Values that read as
// integers become integers, other numbers doubles, the rest strings. weft::Error on an empty
// axis, a missing '=', a name given twice, or more than kMaxSweepPoints points in all (each point
// is a training run: a grid that large is a typo, and listing it would exhaust memory).
constexpr uint64_t kMaxSweepPoints = 10000;
std::vector<SweepAxis> parse_sweep_grid(const std::string& text);

// Every combination of the axes' values, the first axis varying slowest (nested loops in the
// order the axes were given).
std::vector<SweepPoint> sweep_points(const std::vector<SweepAxis>& grid);

// "lr=0.001 batch_size=64"
std::string point_label(const SweepPoint& point);

struct SweepRow {
  int index = 0;  // 0-based position in sweep_points(grid)
  SweepPoint settings;
  Metrics results;
  double seconds = 0;
  std::string error;  // empty when the point ran to the end
};

struct SweepResult {
  std::vector<SweepRow> rows;
  bool interrupted = false;
};

using SweepFunction = std::function<Metrics(const SweepPoint& point, int index)>;

SweepResult run_sweep(const std::vector<SweepAxis>& grid, const SweepFunction& run,
                      const std::string& out_dir, const std::string& name = "sweep",
                      std::FILE* log = stdout);

// <out_dir>/<name>.md, .csv and .json, each written atomically.
void write_sweep_table(const std::vector<SweepAxis>& grid, const std::vector<SweepRow>& rows,
                       const std::string& out_dir, const std::string& name = "sweep");

}  // namespace weft::train
