#pragma once
// The operations of the CUDA local communicator (comm/cuda/local_group.hpp), what a rank publishes for
// one, and the messages of its errors (built only when failing: they allocate). Host code only.

#include <chrono>
#include <cstddef>
#include <string>

#include "../../../core/error.hpp"

namespace plait::cuda_local_detail {

enum class op : unsigned char { all_reduce, reduce_scatter, all_gather, broadcast, barrier, send, recv };

inline const char* name(op o) {
  constexpr const char* names[] = {"all_reduce", "reduce_scatter", "all_gather", "broadcast",
                                   "barrier",    "send",           "recv"};
  return names[static_cast<int>(o)];
}

/// What a rank publishes for its current collective: device pointers of its GPU.
struct call {
  op kind = op::barrier;
  std::size_t n = 0, root = 0;
  const float* in = nullptr;  // [n] (all_reduce, reduce_scatter, broadcast) or [chunk] (all_gather) @ rank's GPU
  float* out = nullptr;       // [n] or [chunk] (reduce_scatter) @ rank's GPU
};

inline constexpr const char* start_over =
    "handle the first error; a cuda_local_group cannot be used after one, so create a new group";

inline std::string on(op o, std::size_t r) { return cat(name(o), " on rank ", r); }

inline std::string describe(const call& c) {
  return cat(name(c.kind), " of ", c.n, " floats", c.kind == op::broadcast ? cat(" from root ", c.root) : "");
}

inline void check_peer(op o, std::size_t r, std::size_t peer, std::size_t size) {
  if (peer >= size)
    fail(cat(on(o, r), " with peer ", peer, " in a group of ", size), "ranks are 0 .. size - 1",
         "pass a peer below size()");
  if (peer == r)
    fail(cat(on(o, r), " with itself as the peer"), "a rank cannot meet itself in a rendezvous (it would wait forever)",
         "copy the buffer on the rank's stream instead, or pass another rank");
}

inline void check_buffer(op o, std::size_t r, const float* buf, std::size_t n) {
  if (buf == nullptr && n != 0)
    fail(cat(on(o, r), " got a null buffer for ", n, " floats"), "the call reads or writes them",
         "pass a device buffer of n floats");
}

/// A wait for `whom` ended: past the deadline (breaker == r), or because rank `breaker` failed.
[[noreturn]] inline void fail_wait(op o, std::size_t r, std::size_t breaker, const std::string& whom,
                                   std::chrono::milliseconds deadline) {
  if (breaker != r)
    fail(cat(on(o, r), " stopped waiting for ", whom), cat("rank ", breaker, " failed first, which breaks the group"),
         start_over);
  fail(cat(on(o, r), " waited ", std::size_t(deadline.count()), " ms for ", whom),
       "a peer did not reach the matching call (it failed, is stuck, or calls something else)",
       "make every rank call the same collectives (and matching send/recv) in the same order, or raise "
       "cuda_local_options::deadline if a peer is legitimately that slow");
}

[[noreturn]] inline void fail_broken(op o, std::size_t r, std::size_t breaker) {
  fail(cat(on(o, r), " was called on a broken cuda_local_group"),
       cat("rank ", breaker, " failed earlier, so the ranks can no longer match their calls"), start_over);
}

[[noreturn]] inline void fail_mismatch(std::size_t r, const call& mine, std::size_t q, const call& theirs) {
  fail(cat(on(mine.kind, r), " (", describe(mine), ") met rank ", q, "'s ", describe(theirs)),
       "the ranks of a group must call the same collectives with the same arguments in the same order",
       "make every rank's sequence of collectives identical (n and root included)");
}

[[noreturn]] inline void fail_length(op o, std::size_t r, std::size_t peer, std::size_t sent, std::size_t expected) {
  fail(cat(on(o, r), o == op::send ? " to rank " : " from rank ", peer, ": a message of ", sent,
           " floats met a recv of ", expected),
       "a send and its recv must agree on the length", "pass the same n to both");
}

}  // namespace plait::cuda_local_detail
