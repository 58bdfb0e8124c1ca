// Resume edge cases that used to look fine and were not (engine/train/trainer.h): a finished
// run resumed without more epochs trains nothing and says so; a metrics.jsonl whose last line
// was torn by a kill during an append is trimmed with a note; rows of epochs after the
// checkpoint are dropped with a note. The trainer's log goes to a temporary file read back.
// Label: cpu.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/train/trainer.h"
#include "tests/train_test_util.h"

namespace {

using weft::test::TempDir;
using weft::test::TinyRun;

// A trainer log that can be read back.
class CapturedLog {
 public:
  CapturedLog() : file_(std::tmpfile()) { REQUIRE(file_ != nullptr); }
  ~CapturedLog() { std::fclose(file_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  std::FILE* file() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) out += static_cast<char>(c);
    return out;
  }

 private:
  std::FILE* file_;
};

weft::train::TrainerOptions logged_options(const std::string& run_dir, int epochs,
                                           std::FILE* log, const std::string& resume = "") {
  weft::train::TrainerOptions options;
  options.epochs = epochs;
  options.run_dir = run_dir;
  options.seed = 1;
  options.resume = resume;
  options.progress = weft::train::ProgressStyle::lines;
  options.log = log;
  return options;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("resume notes: a finished run resumed without more epochs trains nothing and says so",
          "[train]") {
  TempDir dir("resume_finished");
  {
    CapturedLog log;
    TinyRun run(1);
    weft::train::Trainer trainer(*run.model, *run.optimizer, logged_options(dir.path(), 2, log.file()));
    run.fit(trainer);
  }
  const std::string metrics_before = read_text(dir.file("metrics.jsonl"));
  CapturedLog log;
  TinyRun run(1);
  weft::train::Trainer trainer(*run.model, *run.optimizer,
                               logged_options(dir.path(), 2, log.file(), dir.path()));
  const weft::train::TrainResult result = run.fit(trainer);
  CHECK(result.already_finished);
  CHECK(result.epochs_completed == 2);
  CHECK(result.history.size() == 2);  // the finished run's rows, none added
  CHECK_THAT(log.text(), Catch::Contains("has finished all 2 of its epochs; nothing to train"));
  CHECK(read_text(dir.file("metrics.jsonl")) == metrics_before);
}

TEST_CASE("resume notes: a torn last line of metrics.jsonl is dropped with a note", "[train]") {
  TempDir dir("resume_torn");
  {
    CapturedLog log;
    TinyRun run(1);
    weft::train::Trainer trainer(*run.model, *run.optimizer, logged_options(dir.path(), 2, log.file()));
    run.fit(trainer);
  }
  // A kill during the append of epoch 3's row (after the checkpoint of epoch 2 was written).
  { std::ofstream(dir.file("metrics.jsonl"), std::ios::app) << "{\"epoch\": 3, \"loss\": 0.4"; }
  CapturedLog log;
  TinyRun run(1);
  weft::train::Trainer trainer(*run.model, *run.optimizer,
                               logged_options(dir.path(), 3, log.file(), dir.path()));
  const weft::train::TrainResult result = run.fit(trainer);
  CHECK(result.epochs_completed == 3);
  CHECK_THAT(log.text(), Catch::Contains("dropped a torn last line"));
  const std::string jsonl = read_text(dir.file("metrics.jsonl"));
  CHECK(std::count(jsonl.begin(), jsonl.end(), '\n') == 3);  // epochs 1, 2 and the new 3
  CHECK(jsonl.find("0.4\n") == std::string::npos);
}

TEST_CASE("resume notes: rows after the checkpoint's epoch are dropped with a note", "[train]") {
  TempDir dir("resume_later_rows");
  {
    CapturedLog log;
    TinyRun run(1);
    weft::train::Trainer trainer(*run.model, *run.optimizer, logged_options(dir.path(), 1, log.file()));
    run.fit(trainer);
  }
  { std::ofstream(dir.file("metrics.jsonl"), std::ios::app) << "{\"epoch\": 2, \"loss\": 0.4}\n"; }
  CapturedLog log;
  TinyRun run(1);
  weft::train::Trainer trainer(*run.model, *run.optimizer,
                               logged_options(dir.path(), 2, log.file(), dir.path()));
  run.fit(trainer);
  CHECK_THAT(log.text(), Catch::Contains("dropped 1 row(s) after epoch 1"));
}
