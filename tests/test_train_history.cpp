// The run record (engine/train/history.h) and the log line (engine/train/progress.h): numbers
// written to the metrics files read back as the same doubles; a resume cuts both files back to
// the checkpoint's epoch; the epoch line has the documented shape; and the stop flag
// (engine/train/interrupt.h) records which signal asked.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/train/history.h"
#include "engine/train/interrupt.h"
#include "engine/train/progress.h"
#include "tests/engine_test_util.h"
#include "tests/train_test_util.h"

namespace {

namespace train = weft::train;
using Catch::Matchers::Contains;
using weft::test::read_lines;

train::EpochRecord record(int epoch, double loss) {
  // The lr is a float in the optimizer, so a row holds a float's value.
  return {epoch, {{"loss", loss}, {"val_accuracy", 0.5 + epoch / 100.0}}, 1e-3f, 1.25, 2.5};
}

}  // namespace

TEST_CASE("history: numbers are written in their shortest exact form", "[train][history]") {
  CHECK(train::format_double(0.1) == "0.1");
  CHECK(train::format_double(1e-5) == "1e-05");
  CHECK(train::format_double(3.0) == "3");
  const double awkward = 0.1 + 0.2;  // 0.30000000000000004
  CHECK(train::parse_double(train::format_double(awkward), "x") == awkward);
  CHECK(train::parse_double("inf", "x") == std::numeric_limits<double>::infinity());
  CHECK_THAT(weft::test::error_message([] { train::parse_double("0.5x", "best"); }),
             Contains("best") && Contains("0.5x"));
}

TEST_CASE("history: Metrics keep insertion order and name what is missing", "[train][history]") {
  train::Metrics metrics{{"loss", 1.0}, {"accuracy", 0.5}};
  metrics.merge({{"val_loss", 2.0}, {"loss", 0.9}});
  CHECK(metrics.names() == "loss, accuracy, val_loss");
  CHECK(metrics.at("loss") == 0.9);
  CHECK_THAT(weft::test::error_message([&] { metrics.at("val_accuracy"); }),
             Contains("val_accuracy") && Contains("loss, accuracy, val_loss"));
}

TEST_CASE("history: a resume cuts the metrics files back to the checkpoint's epoch",
          "[train][history]") {
  weft::test::TempDir dir("train_history");
  const double awkward = 0.1 + 0.2;
  {
    train::MetricsFiles files(dir.path());
    files.start_fresh();
    files.append(record(1, awkward));
    files.append(record(2, 0.25));
    files.append(record(3, 0.125));  // written after the checkpoint of epoch 2, then a crash
  }
  REQUIRE(read_lines(dir.file("metrics.csv")).size() == 4);

  train::MetricsFiles files(dir.path());
  const std::vector<train::EpochRecord> kept = files.resume(2);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].metrics.at("loss") == awkward);  // exact after the text round trip
  CHECK(kept[0].metrics.names() == "loss, val_accuracy");
  CHECK(kept[1].epoch == 2);
  CHECK(kept[1].lr == static_cast<double>(1e-3f));  // written "0.001", read back through float
  CHECK(kept[1].seconds == 2.5);

  files.append(record(3, 0.5));
  const std::vector<std::string> csv = read_lines(dir.file("metrics.csv"));
  CHECK(csv == std::vector<std::string>{"epoch,loss,val_accuracy,lr,train_seconds,seconds",
                                        "1,0.30000000000000004,0.51,0.001,1.25,2.5",
                                        "2,0.25,0.52,0.001,1.25,2.5",
                                        "3,0.5,0.53,0.001,1.25,2.5"});
  const std::vector<std::string> jsonl = read_lines(dir.file("metrics.jsonl"));
  REQUIRE(jsonl.size() == 3);
  CHECK(jsonl[2] ==
        R"({"epoch":3,"loss":0.5,"val_accuracy":0.53,"lr":0.001,"train_seconds":1.25,"seconds":2.5})");
}

TEST_CASE("history: rows kept on resume must be increasing epochs from 1 (found by fuzzing)",
          "[train][history]") {
  weft::test::TempDir dir("train_history_order");
  const std::string path = dir.file("metrics.jsonl");
  const auto resume_with = [&](const std::string& text) {
    weft::io::write_file_atomic(path, text);
    return train::MetricsFiles(dir.path()).resume(2);
  };
  CHECK_THROWS_WITH(resume_with("{\"epoch\":0,\"loss\":1}\n"),
                    Catch::Contains(path + " line 1: epoch 0 after the start"));
  CHECK_THROWS_WITH(resume_with("{\"epoch\":1,\"loss\":1}\n{\"epoch\":1,\"loss\":1}\n"),
                    Catch::Contains(path + " line 2: epoch 1 after epoch 1"));
  CHECK_THROWS_WITH(resume_with("{\"epoch\":-4294967295,\"loss\":1}\n"),
                    Catch::Contains("epoch -4294967295 after the start"));
  CHECK(resume_with("{\"epoch\":1,\"loss\":1}\n{\"epoch\":2,\"loss\":1}\n"
                    "{\"epoch\":3,\"loss\":1}\n").size() == 2);
  // A run resumed into another folder starts that folder's rows at its next epoch.
  const auto later = resume_with("{\"epoch\":2,\"loss\":1}\n");
  REQUIRE(later.size() == 1);
  CHECK(later[0].epoch == 2);
}

TEST_CASE("progress: the epoch line when output is not a terminal", "[train][history]") {
  train::Progress progress(train::ProgressStyle::lines, 20);
  CHECK_FALSE(progress.live());
  train::EpochRecord row{3, {{"loss", 0.31214}, {"val_accuracy", 0.8911}}, 0.001, 10.0, 12.34};
  CHECK(progress.epoch_line(row) == "epoch  3/20  loss 0.3121  val_accuracy 0.8911  lr 0.001  12.3s");
}

TEST_CASE("interrupt: a signal while StopOnSignals is alive only sets the flag",
          "[train][signal]") {
  train::clear_stop_request();
  CHECK_FALSE(train::stop_requested());
  {
    train::StopOnSignals guard;
    std::raise(SIGTERM);
    CHECK(train::stop_requested());
    CHECK(train::stop_signal() == SIGTERM);
  }
  train::clear_stop_request();
  train::request_stop();
  CHECK(train::stop_requested());
  CHECK(train::stop_signal() == 0);
  train::clear_stop_request();
  CHECK_FALSE(train::stop_requested());
}
