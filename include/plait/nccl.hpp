#pragma once
// plait's GPUs across processes (DESIGN.md §6): the NCCL communicator, one GPU per rank, started over
// MPI or from torchrun-style variables with NCCL_COMM_ID. Link with plait::nccl; the host core
// (plait/plait.hpp) never includes nccl.h or a CUDA header.

#include "comm/nccl/comm.hpp"
#include "comm/nccl/launch_env.hpp"
#include "comm/nccl/error.hpp"
#include "mpi.hpp"
