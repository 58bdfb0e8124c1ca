// Helpers shared by the engine-level tests (test_autograd, test_ops_known_values,
// test_safetensors, ...): catching the weft::Error that a call must throw, so that a test can
// check what its message says; setting the graph mode (engine/graph.h) for one test.
#pragma once

#include <catch2/catch.hpp>
#include <exception>
#include <string>

#include "engine/graph.h"
#include "kernels/error.h"

namespace weft::test {

// Runs `call`, which must throw weft::Error, and returns the error's message. Records a failed
// check (and returns "") when the call returns normally or throws something else.
template <typename Call>
std::string error_message(Call&& call) {
  try {
    call();
  } catch (const weft::Error& error) {
    return error.what();
  } catch (const std::exception& other) {
    FAIL_CHECK("threw an exception that is not weft::Error: " << other.what());
    return "";
  }
  FAIL_CHECK("expected a weft::Error, but nothing was thrown");
  return "";
}

// Sets the graph mode for one test and puts the default back, also when the test fails.
struct GraphModeGuard {
  explicit GraphModeGuard(weft::graph::Mode mode) { weft::graph::set_mode(mode); }
  ~GraphModeGuard() { weft::graph::set_mode(weft::graph::Mode::automatic); }
  GraphModeGuard(const GraphModeGuard&) = delete;
  GraphModeGuard& operator=(const GraphModeGuard&) = delete;
};

}  // namespace weft::test
