// The main of the header tests (plait_add_header_test in tests/CMakeLists.txt), compiled once.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
