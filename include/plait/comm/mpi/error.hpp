#pragma once
// MPI return codes as plait errors (docs/design.md §10: every MPI return code is checked). plait's MPI
// communicators set MPI_ERRORS_RETURN on the communicators they own, so a failed call returns here
// instead of aborting inside MPI, and the message names the call, the rank and what plait was doing.
// Only plait::mpi includes this (it includes mpi.h); the host core never does.

#include <mpi.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>

#include "../../core/error.hpp"

namespace plait {
namespace mpi_detail {

inline std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error code " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length));
}

/// This process's rank in MPI_COMM_WORLD, or -1 when MPI is not running (not initialised, or finalised).
inline int world_rank() {
  int initialized = 0, finalized = 0, rank = -1;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized) return -1;
  if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return -1;
  if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS) return -1;
  return rank;
}

[[noreturn]] inline void fail_call(int code, std::string_view call, std::string_view context) {
  std::string what = std::string(call) + " failed";
  if (const int rank = world_rank(); rank >= 0) what += " on rank " + std::to_string(rank);
  if (!context.empty()) what.append(" (").append(context).append(")");
  what += ": " + error_text(code);
  fail(
      what, "MPI reported an error, so the ranks can no longer be trusted to match their calls",
      "end the job (plait::run_or_abort calls MPI_Abort) and read every rank's message; MPI's text above says what it saw");
}

/// Throws plait::error naming `call` when rc is not MPI_SUCCESS. `context` is a callable returning a
/// std::string that says what plait was doing; it runs only on failure (the success path allocates nothing).
template <class Context>
inline void check(int rc, std::string_view call, const Context& context) {
  if (rc != MPI_SUCCESS) [[unlikely]]
    fail_call(rc, call, context());
}

inline void check(int rc, std::string_view call) {
  if (rc != MPI_SUCCESS) [[unlikely]]
    fail_call(rc, call, {});
}

/// What an mpi_comm call does, for its messages.
enum class op : unsigned char {
  all_reduce,
  reduce_scatter,
  all_gather,
  broadcast,
  barrier,
  send,
  recv,
  all_gather_bytes,
  post,
  take
};
inline constexpr std::size_t no_peer = ~std::size_t{0};

inline const char* name(op o) {
  constexpr const char* names[] = {"all_reduce", "reduce_scatter", "all_gather",       "broadcast", "barrier",
                                   "send",       "recv",           "all_gather_bytes", "post",      "take"};
  return names[static_cast<int>(o)];
}

// "all_reduce of 1000 floats on rank 0 of 3", "send of 8 floats on rank 1 of 2 to rank 0" (only when failing: it
// allocates).
inline std::string describe(op o, std::size_t n, std::size_t rank, std::size_t size, std::size_t peer) {
  std::string d = o == op::barrier ? std::string(name(o))
                                   : cat(name(o), " of ", n, o == op::all_gather_bytes ? " bytes" : " floats");
  d += cat(" on rank ", rank, " of ", size);
  if (o == op::send || o == op::post) d += cat(" to rank ", peer);
  if (o == op::recv || o == op::take) d += cat(" from rank ", peer);
  if (o == op::broadcast && peer != no_peer) d += cat(" from root ", peer);
  return d;
}

// Whom a call past its deadline waited for.
inline std::string awaited(op o, std::size_t peer, std::size_t size) {
  switch (o) {
    case op::send: return cat("rank ", peer, " to receive");
    case op::post: return cat("rank ", peer, " to take a posted message");
    case op::recv: return cat("rank ", peer, " to send");
    case op::take: return cat("rank ", peer, " to post");
    default: return cat("the other ", size - 1, size == 2 ? " rank" : " ranks", " to join the collective");
  }
}

}  // namespace mpi_detail

/// Ends the whole job: prints `message` on stderr (prefixed with this rank), then calls
/// MPI_Abort(MPI_COMM_WORLD, code), which makes the launcher (mpiexec, srun) stop every rank and exit
/// non-zero. This is how a plait job ends after an error: a rank that merely returned from main, or
/// called MPI_Finalize, would leave its peers waiting in their collectives until their own deadlines.
/// Without a running MPI (not initialised, or finalised), it exits the process with `code`.
[[noreturn]] inline void abort_job(std::string_view message, int code = 1) {
  const int rank = mpi_detail::world_rank();
  if (code == 0) code = 1;
  if (rank >= 0)
    std::fprintf(stderr, "plait: rank %d ends the job (MPI_Abort with code %d) after: %.*s\n", rank, code,
                 static_cast<int>(message.size()), message.data());
  else
    std::fprintf(stderr, "plait: the process exits with code %d after: %.*s\n", code, static_cast<int>(message.size()),
                 message.data());
  std::fflush(stderr);
  std::fflush(stdout);
  if (rank >= 0) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this covers an MPI that is not running
}

/// Runs f() and returns its result (0 when it returns void). When f throws, the error is printed and
/// the job ends through abort_job(code): every rank stops and the launcher exits non-zero, instead of
/// the peers hanging. The documented shape of a plait MPI program:
///
///   int main(int argc, char** argv) {
///     return plait::run_or_abort([&] {
///       plait::mpi_world world(&argc, &argv);
///       ...
///     });
///   }
template <class F>
int run_or_abort(F&& f, int code = 1) noexcept {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return 0;
    } else {
      return static_cast<int>(f());
    }
  } catch (const std::exception& e) {
    abort_job(e.what(), code);
  } catch (...) {
    abort_job("an exception that is not a std::exception", code);
  }
}

}  // namespace plait
