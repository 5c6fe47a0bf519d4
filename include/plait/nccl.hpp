#pragma once
// plait's GPUs across processes (docs/design.md §8): the NCCL communicator, one GPU per rank, started from
// torchrun-style variables with NCCL_COMM_ID, or over MPI. Link with plait::nccl, and plait::mpi as well
// for the start over MPI: that part (and plait/mpi.hpp) is included where mpi.h is found. The host core
// (plait/plait.hpp) never includes nccl.h or a CUDA header. A model placed across processes needs nvcc
// as well: comm/nccl/env_processes.hpp (no MPI) or comm/nccl/mpi_processes.hpp.

#include "comm/nccl/comm.hpp"
#include "comm/nccl/error.hpp"
#include "comm/nccl/host_comm.hpp"
#include "comm/nccl/launch_env.hpp"
#if __has_include(<mpi.h>)
#include "comm/nccl/mpi_bootstrap.hpp"
#include "mpi.hpp"
#endif
