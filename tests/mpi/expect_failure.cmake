# Runs a command that must fail: prints its output, then how it ended. A test built on it passes when its
# PASS_REGULAR_EXPRESSION matches that output, and the expression asks for "the job ended with code [1-9]",
# so a job that exits 0 fails it. The test's TIMEOUT bounds the whole run (a hang fails too).
#
#   cmake -DCOMMAND=<argument|argument|...> -P expect_failure.cmake
if(NOT COMMAND)
  message(FATAL_ERROR "plait: expect_failure.cmake needs -DCOMMAND=a|b|c. tests/mpi/CMakeLists.txt passes it. Fix: run it through ctest -R mpi.")
endif()
string(REPLACE "|" ";" _command "${COMMAND}")
string(TIMESTAMP _start "%s")
execute_process(COMMAND ${_command} OUTPUT_VARIABLE _output ERROR_VARIABLE _output RESULT_VARIABLE _code)
string(TIMESTAMP _end "%s")
math(EXPR _seconds "${_end} - ${_start}")
message("${_output}")
if(_code STREQUAL "0")
  message(FATAL_ERROR "plait test: the job exited with code 0 after about ${_seconds} s, but it had to fail")
endif()
message("plait test: the job ended with code ${_code} after about ${_seconds} s")
