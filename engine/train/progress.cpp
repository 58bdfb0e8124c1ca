// The live bar and the one-line-per-epoch log (see progress.h).
#include "engine/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace weft::train {

namespace {

// "1:02:03" or "2:03".
std::string clock_text(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, std::round(seconds)));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof(text), "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return text;
}

}  // namespace

Progress::Progress(ProgressStyle style, int epochs, std::FILE* out)
    : style_(style), epochs_(epochs), out_(out) {
  if (style_ == ProgressStyle::automatic) {
    style_ = ::isatty(::fileno(out_)) ? ProgressStyle::bar : ProgressStyle::lines;
  }
}

void Progress::epoch_begin(int epoch) {
  epoch_ = epoch;
  epoch_start_ = std::chrono::steady_clock::now();
  last_draw_ = epoch_start_;
}

void Progress::step(int64_t done, int64_t total) {
  if (!live() || total <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double left = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(width * std::min<int64_t>(done, total) / total);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') +
                          std::string(static_cast<size_t>(width - filled), '.');
  // \r returns to the line's start; \x1b[K erases what a longer earlier line left behind.
  std::fprintf(out_, "\repoch %d/%d [%s] %lld/%lld  %.1f step/s  ETA %s\x1b[K", epoch_, epochs_,
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), rate,
               clock_text(left).c_str());
  std::fflush(out_);
  bar_shown_ = true;
}

std::string Progress::epoch_line(const EpochRecord& record) const {
  const int digits = static_cast<int>(std::to_string(epochs_).size());
  char text[64];
  std::snprintf(text, sizeof(text), "epoch %*d/%d", digits, record.epoch, epochs_);
  std::string line = text;
  for (const auto& [name, value] : record.metrics.entries()) {
    std::snprintf(text, sizeof(text), "  %s %.4f", name.c_str(), value);
    line += text;
  }
  std::snprintf(text, sizeof(text), "  lr %.4g  %.1fs", record.lr, record.seconds);
  return line + text;
}

void Progress::epoch_end(const EpochRecord& record) {
  if (style_ == ProgressStyle::quiet) return;
  clear_bar();
  std::fprintf(out_, "%s\n", epoch_line(record).c_str());
  std::fflush(out_);
}

void Progress::note(const std::string& line) {
  if (style_ == ProgressStyle::quiet) return;
  clear_bar();
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::clear_bar() {
  if (!bar_shown_) return;
  std::fprintf(out_, "\r\x1b[K");
  bar_shown_ = false;
}

}  // namespace weft::train
