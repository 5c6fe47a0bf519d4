#pragma once
// Copies and fills on CUDA devices: asynchronous on the context's stream, except copy_to_host,
// which waits for its copy (the host reads the values next).

#include <cuda_runtime_api.h>
#include <thrust/fill.h>

#include <cstddef>

#include "../backend/cuda/backend.hpp"
#include "../backend/cuda/error.hpp"
#include "copy.hpp"

namespace plait {

template <>
struct copy_impl<cuda> {
  static constexpr bool host_memory = false;  // tensors live in the GPU's memory

  template <class Ctx, class T>
  static void copy(const Ctx& ctx, T* dst, const T* src, std::size_t n) {
    if (n == 0) return;
    cuda_detail::cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice, ctx.stream()),
                            "cudaMemcpyAsync (device to device)", ctx.device);
  }
  template <class Ctx, class T>
  static void fill(const Ctx& ctx, T* dst, std::size_t n, T value) {
    if (n == 0) return;
    thrust::fill_n(ctx.policy(), dst, n, value);
  }
  template <class Ctx, class T>
  static void copy_to_host(const Ctx& ctx, T* out, const T* src, std::size_t n) {
    if (n == 0) return;
    cuda_detail::cuda_check(cudaMemcpyAsync(out, src, n * sizeof(T), cudaMemcpyDeviceToHost, ctx.stream()),
                            "cudaMemcpyAsync (device to host)", ctx.device);
    ctx.synchronize();
  }
  // From pageable memory, cudaMemcpyAsync returns once `in` is staged: the caller may reuse it.
  template <class Ctx, class T>
  static void copy_from_host(const Ctx& ctx, T* dst, const T* in, std::size_t n) {
    if (n == 0) return;
    cuda_detail::cuda_check(cudaMemcpyAsync(dst, in, n * sizeof(T), cudaMemcpyHostToDevice, ctx.stream()),
                            "cudaMemcpyAsync (host to device)", ctx.device);
  }
};

}  // namespace plait
