# Builds and runs tests/consumer/ against plait, as a user would. Run with cmake -P; tests/consumer.cmake
# registers it with CTest.
#
#   cmake -DMODE=package|subdirectory -DPLAIT_SOURCE_DIR=<plait> -DWORK_DIR=<scratch dir>
#         [-DGENERATOR=<name>] [-DMAKE_PROGRAM=<path>] [-DCXX_COMPILER=<path>] [-DCXX_COMPILER_LAUNCHER=<cmd>]
#         [-DBUILD_TYPE=<config>] [-DPREFIX_PATH=<a|b|...>] -P run_consumer.cmake
#
# package:      configures a separate build of plait (tests, examples, benchmarks OFF), installs it into
#               WORK_DIR/prefix, then builds the consumer with find_package(plait) from that prefix only.
# subdirectory: builds the consumer with add_subdirectory(PLAIT_SOURCE_DIR).
# Either way the consumer is then run; any failing step stops the script with that step's output.
cmake_minimum_required(VERSION 3.25)

foreach(_var IN ITEMS MODE PLAIT_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "plait: run_consumer.cmake needs -D${_var}=... . "
                        "It is set by tests/consumer.cmake. Fix: run it through ctest -L consumer.")
  endif()
endforeach()
if(NOT MODE MATCHES "^(package|subdirectory)$")
  message(FATAL_ERROR "plait: MODE='${MODE}' is not a consumer mode. "
                      "tests/consumer/ gets plait by find_package or add_subdirectory. "
                      "Fix: pass -DMODE=package or -DMODE=subdirectory.")
endif()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

# What every configure step shares with plait's own build: generator, compiler, configuration.
set(_common -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
if(GENERATOR)
  list(APPEND _common -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND _common "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND _common "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(CXX_COMPILER_LAUNCHER)
  list(APPEND _common "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER}")
endif()
string(REPLACE "|" ";" _prefix_path "${PREFIX_PATH}")  # '|' carries the list through add_test

# step(<name> <command...>): runs the command; on failure stops with its exit code and output.
function(step name)
  message(STATUS "consumer (${MODE}): ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    list(JOIN ARGN " " _cmd)
    message("--- command: ${_cmd}\n--- output:\n${_out}--- end of output")  # unwrapped, as the tool wrote it
    message(FATAL_ERROR "plait: the consumer's step '${name}' failed (${_rc}) in ${MODE} mode. "
                        "tests/consumer/ builds with plait the way users do, so users would see this too. "
                        "Fix: read the step's output above.")
  endif()
  set(step_output "${_out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")  # every run starts from nothing, as a user's first build does
set(_consumer_src "${PLAIT_SOURCE_DIR}/tests/consumer")
set(_consumer_build "${WORK_DIR}/consumer-build")

if(MODE STREQUAL "package")
  set(_prefix "${WORK_DIR}/prefix")
  step("configure plait for installing"
    "${CMAKE_COMMAND}" -S "${PLAIT_SOURCE_DIR}" -B "${WORK_DIR}/plait-build" ${_common}
    -DPLAIT_BUILD_TESTS=OFF -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_BUILD_BENCH=OFF
    "-DCMAKE_INSTALL_PREFIX=${_prefix}")
  step("build plait" "${CMAKE_COMMAND}" --build "${WORK_DIR}/plait-build" --config ${BUILD_TYPE})
  step("install plait into ${_prefix}" "${CMAKE_COMMAND}" --install "${WORK_DIR}/plait-build" --config ${BUILD_TYPE})
  step("configure the consumer with find_package(plait)"
    "${CMAKE_COMMAND}" -S "${_consumer_src}" -B "${_consumer_build}" ${_common}
    -DPLAIT_CONSUMER_MODE=package "-DCMAKE_PREFIX_PATH=${_prefix};${_prefix_path}")
  # The package must come from the fresh prefix, not from a plait installed elsewhere on the machine.
  file(STRINGS "${_consumer_build}/CMakeCache.txt" _plait_dir REGEX "^plait_DIR:")
  string(REGEX REPLACE "^plait_DIR:[A-Z]+=" "" _plait_dir "${_plait_dir}")
  cmake_path(IS_PREFIX _prefix "${_plait_dir}" NORMALIZE _from_prefix)
  if(NOT _from_prefix)
    message(FATAL_ERROR "plait: find_package(plait) took ${_plait_dir}, not the package just installed in ${_prefix}. "
                        "The test must check the fresh install. Fix: uninstall the other plait or remove it from CMAKE_PREFIX_PATH.")
  endif()
else()
  step("configure the consumer with add_subdirectory(plait)"
    "${CMAKE_COMMAND}" -S "${_consumer_src}" -B "${_consumer_build}" ${_common}
    -DPLAIT_CONSUMER_MODE=subdirectory "-DPLAIT_SOURCE_DIR=${PLAIT_SOURCE_DIR}"
    "-DCMAKE_PREFIX_PATH=${_prefix_path}")
endif()

step("build the consumer" "${CMAKE_COMMAND}" --build "${_consumer_build}" --config ${BUILD_TYPE})
set(_exe "${_consumer_build}/consumer")
if(NOT EXISTS "${_exe}" AND EXISTS "${_consumer_build}/${BUILD_TYPE}/consumer")  # multi-config generators
  set(_exe "${_consumer_build}/${BUILD_TYPE}/consumer")
endif()
step("run the consumer" "${_exe}")
message(STATUS "consumer (${MODE}): ${step_output}")
