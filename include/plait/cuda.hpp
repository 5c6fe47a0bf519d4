#pragma once
// The CUDA parts of plait (docs/design.md §7): the cuda backend, its contexts and device sets, device
// memory, and the kernels' CUDA specialisations. Compile with nvcc and link plait::cuda; the host
// core (plait/plait.hpp) never includes a CUDA header.

#include "backend/cuda/backend.hpp"
#include "backend/cuda/cublas_error.hpp"
#include "backend/cuda/error.hpp"
#include "backend/cuda/memory.hpp"
#include "backend/cuda/traits.hpp"
#include "comm/cuda/local_comm.hpp"
#include "comm/cuda/local_group.hpp"
#include "kernels/copy_cuda.hpp"
#include "kernels/elementwise_cuda.hpp"
#include "kernels/gemm_cuda.hpp"
#include "kernels/reduce_cuda.hpp"

// After the kernels' CUDA specialisations: what follows instantiates the runtime's templates, which must
// see them.
#include "runtime/cuda_local_groups.hpp"

#include "io/checkpoint_cuda.hpp"
