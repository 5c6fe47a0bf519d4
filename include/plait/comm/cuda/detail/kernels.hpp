#pragma once
// The device side of the CUDA local communicator (comm/cuda/local_group.hpp): the kernel with which a rank
// reduces its chunk over every rank's buffer, the copies between ranks' buffers, and the RAII pieces
// it holds (events created once on their GPU, the current device set for one call). nvcc only.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"

namespace plait::cuda_local_detail {

using cuda_detail::cuda_check;

/// The most ranks a cuda_local_group holds: the reduce kernel takes every rank's pointer by value.
inline constexpr std::size_t max_ranks = 64;

/// Up to max_ranks device pointers, passed to the kernel by value (512 bytes of parameters).
struct chunk_ptrs {
  float* p[max_ranks];
};

inline __device__ float4 operator+(float4 a, float4 b) { return {a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w}; }

// Element (or float4) e of the chunk: acc = ((src0 + src1) + src2) + ..., then every dst = acc. The
// sources are read before any destination is written, so a destination may be a source (all_reduce).
template <class T>
__device__ void reduce_at(const chunk_ptrs& src, unsigned k, const chunk_ptrs& dst, unsigned d, std::size_t e) {
  T acc = *reinterpret_cast<const T*>(src.p[0] + e);
  for (unsigned q = 1; q < k; ++q) acc = acc + *reinterpret_cast<const T*>(src.p[q] + e);
  for (unsigned j = 0; j < d; ++j) *reinterpret_cast<T*>(dst.p[j] + e) = acc;
}

// [n] @ src.p[0..k) -> [n] sum @ dst.p[0..d). V = 4: `head` floats, then float4s from there (every
// pointer + head is 16-byte aligned), then the tail; V = 1 (head = 0): floats throughout. Adding in
// rank order with IEEE adds gives the bits of the host's reduce_chunk (comm/chunk.hpp).
template <int V>
__global__ void reduce_kernel(chunk_ptrs src, unsigned k, chunk_ptrs dst, unsigned d, std::size_t head, std::size_t n) {
  const std::size_t first = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x,
                    stride = std::size_t(gridDim.x) * blockDim.x;
  if (first < head) reduce_at<float>(src, k, dst, d, first);
  const std::size_t vectors = (n - head) / V, tail = head + vectors * V;
  for (std::size_t i = first; i < vectors; i += stride)
    reduce_at<std::conditional_t<V == 4, float4, float>>(src, k, dst, d, head + i * V);
  for (std::size_t e = tail + first; e < n; e += stride) reduce_at<float>(src, k, dst, d, e);
}

/// Enqueues dst[j][i] = src[0][i] + ... + src[k-1][i] for i < n on `stream` (device `device`, the
/// current one). Every pointer is reachable from `device` (its own memory or a peer's with access).
inline void launch_reduce(const chunk_ptrs& src, unsigned k, const chunk_ptrs& dst, unsigned d, std::size_t n, int sms,
                          cudaStream_t stream, int device, std::string_view what) {
  if (n == 0) return;
  // float4s when every pointer has the same offset from 16-byte alignment (buffers from one
  // allocator, chunks at one offset): peel the floats up to the boundary first.
  const auto skew = [](const float* p) { return (reinterpret_cast<std::uintptr_t>(p) / sizeof(float)) % 4; };
  bool same = true;
  for (unsigned q = 0; q < k; ++q) same = same && skew(src.p[q]) == skew(src.p[0]);
  for (unsigned j = 0; j < d; ++j) same = same && skew(dst.p[j]) == skew(src.p[0]);
  constexpr unsigned threads = 256;
  const std::size_t work = same ? n / 4 + 4 : n;
  const unsigned blocks = unsigned(std::min<std::size_t>((work + threads - 1) / threads, std::size_t(sms) * 4));
  if (same) {
    const std::size_t head = std::min<std::size_t>((4 - skew(src.p[0])) % 4, n);
    reduce_kernel<4><<<blocks, threads, 0, stream>>>(src, k, dst, d, head, n);
  } else {
    reduce_kernel<1><<<blocks, threads, 0, stream>>>(src, k, dst, d, 0, n);
  }
  cuda_check(cudaGetLastError(), what, device);
}

/// Enqueues [n] @ src (GPU src_device) -> [n] @ dst (GPU dst_device) on `stream`: a device-to-device
/// copy on one GPU, a peer copy across GPUs (direct with peer access, staged by CUDA without).
inline void copy_floats(float* dst, int dst_device, const float* src, int src_device, std::size_t n,
                        cudaStream_t stream, std::string_view what, int device) {
  if (n == 0 || (dst == src && dst_device == src_device)) return;
  if (dst_device == src_device)
    cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream), what, device);
  else cuda_check(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, n * sizeof(float), stream), what, device);
}

/// Makes `device` current on the calling thread for one call, and the previous device again after.
class device_scope {
 public:
  explicit device_scope(int device) {
    cuda_check(cudaGetDevice(&previous_), "cudaGetDevice", device);
    if (previous_ == device) return;
    cuda_check(cudaSetDevice(device), "cudaSetDevice", device);
    changed_ = true;
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;
  ~device_scope() {
    if (changed_) (void)cudaSetDevice(previous_);
  }

 private:
  int previous_ = 0;
  bool changed_ = false;
};

/// `count` CUDA events on one GPU (timing off: they only order streams), created once, destroyed
/// with their GPU current. Moves, does not copy.
class owned_events {
 public:
  owned_events() = default;
  owned_events(int device, std::size_t count) : device_(device), events_(count, nullptr) {
    try {
      const device_scope on(device_);
      for (cudaEvent_t& e : events_)
        cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
    } catch (...) {
      release();
      throw;
    }
  }
  owned_events(owned_events&& o) noexcept : device_(o.device_), events_(std::move(o.events_)) { o.events_.clear(); }
  owned_events& operator=(owned_events&& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(events_, o.events_);
    return *this;
  }
  owned_events(const owned_events&) = delete;
  owned_events& operator=(const owned_events&) = delete;
  ~owned_events() { release(); }
  cudaEvent_t operator[](std::size_t i) const { return events_[i]; }
  std::size_t size() const { return events_.size(); }

 private:
  void release() noexcept {
    if (events_.empty()) return;
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess;
    (void)cudaSetDevice(device_);
    for (cudaEvent_t e : events_)
      if (e) (void)cudaEventDestroy(e);
    if (restore) (void)cudaSetDevice(current);
    events_.clear();
  }
  int device_ = 0;
  std::vector<cudaEvent_t> events_;  // an entry stays null if its creation failed
};

/// [n] floats of scratch on one GPU, allocated once, freed with their GPU current (empty when n = 0).
class device_floats {
 public:
  device_floats() = default;
  device_floats(int device, std::size_t n) : device_(device) {
    if (n == 0) return;
    const device_scope on(device);
    cuda_check(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(float)),
               cat("cudaMalloc of ", n * sizeof(float), " bytes of staging"), device);
  }
  device_floats(device_floats&& o) noexcept : device_(o.device_), data_(std::exchange(o.data_, nullptr)) {}
  device_floats& operator=(device_floats&& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(data_, o.data_);
    return *this;
  }
  device_floats(const device_floats&) = delete;
  device_floats& operator=(const device_floats&) = delete;
  ~device_floats() {
    if (!data_) return;
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess;
    (void)cudaSetDevice(device_);
    (void)cudaFree(data_);
    if (restore) (void)cudaSetDevice(current);
  }
  float* data() const { return data_; }

 private:
  int device_ = 0;
  float* data_ = nullptr;
};

}  // namespace plait::cuda_local_detail
