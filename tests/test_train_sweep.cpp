// Sweeps (engine/train/sweep.h): the grid text parses into axes, the points are every
// combination with the first axis slowest, and run_sweep writes one table - markdown, CSV and
// JSON - with one row per grid point, a failing point's error in its row.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/train/sweep.h"
#include "kernels/error.h"
#include "tests/engine_test_util.h"
#include "tests/train_test_util.h"

namespace {

namespace train = weft::train;
using Catch::Matchers::Contains;
using weft::test::read_lines;

}  // namespace

TEST_CASE("sweep: the grid text parses into typed axes", "[train][sweep]") {
  const std::vector<train::SweepAxis> grid =
      train::parse_sweep_grid("lr=1e-3, 3e-4; batch_size=32,64 ;optimizer=adam");
  REQUIRE(grid.size() == 3);
  CHECK(grid[0].name == "lr");
  CHECK(grid[0].values == std::vector<nlohmann::json>{0.001, 0.0003});
  CHECK(grid[1].values == std::vector<nlohmann::json>{32, 64});
  CHECK(grid[1].values[0].is_number_integer());
  CHECK(grid[2].values == std::vector<nlohmann::json>{"adam"});

  CHECK_THAT(weft::test::error_message([] { train::parse_sweep_grid("lr"); }),
             Contains("name=value"));
  CHECK_THAT(weft::test::error_message([] { train::parse_sweep_grid("lr=1,;"); }),
             Contains("empty value"));
  CHECK_THAT(weft::test::error_message([] { train::parse_sweep_grid("lr=1;lr=2"); }),
             Contains("given twice"));
  // 10 x 10 x 10 x 10 points pass; 2^40 would have been listed point by point.
  CHECK(train::parse_sweep_grid("a=0,1,2,3,4,5,6,7,8,9;b=0,1,2,3,4,5,6,7,8,9;"
                                "c=0,1,2,3,4,5,6,7,8,9;d=0,1,2,3,4,5,6,7,8,9")
            .size() == 4);
  std::string huge;
  for (int axis = 0; axis < 40; ++axis) {
    huge.append("x").append(std::to_string(axis)).append("=1,2;");
  }
  CHECK_THAT(weft::test::error_message([&] { train::parse_sweep_grid(huge); }),
             Contains("has more than 10000 points"));
}

TEST_CASE("sweep: points are every combination, the first axis slowest", "[train][sweep]") {
  const auto points = train::sweep_points(train::parse_sweep_grid("a=1,2;b=x,y,z"));
  REQUIRE(points.size() == 6);
  CHECK(train::point_label(points[0]) == "a=1 b=x");
  CHECK(train::point_label(points[2]) == "a=1 b=z");
  CHECK(train::point_label(points[3]) == "a=2 b=x");
}

TEST_CASE("sweep: one table row per grid point, in markdown, CSV and JSON", "[train][sweep]") {
  weft::test::TempDir dir("train_sweep");
  const auto grid = train::parse_sweep_grid("lr=0.1,0.01;batch_size=2,4,8");
  std::vector<std::string> seen;
  const train::SweepResult result = train::run_sweep(
      grid,
      [&](const train::SweepPoint& point, int index) {
        seen.push_back(train::point_label(point));
        if (index == 4) throw weft::Error("diverged: loss is nan");
        const double score = point["lr"].get<double>() * point["batch_size"].get<int>();
        return train::Metrics{{"score", score}, {"index", index}};
      },
      dir.path(), "grid", nullptr);
  CHECK_FALSE(result.interrupted);
  REQUIRE(result.rows.size() == 6);
  CHECK(seen.size() == 6);
  CHECK(result.rows[4].error == "diverged: loss is nan");
  CHECK(result.rows[5].results.at("score") == 0.01 * 8);

  const std::vector<std::string> markdown = read_lines(dir.file("grid.md"));
  REQUIRE(markdown.size() == 2 + 6);
  CHECK(markdown[0] == "| # | lr | batch_size | score | index | seconds | error |");
  CHECK(markdown[1] == "|---|---|---|---|---|---|---|");
  CHECK_THAT(markdown[2], Contains("| 0 | 0.1 | 2 | 0.2000 | 0 |"));
  CHECK_THAT(markdown[6], Contains("| 4 | 0.01 | 4 |  |  |") && Contains("diverged"));

  const std::vector<std::string> csv = read_lines(dir.file("grid.csv"));
  REQUIRE(csv.size() == 1 + 6);
  CHECK(csv[0] == "#,lr,batch_size,score,index,seconds,error");
  CHECK(csv[6].rfind("5,0.01,8,0.08,5,", 0) == 0);

  const nlohmann::json json = nlohmann::json::parse(weft::io::read_file(dir.file("grid.json")));
  REQUIRE(json.size() == 6);
  CHECK(json[3]["settings"] == nlohmann::json{{"lr", 0.01}, {"batch_size", 2}});
  CHECK(json[3]["results"]["score"] == 0.02);
  CHECK(json[4]["error"] == "diverged: loss is nan");
  CHECK(dir.entries() == std::vector<std::string>{"grid.csv", "grid.json", "grid.md"});
}
