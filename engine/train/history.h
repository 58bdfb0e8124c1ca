// A training run's record: the named numbers of one epoch (Metrics), one row per epoch
// (EpochRecord), and the two files in the run folder that hold the rows (MetricsFiles):
// metrics.csv for spreadsheets and plots, metrics.jsonl for programs. Each row is written and
// flushed at the end of its epoch, so a crash loses at most the epoch in progress; a resumed
// run first cuts both files back to the checkpoint's epoch, so no row appears twice.
//
// Numbers are written in the shortest form that reads back to the same double (std::to_chars),
// so a row read from the files equals the row that was written, bit for bit. The learning rate
// is a float in the optimizer and is written as the shortest text of that float ("0.001").
//
// Neighbours: engine/train/trainer.h writes the rows, engine/train/callbacks.h reads Metrics.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weft::train {

// Named values of one epoch, in the order they were added ("loss", "accuracy", "val_loss",
// "val_accuracy"): the order of the columns in metrics.csv and of the words in the log line.
class Metrics {
 public:
  Metrics() = default;
  Metrics(std::initializer_list<std::pair<std::string, double>> entries);

  // Replace the value of `name`, or append it when it is new.
  void set(const std::string& name, double value);
  // Set every entry of `other`, in its order.
  void merge(const Metrics& other);

  bool contains(const std::string& name) const;
  std::optional<double> find(const std::string& name) const;
  // The value of `name`, or weft::Error listing the names there are.
  double at(const std::string& name) const;
  std::string names() const;  // "loss, accuracy, val_loss"

  const std::vector<std::pair<std::string, double>>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  bool operator==(const Metrics& other) const = default;

 private:
  std::vector<std::pair<std::string, double>> entries_;
};

// One row of metrics.csv / metrics.jsonl.
struct EpochRecord {
  int epoch = 0;             // 1-based
  Metrics metrics;           // what train_epoch and validate returned, merged
  double lr = 0;             // the optimizer's learning rate after the epoch's callbacks ran
  double train_seconds = 0;  // wall time of train_epoch alone
  double seconds = 0;        // wall time of the whole epoch: train, validate, callbacks
};

// The shortest decimal text that parses back to exactly `value` ("0.1", "1e-05", "inf", "nan").
std::string format_double(double value);
// Parse what format_double wrote; weft::Error naming `what` when the text is not a number.
double parse_double(const std::string& text, const std::string& what);

// metrics.csv and metrics.jsonl in a run folder.
//   csv:   epoch,loss,accuracy,val_loss,val_accuracy,lr,train_seconds,seconds
//   jsonl: {"epoch":1,"loss":0.52,...,"lr":0.001,"train_seconds":10.1,"seconds":11.9}
// The CSV's columns are fixed by the first row; a metric that appears only later goes to the
// JSONL file alone (the CSV cannot grow a column without rewriting its header).
class MetricsFiles {
 public:
  explicit MetricsFiles(const std::string& run_dir);

  const std::string& csv_path() const { return csv_path_; }
  const std::string& jsonl_path() const { return jsonl_path_; }

  // A new run: both files emptied.
  void start_fresh();
  // A resumed run: the rows of metrics.jsonl up to `last_epoch` are kept, both files are
  // rewritten (atomically) with exactly those rows, and the rows are returned. Rows of later
  // epochs (written after the checkpoint, before the run stopped) are dropped; missing files
  // give no rows. A torn last line (a kill during an append) is dropped. What was dropped is in
  // resume_notes() for the log.
  std::vector<EpochRecord> resume(int last_epoch);
  const std::vector<std::string>& resume_notes() const { return resume_notes_; }
  // Append one row to each file and flush it to the operating system.
  void append(const EpochRecord& record);

 private:
  std::vector<std::string> resume_notes_;
  std::string csv_header() const;
  std::string csv_row(const EpochRecord& record) const;
  static std::string jsonl_row(const EpochRecord& record);

  std::string csv_path_, jsonl_path_;
  std::vector<std::string> csv_metric_columns_;  // set by the first row
  bool have_columns_ = false;
};

}  // namespace weft::train
