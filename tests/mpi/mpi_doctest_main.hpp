#pragma once
// The main of a doctest executable that runs under mpiexec: MPI is started once for the process
// (plait::mpi_world), every rank runs every test case, and the job fails when any rank fails. Test
// cases reach the job through world() and comm(), one mpi_comm with a deadline short enough that a
// rank out of step fails the test instead of hanging it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <plait/comm/mpi/bootstrap.hpp>
#include <plait/comm/mpi/comm.hpp>
#include <plait/comm/mpi/error.hpp>

namespace plait_test {
inline plait::mpi_world* the_world = nullptr;
inline plait::mpi_comm* the_comm = nullptr;
inline plait::mpi_world& world() { return *the_world; }
inline plait::mpi_comm& comm() { return *the_comm; }
}  // namespace plait_test

int main(int argc, char** argv) {
  return plait::run_or_abort([&] {
    plait::mpi_world world(&argc, &argv);
    int failed = 0;
    {
      plait::mpi_comm comm(world, {.deadline = std::chrono::seconds(30)});
      plait_test::the_world = &world;
      plait_test::the_comm = &comm;
      doctest::Context context(argc, argv);
      failed = context.run() != 0 ? 1 : 0;
      plait_test::the_comm = nullptr;
      if (comm.broken())  // a rank out of step: the others may wait in a collective, so end the job
        plait::fail("the test communicator broke", "a test case left the ranks out of step",
                    "read the first failure above");
    }
    int any = 0;  // every rank exits alike: non-zero when any rank failed a check
    plait::mpi_detail::check(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    if (any && world.rank() == 0) std::fprintf(stderr, "plait test: a check failed on at least one rank\n");
    return any;
  });
}
