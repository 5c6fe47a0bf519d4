// A model on CUDA devices placed across the processes of an MPI job (comm/nccl/mpi_processes.hpp): each
// process runs its replicas on its own GPU (its rank on its node), the gradients cross processes
// through NCCL on the devices' streams, and training equals one host device on the same batches.
// Run under mpiexec -n 2 (tests/mpi/CMakeLists.txt); every rank exits 77 (skipped) where a node has
// fewer GPUs than ranks, the lowest such rank saying why.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <plait/comm/nccl/mpi_processes.hpp>
#include <plait/cuda.hpp>
#include <plait/mpi.hpp>
#include <plait/nccl.hpp>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "skip_alike.hpp"

using namespace plait;

namespace {

mpi_world* the_world = nullptr;

constexpr auto mlp = input<16> >> linear<32> >> relu >> linear<24> >> relu >> linear<6>;

double worst_relative(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(0.05, std::abs(double(b[i]))));
  return worst;
}

// Policy across the job's processes, `local` logical devices on this process's GPU, against one host device.
template <class Policy>
double train_across(std::size_t local, std::size_t n) {
  mpi_world& world = *the_world;
  const int gpu = int(world.local_rank());
  auto gpus = place<Policy>(
      mlp, across_processes(world, virtual_cuda_devices(local, gpu), {.deadline = std::chrono::seconds(60)}),
      {.max_batch = n, .seed = 9});
  auto host = place(mlp, host_device(), {.max_batch = n, .seed = 9});
  auto o1 = sgd{.lr = 0.05f, .momentum = 0.9f}, o2 = o1;
  for (int s = 0; s < 4; ++s) {
    std::vector<float> x(n * 16);
    std::vector<std::int32_t> y(n);
    splitmix64 rng(500 + std::uint64_t(s));  // the same batch on every process
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(6));
    const float l1 = host.train_step(samples<shape<16>>{x.data(), n}, class_labels{y.data(), n}, cross_entropy, o1);
    const float l2 = gpus.train_step(samples<shape<16>>{x.data(), n}, class_labels{y.data(), n}, cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-4));
  }
  return worst_relative(gpus.gather_parameters(), host.gather_parameters());
}

std::string skip_reason(const mpi_world& world) {
  if (!cuda_detail::cuda_device_answers()) return "no CUDA device answers (cudaGetDeviceCount)";
  int n = 0;
  cuda_detail::cuda_check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  if (std::size_t(n) < world.local_size())
    return cat("this node has ", n, " GPU(s) for ", world.local_size(), " ranks, and NCCL needs one GPU per rank");
  return {};
}

}  // namespace

TEST_CASE("replicate<Q> with one CUDA device per process equals one host device") {
  if (the_world->size() == 2) CHECK(train_across<replicate<2>>(1, 32) < 1e-4);
}

TEST_CASE("two replicas per process on one GPU: local all-reduce on CUDA, NCCL across processes") {
  if (the_world->size() == 2) CHECK(train_across<replicate<4>>(2, 32) < 1e-4);
}

TEST_CASE("a pipeline inside each process on one GPU, data parallel across processes through NCCL") {
  if (the_world->size() == 2)
    CHECK(train_across<replicate<2, pipeline<2, microbatches<2>, one_f_one_b>>>(2, 32) < 1e-4);
}

int main(int argc, char** argv) {
  return run_or_abort([&] {
    mpi_world world(&argc, &argv);
    mpi_comm mpi(world, {.deadline = std::chrono::seconds(60)});
    if (plait::test::skip_alike(world, mpi, skip_reason(world))) return 77;
    the_world = &world;
    doctest::Context context(argc, argv);
    float failed = context.run() != 0 ? 1.0f : 0.0f;  // every rank exits alike: non-zero when any rank failed
    mpi.all_reduce(&failed, 1);
    return failed > 0 ? 1 : 0;
  });
}
