# Runs a job that must fail, as expect_failure.cmake does, with the flight recorder's folder set
# (PLAIT_FLIGHT_DIR, emptied first), then tools/flight_recorder.py on that folder: the output holds the
# job's messages, "the job ended with code N", then the tool's report and verdict, so one
# PASS_REGULAR_EXPRESSION checks plait's message and the recorder's verdict in order.
#
#   cmake -DCOMMAND=<argument|argument|...> -DFLIGHT_DIR=<folder> -DPYTHON=<python3> -DTOOL=<flight_recorder.py>
#         -P expect_failure_flight.cmake
if(NOT DEFINED COMMAND OR NOT DEFINED FLIGHT_DIR OR NOT DEFINED PYTHON OR NOT DEFINED TOOL)
  message(FATAL_ERROR "plait: expect_failure_flight.cmake needs -DCOMMAND, -DFLIGHT_DIR, -DPYTHON and -DTOOL. tests/mpi/CMakeLists.txt passes them. Fix: run it through ctest -R mpi.")
endif()
file(REMOVE_RECURSE "${FLIGHT_DIR}")
file(MAKE_DIRECTORY "${FLIGHT_DIR}")
set(ENV{PLAIT_FLIGHT_DIR} "${FLIGHT_DIR}")
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
execute_process(COMMAND "${PYTHON}" "${TOOL}" "${FLIGHT_DIR}" OUTPUT_VARIABLE _report ERROR_VARIABLE _report
                RESULT_VARIABLE _tool_code)
message("${_report}")
message("plait test: tools/flight_recorder.py ended with code ${_tool_code}")
