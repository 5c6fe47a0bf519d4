// predict and evaluate on virtual CUDA devices of GPU 0 (runtime/inference.hpp): the cases of
// tests/unit/runtime/inference_cases.hpp, each against one host device. On CUDA each stage runs on its
// own stream: the slow-first-stage case fails if a stage reads an activation before the stage before
// it has written it.
#include "cuda_test_main.hpp"

#include <plait/cuda.hpp>
#include <plait/plait.hpp>

#include "policy/equivalence.hpp"

struct on_gpu {
  static constexpr bool host_memory = false;
  static constexpr double tolerance_scale = 5;  // cuBLAS and OpenBLAS round GEMMs differently
  static auto device() { return plait::virtual_cuda_devices(1); }
  static auto devices(std::size_t n) { return plait::virtual_cuda_devices(n); }
};
using on_backend = on_gpu;

#include "runtime/inference_cases.hpp"
