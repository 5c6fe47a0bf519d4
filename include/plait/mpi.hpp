#pragma once
// plait across processes (docs/design.md §8): MPI start-up, the MPI communicator, the start-up consistency
// check. Link with plait::mpi; the host core (plait/plait.hpp) never includes mpi.h.

#include "comm/launch_env.hpp"
#include "comm/mpi/bootstrap.hpp"
#include "comm/mpi/check.hpp"
#include "comm/mpi/comm.hpp"
#include "comm/mpi/error.hpp"
#include "comm/mpi/processes.hpp"
