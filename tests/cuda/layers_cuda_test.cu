// The backend cases (tests/unit/backend_cases.hpp) on logical device 0 of GPU 0, float32 math,
// against the host backend: the same layer, loss and optimizer bodies, compiled by nvcc as kernels.
#include "cuda_test_main.hpp"

#include <plait/cuda.hpp>

#include "backend_check.hpp"
#include "cuda_memory.hpp"

// [docs:fixture]
struct backend_fixture {
  plait::cuda_context ctx{0, 0};  // logical device 0 on GPU 0: its stream, its cuBLAS handle
  plait::test::cuda_memory mem;
  double tolerance = 1e-5;  // other summation orders (cuBLAS, the column sums' block reduction)
};
// [/docs:fixture]

#include "backend_cases.hpp"
