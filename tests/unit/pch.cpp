// The translation unit beside which the precompiled plait/plait.hpp of the tests and examples is compiled
// (tests/CMakeLists.txt, tests/mpi/CMakeLists.txt, examples/CMakeLists.txt).
