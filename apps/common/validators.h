// Checks for numeric flags whose errors read plainly: "--lr: must be a finite number > 0, got
// nan", "--epochs: must be from 1 to 100000, got 0". CLI11's own Range and PositiveNumber print
// the bounds of a double with 310 digits, and let NaN through (every comparison with NaN is
// false); these refuse NaN, infinities and text that is not a number, and print bounds with
// %g. Use them for every numeric flag of an app:
//
//   cli.add_option("--lr", o.lr, "learning rate")->check(app::positive_number());
//   cli.add_option("--dropout", o.dropout, "...")->check(app::in_range(0.0, 0.95));
#pragma once

#include <CLI/CLI.hpp>

namespace weft::app {

// A finite number > 0.
CLI::Validator positive_number();
// A finite number >= 0.
CLI::Validator non_negative_number();
// A finite number from `lo` to `hi`, both included.
CLI::Validator in_range(double lo, double hi);

}  // namespace weft::app
