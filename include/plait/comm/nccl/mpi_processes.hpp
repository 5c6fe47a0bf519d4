#pragma once
// The processes of an MPI job for a model on CUDA devices: between processes, each CUDA device's
// buffers move through NCCL (one nccl_comm per local device, on that device's stream, its unique id
// agreed over MPI); the loss of a step and the start-up check go over MPI.
//
//   plait::mpi_world world(&argc, &argv);
//   auto model = plait::place<plait::replicate<2>>(net, plait::across_processes(world, plait::cuda_devices({gpu})));
//
// Needs nvcc, plait::cuda, plait::nccl and plait::mpi; include it after plait/cuda.hpp and plait/nccl.hpp.
// NCCL wants one GPU per rank: each process names its own GPU (e.g. world.local_rank()). Without MPI, from
// torchrun-style variables: comm/nccl/env_processes.hpp.

#include <memory>

#include "../../backend/cuda/backend.hpp"
#include "../../backend/cuda/traits.hpp"
#include "../mpi/processes.hpp"
#include "../processes.hpp"
#include "comm.hpp"
#include "mpi_bootstrap.hpp"

namespace plait {

class nccl_processes final : public process_set {
 public:
  explicit nccl_processes(const mpi_world& world, mpi_options options = {})
      : host_(world, options), bootstrap_(world, options), options_(options) {}

  std::size_t rank() const override { return host_.rank(); }
  std::size_t size() const override { return host_.size(); }
  std::unique_ptr<process_comm> communicator() override { return host_.communicator(); }
  std::unique_ptr<process_comm> communicator_for(const device_binding& device) override {
    if (device.gpu < 0) return host_.communicator();
    const nccl_options nccl{
        .deadline = options_.deadline, .device = device.gpu, .stream = static_cast<cudaStream_t>(device.stream)};
    return std::make_unique<process_comm_of<nccl_comm>>(std::in_place, bootstrap_, nccl);  // collective over the job
  }
  void check_consistent(const run_identity& mine) override { host_.check_consistent(mine); }

 private:
  mpi_processes host_;  // host memory: the step's loss, the start-up check
  mpi_comm bootstrap_;  // NCCL's unique id and device table, exchanged once per communicator
  mpi_options options_;
};

/// `local` CUDA devices on each process of the world: their buffers cross processes through NCCL.
/// `options` sets the deadline of every operation between processes (MPI and NCCL alike).
inline process_devices<cuda> across_processes(const mpi_world& world, device_set<cuda> local,
                                              mpi_options options = {}) {
  return {std::move(local), std::make_shared<nccl_processes>(world, options)};
}

}  // namespace plait
