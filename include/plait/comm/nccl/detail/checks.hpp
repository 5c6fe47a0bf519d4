#pragma once
// What an nccl_comm (comm/nccl/comm.hpp) checks before it calls NCCL, and how its messages name a rank and
// an operation: "all_reduce of 1000 floats on rank 1 of 2 (CUDA device 1)". Everything here allocates
// only when failing.

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"
#include "wait.hpp"

namespace plait::nccl_detail {

/// Where one rank of an nccl_comm runs, and the checks and messages that need only that.
struct rank_on_device {
  std::size_t rank_ = 0, size_ = 1;
  int device_ = -1;  // CUDA device; -1 until known

  std::string on(op o) const { return cat(name(o), " on rank ", rank_, " of ", size_); }
  std::string describe(op o, std::size_t n, std::size_t peer) const {
    if (o == op::start)
      return cat("creating NCCL's communicators on rank ", rank_, " of ", size_, " (CUDA device ", device_, ")");
    std::string d =
        o == op::barrier || o == op::synchronize ? std::string(name(o)) : cat(name(o), " of ", n, " floats");
    d += cat(" on rank ", rank_, " of ", size_, " (CUDA device ", device_, ")");
    if (o == op::send || o == op::post) d += cat(" to rank ", peer);
    if (o == op::recv || o == op::take) d += cat(" from rank ", peer);
    if (o == op::broadcast && peer != no_peer) d += cat(" from root ", peer);
    return d;
  }

  [[noreturn]] void fail_broken(op o) const {
    fail(cat(on(o), " was called on a broken nccl_comm"),
         "an earlier call failed or passed its deadline, and this rank's NCCL communicators were aborted",
         "end the job after the first error (plait::run_or_abort calls MPI_Abort) and read that error");
  }
  void check_peer(op o, std::size_t peer) const {
    if (peer >= size_) fail(cat(on(o), " with peer ", peer), "ranks are 0 .. size - 1", "pass a peer below size()");
    if (peer == rank_)
      fail(cat(on(o), " with itself as the peer"), "a rank does not message itself through the communicator",
           "copy the buffer directly (cudaMemcpyAsync), or pass another rank");
  }
  // NCCL reads and writes only device memory of its GPU: a host pointer would cost the GPU its context.
  void check_buffer(op o, const float* buf, std::size_t n) const {
    if (n == 0) return;
    if (buf == nullptr)
      fail(cat(on(o), " got a null buffer for ", n, " floats"), "the call reads or writes them",
           "pass a buffer of n floats");
    cudaPointerAttributes a{};
    cuda_detail::cuda_check(cudaPointerGetAttributes(&a, buf), "cudaPointerGetAttributes", device_);
    if (a.type == cudaMemoryTypeManaged) return;
    if (a.type != cudaMemoryTypeDevice)
      fail(cat(on(o), " got a host buffer of ", n, " floats"),
           "an nccl_comm moves device memory of its GPU, which NCCL reads and writes directly",
           "pass memory from cudaMalloc on the communicator's device, or use mpi_comm for host buffers");
    if (a.device != device_)
      fail(cat(on(o), " got a buffer of CUDA device ", a.device),
           cat("this rank's NCCL communicators run on CUDA device ", device_),
           "allocate the buffer on device() (cudaSetDevice(comm.device()) before cudaMalloc)");
  }

  std::string deadline_message(op o, std::size_t n, std::size_t peer, std::chrono::milliseconds deadline) const {
    const std::string waited = cat(describe(o, n, peer), " waited ", std::size_t(deadline.count()), " ms for ");
    const std::string others = cat("the other ", size_ - 1, size_ == 2 ? " rank" : " ranks");
    if (o == op::start)
      return message(
          waited + others + " to meet",
          "not every rank reached NCCL's rendezvous (one died, is stuck, or cannot reach rank 0)",
          "start every rank (mpiexec -np N, or WORLD_SIZE processes with one NCCL_COMM_ID), check that the nodes reach each "
          "other (NCCL_SOCKET_IFNAME), rerun with NCCL_DEBUG=INFO, or raise nccl_options::deadline");
    const std::string whom = o == op::send || o == op::post   ? cat("rank ", peer, " to receive")
                             : o == op::recv || o == op::take ? cat("rank ", peer, " to send")
                                                              : others + " to join the collective";
    return message(
        waited + whom,
        "a peer did not reach the matching call (it died, is stuck, or calls something else), so NCCL could not finish, and "
        "this rank's NCCL communicators were aborted",
        "end the job (plait::run_or_abort calls MPI_Abort) and read the other ranks' messages (NCCL_DEBUG=INFO shows where each "
        "stopped); make every rank call the same collectives, and matching send/recv, in the same order; or raise "
        "nccl_options::deadline if a peer is legitimately that slow");
  }
};

}  // namespace plait::nccl_detail
