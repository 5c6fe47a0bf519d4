#pragma once
// For MPI tests that skip where a rank cannot run them (no GPU for it, say): every rank skips alike,
// so none waits in a collective for a rank that left. The lowest rank with a reason prints it.

#include <cstdio>
#include <plait/mpi.hpp>
#include <string>
#include <vector>

namespace plait::test {

/// Whether the test skips on every rank; `why` is this rank's reason, empty where it can run.
inline bool skip_alike(const mpi_world& world, mpi_comm& mpi, const std::string& why) {
  std::vector<char> skips(world.size());
  const char mine = why.empty() ? 0 : 1;
  mpi.all_gather_bytes(&mine, skips.data(), 1);
  for (std::size_t q = 0; q < skips.size(); ++q)
    if (skips[q]) {
      if (q == world.rank()) std::printf("plait test: skipped on rank %zu of %zu: %s\n", q, world.size(), why.c_str());
      return true;
    }
  return false;
}

}  // namespace plait::test
