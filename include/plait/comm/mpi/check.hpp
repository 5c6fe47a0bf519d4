#pragma once
// The start-up check of a job across processes (docs/design.md §10): before the first step every rank must
// run the same graph, the same number of parameters and the same plait, or their collectives would
// not match (a hang, or silently mixed gradients). One all-gather of a small record; a mismatch is the
// same plait::error on every rank, naming which ranks differ in what.
//
//   rank 0: {0x1f.., 203530, 0.1.0}   rank 1: {0x1f.., 203530, 0.1.0}   rank 2: {0x77.., 203530, 0.1.0}
//   -> on every rank: "... graph signature 0x1f.. on ranks 0, 1 but 0x77.. on rank 2 ..."

#include <cstdint>
#include <vector>

#include "../consistency.hpp"
#include "comm.hpp"

namespace plait {

/// Compares this rank's identity with every other rank's (one all-gather of 48 bytes, with the
/// communicator's deadline). Collective: every rank of `comm` must call it. Throws the same
/// plait::error on every rank when any field differs anywhere, naming the ranks.
inline void check_consistent(mpi_comm& comm, const run_identity& mine) {
  std::vector<run_identity> all(comm.size());  // [size] @ every rank, rank order
  comm.all_gather_bytes(&mine, all.data(), sizeof(run_identity));
  check_identities(all, comm.rank());
}

/// The same, from a signature and a parameter count (this build's plait version is added).
inline void check_consistent(mpi_comm& comm, std::uint64_t signature, std::uint64_t parameter_count) {
  check_consistent(comm, run_identity{.signature = signature, .parameter_count = parameter_count});
}

}  // namespace plait
