#pragma once
// The roll call of an mpi_comm (comm/mpi/comm.hpp): when a collective passes its deadline, which
// ranks did not arrive? MPI's non-blocking collectives do not say, so the ranks ask each other.
//
// Every rank counts the collectives it has entered on the communicator. A rank whose collective
// passes its deadline sends every peer a request carrying its count, then, for a short grace period,
// collects the answers while answering the others' requests (for the whole period, so that a peer
// whose deadline comes a little later still finds it answering). Every rank that waits in any call on
// this communicator answers requests as it waits (every millisecond once its spin is over), so:
//
//   an answer with the same count   the peer waits in the same collective: it arrived
//   an answer with a lower count    the peer waits in an earlier call: it is behind, or the ranks
//                                   call the collectives in different orders
//   no answer                       the peer is in no call on this communicator: stuck in its own
//                                   code or in another communicator's call, or dead
//
// The verdict names the ranks that did not arrive. Requests and answers have tags of their own, so
// they never meet the communicator's data; they are only sent once a deadline has passed, after
// which the communicator is broken and the job ends. Matched probes (MPI_Improbe, MPI_Mrecv) let
// several threads answer side by side.

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "../../../core/error.hpp"

namespace plait::mpi_detail {

class roll_call {
 public:
  static constexpr int request_tag = 2, answer_tag = 3;  // the communicator's data uses tags 0 and 1

  roll_call() = default;
  roll_call(const roll_call& other) : calls_(other.calls()) {}  // a moved communicator keeps its count
  roll_call& operator=(const roll_call&) = delete;

  /// One more collective entered (by the one thread that calls collectives).
  void entered() { calls_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

  /// Answers every pending request with this rank's count. Called by waiting threads; cheap when
  /// nothing is pending (one MPI_Improbe).
  void answer(MPI_Comm comm) const {
    for (;;) {
      int found = 0;
      MPI_Message message;
      MPI_Status status;
      if (MPI_Improbe(MPI_ANY_SOURCE, request_tag, comm, &found, &message, &status) != MPI_SUCCESS || !found) return;
      std::uint64_t theirs = 0;
      if (MPI_Mrecv(&theirs, 1, MPI_UINT64_T, &message, MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
      thread_local std::uint64_t mine = 0;  // outlives the send, even one left to MPI below
      mine = calls();
      MPI_Request req = MPI_REQUEST_NULL;
      if (MPI_Isend(&mine, 1, MPI_UINT64_T, status.MPI_SOURCE, answer_tag, comm, &req) != MPI_SUCCESS) return;
      // A one-word message is sent eagerly: it completes without its receiver, within the grace period.
      wait_briefly(req, std::chrono::milliseconds(100));
    }
  }

  /// After this rank's collective passed its deadline: asks every peer and returns the verdict, e.g.
  /// "rank 2 did not answer (...); rank 1 waits in the same collective". Best effort: any MPI
  /// failure on the way leaves that peer unanswered.
  std::string verdict(MPI_Comm comm, std::size_t rank, std::size_t size, std::chrono::milliseconds grace) const {
    const std::uint64_t mine = asked_ = calls();
    std::vector<MPI_Request> sent(size, MPI_REQUEST_NULL);
    std::vector<std::int64_t> answers(size, -1);  // [rank]: its count, -1 unanswered
    for (std::size_t q = 0; q < size; ++q)
      if (q != rank) MPI_Isend(&asked_, 1, MPI_UINT64_T, int(q), request_tag, comm, &sent[q]);
    const auto end = std::chrono::steady_clock::now() + grace;
    std::size_t missing = size - 1;
    // The whole grace period, even once every peer answered: a peer whose own deadline comes a little
    // later asks in turn, and must find this rank still answering, not already gone.
    while (std::chrono::steady_clock::now() < end) {
      answer(comm);
      int found = 0;
      MPI_Message message;
      MPI_Status status;
      if (missing > 0 && MPI_Improbe(MPI_ANY_SOURCE, answer_tag, comm, &found, &message, &status) == MPI_SUCCESS &&
          found) {
        std::uint64_t theirs = 0;
        if (MPI_Mrecv(&theirs, 1, MPI_UINT64_T, &message, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
            answers[std::size_t(status.MPI_SOURCE)] < 0) {
          answers[std::size_t(status.MPI_SOURCE)] = std::int64_t(theirs);
          --missing;
        }
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    for (MPI_Request& r : sent)  // a request to a rank that never answers stays with MPI: the job ends
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
    std::string silent, behind, here;
    for (std::size_t q = 0; q < size; ++q) {
      if (q == rank) continue;
      if (answers[q] < 0) silent += cat(silent.empty() ? "" : ", ", q);
      else if (std::uint64_t(answers[q]) < mine)
        behind += cat(behind.empty() ? "" : ", ", q, " (call ", answers[q], ")");
      else here += cat(here.empty() ? "" : ", ", q);
    }
    std::string v;
    const auto add = [&](const std::string& ranks, const char* one, const char* many, const char* what) {
      if (ranks.empty()) return;
      v += cat(v.empty() ? "" : "; ", ranks.find(',') == std::string::npos ? one : many, ranks, what);
    };
    add(silent, "rank ", "ranks ",
        " did not answer (in no call on this communicator: stuck in its own code, in another communicator, or dead)");
    add(behind, "rank ", "ranks ", " waits in an earlier collective");
    add(here, "rank ", "ranks ", " waits in this one");
    return cat("collective call ", mine, " on this communicator: ", v);
  }

 private:
  static void wait_briefly(MPI_Request& req, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    int done = 0;
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done && std::chrono::steady_clock::now() < end)
      std::this_thread::yield();
    if (!done && req != MPI_REQUEST_NULL) MPI_Request_free(&req);
  }

  std::atomic<std::uint64_t> calls_{0};
  mutable std::uint64_t asked_ = 0;  // the count this rank's requests carry: outlives their sends
};

}  // namespace plait::mpi_detail
