#pragma once
// rendezvous: where the host threads of a group of ranks meet, with a deadline at an operation's
// entry, and where the group is marked broken after an error. Host code only (no CUDA): both local
// communicators meet here, the host's (comm/host/local_group.hpp) at every sync of its collectives and
// the CUDA one (comm/cuda/local_group.hpp) at the entry and exit of its collectives.
//
// One arrival counter; meeting p is complete when the counter reaches size * p. A rank that gives
// up at an entry withdraws its arrival with a compare-exchange, so either the meeting completed
// (and it goes on) or it never will (and no peer ever uses that rank's buffers). A meeting inside an
// operation waits for peers that are already in it doing bounded work (enqueueing), so it has no
// deadline, but it ends if a peer breaks the group (that peer failed while enqueueing); one whose peers
// read this rank's buffers until they arrive (meet_all) waits even past a break, since leaving would let
// the caller free a buffer a peer is still reading.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../core/error.hpp"
#include "wait_point.hpp"

namespace plait {

class rendezvous {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t nobody = ~std::size_t{0};

  explicit rendezvous(std::size_t size) : size_(size), ranks_(std::make_unique<rank_slot[]>(size)) {}
  rendezvous(const rendezvous&) = delete;
  rendezvous& operator=(const rendezvous&) = delete;

  /// Rank r arrives at its next meeting and waits for every rank. At an `entry` the wait lasts at
  /// most `deadline`; a rank that gives up (or sees the group broken) withdraws its arrival, unless
  /// the meeting completed meanwhile, and returns false. Elsewhere the wait has no deadline and
  /// returns false only if the group breaks. True: every rank has arrived.
  bool meet(std::size_t r, bool entry, clock::duration deadline, clock::duration spin) {
    const std::uint64_t target = arrive(r);
    const auto done = [&] { return arrivals_.load() >= target; };
    while (!await(done, deadline, spin)) {
      if (!entry && broken()) return false;
      if (!entry) continue;
      for (std::uint64_t a = arrivals_.load(); a < target;)
        if (arrivals_.compare_exchange_weak(a, a - 1))
          return false;  // withdrawn (reached stays: missing() names the absent)
      return true;       // completed while withdrawing
    }
    return true;
  }

  /// Rank r arrives at its next meeting and waits for every rank, with no deadline and whatever
  /// breaks: for a meeting inside an operation whose peers use this rank's buffers until they arrive
  /// (they are already in it, doing bounded work). `recheck`: the longest sleep between checks.
  void meet_all(std::size_t r, clock::duration recheck, clock::duration spin) {
    const std::uint64_t target = arrive(r);
    const auto done = [&] { return arrivals_.load() >= target; };
    while (!await(done, recheck, spin, false)) {}
  }

  /// Waits until done() holds (true), at most `timeout`, and, with watch_broken, not past a break of
  /// the group (false).
  template <class Done>
  bool await(const Done& done, clock::duration timeout, clock::duration spin, bool watch_broken = true) {
    return waits_.await(done, [&] { return watch_broken && broken(); }, clock::now() + timeout, spin);
  }

  /// Call after every change of state a peer may be waiting for.
  void wake() { waits_.wake(); }

  /// The ranks that never reached rank r's latest meeting (the one it withdrew from): "rank 2",
  /// "ranks 1, 3", or "a peer". Only for error messages: it allocates.
  std::string missing(std::size_t r) const {
    const std::uint64_t p = ranks_[r].meetings;
    std::string list;
    std::size_t count = 0;
    for (std::size_t q = 0; q < size_; ++q)
      if (q != r && ranks_[q].reached.load() < p) list += cat(count++ ? ", " : "", q);
    return count == 0 ? "a peer" : cat(count == 1 ? "rank " : "ranks ", list);
  }

  bool broken() const { return broken_by_.load() != nobody; }
  std::size_t broken_by() const { return broken_by_.load(); }

  /// Marks the group broken; returns the rank that broke it first (`r` if nobody had).
  std::size_t break_by(std::size_t r) {
    std::size_t first = nobody;
    broken_by_.compare_exchange_strong(first, r);
    waits_.wake();
    return first == nobody ? r : first;
  }

 private:
  // Rank r's arrival at its next meeting; returns the count of arrivals that completes it.
  std::uint64_t arrive(std::size_t r) {
    rank_slot& me = ranks_[r];
    const std::uint64_t p = ++me.meetings;
    arrivals_.fetch_add(1);
    me.reached.store(p);
    waits_.wake();
    return p * size_;
  }

  struct alignas(64) rank_slot {
    std::uint64_t meetings = 0;             // owner only
    std::atomic<std::uint64_t> reached{0};  // the last meeting this rank arrived at, for missing()
  };
  std::size_t size_;
  std::unique_ptr<rank_slot[]> ranks_;
  alignas(64) std::atomic<std::uint64_t> arrivals_{0};
  alignas(64) std::atomic<std::size_t> broken_by_{nobody};
  wait_point waits_;
};

}  // namespace plait
