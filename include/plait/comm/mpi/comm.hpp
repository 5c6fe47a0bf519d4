#pragma once
// The communicator between host processes (docs/design.md §8): the operations of local_comm (comm/host/local_group.hpp)
// with the same buffers and chunk rule, over MPI. Every operation is a non-blocking MPI call
// (MPI_Iallreduce, MPI_Ireduce_scatter, MPI_Iallgatherv, MPI_Ibcast, MPI_Ibarrier, MPI_Issend, MPI_Isend,
// MPI_Irecv)
// completed by polling MPI_Test against a deadline, so a dead or stuck peer becomes a plait::error naming
// this rank, the operation and the peer, never a hang. Every MPI return code is checked.
//
//   all_reduce     [n] @ every rank                  -> [n] sum @ every rank
//   reduce_scatter [n] @ every rank                  -> [chunk_of(n, size, r)] of the sum @ rank r
//   all_gather     [chunk_of(n, size, r)] @ rank r   -> [n] in rank order @ every rank
//   broadcast      [n] @ root                        -> [n] @ every rank
//   send / recv    [n] @ rank r                      -> [n] @ peer, in order per (sender, receiver) pair
//   post / take    the same, without blocking the sender (until wait_taken), for pipeline stages
//
// After a deadline the MPI request is still pending: MPI may still read or write that call's buffers,
// and the ranks can no longer match their calls. The communicator is then broken (every later call
// throws), and the job must end: run_or_abort / abort_job (comm/mpi/error.hpp) call MPI_Abort.

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../chunk.hpp"
#include "../communicator.hpp"
#include "bootstrap.hpp"
#include "detail/checks.hpp"
#include "detail/roll_call.hpp"
#include "detail/tuning.hpp"
#include "error.hpp"

namespace plait {

struct mpi_options {
  std::chrono::milliseconds deadline{std::chrono::minutes(5)};  // longest wait for one MPI call to complete
  std::chrono::microseconds spin{100};  // MPI_Test back to back this long, then yield the core between tests
  // The most floats per MPI call (MPI counts are int). all_reduce, broadcast, send and recv split larger
  // buffers into calls of at most this many; reduce_scatter and all_gather require n <= max_count.
  std::size_t max_count = INT_MAX;
  // Open MPI: run MPI_Iallreduce as libnbc's ring (see detail/tuning.hpp) unless the user chose an
  // algorithm with OMPI_MCA_coll_libnbc_iallreduce_algorithm.
  bool ring_all_reduce = true;
};

/// The handle through which one process communicates with the others of an MPI communicator. It owns a
/// duplicate of that communicator (plait's messages never meet the application's), with MPI_ERRORS_RETURN.
/// Preconditions of every call: MPI runs with MPI_THREAD_MULTIPLE (mpi_world); the ranks call the same
/// collectives with the same n (and root) in the same order, from one thread at a time; buffers hold the
/// floats stated beside each call and stay valid until it returns (a posted buffer: until wait_taken).
/// send/recv, and post/take, of one (sender, receiver) pair are matched in FIFO order and may run on
/// threads of their own beside the collectives (one thread per pair and direction). Construction is
/// collective over the parent communicator; wait_taken every ticket before destroying.
class mpi_comm {
 public:
  explicit mpi_comm(const mpi_world& world, mpi_options options = {}) : mpi_comm(world.comm(), options) {}
  explicit mpi_comm(MPI_Comm parent, mpi_options options = {}) : options_(options) {
    using mpi_detail::check;
    mpi_detail::check_options(options.deadline.count(), options.max_count);
    check(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup", [] { return std::string("creating an mpi_comm"); });
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    int rank = 0, size = 0;
    check(MPI_Comm_rank(comm_, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size), "MPI_Comm_size");
    rank_ = static_cast<std::size_t>(rank);
    size_ = static_cast<std::size_t>(size);
    counts_.resize(size_);
    displs_.resize(size_);
    outboxes_ = std::make_unique<outbox[]>(size_);
    if (options.ring_all_reduce) mpi_detail::select_ring_iallreduce();
  }

  mpi_comm(const mpi_comm&) = delete;
  mpi_comm& operator=(const mpi_comm&) = delete;
  mpi_comm(mpi_comm&& other) noexcept
      : options_(other.options_),
        comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
        rank_(other.rank_),
        size_(other.size_),
        counts_(std::move(other.counts_)),
        displs_(std::move(other.displs_)),
        outboxes_(std::move(other.outboxes_)),
        broken_(other.broken_.load()),
        roll_(other.roll_) {}

  ~mpi_comm() {
    int finalized = 1;
    // A broken communicator may have a pending request: it is left to MPI_Abort.
    if (comm_ != MPI_COMM_NULL && !broken_.load() && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized)
      MPI_Comm_free(&comm_);
  }

  std::size_t rank() const { return rank_; }
  std::size_t size() const { return size_; }
  const mpi_options& options() const { return options_; }
  MPI_Comm native() const { return comm_; }  // the duplicate plait communicates on
  bool broken() const { return broken_.load(); }

  void all_reduce(float* buf, std::size_t n) {  // [n] @ every rank: the sum
    check_buffer(op::all_reduce, buf, n);
    enter(op::all_reduce);
    for (std::size_t s = 0; s < n; s += options_.max_count) {
      const int len = piece(n, s);
      MPI_Request req = MPI_REQUEST_NULL;
      call(MPI_Iallreduce(MPI_IN_PLACE, buf + s, len, MPI_FLOAT, MPI_SUM, comm_, &req), "MPI_Iallreduce",
           op::all_reduce, n);
      wait(req, op::all_reduce, n);  // [len] of buf @ every rank: summed
    }
  }

  /// in: [n]; out: [chunk_of(n, size, rank)] of the sum. May run in place (out == in + chunk.begin), and
  /// then the rest of `in` is left unspecified (MPI uses it as scratch).
  void reduce_scatter(const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, rank_);
    check_buffer(op::reduce_scatter, in, n);
    check_buffer(op::reduce_scatter, out, mine.size());
    check_split(op::reduce_scatter, n);
    enter(op::reduce_scatter);
    if (n == 0) return;
    set_chunks(n);
    const bool in_place = out == in + mine.begin;
    MPI_Request req = MPI_REQUEST_NULL;
    float* const inout = const_cast<float*>(in);  // MPI_IN_PLACE: MPI reads and writes the input buffer
    call(in_place ? MPI_Ireduce_scatter(MPI_IN_PLACE, inout, counts_.data(), MPI_FLOAT, MPI_SUM, comm_, &req)
                  : MPI_Ireduce_scatter(in, out, counts_.data(), MPI_FLOAT, MPI_SUM, comm_, &req),
         "MPI_Ireduce_scatter", op::reduce_scatter, n);
    wait(req, op::reduce_scatter, n);
    if (in_place && mine.begin != 0 && mine.size() != 0)
      std::memmove(out, in, mine.size() * sizeof(float));  // [chunk r] at the front of in -> at in + begin
  }

  /// in: [chunk_of(n, size, rank)]; out: [n], the chunks in rank order. May run in place (in == out + chunk.begin).
  void all_gather(const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, rank_);
    check_buffer(op::all_gather, in, mine.size());
    check_buffer(op::all_gather, out, n);
    check_split(op::all_gather, n);
    enter(op::all_gather);
    if (n == 0) return;
    set_chunks(n);
    const bool in_place = in == out + mine.begin;
    MPI_Request req = MPI_REQUEST_NULL;
    call(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : in, counts_[rank_], MPI_FLOAT, out, counts_.data(), displs_.data(),
                         MPI_FLOAT, comm_, &req),
         "MPI_Iallgatherv", op::all_gather, n);
    wait(req, op::all_gather, n);  // [chunk q] @ rank q -> out + begin(q) @ every rank
  }

  void broadcast(float* buf, std::size_t n, std::size_t root) {  // [n] <- root's
    check_buffer(op::broadcast, buf, n);
    if (root >= size_)
      fail(cat(on(op::broadcast), " from root ", root, " in a communicator of ", size_), "ranks are 0 .. size - 1",
           "pass a root below size()");
    enter(op::broadcast);
    for (std::size_t s = 0; s < n; s += options_.max_count) {
      MPI_Request req = MPI_REQUEST_NULL;
      call(MPI_Ibcast(buf + s, piece(n, s), MPI_FLOAT, static_cast<int>(root), comm_, &req), "MPI_Ibcast",
           op::broadcast, n);
      wait(req, op::broadcast, n, root);  // [len] @ root -> @ every rank
    }
  }

  void barrier() {
    enter(op::barrier);
    MPI_Request req = MPI_REQUEST_NULL;
    call(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier", op::barrier, 0);
    wait(req, op::barrier, 0);
  }

  /// Returns once `peer` has started receiving [n] (synchronous send, like local_comm's rendezvous).
  void send(const float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::send, peer);
    check_buffer(op::send, buf, n);
    enter(op::send);
    std::size_t s = 0;
    do {  // a message of 0 floats is still one message
      MPI_Request req = MPI_REQUEST_NULL;
      call(MPI_Issend(buf + s, piece(n, s), MPI_FLOAT, static_cast<int>(peer), send_tag, comm_, &req), "MPI_Issend",
           op::send, n, peer);
      wait(req, op::send, n, peer);  // [len] @ rank r -> @ peer
      s += options_.max_count;
    } while (s < n);
  }

  /// Receives the oldest message from `peer`, which must hold exactly n floats.
  void recv(float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::recv, peer);
    check_buffer(op::recv, buf, n);
    enter(op::recv);
    std::size_t s = 0;
    do {
      receive(buf + s, piece(n, s), op::recv, n, peer, send_tag);  // [len] @ peer -> @ rank r
      s += options_.max_count;
    } while (s < n);
  }

  // ---- post / take: messages that do not block their sender (local_comm's, for pipeline stages) ----
  // The sender posts its buffer and goes on (MPI_Isend); the buffer stays the caller's to keep valid
  // until wait_taken(peer, ticket). A sender waits only when `post_depth` messages to one peer are in
  // flight. Posted messages travel apart from send/recv (their own tag): each pair's posts arrive in order.
  static constexpr std::size_t post_depth = 64;

  /// Posts [n] to peer without waiting (n <= max_count). Returns the ticket for wait_taken.
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::post, peer);
    check_buffer(op::post, buf, n);
    check_split(op::post, n);
    enter(op::post);
    outbox& box = outboxes_[peer];
    const std::uint64_t k = box.posted;
    if (k - box.done == post_depth) complete(box, peer, box.done + 1);  // the oldest must finish first
    posted_message& m = box.ring[k % post_depth];
    m.n = n;
    call(MPI_Isend(buf, static_cast<int>(n), MPI_FLOAT, static_cast<int>(peer), post_tag, comm_, &m.request),
         "MPI_Isend", op::post, n, peer);
    box.posted = k + 1;  // [n] @ rank r -> @ peer, in flight
    return k + 1;
  }

  /// Receives the oldest message posted by `peer`, which must hold exactly n floats.
  void take(float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::take, peer);
    check_buffer(op::take, buf, n);
    check_split(op::take, n);
    enter(op::take);
    receive(buf, static_cast<int>(n), op::take, n, peer, post_tag);  // [n] @ peer -> @ rank r
  }

  /// Waits until the messages posted to `peer` up to `ticket` (what post returned) are done with their
  /// buffers.
  void wait_taken(std::size_t peer, std::uint64_t ticket) {
    check_peer(op::post, peer);
    enter(op::post);
    outbox& box = outboxes_[peer];
    if (ticket > box.posted)
      fail(cat("wait_taken on rank ", rank_, " of ", size_, " for ticket ", std::size_t(ticket), " to rank ", peer),
           cat("only ", std::size_t(box.posted), " messages were posted to that rank"),
           "pass a ticket that post returned");
    complete(box, peer, ticket);
  }

  /// Every rank contributes `bytes` bytes from `in`; `out` receives size() * bytes, in rank order. For
  /// small start-up exchanges of trivially copyable records (check_consistent); bytes <= max_count.
  void all_gather_bytes(const void* in, void* out, std::size_t bytes) {
    if ((in == nullptr || out == nullptr) && bytes != 0)
      fail(cat(on(op::all_gather_bytes), " got a null buffer"), "the call reads and writes them",
           "pass buffers of bytes and size() * bytes");
    check_split(op::all_gather_bytes, bytes);
    enter(op::all_gather_bytes);
    MPI_Request req = MPI_REQUEST_NULL;
    call(MPI_Iallgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes), MPI_BYTE, comm_, &req),
         "MPI_Iallgather", op::all_gather_bytes, bytes);
    wait(req, op::all_gather_bytes, bytes);
  }

 private:
  using clock = std::chrono::steady_clock;
  // One tag per channel: MPI keeps the messages of a (sender, receiver, tag) in order.
  static constexpr int send_tag = 0, post_tag = 1;
  using op = mpi_detail::op;

  struct posted_message {
    MPI_Request request = MPI_REQUEST_NULL;
    std::size_t n = 0;
  };
  struct outbox {  // messages posted to one peer: tickets done + 1 .. posted are in flight
    std::uint64_t posted = 0, done = 0;
    posted_message ring[post_depth];
  };

  // Completes the posted messages to `peer` up to `ticket`, oldest first.
  void complete(outbox& box, std::size_t peer, std::uint64_t ticket) {
    for (; box.done < ticket; ++box.done) {
      posted_message& m = box.ring[box.done % post_depth];
      wait(m.request, op::post, m.n, peer);
    }
  }

  // One MPI receive of exactly len floats, its length checked. n: the whole call's, for messages.
  void receive(float* buf, int len, op o, std::size_t n, std::size_t peer, int tag) {
    MPI_Request req = MPI_REQUEST_NULL;
    MPI_Status status;
    call(MPI_Irecv(buf, len, MPI_FLOAT, static_cast<int>(peer), tag, comm_, &req), "MPI_Irecv", o, n, peer);
    const int rc = wait(req, o, n, peer, &status);
    if (rc != MPI_SUCCESS) {
      int error_class = MPI_SUCCESS;
      MPI_Error_class(rc, &error_class);
      if (error_class != MPI_ERR_TRUNCATE) call(rc, "MPI_Test", o, n, peer);
      fail_length(o, peer, n, -1);  // the message was longer than this receive
    }
    int got = len;
    call(MPI_Get_count(&status, MPI_FLOAT, &got), "MPI_Get_count", o, n, peer);
    if (got != len) fail_length(o, peer, n, n <= options_.max_count ? got : -1);
  }
  static constexpr std::size_t no_peer = mpi_detail::no_peer;

  int piece(std::size_t n, std::size_t s) const { return static_cast<int>(std::min(options_.max_count, n - s)); }

  // The chunk rule of local_comm, as MPI counts and displacements (n <= max_count was checked).
  void set_chunks(std::size_t n) {
    for (std::size_t q = 0; q < size_; ++q) {
      const chunk c = chunk_of(n, size_, q);
      counts_[q] = static_cast<int>(c.size());
      displs_[q] = static_cast<int>(c.begin);
    }
  }

  // ---- waiting ----------------------------------------------------------------------------------
  // Polls the request until it completes or the deadline passes. Returns MPI_Test's code when
  // `status` is given (recv inspects a failed receive), and otherwise throws on any failure.
  int wait(MPI_Request& req, op o, std::size_t n, std::size_t peer = no_peer, MPI_Status* status = nullptr) {
    const clock::time_point start = clock::now();
    const clock::time_point spin_end = start + options_.spin, deadline = start + options_.deadline;
    clock::time_point answer_at = spin_end;  // then every millisecond: the peers' roll calls (roll_call.hpp)
    bool yielding = false;
    for (unsigned i = 1;; ++i) {
      int done = 0;
      const int rc = MPI_Test(&req, &done, status != nullptr ? status : MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) {
        if (status != nullptr) return rc;
        broken_.store(true);
        mpi_detail::fail_call(rc, "MPI_Test", describe(o, n, peer));
      }
      if (done) return MPI_SUCCESS;
      if (i % 16 == 0) {
        const clock::time_point now = clock::now();
        if (now >= deadline) fail_deadline(o, n, peer);
        yielding = now >= spin_end;
        if (now >= answer_at) {
          roll_.answer(comm_);
          answer_at = now + std::chrono::milliseconds(1);
        }
      }
      if (yielding) std::this_thread::yield();  // another thread of this process may need the core
    }
  }

  void call(int rc, std::string_view function, op o, std::size_t n, std::size_t peer = no_peer) {
    if (rc != MPI_SUCCESS) [[unlikely]] {
      broken_.store(true);
      mpi_detail::fail_call(rc, function, describe(o, n, peer));
    }
  }

  // ---- errors (they may allocate: only reached when failing) ------------------------------------

  std::string on(op o) const { return mpi_detail::on(o, rank_, size_); }
  std::string describe(op o, std::size_t n, std::size_t peer) const {
    return mpi_detail::describe(o, n, rank_, size_, peer);
  }

  void enter(op o) {
    if (mpi_detail::collective(o)) roll_.entered();
    if (broken_.load()) [[unlikely]]
      fail(
          cat(on(o), " was called on a broken mpi_comm"),
          "an earlier call failed or passed its deadline, so a request may still be pending and the ranks can no longer match their calls",
          "end the job after the first error (plait::run_or_abort calls MPI_Abort)");
  }
  void check_peer(op o, std::size_t peer) const { mpi_detail::check_peer(o, peer, rank_, size_); }
  void check_buffer(op o, const float* buf, std::size_t n) const { mpi_detail::check_buffer(o, buf, n, rank_, size_); }
  void check_split(op o, std::size_t n) const { mpi_detail::check_split(o, n, options_.max_count, rank_, size_); }

  // Names whom the call waited for; a collective's roll call names who did not arrive (roll_call.hpp).
  [[noreturn]] void fail_deadline(op o, std::size_t n, std::size_t peer) {
    broken_.store(true);
    std::string waited = cat(describe(o, n, peer), " waited ", std::size_t(options_.deadline.count()), " ms for ",
                             mpi_detail::awaited(o, peer, size_));
    if (mpi_detail::collective(o)) {
      const auto grace = std::min<std::chrono::milliseconds>(options_.deadline / 2, std::chrono::milliseconds(1000));
      waited += " (" + roll_.verdict(comm_, rank_, size_, grace) + ")";
    }
    mpi_detail::fail_deadline(waited);
  }
  [[noreturn]] void fail_length(op o, std::size_t peer, std::size_t n, int got) {
    broken_.store(true);
    mpi_detail::fail_length(o, peer, n, got, rank_, size_);
  }

  mpi_options options_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::size_t rank_ = 0, size_ = 1;
  std::vector<int> counts_, displs_;    // [size]: set_chunks, used by one collective at a time
  std::unique_ptr<outbox[]> outboxes_;  // [size]: by peer; each used by one posting thread
  std::atomic<bool> broken_{false};
  mpi_detail::roll_call roll_;  // counts the collectives; names who did not arrive at a deadline
};

static_assert(SizedWorld<mpi_comm>);
static_assert(Communicator<mpi_comm>);

}  // namespace plait
