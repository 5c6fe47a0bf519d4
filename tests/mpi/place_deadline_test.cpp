// A model placed across 3 processes (replicate<3>, one device each, 2 s deadline) trains, and at step 3
// the last rank leaves the job (tests/mpi/CMakeLists.txt, mpi_place_deadline_*):
//
//   place_deadline_test stuck   the last rank stops training (it sleeps): the others must end with plait's
//                               deadline error naming the step, the device, the instruction and the rank,
//                               and run_or_abort must end the job non-zero.
//   place_deadline_test exit    the last rank exits abruptly (std::_Exit, no MPI_Finalize): Open MPI's
//                               mpiexec kills the job, or the others reach their deadline first; either
//                               way the job ends non-zero, with a message, without hanging.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  using namespace plait;
  const bool exit_mode = argc > 1 && std::strcmp(argv[1], "exit") == 0;
  return run_or_abort([&] {
    mpi_world world(&argc, &argv);
    constexpr auto net = input<16> >> linear<32> >> relu >> linear<4>;
    auto model = place<replicate<3>>(
        net, across_processes(world, host_devices(1), {.deadline = std::chrono::seconds(2)}), {.max_batch = 48});
    std::vector<float> x(48 * 16);
    std::vector<std::int32_t> y(48);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13.0f - 0.5f;
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 4);
    auto opt = sgd{.lr = 0.1f};
    for (int step = 0; step < 10; ++step) {
      if (step == 3 && world.rank() == world.size() - 1) {
        std::printf("plait test: rank %zu %s at step %d\n", world.rank(),
                    exit_mode ? "exits abruptly" : "stops training", step);
        std::fflush(stdout);
        if (exit_mode) std::_Exit(0);
        std::this_thread::sleep_for(std::chrono::minutes(5));  // longer than the test's timeout
      }
      model.train_step(samples<shape<16>>{x.data(), 48}, class_labels{y.data(), 48}, cross_entropy, opt);
    }
    std::printf("plait test: rank %zu finished every step\n", world.rank());
    return 0;
  });
}
