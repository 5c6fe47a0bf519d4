#pragma once
// What an nccl_comm (comm/nccl/comm.hpp) keeps of NCCL, and how it waits for it: its three NCCL
// communicators, the lock under which it calls them, and the polling loops that turn a call still in
// progress, a CUDA event not yet reached or an asynchronous NCCL error into completion or a plait::error
// (after aborting every communicator of this rank: a broken link throws on every later call).

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"
#include "../error.hpp"
#include "checks.hpp"
#include "wait.hpp"

namespace plait::nccl_detail {

class link : protected rank_on_device {
 protected:
  enum side : unsigned char { main = 0, up = 1, down = 2 };  // indices of comms_; up: posts to higher ranks

  link(std::size_t rank, std::size_t size, std::chrono::milliseconds deadline, std::chrono::microseconds spin)
      : rank_on_device{rank, size}, deadline_(deadline), spin_(spin) {
    if (deadline.count() <= 0)
      fail("an nccl_comm was asked for with a deadline <= 0", "every wait for a peer needs time to succeed",
           "pass nccl_options{.deadline = ...} > 0, e.g. std::chrono::seconds(60)");
  }

  // Ends the NCCL communicators: healthy, each is finalized (bounded by the deadline) and destroyed;
  // otherwise, or once one finalize fails, aborted. Lock held.
  void end_nccl(bool healthy) noexcept {
    for (side s : {down, up, main}) {  // the children before their parent
      if (comms_[s] == nullptr) continue;
      healthy = healthy && finalize(comms_[s], deadline_);
      (void)(healthy ? ncclCommDestroy(comms_[s]) : ncclCommAbort(comms_[s]));
      comms_[s] = nullptr;
    }
  }

  void cuda(cudaError_t e, std::string_view what) const {
    if (e != cudaSuccess) [[unlikely]]
      cuda_detail::cuda_check(e, what, device_);
  }

  // Checks an NCCL call; one that is still in progress (non-blocking) is waited for. Lock held.
  void call(ncclResult_t r, std::string_view function, ncclComm_t comm, op o, std::size_t n,
            std::size_t peer = no_peer) {
    if (r == ncclSuccess) [[likely]]
      return;
    if (r == ncclInProgress && comm != nullptr) return settle(comm, function, o, n, peer);
    break_with(call_message(r, function, describe(o, n, peer), comm));
  }

  // Polls a communicator until its last call (or its creation) is no longer in progress. Lock held.
  void settle(ncclComm_t comm, std::string_view function, op o, std::size_t n, std::size_t peer) {
    pace p(spin_, deadline_);
    for (;;) {
      ncclResult_t state = ncclSuccess;
      if (const ncclResult_t r = ncclCommGetAsyncError(comm, &state); r != ncclSuccess)
        break_with(call_message(r, "ncclCommGetAsyncError", describe(o, n, peer), comm));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) break_with(call_message(state, function, describe(o, n, peer), comm));
      if (p.next()) fail_deadline(o, n, peer);
    }
  }

  // Polls `event` until the work before it is done, asking NCCL for asynchronous errors on the way.
  // Called without the lock (other threads may enqueue meanwhile).
  void wait_event(cudaEvent_t event, op o, std::size_t n, std::size_t peer) {
    pace p(spin_, deadline_);
    for (unsigned i = 1;; ++i) {
      const cudaError_t e = cudaEventQuery(event);
      if (e == cudaSuccess) return;
      const bool late = p.next();
      if (e != cudaErrorNotReady || late || i % 64 == 0) {
        std::lock_guard lock(mutex_);
        device_scope on(device_);
        enter(o);  // another thread may have broken the communicator meanwhile
        if (e != cudaErrorNotReady)
          break_with(message(cat(describe(o, n, peer), " failed on CUDA device ", device_, " (", cudaGetErrorName(e),
                                 ": ", cudaGetErrorString(e), ")"),
                             "the stream that carries the operation reported a CUDA error", cuda_detail::fix_for(e)));
        check_async(o, n, peer);
        if (late) fail_deadline(o, n, peer);
      }
    }
  }

  void check_async(op o, std::size_t n, std::size_t peer) {  // lock held
    for (ncclComm_t c : comms_) {
      if (c == nullptr) continue;
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(c, &state);
      if (r != ncclSuccess || (state != ncclSuccess && state != ncclInProgress))
        break_with(call_message(r != ncclSuccess ? r : state, "an NCCL operation", describe(o, n, peer), c));
    }
  }

  // Aborts every NCCL communicator of this rank (their kernels stop) and throws `what`. Lock held.
  [[noreturn]] void break_with(const std::string& what) {
    broken_.store(true);
    for (side s : {down, up, main})
      if (comms_[s] != nullptr) (void)ncclCommAbort(std::exchange(comms_[s], nullptr));
    throw error(what);
  }

  void enter(op o) const {
    if (broken_.load()) [[unlikely]]
      fail_broken(o);
  }
  [[noreturn]] void fail_deadline(op o, std::size_t n, std::size_t peer) {
    break_with(deadline_message(o, n, peer, deadline_));
  }

  std::chrono::milliseconds deadline_;
  std::chrono::microseconds spin_;
  std::array<ncclComm_t, 3> comms_{};  // [main, up, down] @ device_
  std::recursive_mutex mutex_;         // NCCL calls of this rank's communicators, one thread at a time
  std::atomic<bool> broken_{false};
};

}  // namespace plait::nccl_detail
