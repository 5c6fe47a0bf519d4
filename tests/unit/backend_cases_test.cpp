// The backend cases (backend_cases.hpp) on host<openmp> with 2 threads per device, against
// host<sequential>: the host's kernels give the same values whatever thread runs which block.
// tests/cuda/layers_cuda_test.cu runs the same cases on a CUDA device.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "backend_check.hpp"

struct backend_fixture {
  plait::host_context<plait::openmp> ctx{0, 2};
  plait::test::host_memory mem;
  double tolerance = 1e-6;
};

#include "backend_cases.hpp"
