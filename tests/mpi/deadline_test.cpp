// The failure tests of plait::mpi (tests/mpi/CMakeLists.txt, mpi_deadline_*): a job of 3 ranks runs a
// sequence of all-reduces with a 2 s deadline, and at step 3 the last rank leaves it.
//
//   deadline_test stuck   the last rank stops calling collectives (it sleeps): the others must end with
//                         plait's deadline error, and run_or_abort must end the job non-zero.
//   deadline_test exit    the last rank exits abruptly (std::_Exit, no MPI_Finalize): Open MPI's mpiexec
//                         notices and kills the job itself, or the others reach their deadline first;
//                         either way the job must end non-zero, with a message, without hanging.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/mpi.hpp>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const bool exit_mode = argc > 1 && std::strcmp(argv[1], "exit") == 0;
  return plait::run_or_abort([&] {
    plait::mpi_world world(&argc, &argv);
    plait::mpi_comm comm(world, {.deadline = std::chrono::seconds(2)});
    std::vector<float> buf(1000);  // [1000] @ every rank
    for (int step = 0; step < 10; ++step) {
      if (step == 3 && world.rank() == world.size() - 1) {
        std::printf("plait test: rank %zu %s at step %d\n", world.rank(),
                    exit_mode ? "exits abruptly" : "stops calling collectives", step);
        std::fflush(stdout);
        if (exit_mode) std::_Exit(0);
        std::this_thread::sleep_for(std::chrono::minutes(5));  // longer than the test's timeout
      }
      for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = float(world.rank() + i % 7);
      comm.all_reduce(buf.data(), buf.size());
      const float expect = float(world.size() * (world.size() - 1) / 2);
      if (buf[0] != expect)
        plait::fail("all_reduce gave a wrong sum", "the test's own check", "look at mpi_comm::all_reduce");
    }
    std::printf("plait test: rank %zu finished every step\n", world.rank());
    return 0;
  });
}
