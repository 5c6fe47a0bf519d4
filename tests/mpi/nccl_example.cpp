// docs/distributed.md's NCCL program: every rank sums a buffer on its GPU with the others'. Two launches:
//
//   mpiexec -n 2 nccl_example        the nccl_comm starts over MPI (devices and NCCL's id agreed there)
//   RANK=.. WORLD_SIZE=.. LOCAL_RANK=.. NCCL_COMM_ID=host:port nccl_example env
//                                    no MPI: NCCL's ranks meet at NCCL_COMM_ID
//
// Without a CUDA device it exits 77 (CTest: skipped), saying so.
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <plait/nccl.hpp>
#include <vector>

namespace {

using plait::cuda_detail::cuda_check;

// Sums [n] floats of value rank + 1 over the ranks and checks the result on the host.
void sum_on_gpus(plait::nccl_comm& comm) {
  // [docs:nccl_sum]
  const std::size_t n = std::size_t{1} << 20;
  std::vector<float> host(n, float(comm.rank() + 1));
  float* grad = nullptr;  // [n] @ GPU comm.device() of every rank
  cuda_check(cudaMalloc(&grad, n * sizeof(float)), "cudaMalloc", comm.device());
  cuda_check(cudaMemcpyAsync(grad, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, comm.stream()),
             "cudaMemcpyAsync");
  comm.all_reduce_async(grad, n);  // enqueued on comm.stream(), after the copy; returns at once
  // ... compute on other streams overlaps here ...
  comm.synchronize();  // waits for the sum; a peer that never comes is an error after the deadline
  cuda_check(cudaMemcpy(host.data(), grad, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  // [/docs:nccl_sum]
  cuda_check(cudaFree(grad), "cudaFree");
  const float expect = float(comm.size() * (comm.size() + 1) / 2);
  if (host[0] != expect || host[n - 1] != expect)
    plait::fail("the NCCL all-reduce gave a wrong sum", "the example's own check", "look at nccl_comm::all_reduce");
  std::printf("rank %zu of %zu (CUDA device %d): sum %.0f\n", comm.rank(), comm.size(), comm.device(), double(host[0]));
}

}  // namespace

int main(int argc, char** argv) {
  if (!plait::cuda_detail::cuda_device_answers()) {
    std::printf("plait example: skipped: no CUDA device answers, and an nccl_comm needs one GPU per rank\n");
    return 77;
  }
  if (argc > 1 && std::strcmp(argv[1], "env") == 0) {
    return plait::run_or_abort([&] {
      // [docs:nccl_env]
      plait::nccl_comm comm(plait::nccl_launch_env_from_environment(), {.deadline = std::chrono::seconds(60)});
      // [/docs:nccl_env]
      sum_on_gpus(comm);
    });
  }
  // [docs:nccl_mpi]
  return plait::run_or_abort([&] {  // any error, on any rank: printed, then MPI_Abort ends the job non-zero
    plait::mpi_world world(&argc, &argv);
    plait::mpi_comm mpi(world);  // carries the start-up: every rank's node and GPUs, NCCL's unique id
    plait::nccl_comm comm(mpi, {.deadline = std::chrono::seconds(60)});  // GPU = rank on its node
    sum_on_gpus(comm);
  });
  // [/docs:nccl_mpi]
}
