#pragma once
// local_comm: one rank's handle on a local_group (comm/host/local_group.hpp), the Communicator the runtime
// holds for each logical device of a process.

#include <cstddef>
#include <cstdint>

#include "../communicator.hpp"
#include "local_group.hpp"

namespace plait {

/// The handle through which one rank (one thread) of a local_group communicates. Cheap to copy.
/// Preconditions of every call: the group outlives the handle; the ranks of the group call the
/// same collectives with the same n (and root) in the same order, each from one thread at a time;
/// buffers hold the floats stated beside each call and stay valid until it returns. send/recv of
/// one (sender, receiver) pair are matched in FIFO order, and may run on a thread of their own
/// beside the rank's collectives and other pairs. Nothing here allocates unless it throws.
class local_comm {
 public:
  std::size_t rank() const { return rank_; }
  std::size_t size() const { return group_->size(); }
  const local_options& options() const { return group_->options(); }  // how its waits spin

  void all_reduce(float* buf, std::size_t n) { group_->all_reduce(rank_, buf, n); }  // [n] @ every rank: the sum
  void reduce_scatter(const float* in, float* out, std::size_t n) {  // in: [n]; out: [chunk_of(n, size, rank)], summed
    group_->reduce_scatter(rank_, in, out, n);
  }
  void all_gather(const float* in, float* out, std::size_t n) {  // in: [chunk_of(n, size, rank)]; out: [n], rank order
    group_->all_gather(rank_, in, out, n);
  }
  void broadcast(float* buf, std::size_t n, std::size_t root) {
    group_->broadcast(rank_, buf, n, root);
  }  // [n] <- root's
  void send(const float* buf, std::size_t n, std::size_t peer) { group_->send(rank_, buf, n, peer); }  // until received
  void recv(float* buf, std::size_t n, std::size_t peer) { group_->recv(rank_, buf, n, peer); }  // oldest from peer
  /// Posts [n] to peer without waiting; the buffer stays the caller's to keep valid until
  /// wait_taken(peer, ticket). Returns the ticket.
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) { return group_->post(rank_, buf, n, peer); }
  void take(float* buf, std::size_t n, std::size_t peer) {
    group_->take(rank_, buf, n, peer);
  }  // oldest posted from peer
  /// The oldest message posted from peer, [n] read in place (no copy) until release(peer, ticket);
  /// writes its ticket to `ticket`.
  const float* borrow(std::size_t n, std::size_t peer, std::uint64_t& ticket) {
    return group_->borrow(rank_, n, peer, ticket);
  }
  void release(std::size_t peer, std::uint64_t ticket) { group_->release(rank_, peer, ticket); }
  void wait_taken(std::size_t peer, std::uint64_t ticket) {
    group_->wait_taken(rank_, peer, ticket);
  }  // taken or released
  void barrier() { group_->barrier(rank_); }

 private:
  friend class local_group;
  local_comm(local_group& group, std::size_t rank) : group_(&group), rank_(rank) {}
  local_group* group_;
  std::size_t rank_;
};

inline local_comm local_group::comm(std::size_t rank) {
  if (rank >= size_)
    fail(cat("local_group::comm(", rank, ") on a group of ", size_), "ranks are 0 .. size - 1",
         "ask for a rank below size()");
  return local_comm(*this, rank);
}

static_assert(Communicator<local_comm>);

}  // namespace plait
