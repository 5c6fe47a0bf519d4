#pragma once
// The CUDA parts of plait (DESIGN.md §5): the cuda backend, its contexts and device sets, device
// memory, and the kernels' CUDA specialisations. Compile with nvcc and link plait::cuda; the host
// core (plait/plait.hpp) never includes a CUDA header.

#include "backend/cublas_error.hpp"
#include "backend/cuda.hpp"
#include "backend/cuda_error.hpp"
#include "backend/cuda_memory.hpp"
#include "backend/cuda_traits.hpp"
#include "kernels/copy_cuda.hpp"
#include "kernels/elementwise_cuda.hpp"
#include "kernels/gemm_cuda.hpp"
#include "kernels/reduce_cuda.hpp"
#include "io/checkpoint_cuda.hpp"
#include "comm/cuda_local.hpp"
#include "comm/cuda_local_comm.hpp"
#include "runtime/cuda_local_groups.hpp"
