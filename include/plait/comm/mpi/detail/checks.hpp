#pragma once
// The argument checks and failure messages of mpi_comm (comm/mpi/comm.hpp): plain functions of the
// call, its sizes and the rank, so that the communicator reads as its interface. They allocate only
// when failing.

#include <climits>
#include <cstddef>
#include <string>

#include "../../../core/error.hpp"
#include "../error.hpp"

namespace plait::mpi_detail {

/// An mpi_comm's options: a positive deadline (in ms) and an MPI count of 1 .. INT_MAX.
inline void check_options(long long deadline_ms, std::size_t max_count) {
  if (deadline_ms <= 0)
    fail("an mpi_comm was asked for with a deadline <= 0", "every wait for a peer needs time to succeed",
         "pass mpi_options{.deadline = ...} > 0, e.g. std::chrono::seconds(60)");
  if (max_count == 0 || max_count > std::size_t{INT_MAX})
    fail("an mpi_comm was asked for with max_count = " + std::to_string(max_count),
         "MPI counts are int, and at least 1", "pass max_count in 1 .. INT_MAX (the default)");
}

/// Whether the operation is a collective (every rank calls it), not a message between two ranks.
inline bool collective(op o) { return o != op::send && o != op::recv && o != op::post && o != op::take; }

/// "all_reduce on rank 1 of 3".
inline std::string on(op o, std::size_t rank, std::size_t size) {
  return cat(name(o), " on rank ", rank, " of ", size);
}

inline void check_peer(op o, std::size_t peer, std::size_t rank, std::size_t size) {
  if (peer >= size)
    fail(cat(on(o, rank, size), " with peer ", peer), "ranks are 0 .. size - 1", "pass a peer below size()");
  if (peer == rank)
    fail(cat(on(o, rank, size), " with itself as the peer"), "a rank does not message itself through the communicator",
         "copy the buffer directly, or pass another rank");
}

inline void check_buffer(op o, const float* buf, std::size_t n, std::size_t rank, std::size_t size) {
  if (buf == nullptr && n != 0)
    fail(cat(on(o, rank, size), " got a null buffer for ", n, " floats"), "the call reads or writes them",
         "pass a buffer of n floats");
}

inline void check_split(op o, std::size_t n, std::size_t max_count, std::size_t rank, std::size_t size) {
  if (n > max_count)
    fail(cat(on(o, rank, size), " of ", n, " elements"),
         cat("MPI counts and displacements are int, and this communicator passes at most ", max_count, " per call"),
         "split the buffer into calls of at most max_count elements (each call cuts its own chunks)");
}

/// A call past its deadline: `waited` says the call and whom it waited for.
[[noreturn]] inline void fail_deadline(const std::string& waited) {
  fail(waited, "a peer did not reach the matching call (it died, is stuck, or calls something else)",
       "end the job (plait::run_or_abort calls MPI_Abort) and read the other ranks' messages; make every rank call "
       "the same collectives (and matching send/recv) in the same order, or raise mpi_options::deadline if a peer is "
       "legitimately that slow");
}

/// A message of `got` floats (-1: another length) met a receive of n.
[[noreturn]] inline void fail_length(op o, std::size_t peer, std::size_t n, int got, std::size_t rank,
                                     std::size_t size) {
  const std::string sent = got >= 0 ? cat("a message of ", got, " floats") : std::string("a message of another length");
  fail(cat(on(o, rank, size), " from rank ", peer, ": ", sent, " met a recv of ", n, " floats"),
       "a send and its recv must agree on the length",
       o == op::take ? "pass the same n to post and take" : "pass the same n to both");
}

}  // namespace plait::mpi_detail
