// The conv-model equivalence cases of the host tests (tests/unit/policy/models_equivalence_cases.hpp:
// a CNN, residual blocks, dropout with layernorm; replicate<2|3>, pipeline<2|3, microbatches<4>>,
// explicit cuts; SGD with momentum and Adam; zb_h1 bit for bit as 1F1B; a batchnorm CNN under zb_h1
// against replicate<4>) with the policy's devices on GPU 0 as virtual CUDA devices, each against one
// host device on the same batches. One body, instantiated per backend.
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

#include "policy/models_equivalence_cases.hpp"
