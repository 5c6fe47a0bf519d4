// The program docs/distributed.md is cut from: a linear model fitted by data-parallel SGD over the
// processes of an MPI job, written by hand on plait::mpi_comm (place(...) does not span processes
// yet). CTest runs it under mpiexec -np 2 (it must learn) and -np 3 (it must refuse the job size).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <plait/mpi.hpp>
#include <vector>

namespace {

constexpr std::size_t processes = 2;  // the mesh this program is written for
constexpr std::size_t features = 8;   // y = w . x + b
constexpr std::size_t parameters = features + 1;
constexpr std::size_t samples_per_rank = 256;
constexpr std::uint64_t signature = 0x6c696e656172ull;  // stands for the graph's compile-time signature

// Sample i of the whole data set (the same on every rank): x in [-1, 1), y from fixed true weights.
void sample(std::size_t i, float* x, float& y) {
  y = 0.5f;
  for (std::size_t f = 0; f < features; ++f) {
    std::uint32_t h = std::uint32_t((i * features + f) * 2654435761u);
    h = (h ^ (h >> 15)) * 2246822519u;
    x[f] = float((h ^ (h >> 13)) % 2000) / 1000.0f - 1.0f;
    y += x[f] * (float(f) - 3.5f) * 0.25f;
  }
}

// Returns the mean squared error of the last step over the whole data set.
float train(plait::mpi_comm& comm, std::vector<float>& w, int steps) {  // w: [parameters] @ every rank, identical
  const std::size_t first = comm.rank() * samples_per_rank;             // this rank's shard of the data
  float loss = 0;
  // [docs:mpi_step]
  std::vector<float> grad(parameters + 1);  // [gradient, loss] @ every rank: this rank's sums, then the job's
  for (int step = 0; step < steps; ++step) {
    std::fill(grad.begin(), grad.end(), 0.0f);
    for (std::size_t i = first; i < first + samples_per_rank; ++i) {
      float x[features], y;
      sample(i, x, y);
      float err = w[features] - y;
      for (std::size_t f = 0; f < features; ++f) err += w[f] * x[f];
      for (std::size_t f = 0; f < features; ++f) grad[f] += err * x[f];
      grad[features] += err;
      grad[parameters] += err * err;
    }
    comm.all_reduce(grad.data(), grad.size());  // sums over every rank's shard: the same bits on every rank
    const float samples = float(samples_per_rank * comm.size());
    for (std::size_t p = 0; p < parameters; ++p) w[p] -= 0.5f * grad[p] / samples;
    loss = grad[parameters] / samples;
  }
  // [/docs:mpi_step]
  return loss;
}

}  // namespace

int main(int argc, char** argv) {
  // [docs:mpi_main]
  return plait::run_or_abort([&] {         // any error, on any rank: printed, then MPI_Abort ends the job non-zero
    plait::mpi_world world(&argc, &argv);  // MPI_Init_thread(MPI_THREAD_MULTIPLE) ... MPI_Finalize
    plait::expect_world_size(world, processes, "this program's data-parallel mesh");
    plait::mpi_comm comm(world, {.deadline = std::chrono::seconds(60)});  // a dead peer: an error after 60 s
    plait::check_consistent(comm, signature, parameters);  // the same model on every rank, or an error on all

    std::vector<float> w(parameters, 0.0f);  // [parameters] @ every rank
    const float loss = train(comm, w, 200);
    if (world.rank() == 0) std::printf("rank 0 of %zu: loss %.6f after 200 steps\n", world.size(), loss);
    return loss < 1e-4f ? 0 : 1;
  });
  // [/docs:mpi_main]
}
