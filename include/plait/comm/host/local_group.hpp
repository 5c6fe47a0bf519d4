#pragma once
// The communicator between the logical devices of one process (docs/design.md §7-§8). Each device is a
// thread; the ranks of a local_group share memory, so a collective is a few synchronisations
// around plain loads and stores of the peers' buffers. all_reduce is a reduce-scatter and an
// all-gather in one pass: rank r sums chunk r over every rank's buffer, in rank order (the same bits
// on every rank and in every run), and writes the sum into chunk r of every rank's buffer. Rank r
// reads and writes only chunk r, so the ranks need not wait for each other between entry and exit,
// and each element is read once and written once per rank (a separate all-gather would read the
// reduced chunks again).
//
// Synchronisation: the ranks meet at a rendezvous (comm/rendezvous.hpp), where sync p is complete
// when every rank has arrived p times. The first sync of a collective (entry) has the group's
// deadline: a rank that gives up withdraws its arrival, so either the sync completed (and it goes on)
// or it never will (and no peer ever reads that rank's buffers). The later syncs of a collective wait
// for peers that are already inside it doing bounded copies, and keep waiting (meet_all): giving up
// there would let the caller free a buffer a peer is still reading. A wait spins briefly (compute
// threads share the cores; inside a collective, about as long as the work since the last sync), then
// sleeps on a condition variable.
// After any error the group is broken: every later call on any rank throws.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../chunk.hpp"
#include "../communicator.hpp"
#include "../rendezvous.hpp"
#include "detail/mailbox.hpp"

namespace plait {

struct local_options {
  std::chrono::milliseconds deadline{std::chrono::minutes(5)};  // longest wait for a peer to arrive
  std::chrono::microseconds spin{2000};  // busy-wait before sleeping at a collective's entry: the cores are shared
  std::chrono::microseconds spin_inside{1000};  // at most, inside a collective (see local_group::sync)
  // Busy-wait before sleeping for a posted message (post / take / wait_taken: pipeline stages).
  // Waking a sleeping thread costs 50-100 µs on a VM, paid twice around every dependency loop of a
  // pipeline schedule; where each rank's thread has a core of its own (local_groups<host> checks),
  // spinning costs nothing and the runtime asks for `message_spin_dedicated`.
  std::chrono::microseconds spin_message{20};
  static constexpr std::chrono::microseconds message_spin_dedicated{2000};
};

class local_comm;

/// The shared state of `size` ranks that communicate through shared memory: per rank a slot where
/// it publishes its current collective, per (sender, receiver) pair a message slot. Create it once,
/// before the ranks' threads run; it cannot be copied or moved (handles point into it).
/// reduce_scatter may run in place (out == in + chunk.begin), all_gather too (in == out + chunk.begin).
class local_group {
 public:
  explicit local_group(std::size_t size, local_options options = {}) : size_(size), options_(options), meet_(size) {
    if (size == 0) fail("local_group(0) was asked for", "a group has at least one rank", "pass size >= 1");
    if (options.deadline.count() <= 0)
      fail("a local_group was asked for with a deadline <= 0", "every wait for a peer needs time to succeed",
           "pass local_options{.deadline = ...} > 0, e.g. std::chrono::seconds(30)");
    ranks_ = std::make_unique<rank_slot[]>(size);
    pairs_ = std::make_unique<pair_slot[]>(size * size);
    boxes_ = std::make_unique<mailbox[]>(size * size);
  }
  local_group(const local_group&) = delete;
  local_group& operator=(const local_group&) = delete;

  std::size_t size() const { return size_; }
  const local_options& options() const { return options_; }

  local_comm comm(std::size_t rank);  // the handle thread `rank` uses

 private:
  friend class local_comm;
  using clock = std::chrono::steady_clock;

  enum class op : unsigned char { all_reduce, reduce_scatter, all_gather, broadcast, barrier, send, recv };
  static const char* name(op o) {
    constexpr const char* names[] = {"all_reduce", "reduce_scatter", "all_gather", "broadcast",
                                     "barrier",    "send",           "recv"};
    return names[static_cast<int>(o)];
  }

  struct call {  // what a rank published for its current collective
    op kind = op::barrier;
    std::size_t n = 0, root = 0;
    const float* in = nullptr;
    float* out = nullptr;
  };
  struct alignas(64) rank_slot {
    call calls[2];                  // by collective parity: a peer may publish call c + 1 while I read call c
    std::uint64_t collectives = 0;  // owner only
    std::chrono::steady_clock::time_point synced{};  // owner only: when the last sync returned
  };
  struct alignas(64) pair_slot {
    std::atomic<std::uint64_t> state{0};  // 4 k + {0 idle, 1 posted, 2 being received, 3 rejected}
    const float* data = nullptr;          // message k: written by the sender while idle
    std::size_t n = 0, expected = 0;      // `expected`: written by a receiver that rejects n
  };

  std::size_t size_;
  local_options options_;
  std::unique_ptr<rank_slot[]> ranks_;
  std::unique_ptr<pair_slot[]> pairs_;  // [sender * size + receiver]

  using mailbox = detail::mailbox;    // a posted-message channel of one pair (detail/mailbox.hpp)
  std::unique_ptr<mailbox[]> boxes_;  // [sender * size + receiver]
  rendezvous meet_;                   // where every rank of the group meets, waits and is woken; whether it is broken

  // ---- waiting ----------------------------------------------------------------------------------
  void wake() { meet_.wake(); }

  bool broken() const { return meet_.broken(); }

  // Marks the group broken; returns the rank that broke it first (`rank` if nobody had).
  std::size_t break_by(std::size_t rank) { return meet_.break_by(rank); }

  // Waits until done() holds (true), or until the group's deadline passes or, with watch_broken, the
  // group breaks (false).
  template <class Done>
  bool await(const Done& done, bool watch_broken, clock::duration spin) {
    return meet_.await(done, options_.deadline, spin, watch_broken);
  }

  // Arrives at the next sync and waits for every rank. At a collective's entry the wait has the
  // deadline, and a rank that gives up withdraws its arrival (unless the sync completed meanwhile)
  // and throws; a later sync waits for peers that are inside the collective (see the top). There
  // the peers do the work this rank did since its last sync, so it spins about as long before
  // sleeping (capped by spin_inside): waking a sleeper costs tens of µs, more on a VM.
  void sync(std::size_t r, op kind, bool entry) {
    rank_slot& me = ranks_[r];
    if (entry) {
      if (!meet_.meet(r, true, options_.deadline, options_.spin)) fail_wait(kind, r, break_by(r), meet_.missing(r));
    } else {
      const clock::duration spin = std::max<clock::duration>(
          options_.spin, std::min<clock::duration>(clock::now() - me.synced, options_.spin_inside));
      meet_.meet_all(r, options_.deadline, spin);
    }
    me.synced = clock::now();
  }

  // ---- collectives ------------------------------------------------------------------------------
  // Publishes the call, waits for every rank, and checks that every rank made the same call: each
  // rank compares with all, so a mismatch throws on every rank. Returns the slot parity.
  std::size_t enter(std::size_t r, const call& c) {
    if (broken()) fail_broken(c.kind, r);
    rank_slot& me = ranks_[r];
    const std::size_t parity = me.collectives++ % 2;
    me.calls[parity] = c;
    sync(r, c.kind, true);
    for (std::size_t q = 0; q < size_; ++q) {
      const call& theirs = ranks_[q].calls[parity];
      if (theirs.kind != c.kind || theirs.n != c.n || theirs.root != c.root) {
        break_by(r);
        fail_mismatch(r, c, q, theirs);
      }
    }
    return parity;
  }

  static void copy(float* dst, const float* src, std::size_t n) {
    if (n != 0 && dst != src) std::memmove(dst, src, n * sizeof(float));
  }

  void all_reduce(std::size_t r, float* buf, std::size_t n) {
    check_buffer(op::all_reduce, r, buf, n);
    if (size_ == 1) return;
    const std::size_t parity = enter(r, {op::all_reduce, n, 0, buf, buf});
    if (n == 0) return;
    const chunk mine = chunk_of(n, size_, r);  // chunk r @ every rank: read and written by rank r only
    reduce_chunk_to_all(mine.size(), size_, [&](std::size_t q) { return ranks_[q].calls[parity].out + mine.begin; });
    sync(r, op::all_reduce, false);  // every chunk is in every buffer, and no peer reads buf any more
  }

  void reduce_scatter(std::size_t r, const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, r);
    check_buffer(op::reduce_scatter, r, in, n);
    check_buffer(op::reduce_scatter, r, out, mine.size());
    if (size_ == 1) return copy(out, in, n);
    const std::size_t parity = enter(r, {op::reduce_scatter, n, 0, in, out});
    if (n == 0) return;
    reduce_chunk(out, mine.size(), size_, [&](std::size_t q) { return ranks_[q].calls[parity].in + mine.begin; });
    sync(r, op::reduce_scatter, false);  // peers have read chunk q of my `in`
  }

  void all_gather(std::size_t r, const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, r);
    check_buffer(op::all_gather, r, in, mine.size());
    check_buffer(op::all_gather, r, out, n);
    if (size_ == 1) return copy(out, in, n);
    const std::size_t parity = enter(r, {op::all_gather, n, 0, in, out});
    if (n == 0) return;
    for (std::size_t i = 0; i < size_; ++i) {
      const std::size_t q = (r + i) % size_;
      const chunk theirs = chunk_of(n, size_, q);
      copy(out + theirs.begin, ranks_[q].calls[parity].in, theirs.size());  // [chunk q] @ rank q -> @ rank r
    }
    sync(r, op::all_gather, false);  // peers have read my `in`
  }

  void broadcast(std::size_t r, float* buf, std::size_t n, std::size_t root) {
    check_buffer(op::broadcast, r, buf, n);
    if (root >= size_)
      fail(cat(on(op::broadcast, r), " from root ", root, " in a group of ", size_), "ranks are 0 .. size - 1",
           "pass a root below size()");
    if (size_ == 1) return;
    const std::size_t parity = enter(r, {op::broadcast, n, root, buf, buf});
    if (n == 0) return;
    if (r != root) copy(buf, ranks_[root].calls[parity].in, n);  // [n] @ root -> @ rank r
    sync(r, op::broadcast, false);                               // the root's buffer has been read by all
  }

  void barrier(std::size_t r) {
    if (size_ != 1) enter(r, {op::barrier, 0, 0, nullptr, nullptr});
  }

  // ---- send / recv: a rendezvous per (sender, receiver) pair ---------------------------------------
  void send(std::size_t r, const float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::send, r, peer);
    check_buffer(op::send, r, buf, n);
    if (broken()) fail_broken(op::send, r);
    pair_slot& s = pairs_[r * size_ + peer];
    const std::uint64_t idle = s.state.load();  // 4 k: the previous message was received
    s.data = buf;                               // [n] @ rank r, read by `peer`
    s.n = n;
    s.state.store(idle + 1);
    wake();
    const auto finished = [&] {
      const std::uint64_t st = s.state.load();
      return st != idle + 1 && st != idle + 2;
    };
    if (!await(finished, true, options_.spin)) {
      std::uint64_t posted = idle + 1;
      if (s.state.compare_exchange_strong(posted, idle))  // withdrawn: the receiver never saw it
        fail_wait(op::send, r, break_by(r), cat("rank ", peer));
      while (!await(finished, false, options_.spin)) {  // it is being copied
      }
    }
    if (s.state.load() == idle + 3) {
      const std::size_t expected = s.expected;
      s.state.store(idle + 4);
      fail_length(op::send, r, peer, n, expected);
    }
  }

  void recv(std::size_t r, float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::recv, r, peer);
    check_buffer(op::recv, r, buf, n);
    if (broken()) fail_broken(op::recv, r);
    pair_slot& s = pairs_[peer * size_ + r];
    const std::uint64_t idle = s.state.load() & ~std::uint64_t{3};
    const auto posted = [&] { return s.state.load() == idle + 1; };
    for (std::uint64_t expect = idle + 1; !s.state.compare_exchange_strong(expect, idle + 2); expect = idle + 1)
      if (!await(posted, true, options_.spin)) fail_wait(op::recv, r, break_by(r), cat("rank ", peer));
    if (s.n != n) {
      s.expected = n;
      s.state.store(idle + 3);
      break_by(r);
      fail_length(op::recv, r, peer, s.n, n);
    }
    copy(buf, s.data, n);  // [n] @ peer -> @ rank r
    s.state.store(idle + 4);
    wake();
  }

  // ---- post / take: messages that do not block their sender --------------------------------------
  // The sender posts its buffer and goes on; the receiver copies it when it takes it, or reads it in
  // place when it borrows it and releases it when done; the sender may reuse the buffer once
  // taken(ticket). A sender waits only when `depth` messages to one peer are in flight. This is what
  // pipeline stages use: their schedules are verified for exactly these semantics (program/verify.hpp:
  // sends do not block, each pair's messages arrive in order; program/dependencies.hpp: a slot is
  // reused only once what was sent from it is taken or released).
  std::uint64_t post(std::size_t r, const float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::send, r, peer);
    check_buffer(op::send, r, buf, n);
    if (broken()) fail_broken(op::send, r);
    mailbox& b = boxes_[r * size_ + peer];
    const std::uint64_t k = b.posted.load(std::memory_order_relaxed);
    const auto room = [&] { return b.room(k); };
    if (!room() && !await(room, true, options_.spin_message))
      fail_wait(op::send, r, break_by(r), cat("rank ", peer, " to take earlier messages"));
    b.at(k + 1).data = buf, b.at(k + 1).n = n;  // [n] @ rank r, read by `peer`
    b.posted.store(k + 1, std::memory_order_release);
    wake();
    return k + 1;
  }

  void take(std::size_t r, float* buf, std::size_t n, std::size_t peer) {
    check_buffer(op::recv, r, buf, n);
    const std::uint64_t ticket = reach(r, n, peer);
    mailbox& b = boxes_[peer * size_ + r];
    copy(buf, b.at(ticket).data, n);  // [n] @ peer -> @ rank r
    b.release(ticket);
    wake();
  }

  /// The oldest message posted from peer, read in place: [n] @ peer, valid until release(r, peer,
  /// ticket). Writes its ticket to `ticket`.
  const float* borrow(std::size_t r, std::size_t n, std::size_t peer, std::uint64_t& ticket) {
    ticket = reach(r, n, peer);
    return boxes_[peer * size_ + r].at(ticket).data;
  }

  /// The message of `ticket` from peer (what borrow gave) is no longer read: its sender may reuse it.
  void release(std::size_t r, std::size_t peer, std::uint64_t ticket) {
    check_peer(op::recv, r, peer);
    boxes_[peer * size_ + r].release(ticket);
    wake();
  }

  /// Waits until `peer` has taken (or borrowed and released) rank r's message `ticket` (what post returned).
  void wait_taken(std::size_t r, std::size_t peer, std::uint64_t ticket) {
    check_peer(op::send, r, peer);
    const mailbox& b = boxes_[r * size_ + peer];
    const auto done = [&] { return b.released(ticket); };
    if (!done() && !await(done, true, options_.spin_message))
      fail_wait(op::send, r, break_by(r), cat("rank ", peer, " to take a posted message"));
  }

  // Waits for the oldest message posted from peer to rank r, checks its length and counts it
  // reached; returns its ticket.
  std::uint64_t reach(std::size_t r, std::size_t n, std::size_t peer) {
    check_peer(op::recv, r, peer);
    if (broken()) fail_broken(op::recv, r);
    mailbox& b = boxes_[peer * size_ + r];
    const std::uint64_t k = b.taken.load(std::memory_order_relaxed);
    const auto arrived = [&] { return b.posted.load(std::memory_order_acquire) > k; };
    if (!arrived() && !await(arrived, true, options_.spin_message))
      fail_wait(op::recv, r, break_by(r), cat("rank ", peer));
    if (const std::size_t sent = b.at(k + 1).n; sent != n) {
      break_by(r);
      fail_length(op::recv, r, peer, sent, n);
    }
    b.taken.store(k + 1, std::memory_order_release);
    return k + 1;
  }

  // ---- errors (they may allocate: only reached when failing) ------------------------------------
  static constexpr const char* start_over =
      "handle the first error; a local_group cannot be used after one, so create a new group";

  static std::string on(op o, std::size_t r) { return cat(name(o), " on rank ", r); }
  static std::string describe(const call& c) {
    return cat(name(c.kind), " of ", c.n, " floats", c.kind == op::broadcast ? cat(" from root ", c.root) : "");
  }

  void check_peer(op o, std::size_t r, std::size_t peer) const {
    if (peer >= size_)
      fail(cat(on(o, r), " with peer ", peer, " in a group of ", size_), "ranks are 0 .. size - 1",
           "pass a peer below size()");
    if (peer == r)
      fail(cat(on(o, r), " with itself as the peer"),
           "a rank cannot meet itself in a rendezvous (it would wait forever)",
           "copy the buffer directly, or pass another rank");
  }
  static void check_buffer(op o, std::size_t r, const float* buf, std::size_t n) {
    if (buf == nullptr && n != 0)
      fail(cat(on(o, r), " got a null buffer for ", n, " floats"), "the call reads or writes them",
           "pass a buffer of n floats");
  }

  [[noreturn]] void fail_wait(op o, std::size_t r, std::size_t breaker, const std::string& whom) const {
    if (breaker != r)
      fail(cat(on(o, r), " stopped waiting for ", whom), cat("rank ", breaker, " failed first, which breaks the group"),
           start_over);
    fail(cat(on(o, r), " waited ", std::size_t(options_.deadline.count()), " ms for ", whom),
         "a peer did not reach the matching call (it failed, is stuck, or calls something else)",
         "make every rank call the same collectives (and matching send/recv) in the same order, or raise "
         "local_options::deadline if a peer is legitimately that slow");
  }
  [[noreturn]] void fail_broken(op o, std::size_t r) const {
    fail(cat(on(o, r), " was called on a broken local_group"),
         cat("rank ", meet_.broken_by(), " failed earlier, so the ranks can no longer match their calls"), start_over);
  }
  [[noreturn]] static void fail_mismatch(std::size_t r, const call& mine, std::size_t q, const call& theirs) {
    fail(cat(on(mine.kind, r), " (", describe(mine), ") met rank ", q, "'s ", describe(theirs)),
         "the ranks of a group must call the same collectives with the same arguments in the same order",
         "make every rank's sequence of collectives identical (n and root included)");
  }
  [[noreturn]] static void fail_length(op o, std::size_t r, std::size_t peer, std::size_t sent, std::size_t expected) {
    fail(cat(on(o, r), o == op::send ? " to rank " : " from rank ", peer, ": a message of ", sent,
             " floats met a recv of ", expected),
         "a send and its recv must agree on the length", "pass the same n to both");
  }
};

}  // namespace plait

#include "local_comm.hpp"  // the handle of one rank
