# Checks that ctest knows every Catch2 test case of weft_tests (the ctest test
# `suite.discovery`). catch_discover_tests lists the cases once, right after weft_tests is
# linked; when the binary cannot start at that moment (an AddressSanitizer build under
# `ulimit -v`, which cannot reserve its shadow memory; a missing shared library), Catch2's script
# writes an empty list and ctest then runs none of those cases while reporting success.
# Arguments, as -D definitions:
#   EXE   the weft_tests binary
#   DIR   the folder holding the lists catch_discover_tests wrote (weft_tests_tests-*.cmake)
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND "${EXE}" --list-test-names-only
                OUTPUT_VARIABLE names ERROR_VARIABLE errors RESULT_VARIABLE status)
# Catch2 2.x exits with the number of cases it listed.
if(NOT status MATCHES "^[0-9]+$" OR status EQUAL 0)
  string(STRIP "${errors}" errors)
  message(FATAL_ERROR "${EXE} --list-test-names-only did not list its test cases "
                      "(exit status ${status}): ${errors}")
endif()
string(REGEX MATCHALL "[^\n]+" listed "${names}")
list(LENGTH listed listed_count)

file(GLOB lists "${DIR}/weft_tests_tests-*.cmake")
set(known_count 0)
foreach(list_file IN LISTS lists)
  file(STRINGS "${list_file}" adds REGEX "^[ \t]*add_test\\(")
  list(LENGTH adds count)
  math(EXPR known_count "${known_count} + ${count}")
endforeach()

if(NOT known_count EQUAL listed_count)
  message(FATAL_ERROR "ctest knows ${known_count} of weft_tests' ${listed_count} test cases: "
                      "the discovery after linking failed (see ${DIR}/weft_tests_tests-*.cmake); "
                      "relink weft_tests where it can start (no `ulimit -v` for a sanitizer "
                      "build) and run ctest again")
endif()
message(STATUS "ctest knows all ${listed_count} test cases of weft_tests")
