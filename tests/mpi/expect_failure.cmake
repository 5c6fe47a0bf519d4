# Runs a command that must fail: prints its output, then how it ended. A test built on it passes when its
# PASS_REGULAR_EXPRESSION matches that output, and the expression asks for "the job ended with code [1-9]",
# so a job that exits 0 fails it. The test's TIMEOUT bounds the whole run (a hang fails too).
#
#   cmake -DCOMMAND=<argument|argument|...> [-DFLIGHT_DIR=<folder> -DPYTHON=<python3> -DTOOL=<flight_recorder.py>]
#         -P expect_failure.cmake
#
# With FLIGHT_DIR the job runs with the flight recorder's folder set (PLAIT_FLIGHT_DIR, emptied first), and
# afterwards tools/flight_recorder.py reads that folder: the output holds the job's messages, "the job ended
# with code N", then the tool's report and verdict, so one expression checks plait's message and the
# recorder's verdict in order.
if(NOT COMMAND)
  message(FATAL_ERROR "plait: expect_failure.cmake needs -DCOMMAND=a|b|c. tests/mpi/CMakeLists.txt passes it. Fix: run it through ctest -R mpi.")
endif()
if(DEFINED FLIGHT_DIR)
  if(NOT DEFINED PYTHON OR NOT DEFINED TOOL)
    message(FATAL_ERROR "plait: expect_failure.cmake with -DFLIGHT_DIR needs -DPYTHON and -DTOOL. tests/mpi/CMakeLists.txt passes them. Fix: run it through ctest -R mpi.")
  endif()
  file(REMOVE_RECURSE "${FLIGHT_DIR}")
  file(MAKE_DIRECTORY "${FLIGHT_DIR}")
  set(ENV{PLAIT_FLIGHT_DIR} "${FLIGHT_DIR}")
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
if(DEFINED FLIGHT_DIR)
  execute_process(COMMAND "${PYTHON}" "${TOOL}" "${FLIGHT_DIR}" OUTPUT_VARIABLE _report ERROR_VARIABLE _report
                  RESULT_VARIABLE _tool_code)
  message("${_report}")
  message("plait test: tools/flight_recorder.py ended with code ${_tool_code}")
endif()
