#pragma once
// nccl_host_comm: a Communicator on host buffers between the processes of an NCCL job started without
// MPI, carried by an nccl_comm of its own: each call copies the host floats to its GPU, runs the
// operation there, and copies the result back. For the little host traffic of a job on GPUs (a step's
// loss: one float; the start-up check: one record per rank), where there is no MPI to carry it.
//
//   all_reduce(&loss, 1) @ host   ->  [1] @ GPU, ncclAllReduce, [1] @ host
//
// Buffers of any size work; device memory is kept (grown, never shrunk) between calls. Calls of one
// kind (collectives and barrier, send and post, recv and take) are serialised among themselves; the
// kinds may run on different threads as the Communicator concept allows.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include "../../backend/cuda/error.hpp"
#include "../chunk.hpp"
#include "../communicator.hpp"
#include "comm.hpp"
#include "launch_env.hpp"

namespace plait {

class nccl_host_comm {
 public:
  /// Collective over the job: starts an nccl_comm from the launch variables (rank 0 listening at
  /// NCCL_COMM_ID) on options.device (default: LOCAL_RANK).
  explicit nccl_host_comm(const nccl_launch_env& env, nccl_options options = {})
      : comm_(env, without_stream(options)) {}
  nccl_host_comm(const nccl_host_comm&) = delete;
  nccl_host_comm& operator=(const nccl_host_comm&) = delete;
  ~nccl_host_comm() {
    nccl_detail::device_scope on(comm_.device());
    for (lane* l : {&collectives_, &sends_, &receives_})
      if (l->device) (void)cudaFree(l->device);
    for (auto& posted : posted_)
      for (const auto& [ticket, buffer] : posted) (void)cudaFree(buffer);
    (void)cudaGetLastError();
  }

  std::size_t rank() const { return comm_.rank(); }
  std::size_t size() const { return comm_.size(); }
  nccl_comm& device_comm() { return comm_; }  // the nccl_comm that carries the floats

  void all_reduce(float* buf, std::size_t n) {  // [n] @ every rank: the sum
    std::lock_guard lock(collectives_.mutex);
    float* d = to_device(collectives_, buf, n);
    comm_.all_reduce(d, n);
    to_host(buf, d, n);
  }
  void reduce_scatter(const float* in, float* out, std::size_t n) {  // in: [n]; out: my chunk of the sum
    std::lock_guard lock(collectives_.mutex);
    const chunk mine = chunk_of(n, size(), rank());
    float* d = to_device(collectives_, in, n);
    comm_.reduce_scatter(d, d + mine.begin, n);  // in place: NCCL's chunk is where it already lies
    to_host(out, d + mine.begin, mine.size());
  }
  void all_gather(const float* in, float* out, std::size_t n) {  // in: my chunk; out: [n], rank order
    std::lock_guard lock(collectives_.mutex);
    const chunk mine = chunk_of(n, size(), rank());
    float* d = reserve(collectives_, n);
    copy(d + mine.begin, in, mine.size(), cudaMemcpyHostToDevice);
    comm_.all_gather(d + mine.begin, d, n);
    to_host(out, d, n);
  }
  void broadcast(float* buf, std::size_t n, std::size_t root) {  // [n] <- root's
    std::lock_guard lock(collectives_.mutex);
    float* d = to_device(collectives_, buf, n);
    comm_.broadcast(d, n, root);
    to_host(buf, d, n);
  }
  void barrier() {
    std::lock_guard lock(collectives_.mutex);
    comm_.barrier();
  }
  void send(const float* buf, std::size_t n, std::size_t peer) {  // returns once received
    std::lock_guard lock(sends_.mutex);
    comm_.send(to_device(sends_, buf, n), n, peer);
  }
  void recv(float* buf, std::size_t n, std::size_t peer) {
    std::lock_guard lock(receives_.mutex);
    float* d = reserve(receives_, n);
    comm_.recv(d, n, peer);
    to_host(buf, d, n);
  }
  /// Posts [n] to peer: the floats are copied to device memory of the message's own, so `buf` may be
  /// reused at once; that memory is freed by wait_taken.
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) {
    std::lock_guard lock(sends_.mutex);
    float* d = nullptr;
    if (n) {
      nccl_detail::device_scope on(comm_.device());
      cuda_detail::cuda_check(cudaMalloc(&d, n * sizeof(float)), "cudaMalloc of a posted message", comm_.device());
      copy(d, buf, n, cudaMemcpyHostToDevice);
    }
    try {
      const std::uint64_t ticket = comm_.post(d, n, peer);
      posted_of(peer).emplace_back(ticket, d);
      return ticket;
    } catch (...) {
      if (d) (void)cudaFree(d);
      throw;
    }
  }
  void take(float* buf, std::size_t n, std::size_t peer) {  // the oldest posted from peer
    std::lock_guard lock(receives_.mutex);
    float* d = reserve(receives_, n);
    comm_.take(d, n, peer);
    to_host(buf, d, n);
  }
  void wait_taken(std::size_t peer, std::uint64_t ticket) {
    std::lock_guard lock(sends_.mutex);
    comm_.wait_taken(peer, ticket);
    auto& posted = posted_of(peer);
    nccl_detail::device_scope on(comm_.device());
    while (!posted.empty() && posted.front().first <= ticket) {
      if (posted.front().second) (void)cudaFree(posted.front().second);
      posted.pop_front();
    }
  }

 private:
  struct lane {  // device memory of one kind of call, and the lock that serialises those calls
    std::mutex mutex;
    float* device = nullptr;
    std::size_t capacity = 0;
  };

  static nccl_options without_stream(nccl_options o) {
    o.stream = nullptr;  // a stream of the communicator's own: host copies never wait for the model's work
    return o;
  }

  float* reserve(lane& l, std::size_t n) {  // [n] @ device, the lane's
    if (n <= l.capacity) return l.device;
    nccl_detail::device_scope on(comm_.device());
    if (l.device) cuda_detail::cuda_check(cudaFree(l.device), "cudaFree", comm_.device());
    l.device = nullptr, l.capacity = 0;
    cuda_detail::cuda_check(cudaMalloc(&l.device, n * sizeof(float)), "cudaMalloc of a host message's copy",
                            comm_.device());
    l.capacity = n;
    return l.device;
  }
  float* to_device(lane& l, const float* host, std::size_t n) {
    float* d = reserve(l, n);
    copy(d, host, n, cudaMemcpyHostToDevice);
    return d;
  }
  void to_host(float* host, const float* device, std::size_t n) { copy(host, device, n, cudaMemcpyDeviceToHost); }
  // Ordered with the communicator's work on its stream, and complete on return.
  void copy(void* to, const void* from, std::size_t n, cudaMemcpyKind kind) {
    if (n == 0) return;
    nccl_detail::device_scope on(comm_.device());
    cuda_detail::cuda_check(cudaMemcpyAsync(to, from, n * sizeof(float), kind, comm_.stream()), "cudaMemcpyAsync",
                            comm_.device());
    cuda_detail::cuda_check(cudaStreamSynchronize(comm_.stream()), "cudaStreamSynchronize", comm_.device());
  }
  std::deque<std::pair<std::uint64_t, float*>>& posted_of(std::size_t peer) {
    if (posted_.size() < size()) posted_.resize(size());
    return posted_[peer];
  }

  nccl_comm comm_;
  lane collectives_, sends_, receives_;
  std::deque<std::deque<std::pair<std::uint64_t, float*>>> posted_;  // [peer]: (ticket, device copy) in flight
};

static_assert(Communicator<nccl_host_comm>);

}  // namespace plait
