#pragma once
// Planned memory on a CUDA device, as backend/arena.hpp on the host: sizes are collected first
// (arena_plan), then one cudaMalloc holds them all (cuda_arena), zeroed on the device's stream and
// freed once. A training step only uses pointers into it and never calls cudaMalloc.
// pinned_buffer<T>: page-locked host memory (cudaMallocHost), for copies that overlap compute.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <new>
#include <span>
#include <utility>

#include "../arena.hpp"
#include "backend.hpp"
#include "error.hpp"

namespace plait {

/// One block of `bytes` in the memory of `ctx`'s GPU, zero-filled on its stream (ordered before
/// every kernel later enqueued there; other streams wait for ctx.synchronize()).
class cuda_arena {
 public:
  cuda_arena() = default;
  cuda_arena(std::size_t bytes, const cuda_context& ctx) : device_(ctx.device), bytes_(bytes) {
    if (bytes_ == 0) return;
    const cuda_detail::keep_device on(device_);  // the caller's device is current again after it
    cuda_detail::cuda_check(cudaMalloc(reinterpret_cast<void**>(&base_), bytes_),
                            cat("cudaMalloc of ", bytes_, " bytes"), device_);
    cuda_detail::cuda_check(cudaMemsetAsync(base_, 0, bytes_, ctx.stream()),
                            cat("cudaMemsetAsync of ", bytes_, " bytes"), device_);
  }
  cuda_arena(const arena_plan& plan, const cuda_context& ctx) : cuda_arena(plan.bytes(), ctx) {}
  cuda_arena(cuda_arena&& o) noexcept { swap(o); }
  cuda_arena& operator=(cuda_arena&& o) noexcept {
    cuda_arena tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  cuda_arena(const cuda_arena&) = delete;
  cuda_arena& operator=(const cuda_arena&) = delete;
  ~cuda_arena() {
    if (base_) {
      const cuda_detail::keep_device on(device_, std::nothrow);
      (void)cudaFree(base_);
    }
  }

  /// The buffer at `offset` (from arena_plan::reserve): a device pointer.
  template <class T>
  T* at(std::size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  std::size_t bytes() const { return bytes_; }
  int device() const { return device_; }

 private:
  void swap(cuda_arena& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(base_, o.base_);
    std::swap(bytes_, o.bytes_);
  }
  int device_ = 0;
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
};

/// `count` values of T in page-locked host memory: the host side of asynchronous copies.
template <class T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::size_t count) : count_(count) {
    if (count_ == 0) return;
    cuda_detail::cuda_check(cudaMallocHost(reinterpret_cast<void**>(&data_), count_ * sizeof(T)),
                            cat("cudaMallocHost of ", count_ * sizeof(T), " bytes"));
  }
  pinned_buffer(pinned_buffer&& o) noexcept { swap(o); }
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    pinned_buffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  ~pinned_buffer() {
    if (data_) (void)cudaFreeHost(data_);
  }

  T* data() const { return data_; }
  std::size_t size() const { return count_; }
  std::span<T> values() const { return {data_, count_}; }

 private:
  void swap(pinned_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(count_, o.count_);
  }
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace plait
