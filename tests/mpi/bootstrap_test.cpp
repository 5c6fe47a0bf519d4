// Tests of include/plait/comm/mpi/bootstrap.hpp, run under mpiexec -np 2 and -np 3.
#include "mpi_doctest_main.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using plait_test::world;

namespace {

std::string message_of(auto&& f) {
  try {
    f();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}

using vars = std::map<std::string, std::string>;
auto lookup(const vars& v) {
  return [&v](const char* name) -> const char* {
    const auto it = v.find(name);
    return it == v.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("mpi_world says where this process sits, as MPI does") {
  int rank = -1, size = 0, provided = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Query_thread(&provided);
  CHECK(world().rank() == std::size_t(rank));
  CHECK(world().size() == std::size_t(size));
  CHECK(world().threads() == plait::mpi_threads::multiple);
  CHECK(provided == MPI_THREAD_MULTIPLE);
  // mpiexec started every rank on this machine: one node, local ranks 0 .. size - 1.
  CHECK(world().local_size() == world().size());
  CHECK(world().local_rank() < world().local_size());
  std::vector<int> locals(world().size());
  const int mine = int(world().local_rank());
  MPI_Allgather(&mine, 1, MPI_INT, locals.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::sort(locals.begin(), locals.end());
  for (std::size_t q = 0; q < locals.size(); ++q) CHECK(locals[q] == int(q));
}

TEST_CASE("a second mpi_world over a running MPI neither starts nor finalises it") {
  {
    plait::mpi_world inner;
    CHECK(inner.rank() == world().rank());
    CHECK(inner.size() == world().size());
  }
  int finalized = 1;
  MPI_Finalized(&finalized);
  CHECK(finalized == 0);
  MPI_Barrier(MPI_COMM_WORLD);  // MPI still works
}

TEST_CASE("expect_world_size fails on every rank alike when the mesh needs another process count") {
  const std::size_t size = world().size();
  CHECK_NOTHROW(plait::expect_world_size(world(), size));
  CHECK(
      message_of([&] { plait::expect_world_size(world(), size + 2); }) ==
      "plait: the policy's device mesh needs " + std::to_string(size + 2) + " processes, but this job has " +
          std::to_string(size) + " (on rank " + std::to_string(world().rank()) +
          "). each process holds its share of the mesh, so the process count is fixed by the policy. Fix: launch with mpiexec -np " +
          std::to_string(size + 2) + " (or srun -n " + std::to_string(size + 2) +
          "), or choose a policy whose mesh spans " + std::to_string(size) + " processes.");
  CHECK(message_of([&] {
          plait::expect_world_size(world(), 0, "replicate<0>");
        }).rfind("plait: replicate<0> needs 0 processes", 0) == 0);
  CHECK(message_of([&] {
          plait::expect_world_size(plait_test::comm(), 1);
        }).find("needs 1 processes, but this job has") != std::string::npos);
}

TEST_CASE("launch variables that disagree with MPI are refused") {
  const vars none{};
  const vars same{{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}};
  CHECK_NOTHROW(plait::expect_launch_env_matches(lookup(none), 1, 2));
  CHECK_NOTHROW(plait::expect_launch_env_matches(lookup(same), 1, 2));
  CHECK(
      message_of([&] { plait::expect_launch_env_matches(lookup(same), 0, 2); }) ==
      "plait: RANK=1 WORLD_SIZE=2 is set, but MPI numbers this process 0 of 2. the launch variables and MPI must agree on who is "
      "who. Fix: unset RANK and WORLD_SIZE when launching with mpiexec or srun (MPI numbers the processes), or pass "
      "mpi_world_options{.check_launch_env = false}.");
  // torchrun started the processes: each is an MPI world of one.
  CHECK(message_of([&] {
          plait::expect_launch_env_matches(lookup(same), 0, 1);
        }).find("each one is an MPI world of its own and would train alone. Fix: start the job with mpiexec -np 2") !=
        std::string::npos);
  // Only RANK and WORLD_SIZE are read: MPI numbers the processes, no rendezvous is needed.
  CHECK_NOTHROW(plait::expect_launch_env_matches(lookup(vars{{"RANK", "1"}, {"WORLD_SIZE", "3"}}), 1, 3));
  CHECK_NOTHROW(plait::expect_launch_env_matches(lookup(vars{{"WORLD_SIZE", "3"}}), 2, 3));
  CHECK(message_of([&] {
          plait::expect_launch_env_matches(lookup(vars{{"RANK", "0"}}), 2, 3);
        }).rfind("plait: RANK=0 is set, but MPI numbers this process 2 of 3.", 0) == 0);
  CHECK(message_of([&] {
          plait::expect_launch_env_matches(lookup(vars{{"RANK", "x"}}), 0, 1);
        }).rfind("plait: RANK='x' is not a number", 0) == 0);
}
