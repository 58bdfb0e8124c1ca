// What a training run prints while it runs.
//
// On a terminal (isatty): a live bar redrawn in place during each epoch, with the step rate
// and the time left in the epoch, replaced at the end of the epoch by that epoch's line:
//   epoch 3/20 [##########..........] 188/375  41.7 step/s  ETA 0:04
// Elsewhere (a log file, a pipe, CI): only the epoch lines, one per epoch, nothing redrawn:
//   epoch  3/20  loss 0.3121  accuracy 0.8875  val_loss 0.3013  val_accuracy 0.8911  lr 0.001  12.3s
// Other messages (callbacks' notes) go through note(), which first clears the bar.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/train/history.h"

namespace weft::train {

enum class ProgressStyle {
  automatic,  // bar when the stream is a terminal, lines otherwise
  bar,
  lines,
  quiet,  // nothing at all (tests)
};

class Progress {
 public:
  Progress(ProgressStyle style, int epochs, std::FILE* out = stdout);

  bool live() const { return style_ == ProgressStyle::bar; }
  void set_epochs(int epochs) { epochs_ = epochs; }

  void epoch_begin(int epoch);
  // `done` of `total` steps finished in this epoch; redraws the bar at most ten times a second.
  void step(int64_t done, int64_t total);
  void epoch_end(const EpochRecord& record);
  void note(const std::string& line);

  // The epoch line without a newline (also what the non-terminal log prints).
  std::string epoch_line(const EpochRecord& record) const;

 private:
  void clear_bar();

  ProgressStyle style_;
  int epochs_;
  std::FILE* out_;
  int epoch_ = 0;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
};

}  // namespace weft::train
