#pragma once
// mailbox: the posted-message channel of one (sender, receiver) pair of a local_group
// (comm/host/local_group.hpp: post, take, borrow, release, wait_taken). Up to `depth` messages in
// flight, each the sender's buffer until the receiver has copied it (take) or, having read it in place
// (borrow), released it. One producer and one consumer thread. `posted` and `taken` count the
// messages posted and reached by the receiver, in order; an entry's `done` is the ticket (1 + the
// message's index) of the last message released from it, so borrowed messages may be released in
// any order. The waiting, and the errors, are the group's.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace plait::detail {

struct alignas(64) mailbox {
  static constexpr std::size_t depth = 64;
  struct entry {
    const float* data = nullptr;  // [n] @ the sender
    std::size_t n = 0;
    std::atomic<std::uint64_t> done{0};
  };
  std::array<entry, depth> ring{};
  alignas(64) std::atomic<std::uint64_t> posted{0};
  alignas(64) std::atomic<std::uint64_t> taken{0};

  /// Message `ticket`'s entry.
  entry& at(std::uint64_t ticket) { return ring[(ticket - 1) % depth]; }
  /// Whether message k (0-based) may be posted: fewer than `depth` are unreached and its entry's
  /// message before it was released.
  bool room(std::uint64_t k) const {
    return k - taken.load(std::memory_order_acquire) < depth &&
           (k < depth || ring[k % depth].done.load(std::memory_order_acquire) > k - depth);
  }
  /// Whether message `ticket` was taken or released.
  bool released(std::uint64_t ticket) const {
    return ring[(ticket - 1) % depth].done.load(std::memory_order_acquire) >= ticket;
  }
  void release(std::uint64_t ticket) { at(ticket).done.store(ticket, std::memory_order_release); }
};

}  // namespace plait::detail
