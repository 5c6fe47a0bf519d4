#pragma once
// The communicator between GPUs of different processes or nodes (docs/design.md §8), one GPU per rank: the
// operations of mpi_comm with the same meaning and chunk rule, on device buffers of floats, over NCCL.
//
//   all_reduce     [n] @ GPU of every rank                  -> [n] sum @ every rank
//   reduce_scatter [n] @ every rank                         -> [chunk_of(n, size, r)] of the sum @ rank r
//   all_gather     [chunk_of(n, size, r)] @ rank r          -> [n] in rank order @ every rank
//   broadcast      [n] @ root                               -> [n] @ every rank
//   send / recv    [n] @ rank r                             -> [n] @ peer, in order per (sender, receiver)
//   post / take    the same, without blocking the sender (until wait_taken), for pipeline stages
//
// The *_async forms only enqueue on stream() (a runtime overlaps them with compute on other streams);
// synchronize() waits for what was enqueued; the plain forms enqueue, then wait. Waiting is a polling
// loop on a CUDA event that also asks NCCL for asynchronous errors: past nccl_options::deadline, or on
// an NCCL error, every NCCL communicator of this rank is aborted (ncclCommAbort; its kernels stop) and
// a plait::error names this rank, the operation and its size, and what to do. The communicator is then
// broken: every later call throws, and the job must end (run_or_abort). NCCL runs non-blocking
// (ncclConfig_t::blocking = 0), so creating the communicator and connecting peers have the deadline too.

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "../../backend/cuda/error.hpp"
#include "../../core/error.hpp"
#include "../chunk.hpp"
#include "../communicator.hpp"
#include "detail/link.hpp"
#include "detail/placement.hpp"
#include "detail/wait.hpp"
#include "error.hpp"
#include "launch_env.hpp"

static_assert(
    NCCL_VERSION_CODE >= NCCL_VERSION(2, 18, 0),
    "plait: plait::nccl needs NCCL 2.18 or newer. It uses ncclCommSplit and non-blocking communicators. Fix: install a newer NCCL.");

namespace plait {

class mpi_comm;  // comm/mpi/comm.hpp: only for the start over MPI (comm/nccl/mpi_bootstrap.hpp)

struct nccl_options {
  std::chrono::milliseconds deadline{
      std::chrono::minutes(5)};         // longest wait for one operation (or start-up) to complete
  std::chrono::microseconds spin{100};  // poll back to back this long, then yield the core between polls
  int device = -1;                      // this rank's CUDA device; -1: its rank on its node (LOCAL_RANK)
  cudaStream_t stream = nullptr;        // where operations are enqueued; nullptr: a stream of the communicator's own
};

/// The handle through which one process's GPU communicates with the GPUs of the other ranks. It owns
/// three NCCL communicators on its device: one for collectives and send/recv, and two that carry posted
/// messages, one to higher ranks and one to lower ranks (so that a pipeline stage's posts never queue
/// behind its takes). Preconditions of every call: buffers are device memory of device() (or managed),
/// holding the floats stated beside each call, and stay valid until the operation completes (a posted
/// buffer: until wait_taken); the ranks call the same collectives with the same n (and root) in the
/// same order; a send and its recv (a post and its take) agree on n (NCCL cannot check it: a mismatch
/// ends in a deadline or in wrong data). Calls may come from several threads (they are serialised where
/// NCCL needs it), each call making device() current for its duration. Construction is collective and
/// leaves device() the constructing thread's current CUDA device; wait_taken every ticket before destroying.
class nccl_comm : private nccl_detail::link {
 public:
  /// Collective over `bootstrap`, an mpi_comm: agrees on devices (comm/nccl/mpi_bootstrap.hpp, which
  /// must be included, with plait::mpi linked), then starts NCCL.
  template <std::same_as<mpi_comm> Bootstrap>
  explicit nccl_comm(Bootstrap& bootstrap, nccl_options options = {})
      : nccl_comm(options, bootstrap.rank(), bootstrap.size()) {
    const nccl_detail::placement p = nccl_detail::agree<Bootstrap>::place(bootstrap, options.device);
    start(p.device, p.id);
  }
  /// Without MPI: the ranks meet at NCCL_COMM_ID (launch_env.hpp), rank 0 listening there.
  explicit nccl_comm(const nccl_launch_env& env, nccl_options options = {})
      : nccl_comm(options, env.rank, env.world_size) {
    const nccl_detail::placement p = nccl_detail::place_from_env(env, options.device);
    start(p.device, p.id);
  }

  nccl_comm(const nccl_comm&) = delete;
  nccl_comm& operator=(const nccl_comm&) = delete;
  ~nccl_comm() { release(!broken_.load() && std::uncaught_exceptions() <= unwinding_); }

  std::size_t rank() const { return rank_; }
  std::size_t size() const { return size_; }
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  ncclComm_t native() const { return comms_[main]; }  // collectives and send/recv
  const nccl_options& options() const { return options_; }
  bool broken() const { return broken_.load(); }

  // ---- asynchronous: enqueue on stream() and return ------------------------------------------------
  void all_reduce_async(float* buf, std::size_t n) {  // [n] @ every rank: the sum
    issue g(*this, op::all_reduce, n, buf, n);
    if (n)
      call(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, comms_[main], stream_), "ncclAllReduce", comms_[main],
           op::all_reduce, n);
  }
  /// in: [n]; out: [chunk_of(n, size, rank)] of the sum; may run in place (out == in + chunk.begin).
  void reduce_scatter_async(const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, rank_);
    issue g(*this, op::reduce_scatter, n, in, n, out, mine.size());
    if (n == 0) return;
    if (n % size_ == 0)  // equal chunks: NCCL's own
      return call(ncclReduceScatter(in, out, n / size_, ncclFloat, ncclSum, comms_[main], stream_), "ncclReduceScatter",
                  comms_[main], op::reduce_scatter, n);
    grouped(op::reduce_scatter, n, [&](std::size_t q, chunk c) {  // [c] of the sum -> root q; q's is `out`
      return ncclReduce(in + c.begin, q == rank_ ? out : const_cast<float*>(in) + c.begin, c.size(), ncclFloat, ncclSum,
                        int(q), comms_[main], stream_);
    });
  }
  /// in: [chunk_of(n, size, rank)]; out: [n], the chunks in rank order; may run in place (in == out + chunk.begin).
  void all_gather_async(const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, rank_);
    issue g(*this, op::all_gather, n, in, mine.size(), out, n);
    if (n == 0) return;
    if (n % size_ == 0)
      return call(ncclAllGather(in, out, n / size_, ncclFloat, comms_[main], stream_), "ncclAllGather", comms_[main],
                  op::all_gather, n);
    grouped(op::all_gather, n, [&](std::size_t q, chunk c) {  // [c] @ rank q -> out + c.begin @ every rank
      return ncclBroadcast(q == rank_ ? in : out + c.begin, out + c.begin, c.size(), ncclFloat, int(q), comms_[main],
                           stream_);
    });
  }
  void broadcast_async(float* buf, std::size_t n, std::size_t root) {  // [n] <- root's
    if (root >= size_)
      fail(cat(on(op::broadcast), " from root ", root), "ranks are 0 .. size - 1", "pass a root below size()");
    issue g(*this, op::broadcast, n, buf, n, nullptr, 0, root);
    if (n)
      call(ncclBroadcast(buf, buf, n, ncclFloat, int(root), comms_[main], stream_), "ncclBroadcast", comms_[main],
           op::broadcast, n, root);
  }
  void send_async(const float* buf, std::size_t n, std::size_t peer) {  // [n] @ rank r -> @ peer
    check_peer(op::send, peer);
    issue g(*this, op::send, n, buf, n, nullptr, 0, peer);
    if (n)
      call(ncclSend(buf, n, ncclFloat, int(peer), comms_[main], stream_), "ncclSend", comms_[main], op::send, n, peer);
  }
  void recv_async(float* buf, std::size_t n, std::size_t peer) {  // [n] @ peer -> @ rank r
    check_peer(op::recv, peer);
    issue g(*this, op::recv, n, buf, n, nullptr, 0, peer);
    if (n)
      call(ncclRecv(buf, n, ncclFloat, int(peer), comms_[main], stream_), "ncclRecv", comms_[main], op::recv, n, peer);
  }
  /// Waits until everything enqueued on stream() so far has completed (deadline as for any operation).
  void synchronize() {
    std::unique_lock lock(mutex_);
    const last_op l = last_;
    enter(op::synchronize);
    nccl_detail::device_scope on(device_);
    cuda(cudaEventRecord(done_, stream_), "cudaEventRecord");
    lock.unlock();
    wait_event(done_, l.o, l.n, l.peer);
  }

  // ---- blocking: the Communicator concept (comm/communicator.hpp) --------------------------------------
  void all_reduce(float* buf, std::size_t n) { all_reduce_async(buf, n), synchronize(); }
  void reduce_scatter(const float* in, float* out, std::size_t n) { reduce_scatter_async(in, out, n), synchronize(); }
  void all_gather(const float* in, float* out, std::size_t n) { all_gather_async(in, out, n), synchronize(); }
  void broadcast(float* buf, std::size_t n, std::size_t root) { broadcast_async(buf, n, root), synchronize(); }
  void barrier() { all_reduce_as(op::barrier, scratch_), synchronize(); }  // a sum of [1] @ device: NCCL has no barrier
  void send(const float* buf, std::size_t n, std::size_t peer) {
    send_async(buf, n, peer), synchronize();
  }  // returns once received
  void recv(float* buf, std::size_t n, std::size_t peer) { recv_async(buf, n, peer), synchronize(); }

  // ---- post / take: messages that do not block their sender, for pipeline stages -----------------
  // A post waits on the host only when post_depth messages to one peer are in flight; its send starts
  // once the work enqueued on stream() before it is done (the buffer is ready). Posts to one peer and
  // takes from one peer are each called from one thread.
  static constexpr std::size_t post_depth = 64;

  /// Posts [n] to peer without waiting. Returns the ticket for wait_taken.
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::post, peer);
    outbox& box = box_of(peer);
    if (box.posted - box.done == post_depth) wait_taken(peer, box.done + 1);  // the oldest must finish first
    issue g(*this, op::post, n, buf, n, nullptr, 0, peer);
    const side s = peer > rank_ ? up : down;
    side_after_main(s);
    if (n)
      call(ncclSend(buf, n, ncclFloat, int(peer), comms_[s], side_streams_[s]), "ncclSend", comms_[s], op::post, n,
           peer);
    const std::uint64_t k = box.posted;
    box.sizes[k % post_depth] = n;
    cuda(cudaEventRecord(box.sent[k % post_depth], side_streams_[s]),
         "cudaEventRecord");  // [n] @ rank r -> @ peer, in flight
    box.posted = k + 1;
    return k + 1;
  }
  /// Receives the oldest message posted by `peer` (of exactly n floats) into buf; returns when it is there.
  void take(float* buf, std::size_t n, std::size_t peer) {
    check_peer(op::take, peer);
    outbox& box = box_of(peer);
    {
      issue g(*this, op::take, n, buf, n, nullptr, 0, peer);
      const side s = peer < rank_ ? up : down;  // a lower rank posts to us on `up`
      side_after_main(s);                       // work on stream() that still uses buf comes first
      if (n)
        call(ncclRecv(buf, n, ncclFloat, int(peer), comms_[s], side_streams_[s]), "ncclRecv", comms_[s], op::take, n,
             peer);
      cuda(cudaEventRecord(box.taken, side_streams_[s]), "cudaEventRecord");  // [n] @ peer -> @ rank r
    }
    wait_event(box.taken, op::take, n, peer);
  }
  /// Waits until the messages posted to `peer` up to `ticket` (what post returned) are received.
  void wait_taken(std::size_t peer, std::uint64_t ticket) {
    check_peer(op::post, peer);
    outbox& box = box_of(peer);
    if (ticket > box.posted)
      fail(cat("wait_taken on rank ", rank_, " of ", size_, " for ticket ", std::size_t(ticket), " to rank ", peer),
           cat("only ", std::size_t(box.posted), " messages were posted to that rank"),
           "pass a ticket that post returned");
    if (ticket <= box.done) return;
    const std::size_t slot = (ticket - 1) % post_depth;  // posts to one peer complete in order: the last one suffices
    wait_event(box.sent[slot], op::post, box.sizes[slot], peer);
    box.done = ticket;
  }

 private:
  using op = nccl_detail::op;
  using side = nccl_detail::link::side;
  struct outbox {  // one peer's: tickets done + 1 .. posted are in flight
    std::uint64_t posted = 0, done = 0;
    std::array<cudaEvent_t, post_depth> sent{};  // recorded after each post's send
    std::array<std::size_t, post_depth> sizes{};
    cudaEvent_t taken = nullptr;  // recorded after each take's recv
  };
  struct last_op {
    op o = op::synchronize;
    std::size_t n = 0, peer = nccl_detail::no_peer;
  };

  nccl_comm(const nccl_options& options, std::size_t rank, std::size_t size)
      : link(rank, size, options.deadline, options.spin), options_(options), unwinding_(std::uncaught_exceptions()) {}

  // Creates the NCCL communicators, streams, events and the barrier's float on `device`.
  void start(int device, const ncclUniqueId& id) {
    device_ = device;
    try {
      cuda(cudaSetDevice(device_), "cudaSetDevice");  // and it stays the constructing thread's device
      std::lock_guard lock(mutex_);
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;  // every NCCL call returns at once; plait waits, with the deadline
      // Each result is kept before call() reads the handle: the call sets it (ncclInProgress, with the
      // handle to poll, is what a non-blocking communicator's creation returns).
      const ncclResult_t init = ncclCommInitRankConfig(&comms_[main], int(size_), id, int(rank_), &config);
      call(init, "ncclCommInitRankConfig", comms_[main], op::start, 0);
      for (side s : {up, down}) {
        const ncclResult_t split = ncclCommSplit(comms_[main], 0, int(rank_), &comms_[s], &config);
        call(split, "ncclCommSplit", comms_[main], op::start, 0);  // the parent settles, then the child
        settle(comms_[s], "ncclCommSplit", op::start, 0, nccl_detail::no_peer);
      }
      if (options_.stream == nullptr) {
        cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        own_stream_ = true;
      } else {
        stream_ = options_.stream;
      }
      for (side s : {up, down})
        cuda(cudaStreamCreateWithFlags(&side_streams_[s], cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
      cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
      cuda(cudaEventCreateWithFlags(&main_ready_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
      cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc of 4 bytes");
      cuda(cudaMemsetAsync(scratch_, 0, sizeof(float), stream_), "cudaMemsetAsync");
      boxes_ = std::make_unique<outbox[]>(size_);
    } catch (...) {
      release(false);
      throw;
    }
  }

  // Ends NCCL and frees what start made. healthy: finalize (bounded by the deadline), else abort.
  void release(bool healthy) noexcept {
    std::lock_guard lock(mutex_);
    int previous = -1;
    if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
    (void)cudaSetDevice(device_);
    end_nccl(healthy);
    for (std::size_t q = 0; boxes_ && q < size_; ++q) {
      for (cudaEvent_t e : boxes_[q].sent)
        if (e) (void)cudaEventDestroy(e);
      if (boxes_[q].taken) (void)cudaEventDestroy(boxes_[q].taken);
    }
    for (cudaEvent_t e : {done_, main_ready_})
      if (e) (void)cudaEventDestroy(e);
    for (side s : {up, down})
      if (side_streams_[s]) (void)cudaStreamDestroy(side_streams_[s]);
    if (own_stream_ && stream_) (void)cudaStreamDestroy(stream_);
    if (scratch_) (void)cudaFree(scratch_);
    (void)cudaGetLastError();
    if (previous >= 0 && previous != device_) (void)cudaSetDevice(previous);
  }

  // Holds the issue lock and the device for one enqueue; checks the buffers first (in: [n_in], out: [n_out]).
  struct issue {
    std::lock_guard<std::recursive_mutex> lock;
    nccl_detail::device_scope on;
    issue(nccl_comm& c, op o, std::size_t n, const float* in, std::size_t n_in, const float* out = nullptr,
          std::size_t n_out = 0, std::size_t peer = nccl_detail::no_peer)
        : lock(c.mutex_), on(c.device_) {
      c.enter(o);
      c.check_buffer(o, in, n_in);
      c.check_buffer(o, out, n_out);
      c.last_ = {o, n, peer};
    }
  };

  template <class Enqueue>
  void grouped(op o, std::size_t n, const Enqueue& enqueue) {  // one NCCL call per non-empty chunk, as one group
    call(ncclGroupStart(), "ncclGroupStart", comms_[main], o, n);
    for (std::size_t q = 0; q < size_; ++q)
      if (const chunk c = chunk_of(n, size_, q); !c.empty()) {
        const ncclResult_t r = enqueue(q, c);
        if (r != ncclSuccess && r != ncclInProgress) {
          (void)ncclGroupEnd();
          call(r, o == op::reduce_scatter ? "ncclReduce" : "ncclBroadcast", comms_[main], o, n);
        }
      }
    call(ncclGroupEnd(), "ncclGroupEnd", comms_[main], o, n);
  }

  void all_reduce_as(op o, float* buf) {  // [1] @ device
    issue g(*this, o, 1, buf, 1);
    call(ncclAllReduce(buf, buf, 1, ncclFloat, ncclSum, comms_[main], stream_), "ncclAllReduce", comms_[main], o, 1);
  }

  void side_after_main(side s) {  // the side stream starts after what stream() has before it
    cuda(cudaEventRecord(main_ready_, stream_), "cudaEventRecord");
    cuda(cudaStreamWaitEvent(side_streams_[s], main_ready_, 0), "cudaStreamWaitEvent");
  }

  outbox& box_of(std::size_t peer) {  // events made on first use of a peer
    std::lock_guard lock(mutex_);
    enter(op::post);
    outbox& box = boxes_[peer];
    if (box.taken == nullptr) {
      nccl_detail::device_scope on(device_);
      for (cudaEvent_t& e : box.sent)
        cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
      cuda(cudaEventCreateWithFlags(&box.taken, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    }
    return box;
  }

  nccl_options options_;
  int unwinding_ = 0;              // uncaught exceptions when constructed: destroyed while unwinding, it aborts
  cudaStream_t stream_ = nullptr;  // operations of comms_[main]
  std::array<cudaStream_t, 3> side_streams_{};  // [-, up, down]: posts and takes
  bool own_stream_ = false;
  cudaEvent_t done_ = nullptr, main_ready_ = nullptr;
  float* scratch_ = nullptr;         // [1] @ device_: the barrier's sum
  std::unique_ptr<outbox[]> boxes_;  // [size]: by peer
  last_op last_{};                   // for synchronize's messages
};

static_assert(Communicator<nccl_comm>);

}  // namespace plait
