#pragma once
// The communicator between the logical CUDA devices of one process (docs/design.md §7-§8): local_group's
// operations (comm/host/local_group.hpp), with the same meaning and chunk rule, on device buffers of floats.
// Each rank is a GPU and a stream; several ranks may share a GPU (virtual devices) or sit on
// distinct GPUs. Each call is made by its rank's host thread and is asynchronous on that rank's
// stream: on return the operation is enqueued there, after everything enqueued before it, and
// everything enqueued after it sees its result. The host threads exchange only pointers; the data
// path has no host round-trip.
//
//   all_reduce     [n] @ every rank                         -> [n] sum @ every rank
//   reduce_scatter [n] @ every rank                         -> [chunk_of(n, size, r)] of the sum @ rank r
//   all_gather     [chunk_of(n, size, r)] @ rank r          -> [n] in rank order @ every rank
//   broadcast      [n] @ root                               -> [n] @ every rank
//   send / recv, post / take / wait_taken: comm/cuda/detail/mail.hpp
//
// A collective: every rank records its "ready" event on its stream, publishes its pointers, and
// meets the others (host, with the deadline); rank r's stream waits for the ready events of the
// ranks it reads; one kernel of rank r sums chunk r over every rank's buffer in rank order (the same
// bits on every rank, and the host's bits) and writes the sum into chunk r of every rank's buffer
// (all_reduce) or into r's `out` (reduce_scatter); rank r records "done"; the ranks meet again (host,
// no deadline: the peers are only enqueueing), and each stream waits for every peer's "done" before
// its later work, since peers read and write its buffers. all_gather and broadcast are copies.
//
// Across GPUs the group enables peer access where the GPUs allow it, so a kernel reads and writes
// the peers' buffers directly (on one GPU it always does). Where they do not, rank r stages each such
// peer's chunk into its scratch with peer copies (staging_floats at a time), sums there, and copies
// the sum back (all_reduce): slower, the same bits. Events and scratch are made at construction;
// a call creates and allocates nothing (unless it throws). After any error the group is broken.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../../backend/cuda/error.hpp"
#include "../../core/error.hpp"
#include "../chunk.hpp"
#include "../rendezvous.hpp"
#include "detail/errors.hpp"
#include "detail/kernels.hpp"
#include "detail/mail.hpp"

namespace plait {

struct cuda_local_options {
  std::chrono::milliseconds deadline{std::chrono::minutes(5)};  // longest wait for a peer to arrive
  std::chrono::microseconds spin{20};                 // busy-wait before sleeping at an entry: the cores are shared
  std::chrono::microseconds spin_inside{200};         // ... and inside a collective, where peers only enqueue
  std::size_t post_depth = 64;                        // posted messages in flight per (sender, receiver)
  std::size_t staging_floats = std::size_t{1} << 20;  // per peer without peer access: floats staged at once
};

/// One rank of a cuda_local_group: its GPU and the stream its operations are ordered on.
using cuda_local_rank = cuda_local_detail::endpoint;

class cuda_local_comm;

/// The shared state of ranks on the CUDA devices of one process. Create it once, before the ranks'
/// threads run, from each rank's (GPU, stream) or from its cuda_contexts; it cannot be copied or
/// moved (handles point into it), and it must outlive the work its ranks enqueued. Construction
/// enables peer access between the GPUs, creates every event and allocates staging scratch.
class cuda_local_group {
 public:
  explicit cuda_local_group(std::vector<cuda_local_rank> ranks, cuda_local_options options = {});
  /// From contexts, e.g. the std::vector<cuda_context> of cuda_devices({0, 1}).contexts().
  template <class Contexts>
    requires requires(const Contexts& cs) {
      { cs.begin()->device } -> std::convertible_to<int>;
      { cs.begin()->stream() } -> std::convertible_to<cudaStream_t>;
    }
  explicit cuda_local_group(const Contexts& contexts, cuda_local_options options = {})
      : cuda_local_group(ranks_of(contexts), options) {}
  cuda_local_group(const cuda_local_group&) = delete;
  cuda_local_group& operator=(const cuda_local_group&) = delete;

  std::size_t size() const { return size_; }
  const cuda_local_options& options() const { return options_; }
  const cuda_local_rank& rank_at(std::size_t r) const { return ranks_[r].at; }
  /// Whether rank r's kernels reach rank q's memory (one GPU, or peer access); else r stages q's.
  bool direct(std::size_t r, std::size_t q) const { return direct_[r * size_ + q] != 0; }

  cuda_local_comm comm(std::size_t rank);  // the handle thread `rank` uses

 private:
  friend class cuda_local_comm;
  using op = cuda_local_detail::op;
  using call = cuda_local_detail::call;

  struct alignas(64) rank_state {
    cuda_local_rank at;
    int sms = 1;                               // multiprocessors of its GPU: the reduce kernel's grid
    cuda_local_detail::owned_events ready;     // [2] by collective parity @ its GPU
    cuda_local_detail::owned_events done;      // [1] @ its GPU
    cuda_local_detail::device_floats scratch;  // [staged peers * (staging + 4)] @ its GPU, or none
    call calls[2];                             // by collective parity: a peer may publish c + 1 while I read c
    std::uint64_t collectives = 0;             // owner only
  };

  std::size_t size_;
  cuda_local_options options_;
  std::size_t staging_ = 0;  // staging_floats rounded up to whole float4s
  std::unique_ptr<rank_state[]> ranks_;
  std::vector<unsigned char> direct_;                    // [r * size + q]
  std::unique_ptr<cuda_local_detail::mailbox[]> posts_;  // [sender * size + receiver]: post/take
  std::unique_ptr<cuda_local_detail::mailbox[]> sends_;  // [sender * size + receiver]: send/recv
  rendezvous meet_;

  template <class Contexts>
  static std::vector<cuda_local_rank> ranks_of(const Contexts& contexts) {
    std::vector<cuda_local_rank> ranks;
    for (const auto& c : contexts) ranks.push_back({int(c.device), c.stream()});
    return ranks;
  }

  cuda_local_detail::patience patience() { return {meet_, options_.deadline, options_.spin}; }

  // Runs f; any exception breaks the group first, so that peers waiting for this rank stop.
  template <class F>
  auto guarded(std::size_t r, const F& f) {
    try {
      return f();
    } catch (...) {
      meet_.break_by(r);
      throw;
    }
  }

  // ---- collectives ------------------------------------------------------------------------------
  // Records ready[parity] on r's stream, publishes the call, meets every rank (with the deadline)
  // and checks that every rank made the same call. Returns the parity.
  std::size_t enter(std::size_t r, const call& c) {
    if (meet_.broken()) cuda_local_detail::fail_broken(c.kind, r, meet_.broken_by());
    rank_state& me = ranks_[r];
    const std::size_t parity = me.collectives++ % 2;
    me.calls[parity] = c;
    cuda_detail::cuda_check(cudaEventRecord(me.ready[parity], me.at.stream),
                            "cudaEventRecord of a collective's ready event", me.at.device);
    if (!meet_.meet(r, true, options_.deadline, options_.spin))
      cuda_local_detail::fail_wait(c.kind, r, meet_.break_by(r), meet_.missing(r), options_.deadline);
    for (std::size_t q = 0; q < size_; ++q) {
      const call& theirs = ranks_[q].calls[parity];
      if (theirs.kind != c.kind || theirs.n != c.n || theirs.root != c.root)
        cuda_local_detail::fail_mismatch(r, c, q, theirs);
    }
    return parity;
  }

  // Orders r's stream after peer q's ready event of this collective.
  void wait_ready(std::size_t r, std::size_t parity, std::size_t q) {
    if (q == r) return;
    cuda_detail::cuda_check(cudaStreamWaitEvent(ranks_[r].at.stream, ranks_[q].ready[parity], 0),
                            "cudaStreamWaitEvent on a peer's ready event", ranks_[r].at.device);
  }

  // Records done on r's stream, meets every rank (each has recorded its own), then orders r's stream
  // after every peer's done (when peers read or wrote r's buffers).
  void leave(std::size_t r, op kind, bool wait_for_peers) {
    rank_state& me = ranks_[r];
    cuda_detail::cuda_check(cudaEventRecord(me.done[0], me.at.stream), "cudaEventRecord of a collective's done event",
                            me.at.device);
    if (!meet_.meet(r, false, options_.deadline, options_.spin_inside))
      cuda_local_detail::fail_wait(kind, r, meet_.break_by(r), meet_.missing(r), options_.deadline);
    if (!wait_for_peers) return;
    for (std::size_t q = 0; q < size_; ++q)
      if (q != r)
        cuda_detail::cuda_check(cudaStreamWaitEvent(me.at.stream, ranks_[q].done[0], 0),
                                "cudaStreamWaitEvent on a peer's done event", me.at.device);
  }

  // Chunk `mine` of the sum over every rank's buffer, added in rank order, written into chunk `mine`
  // of every rank's buffer (out == nullptr: all_reduce) or into out ([mine.size()] @ rank r).
  // Peers rank r cannot reach are staged through r's scratch, staging_ floats at a time.
  void reduce(std::size_t r, std::size_t parity, chunk mine, float* out) {
    rank_state& me = ranks_[r];
    const bool to_all = out == nullptr;
    const std::size_t m = mine.size(), piece = me.scratch.data() ? staging_ : std::max<std::size_t>(m, 1);
    const auto theirs = [&](std::size_t q, std::size_t off) {  // [piece] of chunk r @ rank q
      const call& c = ranks_[q].calls[parity];
      return (to_all ? c.out : const_cast<float*>(c.in)) + mine.begin + off;
    };
    for (std::size_t off = 0; off < m; off += piece) {
      const std::size_t len = std::min(piece, m - off);
      cuda_local_detail::chunk_ptrs src, dst;
      unsigned d = 0;
      std::size_t slot = 0;
      for (std::size_t q = 0; q < size_; ++q) {
        float* p = theirs(q, off);
        if (direct(r, q)) {
          src.p[q] = p;
          if (to_all) dst.p[d++] = p;
          continue;
        }
        // [len] @ rank q -> [len] @ r's scratch slot, at p's offset from 16-byte alignment
        float* staged =
            me.scratch.data() + slot++ * (staging_ + 4) + (reinterpret_cast<std::uintptr_t>(p) / sizeof(float)) % 4;
        cuda_local_detail::copy_floats(staged, me.at.device, p, ranks_[q].at.device, len, me.at.stream,
                                       "cudaMemcpyPeerAsync staging a peer's chunk", me.at.device);
        src.p[q] = staged;
      }
      if (!to_all) dst.p[d++] = out + off;
      cuda_local_detail::launch_reduce(src, unsigned(size_), dst, d, len, me.sms, me.at.stream, me.at.device,
                                       "the reduce kernel's launch");
      if (to_all)  // the staged peers' chunks: [len] sum @ rank r -> @ rank q
        for (std::size_t q = 0; q < size_; ++q)
          if (!direct(r, q))
            cuda_local_detail::copy_floats(theirs(q, off), ranks_[q].at.device, theirs(r, off), me.at.device, len,
                                           me.at.stream, "cudaMemcpyPeerAsync of a reduced chunk to a peer",
                                           me.at.device);
    }
  }

  void all_reduce(std::size_t r, float* buf, std::size_t n) {
    cuda_local_detail::check_buffer(op::all_reduce, r, buf, n);
    if (size_ == 1) return;
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      const std::size_t parity = enter(r, {op::all_reduce, n, 0, buf, buf});
      if (n == 0) return;
      for (std::size_t q = 0; q < size_; ++q) wait_ready(r, parity, q);
      reduce(r, parity, chunk_of(n, size_, r), nullptr);  // chunk r @ every rank: read and written by rank r only
      leave(r, op::all_reduce, true);
    });
  }

  void reduce_scatter(std::size_t r, const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, r);
    cuda_local_detail::check_buffer(op::reduce_scatter, r, in, n);
    cuda_local_detail::check_buffer(op::reduce_scatter, r, out, mine.size());
    guarded(r, [&] {
      const cuda_local_rank& at = ranks_[r].at;
      const cuda_local_detail::device_scope on(at.device);
      if (size_ == 1)
        return cuda_local_detail::copy_floats(out, at.device, in, at.device, n, at.stream, "cudaMemcpyAsync",
                                              at.device);
      const std::size_t parity = enter(r, {op::reduce_scatter, n, 0, in, out});
      if (n == 0) return;
      for (std::size_t q = 0; q < size_; ++q) wait_ready(r, parity, q);
      reduce(r, parity, mine, out);
      leave(r, op::reduce_scatter, true);  // peers have read chunk q of r's `in`
    });
  }

  void all_gather(std::size_t r, const float* in, float* out, std::size_t n) {
    const chunk mine = chunk_of(n, size_, r);
    cuda_local_detail::check_buffer(op::all_gather, r, in, mine.size());
    cuda_local_detail::check_buffer(op::all_gather, r, out, n);
    guarded(r, [&] {
      const cuda_local_rank& at = ranks_[r].at;
      const cuda_local_detail::device_scope on(at.device);
      if (size_ == 1)
        return cuda_local_detail::copy_floats(out, at.device, in, at.device, n, at.stream, "cudaMemcpyAsync",
                                              at.device);
      const std::size_t parity = enter(r, {op::all_gather, n, 0, in, out});
      if (n == 0) return;
      for (std::size_t i = 0; i < size_; ++i) {
        const std::size_t q = (r + i) % size_;
        const chunk c = chunk_of(n, size_, q);
        wait_ready(r, parity, q);
        cuda_local_detail::copy_floats(out + c.begin, at.device, ranks_[q].calls[parity].in, ranks_[q].at.device,
                                       c.size(), at.stream, "the copy of a peer's chunk (all_gather)",
                                       at.device);  // [chunk q] @ rank q -> @ rank r
      }
      leave(r, op::all_gather, true);  // peers have read r's `in`
    });
  }

  void broadcast(std::size_t r, float* buf, std::size_t n, std::size_t root) {
    cuda_local_detail::check_buffer(op::broadcast, r, buf, n);
    if (root >= size_)
      fail(cat(cuda_local_detail::on(op::broadcast, r), " from root ", root, " in a group of ", size_),
           "ranks are 0 .. size - 1", "pass a root below size()");
    if (size_ == 1) return;
    guarded(r, [&] {
      const cuda_local_rank& at = ranks_[r].at;
      const cuda_local_detail::device_scope on(at.device);
      const std::size_t parity = enter(r, {op::broadcast, n, root, buf, buf});
      if (n == 0) return;
      if (r != root) {
        wait_ready(r, parity, root);
        cuda_local_detail::copy_floats(buf, at.device, ranks_[root].calls[parity].in, ranks_[root].at.device, n,
                                       at.stream, "the copy of the root's buffer (broadcast)",
                                       at.device);  // [n] @ root -> @ rank r
      }
      leave(r, op::broadcast, r == root);  // only the root's buffer is read by peers
    });
  }

  // Later work on every stream follows earlier work on every stream.
  void barrier(std::size_t r) {
    if (size_ == 1) return;
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      const std::size_t parity = enter(r, {op::barrier, 0, 0, nullptr, nullptr});
      for (std::size_t q = 0; q < size_; ++q) wait_ready(r, parity, q);
    });
  }

  // ---- messages (comm/cuda/detail/mail.hpp) -------------------------------------------------------
  cuda_local_detail::mailbox& box(std::unique_ptr<cuda_local_detail::mailbox[]>& boxes, std::size_t from,
                                  std::size_t to) {
    return boxes[from * size_ + to];
  }
  void check_message(op o, std::size_t r, const float* buf, std::size_t n, std::size_t peer) {
    cuda_local_detail::check_peer(o, r, peer, size_);
    cuda_local_detail::check_buffer(o, r, buf, n);
    if (meet_.broken()) cuda_local_detail::fail_broken(o, r, meet_.broken_by());
  }
  std::uint64_t post(std::size_t r, const float* buf, std::size_t n, std::size_t peer) {
    check_message(op::send, r, buf, n, peer);
    return guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      return box(posts_, r, peer).post(patience(), op::send, r, peer, ranks_[r].at, buf, n);
    });
  }
  void take(std::size_t r, float* buf, std::size_t n, std::size_t peer) {
    check_message(op::recv, r, buf, n, peer);
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      box(posts_, peer, r).take(patience(), op::recv, r, peer, ranks_[r].at, ranks_[peer].at.device, buf, n);
    });
  }
  void wait_taken(std::size_t r, std::size_t peer, std::uint64_t ticket) {
    cuda_local_detail::check_peer(op::send, r, peer, size_);
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      box(posts_, r, peer).wait_taken(patience(), op::send, r, peer, ranks_[r].at, ticket);
    });
  }
  // send: post on a channel of its own, then wait until the receiver's copy is enqueued.
  void send(std::size_t r, const float* buf, std::size_t n, std::size_t peer) {
    check_message(op::send, r, buf, n, peer);
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      cuda_local_detail::mailbox& b = box(sends_, r, peer);
      b.wait_taken(patience(), op::send, r, peer, ranks_[r].at,
                   b.post(patience(), op::send, r, peer, ranks_[r].at, buf, n));
    });
  }
  void recv(std::size_t r, float* buf, std::size_t n, std::size_t peer) {
    check_message(op::recv, r, buf, n, peer);
    guarded(r, [&] {
      const cuda_local_detail::device_scope on(ranks_[r].at.device);
      box(sends_, peer, r).take(patience(), op::recv, r, peer, ranks_[r].at, ranks_[peer].at.device, buf, n);
    });
  }
};

}  // namespace plait

#include "detail/setup.hpp"  // construction: peer access, events, scratch
#include "local_comm.hpp"    // the handle of one rank
