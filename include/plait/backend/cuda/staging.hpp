#pragma once
// cuda_staging: how the host stage of a graph (graph/host_stage_layers.hpp) hands a micro-batch to a CUDA
// device. Two pinned host buffers are used in turn, each copied to the device on a copy stream of its
// own, so that:
//   - the host prepares micro-batch k+1 in one buffer while the device copies and computes micro-batch
//     k from the other; the host waits (the buffer's `copied` event) only when two micro-batches ahead;
//   - the copy into the device's input slot overlaps the device's compute of other micro-batches: it
//     waits only for the slot's `freed` event (recorded on the compute stream once the last kernel
//     reading the slot's previous micro-batch is enqueued: release), and the compute stream waits for
//     the copy before the forward that reads it.
// Where no release came for a slot since its last copy, the copy waits for everything enqueued on the
// compute stream so far: a missing release costs overlap, never a buffer overwritten in use.

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "error.hpp"
#include "memory.hpp"

namespace plait {

class cuda_staging {
 public:
  cuda_staging() = default;
  /// Two buffers of `floats` each for `slots` input slots, a copy stream and their events, on `ctx`'s
  /// GPU (current on the calling thread).
  cuda_staging(std::size_t floats, std::size_t slots, const cuda_context& ctx)
      : device_(ctx.device), freed_(slots, nullptr), released_(slots, false) {
    using cuda_detail::cuda_check;
    try {
      for (auto& b : buffers_) b = pinned_buffer<float>(floats);
      cuda_check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags (copy stream)",
                 device_);
      for (auto& e : copied_)
        cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
      for (auto& e : freed_)
        cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
      cuda_check(cudaEventCreateWithFlags(&now_, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
    } catch (...) {
      release_all();
      throw;
    }
  }
  cuda_staging(cuda_staging&& o) noexcept { swap(o); }
  cuda_staging& operator=(cuda_staging&& o) noexcept {
    cuda_staging tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  cuda_staging(const cuda_staging&) = delete;
  cuda_staging& operator=(const cuda_staging&) = delete;
  ~cuda_staging() { release_all(); }

  /// Where the host writes the next micro-batch ([n] floats @ pinned host): the buffer whose last
  /// copy has completed (waits for it).
  float* begin(float*, std::size_t) {
    if (pending_[next_])
      cuda_detail::cuda_check(cudaEventSynchronize(copied_[next_]), "cudaEventSynchronize (a staging buffer's copy)",
                              device_);
    pending_[next_] = false;
    return buffers_[next_].data();
  }
  /// Enqueues the copy of what begin() handed out into input slot `slot` (`dst`, [n] floats @ the
  /// device) on the copy stream, and makes `ctx`'s stream wait for it.
  void end(const cuda_context& ctx, float* dst, std::size_t n, std::size_t slot) {
    using cuda_detail::cuda_check;
    cudaEvent_t ready = freed_.at(slot);
    if (!released_[slot]) {  // no release since the slot's last copy: wait for all work enqueued so far
      cuda_check(cudaEventRecord(now_, ctx.stream()), "cudaEventRecord", device_);
      ready = now_;
    }
    released_[slot] = false;
    cuda_check(cudaStreamWaitEvent(copy_, ready, 0), "cudaStreamWaitEvent (copy stream)", device_);
    cuda_check(cudaMemcpyAsync(dst, buffers_[next_].data(), n * sizeof(float), cudaMemcpyHostToDevice, copy_),
               "cudaMemcpyAsync (host stage to device)", device_);
    cuda_check(cudaEventRecord(copied_[next_], copy_), "cudaEventRecord", device_);
    cuda_check(cudaStreamWaitEvent(ctx.stream(), copied_[next_], 0), "cudaStreamWaitEvent (compute stream)", device_);
    pending_[next_] = true;
    next_ ^= 1;
  }
  /// Input slot `slot` may be overwritten once what is enqueued on ctx's stream so far has run.
  void release(const cuda_context& ctx, std::size_t slot) {
    cuda_detail::cuda_check(cudaEventRecord(freed_.at(slot), ctx.stream()), "cudaEventRecord", device_);
    released_[slot] = true;
  }

 private:
  void release_all() noexcept {
    for (auto& e : copied_)
      if (e) (void)cudaEventDestroy(e), e = nullptr;
    for (auto& e : freed_)
      if (e) (void)cudaEventDestroy(e), e = nullptr;
    if (now_) (void)cudaEventDestroy(now_), now_ = nullptr;
    if (copy_) (void)cudaStreamDestroy(copy_), copy_ = nullptr;
  }
  void swap(cuda_staging& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(buffers_, o.buffers_);
    std::swap(copy_, o.copy_);
    std::swap(copied_, o.copied_);
    std::swap(freed_, o.freed_);
    std::swap(released_, o.released_);
    std::swap(now_, o.now_);
    std::swap(pending_, o.pending_);
    std::swap(next_, o.next_);
  }
  int device_ = 0;
  std::array<pinned_buffer<float>, 2> buffers_;  // [rows, width] @ pinned host, each
  cudaStream_t copy_ = nullptr;                  // the copies into the device's input slots
  std::array<cudaEvent_t, 2> copied_{};          // recorded after each buffer's copy, on the copy stream
  std::vector<cudaEvent_t> freed_;               // [slot]: recorded on the compute stream by release
  std::vector<bool> released_;                   // [slot]: a release came since the slot's last copy
  cudaEvent_t now_ = nullptr;                    // the compute stream's work so far, where no release came
  std::array<bool, 2> pending_{};
  std::size_t next_ = 0;
};

}  // namespace plait
