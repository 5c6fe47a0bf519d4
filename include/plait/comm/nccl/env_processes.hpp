#pragma once
// The processes of an NCCL job started without MPI, from torchrun-style launch variables (RANK,
// WORLD_SIZE, LOCAL_RANK, NCCL_COMM_ID; comm/nccl/launch_env.hpp), for a model on CUDA devices: each
// CUDA device's buffers cross processes through an nccl_comm on that device's stream, as with
// nccl_processes over MPI, and what MPI carries there goes through NCCL too: the step's loss (one float,
// nccl_host_comm) and the start-up check (an all-gather of every rank's run_identity).
//
//   RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 NCCL_COMM_ID=node0:29600 ./train   (and RANK=1 LOCAL_RANK=1 beside it)
//   auto env = plait::nccl_launch_env_from_environment();
//   auto model = plait::place<plait::replicate<2>>(net, plait::across_processes(env,
//   plait::cuda_devices({int(env.local_rank)})));
//
// Needs nvcc, plait::cuda and plait::nccl, not MPI. Every communicator is a new NCCL communicator that
// meets at NCCL_COMM_ID (rank 0 listens there each time), created in the same order on every process.

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "../../backend/cuda/backend.hpp"
#include "../../backend/cuda/traits.hpp"
#include "../consistency.hpp"
#include "../processes.hpp"
#include "comm.hpp"
#include "host_comm.hpp"
#include "launch_env.hpp"

namespace plait {

/// The processes of a job launched by variables. Preconditions: every process makes the same calls in
/// the same order (place does); NCCL_COMM_ID stays exported while models are placed.
class nccl_env_processes final : public process_set {
 public:
  explicit nccl_env_processes(nccl_launch_env env, nccl_options options = {})
      : env_(std::move(env)), options_(options) {}

  std::size_t rank() const override { return env_.rank; }
  std::size_t size() const override { return env_.world_size; }
  std::unique_ptr<process_comm> communicator() override {  // host memory, through this process's GPU
    return std::make_unique<process_comm_of<nccl_host_comm>>(std::in_place, env_, options_);
  }
  std::unique_ptr<process_comm> communicator_for(const device_binding& device) override {
    if (device.gpu < 0) return communicator();
    nccl_options nccl = options_;
    nccl.device = device.gpu;
    nccl.stream = static_cast<cudaStream_t>(device.stream);
    return std::make_unique<process_comm_of<nccl_comm>>(std::in_place, env_, nccl);  // collective over the job
  }
  /// One all-gather of every rank's identity through NCCL, then the same comparison as over MPI.
  void check_consistent(const run_identity& mine) override {
    static_assert(sizeof(run_identity) % sizeof(float) == 0);
    constexpr std::size_t floats = sizeof(run_identity) / sizeof(float);  // carried bit for bit: a gather never adds
    if (!check_) check_ = std::make_unique<nccl_host_comm>(env_, options_);
    std::vector<float> mine_floats(floats), all_floats(floats * size());
    std::memcpy(mine_floats.data(), &mine, sizeof mine);
    check_->all_gather(mine_floats.data(), all_floats.data(), all_floats.size());  // [floats] per rank, rank order
    std::vector<run_identity> all(size());
    std::memcpy(all.data(), all_floats.data(), all.size() * sizeof(run_identity));
    check_identities(all, rank());
  }

 private:
  nccl_launch_env env_;
  nccl_options options_;
  std::unique_ptr<nccl_host_comm> check_;  // the start-up check's own
};

/// `local` CUDA devices on each process of a job launched by variables: their buffers cross processes
/// through NCCL, and so do the step's loss and the start-up check. `options` sets the deadline of every
/// operation between processes, and the GPU of the host traffic (default: LOCAL_RANK).
inline process_devices<cuda> across_processes(const nccl_launch_env& env, device_set<cuda> local,
                                              nccl_options options = {}) {
  return {std::move(local), std::make_shared<nccl_env_processes>(env, options)};
}

}  // namespace plait
