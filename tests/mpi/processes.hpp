#pragma once
// What the MPI tests that place models across processes share: this rank's devices as its share of
// the job, and a check that every rank ends with rank 0's parameters. After mpi_doctest_main.hpp.

#include <chrono>
#include <cstddef>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <vector>

namespace plait_test {

/// This process's `local` host devices as its share of the job (30 s deadline: a stuck rank fails the test).
inline plait::process_devices<plait::host<>> processes_of(std::size_t local) {
  return plait::across_processes(world(), plait::host_devices(local), {.deadline = std::chrono::seconds(30)});
}

/// Whether this rank's parameters equal rank 0's, bit for bit, on every rank.
inline bool same_on_every_rank(std::vector<float> mine) {
  std::vector<float> first = mine;  // [P] @ every rank <- rank 0's
  comm().broadcast(first.data(), first.size(), 0);
  float all = first == mine ? 1.0f : 0.0f;
  comm().all_reduce(&all, 1);
  return std::size_t(all) == comm().size();
}

}  // namespace plait_test
