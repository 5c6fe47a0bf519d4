#pragma once
// Where each rank of an nccl_comm runs, and the unique id of NCCL's rendezvous (docs/design.md §8): what a
// rank must know before NCCL starts. From the launch variables (place_from_env): the device is
// LOCAL_RANK, and NCCL makes the same id on every rank from NCCL_COMM_ID. Over a bootstrap communicator
// (agree<Bootstrap>): specialised where that communicator is defined, for mpi_comm in
// comm/nccl/mpi_bootstrap.hpp, so that an nccl_comm needs no MPI unless it starts over MPI.

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"
#include "../error.hpp"
#include "../launch_env.hpp"

namespace plait::nccl_detail {

/// This rank's part of the agreement.
struct placement {
  int device = 0;     // CUDA device of this rank
  ncclUniqueId id{};  // rank 0's, the same on every rank
};

template <class>
inline constexpr bool no_agreement = false;

/// How the ranks of a bootstrap communicator agree on their devices and NCCL's id: a specialisation
/// has `static placement place(Bootstrap&, int requested)`, collective over the bootstrap.
template <class Bootstrap>
struct agree {
  static_assert(no_agreement<Bootstrap>,
                "plait: an nccl_comm is started over a communicator that cannot agree on devices. Only mpi_comm "
                "can, through comm/nccl/mpi_bootstrap.hpp. Fix: include <plait/comm/nccl/mpi_bootstrap.hpp> (or "
                "<plait/nccl.hpp> with MPI found) and link plait::mpi, or start from the launch variables.");
};

/// Without MPI, from the launch variables: the device is LOCAL_RANK (or `requested`), and NCCL makes
/// the same id on every rank from NCCL_COMM_ID (rank 0 listens there when NCCL starts).
inline placement place_from_env(const nccl_launch_env& env, int requested) {
  placement p;
  p.device = requested >= 0 ? requested : static_cast<int>(env.local_rank);
  int count = 0;
  cuda_detail::cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (requested < 0 && env.local_world_size && *env.local_world_size > std::size_t(count))
    fail(cat("rank ", env.rank, " of ", env.world_size, " runs on a node of ", count,
             " CUDA device(s) with LOCAL_WORLD_SIZE=", *env.local_world_size),
         "an nccl_comm puts each rank on its own GPU, its LOCAL_RANK, and NCCL refuses two ranks on one GPU",
         cat("start at most ", count, " ranks per node (torchrun --nproc-per-node ", count, ")"));
  if (p.device >= count)
    fail(cat("rank ", env.rank, " of ", env.world_size, " would take CUDA device ", p.device, ", but this node has ",
             count),
         "an nccl_comm puts each rank on its own GPU (LOCAL_RANK, or nccl_options::device)",
         cat("start at most ", count, " ranks per node, or pass nccl_options{.device = ...}"));
  const char* in_process = std::getenv("NCCL_COMM_ID");
  if (env.world_size > 1 && (in_process == nullptr || env.comm_id != in_process))
    fail(cat("rank ", env.rank, " of ", env.world_size, " was given NCCL_COMM_ID=", env.comm_id,
             ", but the process has ",
             in_process ? cat("NCCL_COMM_ID=", std::string_view(in_process)) : std::string("none")),
         "NCCL reads the rendezvous address from the process environment",
         "export NCCL_COMM_ID and build the nccl_launch_env from it");
  cuda_detail::cuda_check(cudaSetDevice(p.device), "cudaSetDevice", p.device);
  if (const ncclResult_t r = ncclGetUniqueId(&p.id); r != ncclSuccess)
    fail_call(r, "ncclGetUniqueId",
              cat("on rank ", env.rank, " of ", env.world_size, " (NCCL_COMM_ID=", env.comm_id, ")"), nullptr);
  return p;
}

}  // namespace plait::nccl_detail
