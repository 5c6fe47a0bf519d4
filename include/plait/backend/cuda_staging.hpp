#pragma once
// cuda_staging: how the host stage of a graph (graph/cpu_prefix.hpp) hands a micro-batch to a CUDA
// device. Two pinned host buffers are used in turn; each is copied to the device on the device's
// stream, and an event recorded after the copy says when the buffer may be written again. So the host
// prepares micro-batch k+1 in one buffer while the device copies and computes micro-batch k from the
// other, and the host waits only when it is two micro-batches ahead.

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <utility>

#include "cuda.hpp"
#include "cuda_error.hpp"
#include "cuda_memory.hpp"

namespace plait {

class cuda_staging {
 public:
  cuda_staging() = default;
  /// Two buffers of `floats` each, and their events, on `ctx`'s GPU (current on the calling thread).
  cuda_staging(std::size_t floats, const cuda_context& ctx) : device_(ctx.device) {
    for (auto& b : buffers_) b = pinned_buffer<float>(floats);
    for (auto& e : copied_)
      cuda_detail::cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
  }
  cuda_staging(cuda_staging&& o) noexcept { swap(o); }
  cuda_staging& operator=(cuda_staging&& o) noexcept {
    cuda_staging tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  cuda_staging(const cuda_staging&) = delete;
  cuda_staging& operator=(const cuda_staging&) = delete;
  ~cuda_staging() {
    for (auto& e : copied_)
      if (e) (void)cudaEventDestroy(e);
  }

  /// Where the host writes the next micro-batch ([n] floats @ pinned host): the buffer whose last
  /// copy has completed (waits for it).
  float* begin(float*, std::size_t) {
    if (pending_[next_])
      cuda_detail::cuda_check(cudaEventSynchronize(copied_[next_]), "cudaEventSynchronize (a staging buffer's copy)", device_);
    pending_[next_] = false;
    return buffers_[next_].data();
  }
  /// Enqueues the copy of what begin() handed out to `dst` ([n] floats @ the device) on `ctx`'s stream.
  void end(const cuda_context& ctx, float* dst, std::size_t n) {
    using cuda_detail::cuda_check;
    cuda_check(cudaMemcpyAsync(dst, buffers_[next_].data(), n * sizeof(float), cudaMemcpyHostToDevice, ctx.stream()),
               "cudaMemcpyAsync (host stage to device)", device_);
    cuda_check(cudaEventRecord(copied_[next_], ctx.stream()), "cudaEventRecord", device_);
    pending_[next_] = true;
    next_ ^= 1;
  }

 private:
  void swap(cuda_staging& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(buffers_, o.buffers_);
    std::swap(copied_, o.copied_);
    std::swap(pending_, o.pending_);
    std::swap(next_, o.next_);
  }
  int device_ = 0;
  std::array<pinned_buffer<float>, 2> buffers_;  // [rows, width] @ pinned host, each
  std::array<cudaEvent_t, 2> copied_{};          // recorded after each buffer's copy, on the device's stream
  std::array<bool, 2> pending_{};
  std::size_t next_ = 0;
};

}  // namespace plait
