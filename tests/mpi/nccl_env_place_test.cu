// A model on CUDA devices placed across 2 processes started from the launch variables, without MPI
// (comm/nccl/env_processes.hpp): each process runs its replica on its GPU (LOCAL_RANK), the gradients,
// the step's loss and the start-up check all cross processes through NCCL, and training equals one host
// device on the same batches. Started by launch_env.sh as torchrun would (tests/mpi/CMakeLists.txt).
// Every process exits 77 (skipped) where the node has fewer GPUs than processes, rank 0 saying why; the
// processes cannot talk before NCCL starts, so each decides from what every one of them sees alike.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <plait/comm/nccl/env_processes.hpp>
#include <plait/cuda.hpp>
#include <plait/nccl.hpp>
#include <plait/plait.hpp>
#include <string>
#include <vector>

using namespace plait;

namespace {

const nccl_launch_env* the_env = nullptr;
constexpr nccl_options options{.deadline = std::chrono::seconds(60)};

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
  const nccl_launch_env& env = *the_env;
  auto gpus = place<Policy>(mlp, across_processes(env, virtual_cuda_devices(local, int(env.local_rank)), options),
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

// The same on every process of one node: the launch variables, and the GPUs the node has.
std::string skip_reason() {
  if (!has_nccl_launch_env([](const char* name) { return std::getenv(name); }))
    return "RANK, WORLD_SIZE and NCCL_COMM_ID are not set (start it with tests/mpi/launch_env.sh)";
  if (!cuda_detail::cuda_device_answers()) return "no CUDA device answers (cudaGetDeviceCount)";
  int n = 0;
  cuda_detail::cuda_check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  const char* world = std::getenv("WORLD_SIZE");
  if (n < std::atoi(world))
    return cat("this node has ", n, " GPU(s) for ", world, " processes, and NCCL needs one GPU per rank");
  return {};
}

}  // namespace

TEST_CASE("the host communicator sums one float through NCCL, as a step's loss is") {
  nccl_host_comm comm(*the_env, options);
  float loss = float(comm.rank() + 1);
  comm.all_reduce(&loss, 1);
  CHECK(loss == float(comm.size() * (comm.size() + 1) / 2));
  std::vector<float> mine(3, float(comm.rank())), all(3 * comm.size());
  comm.all_gather(mine.data(), all.data(), all.size());
  for (std::size_t q = 0; q < comm.size(); ++q) CHECK(all[3 * q] == float(q));
}

TEST_CASE("the start-up check goes through NCCL: agreement passes, a difference fails alike on every rank") {
  nccl_env_processes processes(*the_env, options);
  CHECK(processes.size() == the_env->world_size);
  processes.check_consistent(run_identity{.signature = 0x1f, .parameter_count = 203530, .devices_per_process = 1});
  CHECK_THROWS_WITH(
      processes.check_consistent(run_identity{.signature = 0x10 + processes.rank(), .parameter_count = 203530}),
      doctest::Contains("graph signature 0x0000000000000010 on rank 0 but 0x0000000000000011 on rank 1"));
}

TEST_CASE("replicate<2> with one CUDA device per process equals one host device") {
  if (the_env->world_size == 2) CHECK(train_across<replicate<2>>(1, 32) < 1e-4);
}

TEST_CASE("a pipeline inside each process on one GPU, data parallel across processes through NCCL") {
  if (the_env->world_size == 2)
    CHECK(train_across<replicate<2, pipeline<2, microbatches<2>, one_f_one_b>>>(2, 32) < 1e-4);
}

int main(int argc, char** argv) {
  if (const std::string why = skip_reason(); !why.empty()) {
    const char* rank = std::getenv("RANK");
    if (rank == nullptr || std::string(rank) == "0") std::printf("plait test: skipped: %s\n", why.c_str());
    return 77;
  }
  const nccl_launch_env env = nccl_launch_env_from_environment();
  the_env = &env;
  doctest::Context context(argc, argv);
  return context.run();
}
