// weft's one exception type and the check macro used everywhere in the library.
//
// Library code never calls exit(): it throws weft::Error with a message that says what was
// expected and what was found, so a test runner or an app can report it. Apps catch it in
// main(), print the message on one line and exit non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace weft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown by a backend for an op it does not implement (yet): a caller may fall back to another
// implementation, and the backend test table counts the case as skipped rather than failed.
class NotImplemented : public Error {
 public:
  using Error::Error;
};

// Thrown when a device has no memory left for an allocation. The apps add the batch size and
// suggest a smaller one (apps/common/app_common.cpp).
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace weft

// WEFT_CHECK(condition, message parts...): throw weft::Error made of the parts when the
// condition is false. The parts are streamed, so numbers and shapes can be mixed with text.
#define WEFT_CHECK(condition, ...)                                  \
  do {                                                              \
    if (!(condition)) {                                             \
      throw ::weft::Error(::weft::detail::concat(__VA_ARGS__));     \
    }                                                               \
  } while (0)
