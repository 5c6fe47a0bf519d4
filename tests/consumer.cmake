# Registers the downstream-project tests: tests/consumer/ built against plait as a user would, once from an
# installed package (find_package) and once with add_subdirectory. Included by tests/CMakeLists.txt.
# Each test configures and builds from scratch under the build directory: run them with ctest -L consumer.
cmake_path(GET CMAKE_CURRENT_LIST_DIR PARENT_PATH _plait_consumer_root)  # plait's source tree
string(REPLACE ";" "|" _plait_consumer_prefix_path "${CMAKE_PREFIX_PATH}")

foreach(_mode IN ITEMS package subdirectory)
  if(_mode STREQUAL "package")
    set(_name consumer_install)
  else()
    set(_name consumer_subdirectory)
  endif()
  add_test(NAME ${_name}
    COMMAND "${CMAKE_COMMAND}"
      -DMODE=${_mode}
      "-DPLAIT_SOURCE_DIR=${_plait_consumer_root}"
      "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer/${_mode}"
      "-DGENERATOR=${CMAKE_GENERATOR}"
      "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
      "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DCXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}"
      "-DBUILD_TYPE=$<CONFIG>"
      "-DPREFIX_PATH=${_plait_consumer_prefix_path}"
      -P "${_plait_consumer_root}/tests/consumer/run_consumer.cmake")
  set_tests_properties(${_name} PROPERTIES LABELS consumer TIMEOUT 900)
endforeach()
