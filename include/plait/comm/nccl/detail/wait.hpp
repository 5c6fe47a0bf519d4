#pragma once
// The small parts of nccl_comm's waiting (comm/nccl/comm.hpp): the operations it names in messages, the
// pace of a polling loop with a deadline, the device a call runs on, and a finalize that cannot hang.

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <cstddef>
#include <thread>

#include "../../../backend/cuda/error.hpp"

namespace plait::nccl_detail {

enum class op : unsigned char {
  start,
  all_reduce,
  reduce_scatter,
  all_gather,
  broadcast,
  barrier,
  send,
  recv,
  post,
  take,
  synchronize
};

inline const char* name(op o) {
  constexpr const char* names[] = {"start", "all_reduce", "reduce_scatter", "all_gather", "broadcast",  "barrier",
                                   "send",  "recv",       "post",           "take",       "synchronize"};
  return names[static_cast<int>(o)];
}

inline constexpr std::size_t no_peer = ~std::size_t{0};

/// The pace of a polling loop: back to back for `spin`, then yielding the core between polls; next()
/// is true once `limit` has passed. The clock is read every 16th poll.
class pace {
 public:
  using clock = std::chrono::steady_clock;
  template <class Spin, class Limit>
  pace(Spin spin, Limit limit) : spin_end_(clock::now() + spin), deadline_(clock::now() + limit) {}
  bool next() {
    if (++polls_ % 16 == 0) {
      const clock::time_point now = clock::now();
      if (now >= deadline_) return true;
      yielding_ = now >= spin_end_;
    }
    if (yielding_) std::this_thread::yield();  // another thread of this process may need the core
    return false;
  }

 private:
  clock::time_point spin_end_, deadline_;
  unsigned polls_ = 0;
  bool yielding_ = false;
};

/// Makes `device` current for a scope and gives the thread its previous device back after it.
class device_scope {
 public:
  explicit device_scope(int device) : device_(device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device_) cuda_detail::cuda_check(cudaSetDevice(device_), "cudaSetDevice", device_);
  }
  ~device_scope() {
    if (previous_ >= 0 && previous_ != device_) (void)cudaSetDevice(previous_);
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;

 private:
  int device_ = 0, previous_ = -1;
};

/// ncclCommFinalize on a non-blocking communicator, polled until done or `limit`: false when it failed
/// or ran out of time (then the caller aborts instead of destroying).
inline bool finalize(ncclComm_t comm, std::chrono::milliseconds limit) noexcept {
  const ncclResult_t r = ncclCommFinalize(comm);
  if (r != ncclSuccess && r != ncclInProgress) return false;
  pace p(std::chrono::microseconds(100), limit);
  for (;;) {
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(comm, &state) != ncclSuccess) return false;
    if (state == ncclSuccess) return true;
    if (state != ncclInProgress || p.next()) return false;
  }
}

}  // namespace plait::nccl_detail
