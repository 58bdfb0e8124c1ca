// The numeric flag checks of validators.h.
#include "apps/common/validators.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace weft::app {
namespace {

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// The value of `text` as a finite number, or the error that says why it is not one.
bool parse_finite(const std::string& text, double& value, std::string& error) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  value = std::strtod(begin, &end);
  if (end == begin || *end != '\0') {
    error = "must be a number, got \"" + text + "\"";
    return false;
  }
  if (!std::isfinite(value) || errno == ERANGE) {
    error = "must be a finite number, got " + text;
    return false;
  }
  return true;
}

CLI::Validator bounded(double lo, bool lo_open, double hi, std::string description) {
  return CLI::Validator(
      [lo, lo_open, hi, description](std::string& text) -> std::string {
        double value = 0;
        std::string error;
        if (!parse_finite(text, value, error)) return error;
        const bool below = lo_open ? !(value > lo) : value < lo;
        if (below || value > hi) return "must be " + description + ", got " + text;
        return {};
      },
      description);
}

}  // namespace

CLI::Validator positive_number() {
  return bounded(0.0, true, HUGE_VAL, "a finite number > 0");
}

CLI::Validator non_negative_number() {
  return bounded(0.0, false, HUGE_VAL, "a finite number >= 0");
}

CLI::Validator in_range(double lo, double hi) {
  return bounded(lo, false, hi, "from " + number_text(lo) + " to " + number_text(hi));
}

}  // namespace weft::app
