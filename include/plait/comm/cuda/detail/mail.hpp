#pragma once
// Messages between two ranks of a CUDA local group (comm/cuda/local_group.hpp): send/recv and post/take on
// device buffers, without a host round-trip. The sender records an event on its stream and
// publishes (buffer, n, event); the receiver's stream waits for that event and copies the sender's
// buffer into its own, then records a "copied" event; the sender's stream waits for that one before
// it may reuse the buffer (wait_taken). The host threads only exchange pointers and counters.
//
//   post   [n] @ sender's GPU, ready at event sent[k]   -> ring slot k of (sender, receiver)
//   take   ring slot k -> [n] @ receiver's GPU, on the receiver's stream, then event copied[k]
//   wait_taken(k + 1): the sender's stream waits for copied[k]
//
// Each (sender, receiver) pair has a ring of `depth` slots, each with its two events (created once,
// on the sender's and on the receiver's GPU). An event is recorded again only for the message that
// reuses its slot, which the ring's counters order after every wait on its previous record (a wait
// that meets the newer record only waits longer, for later work of the same stream).

#include <cuda_runtime_api.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"
#include "../../rendezvous.hpp"
#include "errors.hpp"
#include "kernels.hpp"

namespace plait::cuda_local_detail {

/// One rank's place on the device: its GPU and the stream its operations are ordered on.
struct endpoint {
  int device = 0;
  cudaStream_t stream = nullptr;
};

/// How a rank waits for a peer: where, and how long.
struct patience {
  rendezvous& meet;
  std::chrono::milliseconds deadline;
  std::chrono::microseconds spin;
};

/// The messages of one (sender, receiver) pair on one channel. One sender thread, one receiver thread.
class mailbox {
 public:
  void open(const endpoint& sender, const endpoint& receiver, std::size_t depth) {
    depth_ = depth;
    ring_ = std::make_unique<entry[]>(depth);
    sent_ = owned_events(sender.device, depth);
    copied_ = owned_events(receiver.device, depth);
  }

  /// Publishes [n] @ buf (the sender's GPU), ready once `from`'s stream reaches this point. Waits
  /// only while `depth` messages are untaken. Returns the ticket for wait_taken.
  std::uint64_t post(const patience& w, op o, std::size_t r, std::size_t peer, const endpoint& from, const float* buf,
                     std::size_t n) {
    const std::uint64_t k = posted_.load(std::memory_order_relaxed);
    const auto room = [&] { return k - taken_.load(std::memory_order_acquire) < depth_; };
    if (!room() && !w.meet.await(room, w.deadline, w.spin))
      fail_wait(o, r, w.meet.break_by(r), cat("rank ", peer, " to take earlier messages"), w.deadline);
    cuda_check(cudaEventRecord(sent_[k % depth_], from.stream), "cudaEventRecord of a message's ready event",
               from.device);
    ring_[k % depth_] = {buf, n};  // [n] @ rank r, read by `peer`'s stream after sent_[k]
    posted_.store(k + 1, std::memory_order_release);
    w.meet.wake();
    return k + 1;
  }

  /// Enqueues on `to`'s stream the copy of the oldest untaken message into buf ([n] @ `to`'s GPU).
  void take(const patience& w, op o, std::size_t r, std::size_t peer, const endpoint& to, int from_device, float* buf,
            std::size_t n) {
    const std::uint64_t k = taken_.load(std::memory_order_relaxed);
    const auto arrived = [&] { return posted_.load(std::memory_order_acquire) > k; };
    if (!arrived() && !w.meet.await(arrived, w.deadline, w.spin))
      fail_wait(o, r, w.meet.break_by(r), cat("rank ", peer), w.deadline);
    const entry e = ring_[k % depth_];
    if (e.n != n) {
      w.meet.break_by(r);
      fail_length(o, r, peer, e.n, n);
    }
    cuda_check(cudaStreamWaitEvent(to.stream, sent_[k % depth_], 0), "cudaStreamWaitEvent on a sender's message event",
               to.device);
    copy_floats(buf, to.device, e.data, from_device, n, to.stream, "the copy of a message from its sender", to.device);
    cuda_check(cudaEventRecord(copied_[k % depth_], to.stream), "cudaEventRecord of a message's copied event",
               to.device);
    taken_.store(k + 1, std::memory_order_release);
    w.meet.wake();
  }

  /// Waits (host) until the receiver has enqueued the copies of messages up to `ticket`, then
  /// orders `from`'s stream after the last of them: later work there may overwrite the buffers.
  void wait_taken(const patience& w, op o, std::size_t r, std::size_t peer, const endpoint& from,
                  std::uint64_t ticket) {
    const auto done = [&] { return taken_.load(std::memory_order_acquire) >= ticket; };
    if (!done() && !w.meet.await(done, w.deadline, w.spin))
      fail_wait(o, r, w.meet.break_by(r), cat("rank ", peer, " to take a posted message"), w.deadline);
    if (ticket == 0) return;
    cuda_check(cudaStreamWaitEvent(from.stream, copied_[(ticket - 1) % depth_], 0),
               "cudaStreamWaitEvent on a receiver's copied event", from.device);
  }

 private:
  struct entry {
    const float* data = nullptr;
    std::size_t n = 0;
  };
  std::size_t depth_ = 0;
  std::unique_ptr<entry[]> ring_;  // [depth]
  owned_events sent_;              // [depth] @ the sender's GPU
  owned_events copied_;            // [depth] @ the receiver's GPU
  alignas(64) std::atomic<std::uint64_t> posted_{0};
  alignas(64) std::atomic<std::uint64_t> taken_{0};
};

}  // namespace plait::cuda_local_detail
