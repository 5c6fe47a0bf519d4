#pragma once
// How plait tunes the MPI library it runs on, once per process, best effort.

#include <mpi.h>

#include <cstdlib>
#include <mutex>

namespace plait::mpi_detail {

// Open MPI's libnbc runs MPI_Iallreduce on fewer than 4 ranks, or in place, as a binomial tree
// (reduce, then broadcast): measured 1.4-2x slower than the blocking MPI_Allreduce from 1 MiB up on
// 2 ranks. Its ring matches the blocking call, and reduces each segment once, so every rank gets the
// same bits. The choice is a control variable of the process, set through MPI_T, once, on every rank
// alike (each constructs its mpi_comm with the same options). Best effort by design: an MPI without
// this variable (MPICH), or a user's OMPI_MCA_coll_libnbc_iallreduce_algorithm, leaves MPI's choice.
inline void select_ring_iallreduce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm") != nullptr) return;
    int provided = 0, index = 0, count = 0;
    if (MPI_T_init_thread(MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) return;
    MPI_T_cvar_handle handle;
    if (MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) == MPI_SUCCESS &&
        MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) == MPI_SUCCESS) {
      int ring = 1;  // libnbc: 0 its own choice, 1 ring, 2 binomial, 3 rabenseifner, 4 recursive doubling
      MPI_T_cvar_write(handle, &ring);
      MPI_T_cvar_handle_free(&handle);
    }
    MPI_T_finalize();
  });
}

}  // namespace plait::mpi_detail
