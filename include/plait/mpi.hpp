#pragma once
// plait across processes (docs/design.md §8): MPI start-up, the MPI communicator, the start-up consistency
// check. Link with plait::mpi; the host core (plait/plait.hpp) never includes mpi.h.

#include "comm/mpi.hpp"
#include "comm/mpi_bootstrap.hpp"
#include "comm/mpi_check.hpp"
#include "comm/mpi_env.hpp"
#include "comm/mpi_error.hpp"
#include "comm/mpi_processes.hpp"
