#pragma once
// cuda_local_comm: one rank's handle on a cuda_local_group (comm/cuda/local_group.hpp), the Communicator
// the runtime holds for each logical CUDA device of a process.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../../core/error.hpp"
#include "../communicator.hpp"
#include "local_group.hpp"

namespace plait {

/// The handle through which one rank (one host thread driving one GPU stream) of a cuda_local_group
/// communicates. Cheap to copy. Every operation is enqueued on stream(), ordered after the work
/// enqueued there before the call, and the work enqueued after it sees its result; the call returns
/// once it is enqueued (send: once the receiver's copy is enqueued too). Preconditions of every
/// call: the group outlives the handle and the enqueued work; buffers are device memory of device()'s
/// GPU (or reachable from it), hold the floats stated beside each call, and stay valid until the
/// work enqueued after the call has run; the ranks call the same collectives with the same n (and
/// root) in the same order, each from one thread at a time. send/recv and post/take of one
/// (sender, receiver) pair are matched in FIFO order, each kind on its own channel. Nothing here
/// allocates unless it throws.
class cuda_local_comm {
 public:
  std::size_t rank() const { return rank_; }
  std::size_t size() const { return group_->size(); }
  int device() const { return group_->rank_at(rank_).device; }
  cudaStream_t stream() const { return group_->rank_at(rank_).stream; }

  void all_reduce(float* buf, std::size_t n) { group_->all_reduce(rank_, buf, n); }  // [n] @ every rank: the sum
  void reduce_scatter(const float* in, float* out, std::size_t n) {  // in: [n]; out: [chunk_of(n, size, rank)], summed
    group_->reduce_scatter(rank_, in, out, n);                       // in place: out == in + chunk.begin
  }
  void all_gather(const float* in, float* out, std::size_t n) {  // in: [chunk_of(n, size, rank)]; out: [n], rank order
    group_->all_gather(rank_, in, out, n);                       // in place: in == out + chunk.begin
  }
  void broadcast(float* buf, std::size_t n, std::size_t root) {
    group_->broadcast(rank_, buf, n, root);
  }                                           // [n] <- root's
  void barrier() { group_->barrier(rank_); }  // later work on every rank's stream follows earlier work on all
  void send(const float* buf, std::size_t n, std::size_t peer) {
    group_->send(rank_, buf, n, peer);
  }  // until the copy is enqueued
  void recv(float* buf, std::size_t n, std::size_t peer) { group_->recv(rank_, buf, n, peer); }  // oldest from peer
  /// Posts [n] to peer without waiting; the buffer stays the caller's to keep unchanged until
  /// wait_taken(peer, ticket), after which stream() may overwrite it. Returns the ticket.
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) { return group_->post(rank_, buf, n, peer); }
  void take(float* buf, std::size_t n, std::size_t peer) {
    group_->take(rank_, buf, n, peer);
  }  // oldest posted from peer
  void wait_taken(std::size_t peer, std::uint64_t ticket) { group_->wait_taken(rank_, peer, ticket); }

 private:
  friend class cuda_local_group;
  cuda_local_comm(cuda_local_group& group, std::size_t rank) : group_(&group), rank_(rank) {}
  cuda_local_group* group_;
  std::size_t rank_;
};

inline cuda_local_comm cuda_local_group::comm(std::size_t rank) {
  if (rank >= size_)
    fail(cat("cuda_local_group::comm(", rank, ") on a group of ", size_), "ranks are 0 .. size - 1",
         "ask for a rank below size()");
  return cuda_local_comm(*this, rank);
}

static_assert(Communicator<cuda_local_comm>);

}  // namespace plait
